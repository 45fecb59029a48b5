"""Live sessions: plan, start, end.

Starting a session puts its lineup's SKUs under it: each SKU's settings name the session and its
per-buyer limit (one change of the SKU, under its version, so two sessions cannot both claim a SKU),
and the lineup's alert tiers are set. A hold placed while the SKU is in a session is counted against
the buyer's allowance of that session only (dal/limits.py), across every platform. Ending takes the
SKUs out again and cancels the session's campaigns (stages still to come would put flash-sale
units on sale after the live). The session's status changes are single conditional writes whose stream records
become SessionStarted / SessionEnded (events/publisher.py).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

from livestock.dal.sessions import SessionStore
from livestock.dal.skus import StockChange
from livestock.logic.changes import ChangeRunner
from livestock.models.domain import SkuMeta, SkuPatch
from livestock.models.exceptions import (
    Conflict,
    InvalidState,
    SessionNotFound,
    SkuInAnotherSession,
    VersionConflict,
)
from livestock.models.sessions import LineupEntry, Session, SessionRequest, SessionStatus, SessionView

# Sets a SKU's alert tiers (percent of its sellable units when set): AlertSettings, in the wiring.
AlertSetter = Callable[[str, list[int]], object]
# Cancels a session's active campaigns on its lineup (session, SKUs, actor): CampaignService.
CampaignCanceller = Callable[[str, list[str], str], object]


@dataclass
class SessionService:
    sessions: SessionStore
    runner: ChangeRunner
    set_alerts: AlertSetter
    clock: Callable[[], float] = time.time
    # None in a build without staged releases.
    cancel_campaigns: CampaignCanceller | None = None

    # --- reading ---------------------------------------------------------------------------

    def session(self, session_id: str) -> Session:
        return SessionNotFound.unless(self.sessions.get_session(session_id), session_id)

    def view(self, session_id: str) -> SessionView:
        return SessionView.of(self.session(session_id))

    # --- planning --------------------------------------------------------------------------

    def put(self, session_id: str, request: SessionRequest, actor: str) -> tuple[SessionView, bool]:
        """Creates the session, or replaces it while it is planned. Returns (view, created)."""
        for item in request.lineup:
            self.runner.meta(item.sku_id)  # SKU_NOT_FOUND for a SKU that does not exist
        now = self.clock()
        planned = Session(
            session_id=session_id,
            title=request.title,
            channels=list(request.channels),
            starts_at=request.starts_at.timestamp(),
            ends_at=request.ends_at.timestamp(),
            lineup=[LineupEntry.model_validate(item.model_dump()) for item in request.lineup],
            created_at=now,
            updated_at=now,
            last_actor=actor,
        )
        existing = self.sessions.get_session(session_id)
        if existing is None:
            if request.expected_version not in (None, 0):
                raise VersionConflict("the session does not exist yet", {"expected_version": request.expected_version})
            existing = self.sessions.create_session(planned)
            if existing is None:
                return SessionView.of(planned), True
        if existing.status != SessionStatus.PLANNED:
            raise InvalidState(
                f"a {existing.status.value} session cannot be changed",
                {"session_id": session_id, "status": existing.status.value},
            )
        if request.expected_version is not None and request.expected_version != existing.version:
            raise VersionConflict(
                "the session changed since you read it",
                {"expected_version": request.expected_version, "current_version": existing.version},
            )
        if _same_plan(existing, planned):
            return SessionView.of(existing), False
        replacement = planned.model_copy(update={"version": existing.version + 1, "created_at": existing.created_at})
        if self.sessions.replace_session(replacement, existing.version) is not None:
            raise Conflict("the session changed while it was being replaced; try again", {"session_id": session_id})
        return SessionView.of(replacement), False

    # --- start and end -----------------------------------------------------------------------

    def start(self, session_id: str, actor: str) -> SessionView:
        """Applies the lineup's limits and alert tiers, then the session is live. A retry of a start
        that failed midway applies what is missing; a start of a live session answers its view."""
        session = self.session(session_id)
        if session.status == SessionStatus.LIVE:
            return SessionView.of(session)
        if session.status == SessionStatus.ENDED:
            raise InvalidState("an ended session cannot start again", {"session_id": session_id, "status": "ended"})
        claimed: list[str] = []
        try:
            for item in session.lineup:
                self._claim(session_id, item, actor)
                claimed.append(item.sku_id)
        except SkuInAnotherSession:
            for sku_id in claimed:
                self._release(session_id, sku_id, actor)
            raise
        for item in session.lineup:
            if item.alert_tiers_pct:
                self.set_alerts(item.sku_id, item.alert_tiers_pct)
        if not self.sessions.transition(session, SessionStatus.LIVE, self.clock(), actor):
            current = self.session(session_id)
            if current.status != SessionStatus.LIVE:
                # Replanned, or a SKU taken over by another session's start: what this start
                # claimed goes back, so that no SKU stays in a session that is not live.
                for item in session.lineup:
                    self._release(session_id, item.sku_id, actor)
                raise Conflict("the session changed while it was starting; try again", {"session_id": session_id})
            return SessionView.of(current)
        return self.view(session_id)

    def end(self, session_id: str, actor: str) -> SessionView:
        """Takes the lineup's SKUs out of the session (its limits stop applying), ends the session,
        then cancels its active campaigns. Ending an ended session finishes any SKU or campaign a
        failed end left, and answers its view."""
        session = self.session(session_id)
        if session.status == SessionStatus.PLANNED:
            raise InvalidState("a session that has not started cannot end", {"session_id": session_id})
        for sku_id in session.sku_ids:
            self._release(session_id, sku_id, actor)
        if session.status == SessionStatus.LIVE and not self.sessions.transition(
            session, SessionStatus.ENDED, self.clock(), actor
        ):
            current = self.session(session_id)
            if current.status != SessionStatus.ENDED:
                raise Conflict("the session changed while it was ending; try again", {"session_id": session_id})
        if self.cancel_campaigns is not None:
            # Stages still to come would put flash-sale units on sale after the live. After the
            # end: the units they give back were never on sale in it (the review counts supply
            # within the live), and a stage due meanwhile gives its units back itself (run_stage).
            self.cancel_campaigns(session_id, session.sku_ids, actor)
        return self.view(session_id)

    def _claim(self, session_id: str, item: LineupEntry, actor: str) -> None:
        def plan(meta: SkuMeta) -> StockChange | None:
            if meta.session_id not in (None, session_id) and self._is_live(meta.session_id):
                raise SkuInAnotherSession(
                    f"{meta.sku_id!r} is in live session {meta.session_id!r}; end it first",
                    {"sku_id": meta.sku_id, "session_id": meta.session_id},
                )
            patch = SkuPatch(session_id=session_id, session_per_buyer_limit=item.per_buyer_limit)
            if patch.changes_nothing_of(meta):
                return None
            guards = (
                []
                if meta.session_id in (None, session_id)
                else [("session", self.sessions.taken_over(meta.session_id))]
            )
            return StockChange.of(meta, "session-start", actor, reference=session_id, patch=patch, guards=guards)

        self.runner.run(item.sku_id, plan)

    def _release(self, session_id: str, sku_id: str, actor: str) -> None:
        def plan(meta: SkuMeta) -> StockChange | None:
            if meta.session_id != session_id:
                return None
            patch = SkuPatch(session_id=None, session_per_buyer_limit=None)
            return StockChange.of(meta, "session-end", actor, reference=session_id, patch=patch)

        self.runner.run(sku_id, plan)

    def _is_live(self, session_id: str | None) -> bool:
        """A SKU left naming a session that is not live (a start that failed midway) is free."""
        other = None if session_id is None else self.sessions.get_session(session_id)
        return other is not None and other.status == SessionStatus.LIVE


def _same_plan(a: Session, b: Session) -> bool:
    fields = ("title", "channels", "starts_at", "ends_at", "lineup")
    return all(getattr(a, name) == getattr(b, name) for name in fields)
