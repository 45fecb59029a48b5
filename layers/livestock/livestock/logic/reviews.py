"""Building, keeping and reading post-live reviews.

`build` runs when a session ends (SessionEnded, through an EventBridge rule): it waits until every
lineup SKU's ledger has caught up with its counters (the stream consumer runs a moment behind), reads
the ledger, the session's holds, the journal and the refusal counters, composes the review
(logic/review.py), stores JSON, CSV and HTML, writes each SKU's history line and publishes
ReviewReady. Everything it writes is keyed by the session, and a build that finds the review
stored announces it again instead of building another, so there is one review a session.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

from livestock import keys
from livestock.dal.channels import ChannelRepository
from livestock.dal.holds import HoldStore
from livestock.dal.journal import JournalStore
from livestock.dal.ledger import LedgerStore
from livestock.dal.refusals import RefusalStore
from livestock.dal.reviews import ReviewHistory, ReviewObjects
from livestock.dal.sessions import SessionStore
from livestock.dal.skus import SkuStore
from livestock.events.models import ReviewLocations, ReviewReady
from livestock.events.publisher import EventSink
from livestock.logic import review_render
from livestock.logic.channels import percentile
from livestock.logic.reconciliation import Reconciler
from livestock.logic.review import JOURNAL_GRACE_S, SessionFacts, SkuInputs, compose, iso
from livestock.models.exceptions import InvalidState, ReviewNotReady, SessionNotFound, SkuNotFound
from livestock.models.output import Reconciliation
from livestock.models.review import PlatformSyncReview, Review, SkuHistory, SkuHistoryEntry
from livestock.models.sessions import Session, SessionStatus
from livestock.observability import logger

FORMATS = ("json", "csv", "html")


def review_path(session_id: str) -> str:
    return f"/sessions/{session_id}/review"


@dataclass
class ReviewService:
    sessions: SessionStore
    skus: SkuStore
    holds: HoldStore
    ledger: LedgerStore
    refusals: RefusalStore
    reconciler: Reconciler
    journal: JournalStore
    objects: ReviewObjects
    history: ReviewHistory
    sink: EventSink | None
    # The platforms' sync state and log (None: a build without platform sync).
    channels: ChannelRepository | None = None
    # How long a build waits (once, for the whole lineup) for the ledger to catch up with the
    # counters before it reports the SKUs still unreconciled as they stand.
    settle_wait_s: float = 20.0
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep

    # --- building ------------------------------------------------------------------------------

    def build(self, session_id: str) -> Review:
        """Builds the session's review once: a second SessionEnded, or Lambda's retry of a build
        that failed after the review was stored, announces the stored review again (the same
        ReviewReady, by its id) rather than build another from the state as it is by then."""
        session = self._session(session_id)
        if session.status != SessionStatus.ENDED or session.started_at is None or session.ended_at is None:
            raise InvalidState(
                "a review is built once the session has ended", {"session_id": session_id, "status": session.status}
            )
        facts = SessionFacts(
            **session.model_dump(include={"session_id", "title", "channels"}),
            lineup=session.lineup,
            started_at=session.started_at,
            ended_at=session.ended_at,
        )
        stored = self.objects.get(session_id, "json")
        if stored is not None:
            review = Review.model_validate_json(stored)
        else:
            # One wait for the whole lineup, not one a SKU: the build must end within its timeout.
            settle_by = self.clock() + self.settle_wait_s
            skus = [self._inputs(facts, item.sku_id, item.forecast_units, settle_by) for item in session.lineup]
            review = self._store(compose(facts, skus, self._sync(facts)))
        self._announce(review, facts)
        return review

    def _inputs(self, session: SessionFacts, sku_id: str, forecast: int | None, settle_by: float) -> SkuInputs:
        meta = SkuNotFound.unless(self.skus.get_meta(sku_id, consistent=True), sku_id)
        reconciliation = self._settled(sku_id, settle_by)
        movements = self.ledger.all_movements(sku_id)
        hold_ids = {str(m["reference"]) for m in movements if m["bucket"] in ("held", "sold") and m.get("reference")}
        holds = self.holds.get_holds(sorted(hold_ids))
        journal = self.journal.entries(sku_id, iso(session.started_at), iso(session.ended_at + JOURNAL_GRACE_S))
        return SkuInputs(
            sku_id=sku_id,
            name=meta.name,
            auto_release_reserve=meta.auto_release_reserve,
            movements=movements,
            holds=holds,
            journal=journal,
            refusals=self.refusals.totals(session.session_id, sku_id),
            reconciliation=reconciliation,
            forecast_units=forecast,
        )

    def _sync(self, session: SessionFacts) -> list[PlatformSyncReview]:
        """Each channel mapping a lineup SKU: the calls its platform acknowledged during the session
        (and the grace after it) and their lag, and how its sync stood when the review was built."""
        if self.channels is None:
            return []
        lineup = {item.sku_id for item in session.lineup}
        until = session.ended_at + JOURNAL_GRACE_S
        rows = []
        for channel in sorted(self.channels.channels(), key=lambda c: str(c["channel_id"])):
            channel_id = str(channel["channel_id"])
            for sku_id in sorted(lineup & set(channel.get("sku_map", {}))):
                lags = sorted(
                    float(log["lag_s"])
                    for log in self.channels.logs(channel_id, sku_id)
                    if session.started_at <= float(log["at"]) <= until
                )
                state = self.channels.state(channel_id, sku_id)
                rows.append(
                    PlatformSyncReview(
                        channel_id=channel_id,
                        platform=str(channel["platform"]),
                        mode=str(channel["mode"]),
                        sku_id=sku_id,
                        calls_acknowledged=len(lags),
                        lag_p50_s=percentile(lags, 50),
                        lag_p99_s=percentile(lags, 99),
                        lag_max_s=round(lags[-1], 4) if lags else None,
                        rate_limited_total=int(state.get("rate_limited", 0)),
                        failing_at_end=state.get("last_error"),
                        pending_at_end=bool(state.get("outbox")),
                        platform_oversell_orders_total=int(state.get("orders_refused", 0)),
                    )
                )
        return rows

    def _settled(self, sku_id: str, deadline: float) -> Reconciliation:
        while True:
            reconciliation = self.reconciler.reconcile(sku_id)
            if reconciliation.consistent or self.clock() >= deadline:
                if not reconciliation.consistent:
                    logger.warning("building a review of an unreconciled SKU", sku_id=sku_id)
                return reconciliation
            self.sleep(0.5)

    def _store(self, review: Review) -> Review:
        """Stores the review and answers the session's one review. JSON last: once it can be read,
        so can the other two (a reader polls for the JSON, and a build that finds it announces it
        instead of building again). Two builds at once (a duplicate delivery) both get here: the
        JSON is written only if absent, and the build that lost writes the winner's CSV and HTML
        back over its own and announces the winner's review, so one review, one ReviewReady."""
        self._put_renderings(review)
        if self.objects.put(
            review.session_id, "json", review.model_dump_json(indent=2), review.digest, only_if_absent=True
        ):
            return review
        stored = self.objects.get(review.session_id, "json")
        assert stored is not None  # it was there a moment ago: reviews are never deleted
        winner = Review.model_validate_json(stored)
        self._put_renderings(winner)
        return winner

    def _put_renderings(self, review: Review) -> None:
        self.objects.put(review.session_id, "csv", review_render.to_csv(review), review.digest)
        self.objects.put(review.session_id, "html", review_render.to_html(review), review.digest)

    def _announce(self, review: Review, session: SessionFacts) -> None:
        """Each SKU's history entry, then ReviewReady: both keyed by the review, so doing it again
        (a retry after either failed) writes and publishes the same."""
        for sku in review.skus:
            self.history.put(
                sku.sku_id,
                review.ended_at,
                SkuHistoryEntry(
                    session_id=review.session_id,
                    title=review.title,
                    started_at=review.started_at,
                    ended_at=review.ended_at,
                    **sku.model_dump(include=set(SkuHistoryEntry.model_fields) - {"session_id", "title"}),
                ),
            )
        if self.sink is None:
            return
        path = review_path(review.session_id)
        event = ReviewReady(
            event_id=f"ReviewReady:{review.session_id}:{review.digest[:16]}",
            occurred_at=self.clock(),
            session_id=review.session_id,
            title=review.title,
            digest=review.digest,
            started_at=session.started_at,
            ended_at=session.ended_at,
            skus=[s.sku_id for s in review.skus],
            summary=review.summary,
            oversold=review.totals.oversold,
            reconciled=review.totals.reconciled,
            locations=ReviewLocations(
                api_json=path,
                api_csv=f"{path}?format=csv",
                api_html=f"{path}?format=html",
                bucket=self.objects.bucket,
                keys=[keys.review_object(review.session_id, f) for f in FORMATS],
            ),
        )
        self.sink.publish([self.sink.entry(ReviewReady.detail_type, event.model_dump(mode="json"))])

    # --- reading -----------------------------------------------------------------------------------

    def read(self, session_id: str, extension: str) -> str:
        body = self.objects.get(session_id, extension)
        if body is not None:
            return body
        session = self._session(session_id)
        if session.status != SessionStatus.ENDED:
            raise ReviewNotReady(
                f"the session is {session.status.value}: its review is built when it ends",
                {"session_id": session_id, "status": session.status.value},
            )
        raise ReviewNotReady("the review is being built; retry shortly", {"session_id": session_id, "retry_after_s": 2})

    def history_of(self, sku_id: str, limit: int) -> SkuHistory:
        SkuNotFound.unless(self.skus.get_meta(sku_id), sku_id)
        return SkuHistory(sku_id=sku_id, sessions=self.history.of_sku(sku_id, limit))

    def _session(self, session_id: str) -> Session:
        return SessionNotFound.unless(self.sessions.get_session(session_id), session_id)
