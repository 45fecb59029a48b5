"""Administrative stock changes of a SKU, and the stock view. Each change is one transaction
guarded by the SKU's version; rare, so transactions are fine. The work is done by its parts:
on-hand (onhand.py), allocation and settings (allocation.py), shards (sharding.py), all sharing
the retry loop of changes.py."""

import random
from dataclasses import dataclass
from typing import Any

from livestock.dal.holds import HoldStore
from livestock.dal.skus import SkuStore
from livestock.logic import layout
from livestock.logic.allocation import Allocation
from livestock.logic.changes import ChangeRunner
from livestock.logic.onhand import OnHand
from livestock.logic.sharding import Sharding
from livestock.models.domain import SkuMeta, SkuPatch, is_sellable
from livestock.models.input import AllocationRequest, SetSkuRequest
from livestock.models.output import SkuView


@dataclass
class StockService:
    skus: SkuStore
    holds: HoldStore
    runner: ChangeRunner
    on_hand: OnHand
    allocation: Allocation
    sharding: Sharding

    @classmethod
    def build(cls, skus: SkuStore, holds: HoldStore, rng: random.Random | None = None) -> "StockService":
        rng = rng or random.Random()
        runner = ChangeRunner(skus, rng)
        sharding = Sharding(runner, skus)
        return cls(skus, holds, runner, OnHand(runner, skus, rng), Allocation(runner, skus, sharding, rng), sharding)

    # --- reading ---------------------------------------------------------------------------

    def meta(self, sku_id: str) -> SkuMeta:
        return self.runner.meta(sku_id)

    def pools(self, sku_id: str) -> tuple[SkuMeta, dict[str, int]]:
        """The settings and each pool's unsold units: two reads, the settings and the shards."""
        meta = self.meta(sku_id)
        totals = layout.pool_totals(self.skus.read_shards(meta))
        return meta, {pool: totals.get(pool, 0) for pool in meta.shards}

    def view(self, sku_id: str) -> SkuView:
        """A fixed number of reads: the settings, the shards and the spread hold counters."""
        meta, pools = self.pools(sku_id)
        counts = self.holds.counts(sku_id)
        return SkuView(
            **meta.model_dump(include=set(SkuView.model_fields) - {"pools", "sellable", "held", "sold", "in_flight"}),
            pools=pools,
            sellable=sum(units for pool, units in pools.items() if is_sellable(pool)),
            held=counts.held,
            sold=counts.sold,
            # Decremented, not yet settled by the stream: what the counters do not explain yet.
            in_flight=meta.on_hand - sum(pools.values()) - counts.held - counts.sold,
        )

    # --- changes ---------------------------------------------------------------------------

    def set_sku(self, sku_id: str, request: SetSkuRequest, actor: str) -> tuple[SkuView, bool]:
        """Creates the SKU or sets its absolute on-hand. Returns (view, created)."""
        created = self.on_hand.set_sku(sku_id, request, actor)
        return self.view(sku_id), created

    def receive(self, sku_id: str, quantity: int, reference: str, actor: str) -> dict[str, Any]:
        return self.on_hand.receive(sku_id, quantity, reference, actor)

    def adjust(self, sku_id: str, quantity: int, reason: str, reference: str, actor: str) -> dict[str, Any]:
        return self.on_hand.adjust(sku_id, quantity, reason, reference, actor)

    def allocate(self, sku_id: str, request: AllocationRequest, actor: str) -> SkuView:
        self.allocation.allocate(sku_id, request, actor)
        return self.view(sku_id)

    def move(self, sku_id: str, source: str, target: str, quantity: int, actor: str) -> SkuView:
        self.allocation.move(sku_id, source, target, quantity, actor)
        return self.view(sku_id)

    def release_reserve(
        self, sku_id: str, quantity: int | None, actor: str, reference: str | None = None
    ) -> dict[str, Any]:
        return self.allocation.release_reserve(sku_id, quantity, actor, reference).model_dump()

    def set_paused(self, sku_id: str, paused: bool, actor: str) -> SkuView:
        self.allocation.set_paused(sku_id, paused, actor)
        return self.view(sku_id)

    def set_settings(self, sku_id: str, patch: SkuPatch, op: str, actor: str) -> SkuView:
        self.allocation.set_settings(sku_id, patch, op, actor)
        return self.view(sku_id)

    def consolidate(self, sku_id: str, pool: str, actor: str) -> None:
        self.sharding.consolidate(sku_id, pool, actor)

    def level(self, sku_id: str, pool: str, actor: str) -> None:
        self.sharding.level(sku_id, pool, actor)
