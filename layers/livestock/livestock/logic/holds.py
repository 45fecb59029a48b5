"""The hold lifecycle. The hot path (place) is two writes and no transaction:

1. the hold record, put only if absent (the idempotency record for (channel, order id));
2. one conditional decrement of a pool shard (`available >= q AND NOT paused`), which also names
   the hold, so the table's stream is the exact record of who took what.

The stream consumer (logic/settlement.py) turns the hold from pending to held when it sees the
decrement, and returns units from any decrement that no live hold owns.
"""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn

from botocore.exceptions import BotoCoreError, ClientError

from livestock import keys
from livestock.dal.expressions import TransactionRefused, Update
from livestock.dal.holds import HoldStore
from livestock.dal.limits import LimitStore
from livestock.dal.refusals import RefusalStore
from livestock.dal.skus import SkuStore
from livestock.logic import layout
from livestock.logic.allocation import AUTO_RELEASE_ACTOR
from livestock.logic.meta_cache import MetaCache
from livestock.logic.requests import fingerprint
from livestock.logic.shard_hints import ShardHints
from livestock.logic.shield import SoldOutShield, Verdict
from livestock.logic.stock import StockService
from livestock.models.domain import RESERVE, SHARED, Hold, HoldStatus, SkuMeta, channel_pool
from livestock.models.exceptions import (
    STORED_REFUSALS,
    HoldNotFound,
    IdempotencyMismatch,
    InvalidState,
    LimitExceeded,
    LiveStockError,
    Paused,
    RequestInProgress,
    SkuNotFound,
    SoldOut,
)
from livestock.models.input import HoldRequest
from livestock.models.output import HoldView
from livestock.observability import logger
from livestock.settings import Settings

UNSETTLED_FOR_CONFIRM = frozenset({HoldStatus.PENDING, HoldStatus.ABANDONED})
# The answer to a confirm recorded on a hold still settling (202): it becomes confirmed on settling.
CONFIRMING = "confirming"
EVER_HELD = {
    HoldStatus.HELD,
    HoldStatus.CONFIRMED,
    HoldStatus.RELEASED,
    HoldStatus.EXPIRED,
    HoldStatus.REFUNDED,
}


def iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def _allowance(meta: SkuMeta) -> dict[str, Any]:
    """The session a hold belongs to and the buyer allowance it counts against, as the SKU's settings
    say when the order comes: a live session's limit (counted per session) replaces the SKU's own."""
    if meta.session_id is not None and meta.session_per_buyer_limit is not None:
        return {
            "session_id": meta.session_id,
            "buyer_limit": meta.session_per_buyer_limit,
            "limit_session": meta.session_id,
        }
    return {"session_id": meta.session_id, "buyer_limit": meta.per_buyer_limit, "limit_session": None}


def first_answer(hold: Hold) -> HoldView:
    """The body a successful hold got the first time; a replay gets exactly this."""
    return HoldView(
        hold_id=hold.hold_id,
        status=HoldStatus.HELD.value,
        sku_id=hold.sku_id,
        channel=hold.channel,
        order_id=hold.order_id,
        quantity=hold.quantity,
        pool=hold.pool,
        expires_at=iso(hold.expires_at),
    )


def current_view(hold: Hold) -> HoldView:
    return first_answer(hold).model_copy(update={"status": hold.status.value})


@dataclass
class HoldService:
    holds: HoldStore
    skus: SkuStore
    limits: LimitStore
    stock: StockService
    meta_cache: MetaCache
    shield: SoldOutShield
    shard_hints: ShardHints
    settings: Settings
    clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    refusals: RefusalStore | None = None

    # --- place ------------------------------------------------------------------------------

    def place(self, request: HoldRequest) -> HoldView:
        meta = SkuNotFound.unless(self.meta_cache.get(request.sku_id), request.sku_id)
        now = self.clock()
        hold = Hold(
            hold_id=keys.hold_id_for(request.channel, request.order_id, request.sku_id),
            **request.model_dump(include={"sku_id", "channel", "order_id", "quantity", "buyer_id"}),
            status=HoldStatus.PENDING,
            request_hash=fingerprint(request.model_dump()),
            pay_within_s=request.pay_within_s or self.settings.default_pay_within_s,
            created_at=now,
            expires_at=now + (request.pay_within_s or self.settings.default_pay_within_s),
        )
        hold = hold.model_copy(update=_allowance(meta))
        verdict = self.shield.check(hold.sku_id, hold.channel)
        if verdict == Verdict.PROBE and self._still_sold_out(hold, meta):
            verdict = Verdict.SOLD_OUT
        if verdict == Verdict.SOLD_OUT:
            # A read, not a write: a replay of an order that was held must still get its answer, also
            # a second after it was held (an eventually consistent read could miss it: SOLD_OUT for a
            # held order, whose units then stay locked until its payment window ends).
            seen = self.holds.get_hold(hold.hold_id, consistent=True)
            if seen is None:
                refusal = self._sold_out(hold)
                self._count_refusal(hold, refusal)
                raise refusal
            existing: Hold | None = seen
        else:
            existing = self.holds.put_pending_hold(hold)
        if existing is None:
            return self._drive(hold, meta)
        if existing.request_hash != hold.request_hash:
            raise IdempotencyMismatch(
                "this order was placed before with a different body",
                {"channel": request.channel, "order_id": request.order_id},
            )
        return self._replay(existing, meta)

    def _still_sold_out(self, hold: Hold, meta: SkuMeta) -> bool:
        """The probe's look at the shards: reads only. Renews the mark, or clears it."""
        totals = layout.pool_totals(self.skus.read_shards(meta, consistent=False))
        reserve = totals.get(RESERVE, 0) if meta.auto_release_reserve else 0
        if any(totals.get(pool, 0) for pool in self._pools_for(hold.channel, meta)) or reserve:
            self.shield.clear(hold.sku_id)
            return False
        self.shield.mark(hold.sku_id, hold.channel)
        return True

    def _replay(self, hold: Hold, meta: SkuMeta) -> HoldView:
        hold = self._wait_until_settled(hold)
        if hold.status == HoldStatus.ABANDONED:
            now = self.clock()
            if self.holds.redrive_hold(hold, now, self.settings.settle_window_s):
                redriven = {
                    "attempt": hold.attempt + 1,
                    "created_at": now,
                    "expires_at": now + hold.pay_within_s,
                    "status": HoldStatus.PENDING,
                }
                return self._drive(hold.model_copy(update=redriven), meta)
            return self._replay(self._get(hold.hold_id), meta)
        if hold.status == HoldStatus.REJECTED:
            refusal = STORED_REFUSALS.get(hold.refusal_code or "", SoldOut)
            raise refusal(hold.refusal_message or "refused", dict(hold.refusal_details or {}))
        return first_answer(hold)

    def _wait_until_settled(
        self, hold: Hold, unsettled: frozenset[HoldStatus] = frozenset({HoldStatus.PENDING})
    ) -> Hold:
        """A first attempt may still be in flight: wait briefly for the stream to settle it."""
        deadline = self.monotonic() + self.settings.replay_wait_s
        while hold.status in unsettled:
            if self.monotonic() >= deadline:
                raise RequestInProgress(
                    "the first attempt of this order is still being settled; retry shortly",
                    {"hold_id": hold.hold_id, "retry_after_s": 1},
                )
            self.sleep(0.05)
            hold = self._get(hold.hold_id)
        return hold

    def _drive(self, hold: Hold, meta: SkuMeta) -> HoldView:
        if meta.paused:
            # A replay driving an abandoned hold again was charged by its first attempt.
            charged = self.limits.allowance_refund(hold) if hold.attempt > 1 else None
            self._refuse(hold, Paused(f"sales of {hold.sku_id!r} are paused", {"sku_id": hold.sku_id}), charged)
        limit = hold.buyer_limit
        if (
            hold.buyer_id
            and limit is not None
            and not self.limits.charge_buyer_limit(
                hold.sku_id, hold.buyer_id, hold.hold_id, hold.quantity, limit, hold.limit_session
            )
        ):
            self._refuse(
                hold,
                LimitExceeded(
                    f"a buyer may hold at most {limit} units of {hold.sku_id!r}",
                    {"per_buyer": limit, "requested": hold.quantity},
                ),
            )
        # From here on a refusal gives the charge back in the write that stores it. An error that
        # stores none (a consolidation that met a change too fast, say) leaves the hold pending, so
        # the charge goes back while it still is: the platform may never retry the order.
        try:
            return self._take(hold, meta)
        except LiveStockError as error:
            allowance = self.limits.allowance_refund(hold)
            if allowance is not None and not error.on_hold:
                try:
                    self.holds.give_back_allowance(hold, allowance)
                except (ClientError, BotoCoreError, TransactionRefused):
                    # The order's own answer goes out; the charge stays, as after a crash.
                    logger.warning("could not give a charge back", hold_id=hold.hold_id, exc_info=True)
            raise

    def _take(self, hold: Hold, meta: SkuMeta) -> HoldView:
        taken = self._try_shards(hold, meta)
        if taken:
            return taken
        # Every shard refused. Look at the real totals before saying sold out.
        fresh = self.meta_cache.get(hold.sku_id, fresh=True) or meta
        if fresh.paused:
            self._refuse(
                hold,
                Paused(f"sales of {hold.sku_id!r} are paused", {"sku_id": hold.sku_id}),
                self.limits.allowance_refund(hold),
            )
        for _ in range(3):
            shards = self.skus.read_shards(fresh)
            totals = layout.pool_totals(shards)
            pools = self._pools_for(hold.channel, fresh)
            one_shard_covers = any(s.pool in pools and s.available >= hold.quantity for s in shards)
            fragmented = [p for p in pools if totals.get(p, 0) >= hold.quantity]
            if one_shard_covers:
                pass  # stock came back (a cancel, an expiry, a receipt) since we tried: try again
            elif fragmented:
                # Enough units in total, but split over shards: gather them and try again.
                for pool in fragmented:
                    self.stock.consolidate(hold.sku_id, pool, actor="system:consolidate")
            elif fresh.auto_release_reserve and totals.get(RESERVE, 0) > 0:
                self.stock.release_reserve(hold.sku_id, None, actor=AUTO_RELEASE_ACTOR)
            else:
                break
            fresh = self.meta_cache.get(hold.sku_id, fresh=True) or fresh
            taken = self._try_shards(hold, fresh)
            if taken:
                return taken
        if not any(totals.get(pool, 0) for pool in pools) and not (
            fresh.auto_release_reserve and totals.get(RESERVE, 0)
        ):
            self.shield.mark(hold.sku_id, hold.channel)
        return self._refuse_unless_taken(hold, self._sold_out(hold))

    @staticmethod
    def _sold_out(hold: Hold) -> SoldOut:
        return SoldOut(
            f"{hold.sku_id!r} has fewer than {hold.quantity} units left for {hold.channel}",
            {"sku_id": hold.sku_id, "requested": hold.quantity},
        )

    @staticmethod
    def _pools_for(channel: str, meta: SkuMeta) -> list[str]:
        own = channel_pool(channel)
        return [own, SHARED] if own in meta.shards else [SHARED]

    def _try_shards(self, hold: Hold, meta: SkuMeta) -> HoldView | None:
        reference = keys.hold_reference(hold.hold_id, hold.attempt)
        hints, looked = self.shard_hints, False
        for pool in self._pools_for(hold.channel, meta):
            untried = list(range(meta.shards.get(pool, 1)))
            while untried:
                with hints.claiming(hold.sku_id, pool, hold.quantity, untried, self.rng) as claim:
                    taken, seen, revision = self.skus.decrement_shard(
                        hold.sku_id, pool, claim.shard, hold.quantity, reference, keys.channel_actor(hold.channel)
                    )
                    claim.answer(seen, revision)
                if taken:
                    return first_answer(hold.model_copy(update={"pool": pool, "shard": claim.shard}))
                if untried and not looked:
                    # A refusal costs a WCU, a read none: look at the shards once before trying
                    # another, so the next try goes where units are.
                    self._learn_shards(meta)
                    looked = True
        return None

    def _learn_shards(self, meta: SkuMeta) -> None:
        for seen in self.skus.read_shards(meta, consistent=False):
            self.shard_hints.saw(meta.sku_id, seen.pool, seen.shard, seen.available, seen.rev)

    def _refuse(self, hold: Hold, refusal: LiveStockError, allowance: Update | None = None) -> NoReturn:
        """Stores the refusal on the hold, so a replay gets the same answer, then raises it;
        `allowance` gives a charge made for this order back in the same write."""
        stored = self.holds.reject_hold(
            hold.model_copy(
                update={
                    "refusal_code": refusal.code,
                    "refusal_message": refusal.message,
                    "refusal_details": refusal.details,
                }
            ),
            allowance,
        )
        if stored:  # counted once: a replay answers the stored refusal without coming here
            self._count_refusal(hold, refusal)
        refusal.on_hold = True
        raise refusal

    def _count_refusal(self, hold: Hold, refusal: LiveStockError) -> None:
        """A refusal of a SKU in a live session is counted for its review. The count is a report,
        not stock: a failed count is logged and the buyer still gets the refusal."""
        if self.refusals is None or hold.session_id is None:
            return
        try:
            self.refusals.count(hold.session_id, hold.sku_id, hold.channel, refusal.code, self.rng)
        except (ClientError, BotoCoreError):
            logger.warning("could not count a refusal", sku_id=hold.sku_id, code=refusal.code, exc_info=True)

    def _refuse_unless_taken(self, hold: Hold, refusal: LiveStockError) -> HoldView:
        """After the shards refused: if a decrement of this attempt landed after all (a retried
        write whose first try succeeded) and the stream already settled it, tell the truth."""
        try:
            self._refuse(hold, refusal, self.limits.allowance_refund(hold))
        except LiveStockError:
            current = self._get(hold.hold_id)
            if current.attempt == hold.attempt and current.status in EVER_HELD:
                return first_answer(current)
            raise

    # --- read, confirm, cancel ----------------------------------------------------------------

    def _get(self, hold_id: str) -> Hold:
        return HoldNotFound.unless(self.holds.get_hold(hold_id), hold_id)

    def get(self, hold_id: str) -> HoldView:
        return current_view(self._get(hold_id))

    def confirm(self, hold_id: str, actor: str) -> HoldView:
        for _ in range(5):
            # An abandoned hold that was told "held" is revived once the stream shows its decrement.
            try:
                hold = self._wait_until_settled(self._get(hold_id), UNSETTLED_FOR_CONFIRM)
            except RequestInProgress:
                # The stream is behind (a restart catching up, say): the platform is not told to
                # retry an order we accepted; the confirm is recorded and applied on settling.
                hold = self._get(hold_id)
                if hold.status in UNSETTLED_FOR_CONFIRM and self.holds.request_confirm(hold, actor):
                    return current_view(hold).model_copy(update={"status": CONFIRMING})
                continue
            if hold.status == HoldStatus.CONFIRMED:
                return current_view(hold)
            if hold.status != HoldStatus.HELD:
                raise InvalidState(f"a {hold.status.value} hold cannot be confirmed", {"status": hold.status.value})
            if self.holds.transition_hold(hold, HoldStatus.CONFIRMED, actor):
                return current_view(hold.model_copy(update={"status": HoldStatus.CONFIRMED}))
        raise RequestInProgress("the hold is changing; retry shortly", {"hold_id": hold_id})

    def cancel(self, hold_id: str, actor: str) -> HoldView:
        for _ in range(5):
            hold = self._wait_until_settled(self._get(hold_id))
            if hold.status in (HoldStatus.RELEASED, HoldStatus.REFUNDED):
                return current_view(hold)
            if hold.status == HoldStatus.HELD:
                done = self.return_units(hold, HoldStatus.RELEASED, "cancel", actor)
            elif hold.status == HoldStatus.CONFIRMED:
                done = self.return_units(hold, HoldStatus.REFUNDED, "refund", actor)
            elif hold.status == HoldStatus.ABANDONED:
                # No decrement of it has been seen: nothing to give back now. If one shows up
                # later, the stream consumer returns it, since the hold is no longer live.
                done = self.holds.transition_hold(
                    hold, HoldStatus.RELEASED, actor, allowance=self.limits.allowance_refund(hold)
                )
            else:
                raise InvalidState(f"a {hold.status.value} hold cannot be cancelled", {"status": hold.status.value})
            if done:
                return current_view(self._get(hold_id))
        raise RequestInProgress("the hold is changing; retry shortly", {"hold_id": hold_id})

    def return_units(self, hold: Hold, to: HoldStatus, op: str, actor: str) -> bool:
        """Closes a hold and gives its units back: to the pool it came from, or shared for a refund."""
        meta = SkuNotFound.unless(self.meta_cache.get(hold.sku_id, fresh=True), hold.sku_id)
        pool = SHARED if to == HoldStatus.REFUNDED or hold.pool not in meta.shards else hold.pool
        shard = self.rng.randrange(meta.shards[pool])
        if not self.holds.return_hold_units(
            hold, to, pool, shard, op, actor, meta.paused, self.limits.allowance_refund(hold)
        ):
            return False
        self.shield.clear(hold.sku_id)
        return True
