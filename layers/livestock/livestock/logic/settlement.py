"""What the inventory table's stream means: ledger movements, and settling holds.

Every counter lives on an item whose write names its operation (last_op, last_ref, last_actor),
so each stream record is one exact ledger movement. Records may arrive more than once; every
action here is idempotent by the record's sequence number.
"""

import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from livestock import keys
from livestock.dal.repository import InventoryRepository
from livestock.logic.meta_cache import MetaCache
from livestock.logic.stock import StockService
from livestock.models.domain import HoldStatus
from livestock.models.exceptions import LiveStockError
from livestock.observability import logger

# (old status, new status) -> the buckets a hold's quantity leaves and enters, and the operation.
HOLD_TRANSITIONS: dict[tuple[str | None, str], tuple[str, list[tuple[str, int]]]] = {
    (HoldStatus.PENDING, HoldStatus.HELD): ("hold", [("held", 1)]),
    (HoldStatus.ABANDONED, HoldStatus.HELD): ("hold", [("held", 1)]),
    (HoldStatus.HELD, HoldStatus.CONFIRMED): ("confirm", [("held", -1), ("sold", 1)]),
    (HoldStatus.HELD, HoldStatus.RELEASED): ("cancel", [("held", -1)]),
    (HoldStatus.HELD, HoldStatus.EXPIRED): ("expire", [("held", -1)]),
    (HoldStatus.CONFIRMED, HoldStatus.REFUNDED): ("refund", [("sold", -1)]),
}


# entity -> (its counter attribute, the ledger bucket it belongs to)
COUNTERS = {"shard": ("available", "pool:{pool}"), "meta": ("on_hand", "on_hand")}


def ledger_sequence(sequence: str, item_key: str, index: int) -> str:
    """Sortable, and unique per movement: sequence numbers are unique only within a stream shard,
    so the changed item's key is part of it."""
    return f"{sequence.rjust(40, '0')}.{zlib.crc32(item_key.encode()):08x}.{index}"


def _movement(
    image: dict[str, Any],
    at: float,
    sequence: str,
    index: int,
    op: str,
    bucket: str,
    before: int,
    after: int,
    reference: str | None,
    actor: str | None,
    reason: str | None,
) -> dict[str, Any]:
    sku_id = str(image["sku_id"])
    at_iso = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
    seq = ledger_sequence(sequence, str(image.get("pk", "")), index)
    return {
        "pk": keys.ledger_pk(sku_id),
        "sk": keys.ledger_sk(at_iso, seq),
        "sku_id": sku_id,
        "at": at_iso,
        "sequence": seq,
        "op": op,
        "bucket": bucket,
        "delta": after - before,
        "quantity": abs(after - before),
        "before": before,
        "after": after,
        "reference": reference or None,
        "actor": actor or None,
        "reason": reason or None,
    }


def movements_for(
    old: dict[str, Any] | None, new: dict[str, Any] | None, sequence: str, at: float
) -> list[dict[str, Any]]:
    image = new or old or {}
    entity = image.get("entity")
    sku_id = image.get("sku_id")
    if not sku_id:
        return []
    counted = COUNTERS.get(str(entity))
    if counted is not None:
        # Items that carry a counter name their last operation on themselves (last_op & co).
        attribute, bucket = counted[0], counted[1].format(**image)
        before = int((old or {}).get(attribute, 0))
        after = int((new or {}).get(attribute, 0))
        if before == after:
            return []
        return [
            _movement(
                image,
                at,
                sequence,
                0,
                str(image.get("last_op")),
                bucket,
                before,
                after,
                image.get("last_ref"),
                image.get("last_actor"),
                image.get("last_reason"),
            )
        ]
    if entity == "hold" and new is not None:
        transition = HOLD_TRANSITIONS.get(((old or {}).get("status"), new["status"]))
        if transition is None:
            return []
        op, legs = transition
        quantity = int(new["quantity"])
        return [
            _movement(
                image,
                at,
                sequence,
                index,
                op,
                bucket,
                0 if sign > 0 else quantity,
                quantity if sign > 0 else 0,
                new["hold_id"],
                new.get("last_actor") or f"channel:{new['channel']}",
                None,
            )
            for index, (bucket, sign) in enumerate(legs)
        ]
    return []


# A shard this low while its siblings may still hold stock gets its pool levelled.
LEVEL_BELOW = 2
LEVEL_AT_MOST_EVERY_S = 1.0


class Settlement:
    def __init__(
        self, repository: InventoryRepository, settle_window_s: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.repository = repository
        self.settle_window_s = settle_window_s
        self.stock = StockService(repository)
        self.meta_cache = MetaCache(1.0)
        self.clock = clock
        self._levelled_at: dict[tuple[str, str], float] = {}

    def write_ledger(self, changes: list[tuple[dict[str, Any] | None, dict[str, Any] | None, str, float]]) -> None:
        """The movements of a whole batch, in as few writes as the table allows."""
        movements = [m for old, new, sequence, at in changes for m in movements_for(old, new, sequence, at)]
        if movements:
            self.repository.put_movements(movements)

    def settle(self, old: dict[str, Any] | None, new: dict[str, Any] | None, sequence: str) -> None:
        if new and old is None and new.get("entity") == "hold" and new.get("status") == HoldStatus.PENDING:
            # A new hold joins the sweeper's list here, off the hot path: if its decrement never
            # comes (a crash between the two writes), the sweeper finds it when the window ends.
            self.repository.track_pending_hold(
                str(new["hold_id"]), int(new["attempt"]), float(new["created_at"]) + self.settle_window_s
            )
        if new and new.get("entity") == "shard" and new.get("last_op") == "hold":
            decrement = int((old or {}).get("available", 0)) - int(new.get("available", 0))
            if decrement > 0:
                self._settle_decrement(new, decrement, sequence)
                if int(new.get("available", 0)) < LEVEL_BELOW:
                    self._level(str(new["sku_id"]), str(new["pool"]))

    def _level(self, sku_id: str, pool: str) -> None:
        """Shards drain unevenly (random picks, multi-unit orders): level them off the hot path,
        at most once a second per pool and instance."""
        meta = self.meta_cache.get(self.repository, sku_id)
        if meta is None or meta.shards.get(pool, 1) < 2:
            return
        now = self.clock()
        if now - self._levelled_at.get((sku_id, pool), -LEVEL_AT_MOST_EVERY_S) < LEVEL_AT_MOST_EVERY_S:
            return
        self._levelled_at[(sku_id, pool)] = now
        try:
            self.stock.level(sku_id, pool, "system:leveller")
        except LiveStockError as error:  # a busy SKU: the next low shard tries again
            logger.info("levelling skipped", sku_id=sku_id, pool=pool, reason=error.code)

    def _settle_decrement(self, shard: dict[str, Any], quantity: int, sequence: str) -> None:
        hold_id, _, attempt = str(shard["last_ref"]).rpartition("#")
        pool, shard_no = str(shard["pool"]), int(shard["shard"])
        if self.repository.settle_hold(hold_id, str(shard["sku_id"]), int(attempt), pool, shard_no, sequence):
            return
        hold = self.repository.get_hold(hold_id)
        if hold is not None and hold.settled_seq == sequence:
            return  # this record was delivered before and settled the hold
        # A decrement no live hold owns: a late write of an abandoned attempt, a refused hold whose
        # write landed after all, or a retried request applied twice. Give the units back.
        logger.warning("returning an unowned decrement", hold_id=hold_id, sequence=sequence, quantity=quantity)
        self.repository.compensate_decrement(
            hold_id, str(shard["sku_id"]), pool, shard_no, quantity, sequence, bool(shard.get("paused"))
        )
