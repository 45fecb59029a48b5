"""What the inventory table's stream means: ledger movements, and settling holds.

Every counter lives on an item whose write names its operation (last_op, last_ref, last_actor),
so each stream record is one exact ledger movement. Records may arrive more than once; every
action here is idempotent by the record's sequence number. The data layer hands the records
over as typed changes (dal/stream.py); nothing here reads an attribute.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from livestock import keys
from livestock.dal.holds import HoldStore
from livestock.dal.ledger import LedgerStore
from livestock.dal.stream import Change, CounterMoved, HoldTransitioned, Recorded, ShardChanged
from livestock.logic.allocation import AUTO_RELEASE_ACTOR
from livestock.logic.meta_cache import MetaCache
from livestock.logic.stock import StockService
from livestock.models.domain import HOLD_TRANSITIONS, RESERVE, HoldStatus, is_sellable
from livestock.models.exceptions import LiveStockError
from livestock.observability import logger


def _movement(
    recorded: Recorded,
    sku_id: str,
    index: int,
    op: str,
    bucket: str,
    before: int,
    after: int,
    reference: str | None,
    actor: str | None,
    reason: str | None,
) -> dict[str, Any]:
    at_iso = datetime.fromtimestamp(recorded.at, UTC).isoformat(timespec="milliseconds")
    sequence = keys.ledger_sequence(recorded.sequence, recorded.item_key, index)
    return {
        "pk": keys.ledger_pk(sku_id, sequence),
        "sk": keys.ledger_sk(at_iso, sequence),
        "sku_id": sku_id,
        "at": at_iso,
        "sequence": sequence,
        "op": op,
        "bucket": bucket,
        "delta": after - before,
        "quantity": abs(after - before),
        "before": before,
        "after": after,
        "reference": reference,
        "actor": actor,
        "reason": reason,
    }


def movements_for(change: Change) -> list[dict[str, Any]]:
    if isinstance(change, CounterMoved):
        if change.before == change.after:
            return []
        return [
            _movement(
                change.recorded,
                change.sku_id,
                0,
                change.op,
                change.bucket,
                change.before,
                change.after,
                change.reference,
                change.actor,
                change.reason,
            )
        ]
    if not isinstance(change, HoldTransitioned):
        return []  # a session's or a campaign's record moves no stock (its shards' records do)
    transition = HOLD_TRANSITIONS.get((change.old, change.new))
    if transition is None:
        return []
    op, legs = transition
    return [
        _movement(
            change.recorded,
            change.sku_id,
            index,
            op,
            bucket,
            0 if sign > 0 else change.quantity,
            change.quantity if sign > 0 else 0,
            change.hold_id,
            change.actor,
            None,
        )
        for index, (bucket, sign) in enumerate(legs)
    ]


# A shard this low while its siblings may still hold stock gets its pool levelled.
LEVEL_BELOW = 2
LEVEL_AT_MOST_EVERY_S = 1.0


@dataclass
class Settlement:
    holds: HoldStore
    ledger: LedgerStore
    stock: StockService
    meta_cache: MetaCache
    settle_window_s: int
    clock: Callable[[], float] = time.monotonic
    _levelled_at: dict[tuple[str, str], float] = field(default_factory=dict, init=False)
    # A batch's holds settle on several threads (api/batch.py): one levelling per pool a second.
    _levelling: threading.Lock = field(default_factory=threading.Lock, init=False)

    def write_ledger(self, changes: list[Change]) -> None:
        """The movements of a whole batch, in as few writes as the table allows."""
        movements = [m for change in changes for m in movements_for(change)]
        if movements:
            self.ledger.put_movements(movements)

    def settle(self, change: Change | None) -> None:
        if isinstance(change, CounterMoved) and change.unattributed:
            # Recorded in the ledger as such (movements_for); nothing is settled against it.
            logger.error(
                "a counter moved in a write no LiveStock operation made",
                sku_id=change.sku_id,
                bucket=change.bucket,
                before=change.before,
                after=change.after,
                sequence=change.recorded.sequence,
            )
            return
        if isinstance(change, HoldTransitioned) and change.old is None and change.new == HoldStatus.PENDING:
            # A new hold joins the sweeper's list here, off the hot path: if its decrement never
            # comes (a crash between the two writes), the sweeper finds it when the window ends.
            self.holds.track_pending_hold(change.hold_id, change.attempt, change.created_at + self.settle_window_s)
        if isinstance(change, ShardChanged) and (taken_by := change.decrement_of) is not None:
            self._settle_decrement(change, *taken_by)
            if change.after < LEVEL_BELOW:
                self._level(change.sku_id, change.pool)
            if change.after == 0 and change.pool != RESERVE:
                self._release_reserve_if_sold_out(change.sku_id)

    def _confirm_if_requested(self, hold_id: str) -> None:
        """A confirm that came while the hold was settling was recorded on it (HoldService.confirm);
        read after settling, so a confirm recorded just before the settle is seen."""
        settled = self.holds.get_hold(hold_id)
        if settled is not None and settled.status == HoldStatus.HELD and settled.confirm_requested_by:
            self.holds.transition_hold(settled, HoldStatus.CONFIRMED, settled.confirm_requested_by)

    def _level(self, sku_id: str, pool: str) -> None:
        """Shards drain unevenly (random picks, multi-unit orders): level them off the hot path,
        at most once a second per pool and instance."""
        meta = self.meta_cache.get(sku_id)
        if meta is None or meta.shards.get(pool, 1) < 2:
            return
        now = self.clock()
        with self._levelling:
            if now - self._levelled_at.get((sku_id, pool), -LEVEL_AT_MOST_EVERY_S) < LEVEL_AT_MOST_EVERY_S:
                return
            self._levelled_at[(sku_id, pool)] = now
        try:
            self.stock.level(sku_id, pool, "system:leveller")
        except LiveStockError as error:  # a busy SKU: the next low shard tries again
            logger.info("levelling skipped", sku_id=sku_id, pool=pool, reason=error.code)

    def _release_reserve_if_sold_out(self, sku_id: str) -> None:
        """Main stock ran out with this decrement: the reserve goes to shared now. The order that
        finds no stock releases it too (HoldService), but no platform shows the reserve, so once
        every platform shows 0 their buyers send no such order and the reserve would stay unsold.
        Read after a shard emptied only; releasing all of it is a no-op once it is released."""
        cached = self.meta_cache.get(sku_id)  # the cached copy filters; the pools below are read afresh
        if cached is None or not cached.auto_release_reserve or RESERVE not in cached.shards:
            return
        meta, pools = self.stock.pools(sku_id)
        sellable = sum(units for pool, units in pools.items() if is_sellable(pool))
        if not meta.auto_release_reserve or sellable or not pools.get(RESERVE):
            return
        try:
            released = self.stock.release_reserve(sku_id, None, AUTO_RELEASE_ACTOR)
        except LiveStockError as error:  # a busy SKU: the next order that finds no stock releases it
            logger.info("reserve release skipped", sku_id=sku_id, reason=error.code)
            return
        logger.info("main stock ran out: reserve released", sku_id=sku_id, units=released["released"])

    def _settle_decrement(self, shard: ShardChanged, hold_id: str, attempt: int) -> None:
        quantity = shard.before - shard.after
        sequence = shard.recorded.sequence
        hold = self.holds.get_hold(hold_id)
        if hold is not None and hold.attempt == attempt:
            if self.holds.settle_hold(hold, shard.pool, shard.shard, sequence):
                self._confirm_if_requested(hold_id)
                return
            hold = self.holds.get_hold(hold_id)
        if hold is not None and hold.settled_seq == sequence:
            # This record was delivered before and settled the hold; a confirm recorded meanwhile
            # may have met a conflict then (the record failed and came back for it).
            self._confirm_if_requested(hold_id)
            return
        # A decrement no live hold owns: a late write of an abandoned attempt, a refused hold whose
        # write landed after all, or a retried request applied twice. Give the units back.
        logger.warning("returning an unowned decrement", hold_id=hold_id, sequence=sequence, quantity=quantity)
        self.holds.compensate_decrement(
            hold_id,
            shard.sku_id,
            shard.pool,
            shard.shard,
            quantity,
            sequence,
            shard.paused,
            channel=keys.channel_of_pool(shard.actor or ""),
        )
