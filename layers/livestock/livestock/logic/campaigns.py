"""Staged releases (campaigns).

Every move of a campaign's units is one stock change (logic/changes.py): the shard moves, guarded by
the SKU's version, and a conditional write of the campaign's record in the same transaction. The
record's version and status are the lock: a stage release and a cancel both read the record and
write it only if no one else did meanwhile, so whichever comes second re-reads it and finds the
stage released (the cancel returns the rest) or the campaign cancelled (the release does nothing).
No unit is ever lost or moved twice, however the state machine, the host and a cancel interleave.
"""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from livestock import keys
from livestock.dal.campaigns import CampaignLauncher, CampaignStore
from livestock.dal.sessions import SessionStore
from livestock.dal.skus import ChangeRefused, OperationRecord, ShardDelta, SkuStore, StockChange
from livestock.logic import layout
from livestock.logic.changes import ChangeRunner, operation
from livestock.logic.requests import fingerprint
from livestock.models.campaigns import (
    STAGE_RELEASE_OP,
    Campaign,
    CampaignRequest,
    CampaignStatus,
    CampaignView,
    Stage,
    stage_second,
)
from livestock.models.domain import SHARED, SkuMeta, SkuPatch
from livestock.models.exceptions import (
    CampaignNotFound,
    FieldRefused,
    IdempotencyMismatch,
    InsufficientFreeStock,
    InvalidState,
    NoStagedRelease,
    SessionNotFound,
)
from livestock.models.sessions import Session, SessionStatus, iso

# The record of a console "release the next stage" made with the page's idempotency key.
NEXT_STAGE_KIND = "stage-release-next"
# How far before its session's planned start, or after its planned end, a stage may be due.
STAGE_WINDOW_MARGIN_S = 6 * 3600
# The ledger's actor when a stage task finds its session ended and gives the units back (ending
# the session cancels its campaigns as the operator who ended it).
SESSION_ENDED_ACTOR = "system:session-ended"


@dataclass
class CampaignService:
    campaigns: CampaignStore
    sessions: SessionStore
    skus: SkuStore
    runner: ChangeRunner
    # None where the function only releases stages (the state machine's task): it is given neither
    # the state machine's settings nor the rights to start or stop releases.
    launcher: CampaignLauncher | None
    clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)

    def _launcher(self) -> CampaignLauncher:
        if self.launcher is None:
            raise RuntimeError("this function releases stages only: it starts and stops no releases")
        return self.launcher

    def campaign(self, campaign_id: str) -> Campaign:
        return CampaignNotFound.unless(self.campaigns.get_campaign(campaign_id), campaign_id)

    def view(self, campaign_id: str) -> CampaignView:
        return CampaignView.of(self.campaign(campaign_id))

    # --- create -------------------------------------------------------------------------------

    def create(self, session_id: str, request: CampaignRequest, actor: str) -> tuple[CampaignView, bool]:
        """Moves the total from shared into the campaign's pool and the record in, in one
        transaction; then starts (or schedules) the releases. A retry with the same body answers
        the campaign and makes sure its releases were started. Returns (view, created)."""
        session = SessionNotFound.unless(self.sessions.get_session(session_id), session_id)
        if session.status == SessionStatus.ENDED:
            raise InvalidState("an ended session takes no campaign", {"session_id": session_id})
        body = {"session_id": session_id, **request.model_dump(mode="json")}
        now = self.clock()
        if self.campaigns.get_campaign(request.campaign_id) is None:  # a replay answers as it was made
            self._check_plan(session, request)
        planned = Campaign(
            campaign_id=request.campaign_id,
            session_id=session_id,
            sku_id=request.sku_id,
            target_pool=request.target_pool,
            stages=[
                Stage(n=n, at=stage_second(stage.at.timestamp()), quantity=stage.quantity)
                for n, stage in enumerate(request.stages, start=1)
            ],
            total=sum(stage.quantity for stage in request.stages),
            request_hash=fingerprint(body),
            created_at=now,
            updated_at=now,
            last_actor=actor,
        )
        created = False

        def fund(meta: SkuMeta) -> StockChange | None:
            nonlocal created
            created = False
            if self.campaigns.get_campaign(planned.campaign_id) is not None:
                return None
            shards = self.skus.read_shards(meta)
            taken = layout.plan_take(shards, SHARED, planned.total)
            if taken is None:
                free = layout.pool_totals(shards).get(SHARED, 0)
                raise InsufficientFreeStock(
                    f"shared holds {free} unsold units; the campaign asks for {planned.total}",
                    {"pool": SHARED, "requested": planned.total, "free": free},
                )
            created = True
            return StockChange.of(
                meta,
                "campaign-fund",
                actor,
                reference=planned.campaign_id,
                shard_deltas=[*taken, ShardDelta(planned.pool, 0, planned.total)],
                patch=SkuPatch(shards={planned.pool: 1, planned.target_pool: 1} | meta.shards),
                creates=[("campaign", CampaignStore.new_item(planned))],
            )

        self.runner.run(request.sku_id, fund)
        campaign = self.campaign(planned.campaign_id)
        if campaign.request_hash != planned.request_hash:
            raise IdempotencyMismatch(
                f"campaign {planned.campaign_id!r} was created with a different body",
                {"campaign_id": planned.campaign_id},
            )
        if campaign.status == CampaignStatus.ACTIVE and not (campaign.execution_arn or campaign.schedule_name):
            started = self._launcher().start(campaign, self.clock())
            self.campaigns.record_start(campaign.campaign_id, started.execution_arn, started.schedule_name)
            campaign = self.campaign(campaign.campaign_id)
        return CampaignView.of(campaign), created

    # --- release and cancel ---------------------------------------------------------------------

    def _check_plan(self, session: Session, request: CampaignRequest) -> None:
        """What the request's model cannot know: a campaign sells a SKU of its session's lineup
        (another live may be selling any other), and its stages fall in the session's planned
        window, give or take STAGE_WINDOW_MARGIN_S (a live starts late or runs over): a mistyped
        day, month or year would otherwise release every stage at once, or never in the live."""
        if request.sku_id not in session.sku_ids:
            raise InvalidState(
                f"{request.sku_id!r} is not in the session's lineup",
                {"session_id": session.session_id, "sku_id": request.sku_id},
            )
        earliest, latest = session.starts_at - STAGE_WINDOW_MARGIN_S, session.ends_at + STAGE_WINDOW_MARGIN_S
        outside: dict[tuple[str | int, ...], str] = {
            ("stages", n, "at"): f"not within {STAGE_WINDOW_MARGIN_S // 3600} h of the session's planned "
            f"{iso(session.starts_at)} to {iso(session.ends_at)}"
            for n, stage in enumerate(request.stages)
            if not earliest <= stage.at.timestamp() <= latest
        }
        if outside:
            raise FieldRefused.at("stage_outside_session", outside)

    def release_stage(
        self, campaign_id: str, n: int, actor: str, record: OperationRecord | None = None
    ) -> CampaignView:
        """Moves stage n's units into the target pool, once: a second release of it (the state
        machine's retried task, the host pressing twice) changes nothing and answers the campaign.
        `record` is written with the release (a console request's idempotency key)."""
        campaign = self.campaign(campaign_id)
        if campaign.stage(n) is None:
            raise InvalidState(
                f"campaign {campaign_id!r} has stages 1 to {len(campaign.stages)}",
                {"campaign_id": campaign_id, "stage": n},
            )
        if campaign.status == CampaignStatus.CANCELLED:
            raise InvalidState("the campaign was cancelled", {"campaign_id": campaign_id, "status": "cancelled"})

        def release(meta: SkuMeta) -> StockChange | None:
            current = self.campaign(campaign_id)
            stage = current.stage(n)
            assert stage is not None
            if stage.released_at is not None or current.status != CampaignStatus.ACTIVE:
                return None
            moves = [
                ShardDelta(current.pool, 0, -stage.quantity),
                *layout.plan_add(
                    current.target_pool, meta.shards.get(current.target_pool, 1), stage.quantity, self.rng
                ),
            ]
            return StockChange.of(
                meta,
                STAGE_RELEASE_OP,
                actor,
                reference=f"{campaign_id}#{n}",
                shard_deltas=moves,
                bump_version=False,
                guards=[("campaign", self.campaigns.release_update(current, n, self.clock(), actor))],
                operation=record,
            )

        self.runner.run(campaign.sku_id, release)
        return self.view(campaign_id)

    def release_next(self, session_id: str, sku_id: str, actor: str, key: str | None = None) -> dict[str, Any]:
        """The host's "release the next stage now": the earliest unreleased stage of the session's
        active campaigns on this SKU (found through the SKU's campaign pools), released once. With
        the page's idempotency key, a retry after a lost answer releases nothing more (the next
        stage would otherwise go too): it answers the campaign of the stage the key released."""
        body = {"session_id": session_id}
        if (replayed := self._replayed_next(sku_id, key, body)) is not None:
            return replayed
        pending = [
            (stage.at, campaign.campaign_id, stage.n)
            for campaign in self._active_campaigns(session_id, [sku_id])
            for stage in campaign.stages
            if stage.released_at is None
        ]
        if not pending:
            raise NoStagedRelease("no staged release is planned for this SKU", {"sku_id": sku_id})
        _, campaign_id, n = min(pending)
        record = None
        if key is not None:
            record = operation(NEXT_STAGE_KIND, key, body, {"campaign_id": campaign_id, "stage": n})
        try:
            return self.release_stage(campaign_id, n, actor, record).model_dump(mode="json")
        except ChangeRefused:
            # The same key's other call released it meanwhile: answer as its replay.
            if (replayed := self._replayed_next(sku_id, key, body)) is None:
                raise
            return replayed

    def _replayed_next(self, sku_id: str, key: str | None, body: dict[str, Any]) -> dict[str, Any] | None:
        """The campaign of the stage this key released, if it released one."""
        done = None if key is None else self.runner.recorded(sku_id, NEXT_STAGE_KIND, key, body)
        return None if done is None else self.view(str(done["campaign_id"])).model_dump(mode="json")

    def run_stage(self, campaign_id: str, n: int, actor: str) -> dict[str, str | int]:
        """The state machine's task: release stage n at its time. A stage the host released early
        or a campaign cancelled meanwhile is an outcome, not an error (the execution goes on)."""
        before = self.campaign(campaign_id)
        stage = before.stage(n)
        if stage is None:
            raise InvalidState(f"campaign {campaign_id!r} has no stage {n}", {"campaign_id": campaign_id, "stage": n})
        if before.status == CampaignStatus.CANCELLED:
            outcome = "cancelled"
        elif stage.released_at is not None:
            outcome = "already-released"
        elif self._session_ended(before.session_id):
            # The live ended before this stage's time (ending it cancels its campaigns; this is
            # the stage of one that end missed): its units go back to shared, not on sale after
            # the live, and the execution's later stages find the campaign cancelled.
            self._return_pending(campaign_id, SESSION_ENDED_ACTOR)
            outcome = "session-ended"
        else:
            after = self.release_stage(campaign_id, n, actor)
            released = after.stages[n - 1]
            outcome = "released" if released.released_by == actor else after.stages[n - 1].status
        return {"campaign_id": campaign_id, "stage": n, "outcome": outcome}

    def cancel(self, campaign_id: str, actor: str) -> CampaignView:
        """Returns every unreleased unit to shared, once, and stops the releases. A cancel racing a
        stage release is ordered by the campaign's record: it returns what that release left."""
        cancelled = self._return_pending(campaign_id, actor)
        if cancelled.status == CampaignStatus.COMPLETED:
            raise InvalidState(
                "every stage was released already; nothing is left to cancel",
                {"campaign_id": campaign_id, "status": "completed"},
            )
        self._launcher().stop(cancelled)
        return CampaignView.of(cancelled)

    def cancel_for_session(self, session_id: str, sku_ids: list[str], actor: str) -> list[str]:
        """The session ended: its active campaigns on these SKUs are cancelled (their held-back
        units back to shared, their releases stopped). Returns the campaigns cancelled."""
        cancelled = []
        for campaign in self._active_campaigns(session_id, sku_ids):
            if self._return_pending(campaign.campaign_id, actor).status == CampaignStatus.CANCELLED:
                self._launcher().stop(campaign)
                cancelled.append(campaign.campaign_id)
            # else its last stage was released meanwhile: nothing is left to cancel.
        return cancelled

    def _active_campaigns(self, session_id: str, sku_ids: list[str]) -> list[Campaign]:
        """The session's active campaigns on these SKUs, found through the SKUs' campaign pools."""
        found = []
        for sku_id in sku_ids:
            meta = self.skus.get_meta(sku_id, consistent=True)
            for pool in meta.shards if meta is not None else {}:
                if not keys.is_campaign_pool(pool):
                    continue
                campaign = self.campaigns.get_campaign(keys.campaign_pool.strip(pool))
                if (
                    campaign is not None
                    and campaign.session_id == session_id
                    and campaign.status == CampaignStatus.ACTIVE
                ):
                    found.append(campaign)
        return found

    def _session_ended(self, session_id: str) -> bool:
        session = self.sessions.get_session(session_id)
        return session is not None and session.status == SessionStatus.ENDED

    def _return_pending(self, campaign_id: str, actor: str) -> Campaign:
        """The cancel in the ledger: every unreleased unit back to shared, once."""
        campaign = self.campaign(campaign_id)

        def cancel(meta: SkuMeta) -> StockChange | None:
            current = self.campaign(campaign_id)
            if current.status != CampaignStatus.ACTIVE:
                return None
            pending = current.pending_units
            moves = (
                [
                    ShardDelta(current.pool, 0, -pending),
                    *layout.plan_add(SHARED, meta.shards[SHARED], pending, self.rng),
                ]
                if pending
                else []
            )
            return StockChange.of(
                meta,
                "campaign-cancel",
                actor,
                reference=campaign_id,
                shard_deltas=moves,
                bump_version=False,
                guards=[("campaign", self.campaigns.cancel_update(current, self.clock(), actor))],
            )

        self.runner.run(campaign.sku_id, cancel)
        return self.campaign(campaign_id)
