"""Replays the ledger and compares it with the counters (invariants 1 and 2 of the design)."""

from collections import defaultdict
from dataclasses import dataclass

from livestock import keys
from livestock.dal.holds import HoldStore
from livestock.dal.ledger import LedgerStore
from livestock.dal.skus import SkuStore
from livestock.logic.changes import ChangeRunner
from livestock.models.output import Reconciliation


@dataclass
class Reconciler:
    runner: ChangeRunner
    skus: SkuStore
    holds: HoldStore
    ledger: LedgerStore

    def reconcile(self, sku_id: str) -> Reconciliation:
        meta = self.runner.meta(sku_id)
        expected: dict[str, int] = defaultdict(int)
        unattributed = {"movements": 0, "units": 0}
        for movement in self.ledger.all_movements(sku_id):
            expected[str(movement["bucket"])] += int(movement["delta"])
            if movement["op"] == keys.UNATTRIBUTED_OP:
                unattributed["movements"] += 1
                unattributed["units"] += abs(int(movement["delta"]))
        shards = self.skus.read_shards(meta)
        actual: dict[str, int] = defaultdict(int)
        for shard in shards:
            actual[keys.pool_bucket(shard.pool)] += shard.available
        counts = self.holds.counts(sku_id)
        # The counters of settled holds, not a page through every hold the SKU ever had.
        for bucket, units in (("held", counts.held), ("sold", counts.sold)):
            if units:
                actual[bucket] = units
        actual["on_hand"] = meta.on_hand
        buckets = sorted(set(expected) | set(actual))
        expected_all = {b: expected.get(b, 0) for b in buckets}
        actual_all = {b: actual.get(b, 0) for b in buckets}
        differences = {b: actual_all[b] - expected_all[b] for b in buckets if actual_all[b] != expected_all[b]}
        in_pools = sum(v for b, v in actual_all.items() if keys.is_pool_bucket(b))
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
            # A counter moved by a write no operation made is never consistent, even when the ledger
            # (which recorded it) replays to the counters.
            consistent=not differences
            and conservation["in_flight"] == 0
            and conservation["negative_shards"] == 0
            and unattributed["movements"] == 0,
            expected=expected_all,
            actual=actual_all,
            differences=differences,
            conservation=conservation,
            unattributed=unattributed,
        )
