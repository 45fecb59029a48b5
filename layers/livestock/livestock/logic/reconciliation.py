"""Replays the ledger and compares it with the counters (invariants 1 and 2 of the design)."""

from collections import defaultdict

from livestock.dal.repository import InventoryRepository
from livestock.logic.stock import StockService
from livestock.models.domain import HoldStatus
from livestock.models.output import Reconciliation


def reconcile(repository: InventoryRepository, sku_id: str) -> Reconciliation:
    meta = StockService(repository).meta(sku_id)
    expected: dict[str, int] = defaultdict(int)
    for movement in repository.all_movements(sku_id):
        expected[str(movement["bucket"])] += int(movement["delta"])
    shards = repository.read_shards(meta)
    actual: dict[str, int] = defaultdict(int)
    for shard in shards:
        actual[f"pool:{shard.pool}"] += shard.available
    for hold in repository.holds_for_sku(sku_id):
        if hold.status == HoldStatus.HELD:
            actual["held"] += hold.quantity
        elif hold.status == HoldStatus.CONFIRMED:
            actual["sold"] += hold.quantity
    actual["on_hand"] = meta.on_hand
    buckets = sorted(set(expected) | set(actual))
    expected_all = {b: expected.get(b, 0) for b in buckets}
    actual_all = {b: actual.get(b, 0) for b in buckets}
    differences = {b: actual_all[b] - expected_all[b] for b in buckets if actual_all[b] != expected_all[b]}
    in_pools = sum(v for b, v in actual_all.items() if b.startswith("pool:"))
    conservation = {
        "on_hand": meta.on_hand,
        "in_pools": in_pools,
        "held": actual_all.get("held", 0),
        "sold": actual_all.get("sold", 0),
        # Units taken by a decrement whose hold the stream has not settled yet (0 once it caught up).
        "in_flight": meta.on_hand - in_pools - actual_all.get("held", 0) - actual_all.get("sold", 0),
        "negative_shards": sum(1 for s in shards if s.available < 0),
    }
    return Reconciliation(
        sku_id=sku_id,
        consistent=not differences and conservation["in_flight"] == 0 and conservation["negative_shards"] == 0,
        expected=expected_all,
        actual=actual_all,
        differences=differences,
        conservation=conservation,
    )
