"""What the warehouse says: the ERP's absolute on-hand, receipts and adjustments. Units come into
and leave the shared pool only; a decrease never takes held, sold or ring-fenced units."""

import random
from dataclasses import dataclass
from typing import Any

from livestock.dal.skus import ShardDelta, SkuStore, StockChange
from livestock.logic import layout
from livestock.logic.changes import ChangeRunner, operation
from livestock.models.domain import SHARED, SkuMeta, SkuPatch
from livestock.models.exceptions import InsufficientFreeStock, VersionConflict
from livestock.models.input import SetSkuRequest


@dataclass
class OnHand:
    runner: ChangeRunner
    skus: SkuStore
    rng: random.Random

    def set_sku(self, sku_id: str, request: SetSkuRequest, actor: str) -> bool:
        """Creates the SKU or sets its absolute on-hand. True if it was created."""
        existing = self.skus.get_meta(sku_id, consistent=True)
        if existing is None:
            if request.expected_version not in (None, 0):
                raise VersionConflict(
                    "the SKU does not exist yet", {"expected_version": request.expected_version, "current_version": 0}
                )
            meta = SkuMeta(sku_id=sku_id, name=request.name, on_hand=request.on_hand, version=1)
            opening = [ShardDelta(SHARED, 0, request.on_hand)] if request.on_hand else []
            if self.skus.create_sku(meta, actor, opening):
                return True

        def plan(meta: SkuMeta) -> StockChange | None:
            increase = request.on_hand - meta.on_hand
            if increase == 0 and request.name == meta.name:
                return None
            change = StockChange.of(
                meta,
                "erp-set",
                actor,
                on_hand_delta=increase,
                patch=SkuPatch(name=request.name),
            )
            if increase > 0:
                change.shard_deltas = layout.plan_add(SHARED, meta.shards[SHARED], increase, self.rng)
            elif increase < 0:
                change.shard_deltas = self._take_free(meta, -increase)
            return change

        self.runner.run(sku_id, plan, request.expected_version)
        return False

    def _take_free(self, meta: SkuMeta, quantity: int) -> list[ShardDelta]:
        shards = self.skus.read_shards(meta)
        deltas = layout.plan_take(shards, SHARED, quantity)
        if deltas is None:
            free = layout.pool_totals(shards).get(SHARED, 0)
            raise InsufficientFreeStock(
                f"only {free} units are free in the shared pool; the rest is held, sold or ring-fenced",
                {"requested": quantity, "free": free},
            )
        return deltas

    def _recorded_change(
        self, meta: SkuMeta, kind: str, reference: str, body: dict[str, Any], change: StockChange
    ) -> StockChange:
        response = {"sku_id": meta.sku_id, "reference": reference, "version": meta.version + 1, **body}
        change.operation = operation(kind, reference, body, response)
        return change

    def receive(self, sku_id: str, quantity: int, reference: str, actor: str) -> dict[str, Any]:
        body = {"quantity": quantity}

        def plan(meta: SkuMeta) -> StockChange:
            change = StockChange.of(
                meta,
                "receive",
                actor,
                reference=reference,
                on_hand_delta=quantity,
                shard_deltas=layout.plan_add(SHARED, meta.shards[SHARED], quantity, self.rng),
            )
            return self._recorded_change(meta, "receipt", reference, body, change)

        return self.runner.run_once(sku_id, "receipt", reference, body, plan, unchanged={})

    def adjust(self, sku_id: str, quantity: int, reason: str, reference: str, actor: str) -> dict[str, Any]:
        body = {"quantity": quantity, "reason": reason}

        def plan(meta: SkuMeta) -> StockChange:
            deltas = (
                layout.plan_add(SHARED, meta.shards[SHARED], quantity, self.rng)
                if quantity > 0
                else self._take_free(meta, -quantity)
            )
            change = StockChange.of(
                meta,
                "adjust",
                actor,
                reason=reason,
                reference=reference,
                on_hand_delta=quantity,
                shard_deltas=deltas,
            )
            return self._recorded_change(meta, "adjustment", reference, body, change)

        return self.runner.run_once(sku_id, "adjustment", reference, body, plan, unchanged={})
