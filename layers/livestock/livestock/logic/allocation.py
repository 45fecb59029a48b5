"""Where the unsold units sit: ring-fenced channel pools, the reserve and shared; and the
settings that decide who may take them (pause, limits, auto-release)."""

import random
from dataclasses import dataclass
from typing import Any

from livestock.dal.skus import ShardDelta, SkuStore, StockChange
from livestock.keys import is_campaign_pool
from livestock.logic import layout
from livestock.logic.changes import ChangeRunner, operation
from livestock.logic.sharding import Sharding
from livestock.models.domain import RESERVE, SHARED, ShardStock, SkuMeta, SkuPatch
from livestock.models.exceptions import InsufficientFreeStock
from livestock.models.input import AllocationRequest
from livestock.models.output import ReserveReleased

# The operation record of a quota move made with a reference (REST, the console with a key).
MOVE_KIND = "quota-move"
# The ledger's actor of the reserve released because main stock ran out.
AUTO_RELEASE_ACTOR = "system:auto-release"


def move_body(from_pool: str, to_pool: str, quantity: int) -> dict[str, Any]:
    return {"from": from_pool, "to": to_pool, "quantity": quantity}


@dataclass
class Allocation:
    runner: ChangeRunner
    skus: SkuStore
    sharding: Sharding
    rng: random.Random

    def allocate(self, sku_id: str, request: AllocationRequest, actor: str) -> None:
        """Sets ring-fenced pools (the rest is shared) in one transaction, then any shard counts."""

        def plan(meta: SkuMeta) -> StockChange | None:
            shards = self.skus.read_shards(meta)
            totals = layout.pool_totals(shards)
            # Ring-fenced pools not named go back to shared: the request is the whole plan.
            # Campaign pools are not the allocation's to move: their stages release them.
            targets = dict.fromkeys((p for p in meta.shards if p != SHARED and not is_campaign_pool(p)), 0) | dict(
                request.pools
            )
            everything = sum(units for pool, units in totals.items() if not is_campaign_pool(pool))
            if sum(targets.values()) > everything:
                raise InsufficientFreeStock(
                    f"the pools ask for {sum(targets.values())} units but only {everything} are unsold",
                    {"requested": sum(targets.values()), "free": everything},
                )
            counts = dict.fromkeys(targets, 1) | dict(meta.shards)
            deltas: list[ShardDelta] = []
            into_shared = 0
            for pool, target in targets.items():
                change = target - totals.get(pool, 0)
                if change > 0:
                    deltas += layout.plan_add(pool, counts[pool], change, self.rng)
                elif change < 0:
                    deltas += self._take(shards, pool, -change)
                into_shared -= change
            if into_shared > 0:
                deltas += layout.plan_add(SHARED, counts[SHARED], into_shared, self.rng)
            elif into_shared < 0:
                deltas += self._take(shards, SHARED, -into_shared)
            if not deltas and counts == meta.shards:
                return None
            return StockChange.of(
                meta,
                "allocate",
                actor,
                shard_deltas=deltas,
                patch=SkuPatch(shards=counts),
            )

        self.runner.run(sku_id, plan)
        for pool, count in (request.shards or {}).items():
            self.sharding.reshard(sku_id, pool, count, actor)

    def move(
        self, sku_id: str, from_pool: str, to_pool: str, quantity: int, actor: str, reference: str | None = None
    ) -> None:
        """Moves units from one pool to another, relative to what each holds now (a quota move
        mid-live: the pools keep selling while it runs, so absolute targets would be stale). With
        a reference, at most once: a retry after a lost answer moves nothing more."""
        body = move_body(from_pool, to_pool, quantity)

        def plan(meta: SkuMeta) -> StockChange | None:
            shards = self.skus.read_shards(meta)
            counts = dict(meta.shards)
            counts.setdefault(to_pool, 1)
            return StockChange.of(
                meta,
                "move",
                actor,
                reference=reference,
                shard_deltas=self._take(shards, from_pool, quantity)
                + layout.plan_add(to_pool, counts[to_pool], quantity, self.rng),
                patch=SkuPatch(shards=counts),
                operation=operation(MOVE_KIND, reference, body, body) if reference else None,
            )

        if reference is None:
            self.runner.run(sku_id, plan)
        else:
            self.runner.run_once(sku_id, MOVE_KIND, reference, body, plan, unchanged=body)

    def moved(self, sku_id: str, from_pool: str, to_pool: str, quantity: int, reference: str) -> bool:
        """Whether the move of this reference was made (IDEMPOTENCY_MISMATCH for another move)."""
        return self.runner.recorded(sku_id, MOVE_KIND, reference, move_body(from_pool, to_pool, quantity)) is not None

    @staticmethod
    def _take(shards: list[ShardStock], pool: str, quantity: int) -> list[ShardDelta]:
        deltas = layout.plan_take(shards, pool, quantity)
        if deltas is None:
            free = layout.pool_totals(shards).get(pool, 0)
            raise InsufficientFreeStock(
                f"{pool} holds {free} unsold units", {"pool": pool, "requested": quantity, "free": free}
            )
        return deltas

    def release_reserve(
        self, sku_id: str, quantity: int | None, actor: str, reference: str | None = None
    ) -> ReserveReleased:
        """Moves reserve into shared: the given quantity, or all of it."""
        body: dict[str, int | None] = {"quantity": quantity}

        def plan(meta: SkuMeta) -> StockChange | None:
            shards = self.skus.read_shards(meta)
            in_reserve = layout.pool_totals(shards).get(RESERVE, 0)
            units = in_reserve if quantity is None else quantity
            if units > in_reserve:
                raise InsufficientFreeStock(
                    f"the reserve holds {in_reserve} units", {"requested": units, "free": in_reserve}
                )
            if units == 0:
                return None
            taken = layout.plan_take(shards, RESERVE, units) or []
            answer = ReserveReleased(sku_id=sku_id, released=units, reference=reference)
            return StockChange.of(
                meta,
                "release-reserve",
                actor,
                reference=reference,
                shard_deltas=taken + layout.plan_add(SHARED, meta.shards[SHARED], units, self.rng),
                operation=operation("reserve-release", reference, body, answer.model_dump()) if reference else None,
            )

        if reference is None:
            applied = self.runner.run(sku_id, plan)
            moved = sum(d.delta for d in applied.change.shard_deltas if d.pool == SHARED) if applied.change else 0
            return ReserveReleased(sku_id=sku_id, released=moved, reference=None)
        nothing = ReserveReleased(sku_id=sku_id, released=0, reference=reference).model_dump()
        return ReserveReleased.model_validate(
            self.runner.run_once(sku_id, "reserve-release", reference, body, plan, unchanged=nothing)
        )

    def set_paused(self, sku_id: str, paused: bool, actor: str) -> None:
        def plan(meta: SkuMeta) -> StockChange | None:
            if meta.paused == paused:
                return None
            return StockChange.of(
                meta,
                "pause" if paused else "resume",
                actor,
                patch=SkuPatch(paused=paused),
                pause_shards=[(pool, n) for pool, count in meta.shards.items() for n in range(count)],
                paused_to=paused,
            )

        self.runner.run(sku_id, plan)

    def set_settings(self, sku_id: str, patch: SkuPatch, op: str, actor: str) -> None:
        def plan(meta: SkuMeta) -> StockChange | None:
            if patch.changes_nothing_of(meta):
                return None
            return StockChange.of(meta, op, actor, patch=patch)

        self.runner.run(sku_id, plan)
