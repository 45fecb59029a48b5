"""How a pool is split over shard items: reshard (grow, or shrink by draining retired shards),
level (spread evenly again) and consolidate (gather into one shard). Off the hot path."""

from dataclasses import dataclass

from livestock.dal.skus import ShardDelta, SkuStore, StockChange
from livestock.logic import layout
from livestock.logic.changes import ChangeRunner
from livestock.models.domain import SkuMeta, SkuPatch
from livestock.models.exceptions import Conflict

MAX_DRAIN_STEPS = 200


@dataclass
class Sharding:
    runner: ChangeRunner
    skus: SkuStore

    def reshard(self, sku_id: str, pool: str, count: int, actor: str) -> None:
        """Changes how many shard items a pool is split over, mid-live, without losing a unit.

        Growing adds empty shards and levels. Shrinking first takes the retired shards out of the
        hot path (holds only pick active shards) while keeping them visible to every reader, drains
        each into an active shard one small transaction at a time, and forgets them only once a
        transaction can check they are all empty.
        """

        def start(meta: SkuMeta) -> StockChange | None:
            current = meta.shards.get(pool, 1)
            if current == count:
                return None
            patch = SkuPatch(shards=meta.shards | {pool: count})
            if count < current:
                patch = SkuPatch(shards=patch.shards, retiring=meta.retiring | {pool: meta.stored_shards(pool)})
                return StockChange.of(meta, "reshard", actor, patch=patch)
            # A shard item retired by an earlier shrink keeps the paused flag it had then: the
            # shards that come back take the SKU's own, or a resumed SKU would refuse their units.
            grown = [(pool, n) for n in range(current, count)]
            return StockChange.of(meta, "reshard", actor, patch=patch, pause_shards=grown, paused_to=meta.paused)

        meta = self.runner.run(sku_id, start).meta
        for _ in range(MAX_DRAIN_STEPS):
            if pool not in meta.retiring:
                break
            meta = self.runner.run(sku_id, lambda current: self._drain_step(current, pool, actor)).meta
        else:
            raise Conflict("the retired shards are still draining; try again", {"pool": pool})
        self.level(sku_id, pool, actor)

    def _drain_step(self, meta: SkuMeta, pool: str, actor: str) -> StockChange | None:
        """Moves one retired shard's units into an active shard, or, when all are empty, forgets
        the retired shards (checking in the same transaction that they are still empty)."""
        if pool not in meta.retiring:
            return None
        active = meta.shards[pool]
        retired = [s for s in self.skus.read_shards(meta) if s.pool == pool and s.shard >= active and s.available > 0]
        if retired:
            shard = retired[0]
            return StockChange.of(
                meta,
                "reshard",
                actor,
                shard_deltas=[
                    ShardDelta(pool, shard.shard, -shard.available),
                    ShardDelta(pool, shard.shard % active, shard.available),
                ],
                bump_version=False,
            )
        return StockChange.of(
            meta,
            "reshard",
            actor,
            patch=SkuPatch(retiring={p: n for p, n in meta.retiring.items() if p != pool}),
            empty_shards=[(pool, n) for n in range(active, meta.retiring[pool])],
        )

    def consolidate(self, sku_id: str, pool: str, actor: str) -> None:
        """Gathers a pool's units into one shard so a multi-unit order is not refused by fragments."""
        self._relayout(sku_id, pool, actor, concentrate=True)

    def level(self, sku_id: str, pool: str, actor: str) -> None:
        """Spreads a pool's units evenly over its shards again (run off the hot path)."""
        self._relayout(sku_id, pool, actor, concentrate=False)

    def _relayout(self, sku_id: str, pool: str, actor: str, concentrate: bool) -> None:
        def plan(meta: SkuMeta) -> StockChange | None:
            active = meta.shards.get(pool, 1)
            shards = [s for s in self.skus.read_shards(meta) if s.pool == pool and s.shard < active]
            deltas = layout.plan_layout(
                shards,
                {pool: sum(s.available for s in shards)},
                {pool: meta.shards.get(pool, 1)},
                concentrate=frozenset({pool}) if concentrate else frozenset(),
            )
            if not deltas:
                return None
            return StockChange.of(
                meta,
                "consolidate" if concentrate else "level",
                actor,
                shard_deltas=deltas,
                bump_version=False,
            )

        self.runner.run(sku_id, plan)
