"""Administrative stock changes of a SKU: ERP on-hand, receipts, adjustments, allocation, reserve,
pause, limits. Each is one transaction guarded by the SKU's version; rare, so transactions are fine.
"""

import random
import time
from collections.abc import Callable
from typing import Any

from livestock.dal.repository import (
    InventoryRepository,
    ShardDelta,
    StockChange,
    TransactionRefused,
)
from livestock.logic import layout
from livestock.logic.requests import fingerprint
from livestock.models.domain import RESERVE, SHARED, HoldStatus, ShardStock, SkuMeta
from livestock.models.exceptions import (
    Conflict,
    IdempotencyMismatch,
    InsufficientFreeStock,
    SkuNotFound,
    VersionConflict,
)
from livestock.models.input import AllocationRequest, SetSkuRequest
from livestock.models.output import SkuView

MAX_ATTEMPTS = 20
MAX_DRAIN_STEPS = 200


class StockService:
    def __init__(self, repository: InventoryRepository, rng: random.Random | None = None) -> None:
        self.repository = repository
        self.rng = rng or random.Random()

    # --- reading ---------------------------------------------------------------------------

    def meta(self, sku_id: str) -> SkuMeta:
        meta = self.repository.get_meta(sku_id, consistent=True)
        if meta is None:
            raise SkuNotFound(f"SKU {sku_id!r} does not exist", {"sku_id": sku_id})
        return meta

    def view(self, sku_id: str) -> SkuView:
        meta = self.meta(sku_id)
        totals = layout.pool_totals(self.repository.read_shards(meta))
        pools = {pool: totals.get(pool, 0) for pool in meta.shards}
        by_status: dict[str, int] = {}
        for hold in self.repository.holds_for_sku(sku_id):
            by_status[hold.status] = by_status.get(hold.status, 0) + hold.quantity
        return SkuView(
            sku_id=sku_id,
            name=meta.name,
            on_hand=meta.on_hand,
            pools=pools,
            sellable=sum(units for pool, units in pools.items() if pool != RESERVE),
            held=by_status.get(HoldStatus.HELD, 0),
            sold=by_status.get(HoldStatus.CONFIRMED, 0),
            # Decremented, not yet settled by the stream: what the counters do not explain yet.
            in_flight=meta.on_hand
            - sum(pools.values())
            - by_status.get(HoldStatus.HELD, 0)
            - by_status.get(HoldStatus.CONFIRMED, 0),
            paused=meta.paused,
            per_buyer_limit=meta.per_buyer_limit,
            auto_release_reserve=meta.auto_release_reserve,
            shards=meta.shards,
            version=meta.version,
        )

    # --- the retry loop every change shares --------------------------------------------------

    def _change(
        self,
        sku_id: str,
        build: Callable[[SkuMeta], StockChange | None],
        expected_version: int | None = None,
    ) -> SkuMeta:
        """Reads, plans, applies; on a lost race (version or a shard moved under us) plans again."""
        for attempt in range(MAX_ATTEMPTS):
            meta = self.meta(sku_id)
            if expected_version is not None and meta.version != expected_version:
                raise VersionConflict(
                    "the SKU changed since you read it",
                    {"expected_version": expected_version, "current_version": meta.version},
                )
            change = build(meta)
            if change is None:
                return meta
            try:
                self.repository.apply_change(change)
            except TransactionRefused as refused:
                if refused.part == "operation":
                    raise
                if refused.part == "version" and expected_version is not None:
                    raise VersionConflict(
                        "the SKU changed since you read it", {"expected_version": expected_version}
                    ) from refused
                time.sleep(min(0.2, 0.005 * 2**attempt) * self.rng.random())
                continue
            return self.meta(sku_id)
        raise Conflict("the SKU is changing too fast; try again", {"sku_id": sku_id})

    def _idempotent(
        self,
        sku_id: str,
        kind: str,
        reference: str,
        body: dict[str, Any],
        build: Callable[[SkuMeta], StockChange | None],
        unchanged: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Runs a change at most once per reference; the first call and every replay answer with
        the response recorded with the change (`unchanged` when there was nothing to change)."""
        request_hash = fingerprint(body)
        stored = self.repository.get_operation(sku_id, kind, reference)
        if stored is None:
            applied: list[StockChange] = []

            def recording(meta: SkuMeta) -> StockChange | None:
                change = build(meta)
                applied[:] = [change] if change else []
                return change

            try:
                self._change(sku_id, recording)
                record = applied[0].operation_record if applied else None
                return dict(record["response"]) if record else dict(unchanged or {})
            except TransactionRefused:
                stored = self.repository.get_operation(sku_id, kind, reference)
        if stored is None:
            raise Conflict("the operation could not be recorded; try again", {"reference": reference})
        if stored.get("request_hash") != request_hash:
            raise IdempotencyMismatch(
                f"reference {reference!r} was used for a different {kind}", {"reference": reference}
            )
        return dict(stored["response"])

    @staticmethod
    def _operation(kind: str, reference: str, body: dict[str, Any], version: int, sku_id: str) -> dict[str, Any]:
        return {
            "request_hash": fingerprint(body),
            "response": {"sku_id": sku_id, "reference": reference, "version": version + 1, **body},
            "kind": kind,
        }

    # --- ERP on-hand ------------------------------------------------------------------------

    def set_sku(self, sku_id: str, request: SetSkuRequest, actor: str) -> tuple[SkuView, bool]:
        """Creates the SKU or sets its absolute on-hand. Returns (view, created)."""
        existing = self.repository.get_meta(sku_id, consistent=True)
        if existing is None:
            if request.expected_version not in (None, 0):
                raise VersionConflict(
                    "the SKU does not exist yet", {"expected_version": request.expected_version, "current_version": 0}
                )
            meta = SkuMeta(sku_id=sku_id, name=request.name, on_hand=request.on_hand, version=1)
            opening = [ShardDelta(SHARED, 0, request.on_hand)] if request.on_hand else []
            if self.repository.create_sku(meta, actor, opening):
                return self.view(sku_id), True

        def build(meta: SkuMeta) -> StockChange | None:
            increase = request.on_hand - meta.on_hand
            if increase == 0 and request.name == meta.name:
                return None
            change = StockChange(
                sku_id=sku_id,
                expected_version=meta.version,
                op="erp-set",
                actor=actor,
                on_hand_delta=increase,
                set_fields={"name": request.name},
                paused=meta.paused,
            )
            if increase > 0:
                change.shard_deltas = layout.plan_add(SHARED, meta.shards[SHARED], increase, self.rng)
            elif increase < 0:
                change.shard_deltas = self._take_free(meta, -increase)
            return change

        self._change(sku_id, build, request.expected_version)
        return self.view(sku_id), False

    def _take_free(self, meta: SkuMeta, quantity: int) -> list[ShardDelta]:
        shards = self.repository.read_shards(meta)
        deltas = layout.plan_take(shards, SHARED, quantity)
        if deltas is None:
            free = layout.pool_totals(shards).get(SHARED, 0)
            raise InsufficientFreeStock(
                f"only {free} units are free in the shared pool; the rest is held, sold or ring-fenced",
                {"requested": quantity, "free": free},
            )
        return deltas

    def receive(self, sku_id: str, quantity: int, reference: str, actor: str) -> dict[str, Any]:
        body = {"quantity": quantity}

        def build(meta: SkuMeta) -> StockChange:
            return StockChange(
                sku_id=sku_id,
                expected_version=meta.version,
                op="receive",
                actor=actor,
                reference=reference,
                on_hand_delta=quantity,
                shard_deltas=layout.plan_add(SHARED, meta.shards[SHARED], quantity, self.rng),
                operation_kind="receipt",
                operation_record=self._operation("receipt", reference, body, meta.version, sku_id),
                paused=meta.paused,
            )

        return self._idempotent(sku_id, "receipt", reference, body, build)

    def adjust(self, sku_id: str, quantity: int, reason: str, reference: str, actor: str) -> dict[str, Any]:
        body = {"quantity": quantity, "reason": reason}

        def build(meta: SkuMeta) -> StockChange:
            deltas = (
                layout.plan_add(SHARED, meta.shards[SHARED], quantity, self.rng)
                if quantity > 0
                else self._take_free(meta, -quantity)
            )
            return StockChange(
                sku_id=sku_id,
                expected_version=meta.version,
                op="adjust",
                actor=actor,
                reason=reason,
                reference=reference,
                on_hand_delta=quantity,
                shard_deltas=deltas,
                operation_kind="adjustment",
                operation_record=self._operation("adjustment", reference, body, meta.version, sku_id),
                paused=meta.paused,
            )

        return self._idempotent(sku_id, "adjustment", reference, body, build)

    # --- allocation between pools -------------------------------------------------------------

    def allocate(self, sku_id: str, request: AllocationRequest, actor: str) -> SkuView:
        """Sets ring-fenced pools (the rest is shared) in one transaction, then any shard counts."""

        def build(meta: SkuMeta) -> StockChange | None:
            shards = self.repository.read_shards(meta)
            totals = layout.pool_totals(shards)
            # Ring-fenced pools not named go back to shared: the request is the whole plan.
            targets = dict.fromkeys((p for p in meta.shards if p != SHARED), 0) | dict(request.pools)
            everything = sum(totals.values())
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
            return StockChange(
                sku_id=sku_id,
                expected_version=meta.version,
                op="allocate",
                actor=actor,
                shard_deltas=deltas,
                set_fields={"shards": counts},
                paused=meta.paused,
            )

        self._change(sku_id, build)
        for pool, count in (request.shards or {}).items():
            self.reshard(sku_id, pool, count, actor)
        return self.view(sku_id)

    @staticmethod
    def _take(shards: list[ShardStock], pool: str, quantity: int) -> list[ShardDelta]:
        deltas = layout.plan_take(shards, pool, quantity)
        if deltas is None:
            free = layout.pool_totals(shards).get(pool, 0)
            raise InsufficientFreeStock(
                f"{pool} holds {free} unsold units", {"pool": pool, "requested": quantity, "free": free}
            )
        return deltas

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
            fields: dict[str, Any] = {"shards": meta.shards | {pool: count}}
            if count < current:
                fields["retiring"] = meta.retiring | {pool: meta.stored_shards(pool)}
            return StockChange(
                sku_id=sku_id, expected_version=meta.version, op="reshard", actor=actor, set_fields=fields
            )

        meta = self._change(sku_id, start)
        for _ in range(MAX_DRAIN_STEPS):
            if pool not in meta.retiring:
                break
            meta = self._change(sku_id, lambda current: self._drain_step(current, pool, actor))
        else:
            raise Conflict("the retired shards are still draining; try again", {"pool": pool})
        self.level(sku_id, pool, actor)

    def _drain_step(self, meta: SkuMeta, pool: str, actor: str) -> StockChange | None:
        """Moves one retired shard's units into an active shard, or, when all are empty, forgets
        the retired shards (checking in the same transaction that they are still empty)."""
        if pool not in meta.retiring:
            return None
        active = meta.shards[pool]
        retired = [
            s for s in self.repository.read_shards(meta) if s.pool == pool and s.shard >= active and s.available > 0
        ]
        if retired:
            shard = retired[0]
            return StockChange(
                sku_id=meta.sku_id,
                expected_version=meta.version,
                op="reshard",
                actor=actor,
                shard_deltas=[
                    ShardDelta(pool, shard.shard, -shard.available),
                    ShardDelta(pool, shard.shard % active, shard.available),
                ],
                paused=meta.paused,
                bump_version=False,
            )
        return StockChange(
            sku_id=meta.sku_id,
            expected_version=meta.version,
            op="reshard",
            actor=actor,
            set_fields={"retiring": {p: n for p, n in meta.retiring.items() if p != pool}},
            empty_shards=[(pool, n) for n in range(active, meta.retiring[pool])],
        )

    def consolidate(self, sku_id: str, pool: str, actor: str) -> None:
        """Gathers a pool's units into one shard so a multi-unit order is not refused by fragments."""
        self.relayout(sku_id, pool, actor, concentrate=True)

    def level(self, sku_id: str, pool: str, actor: str) -> None:
        """Spreads a pool's units evenly over its shards again (run off the hot path)."""
        self.relayout(sku_id, pool, actor, concentrate=False)

    def relayout(self, sku_id: str, pool: str, actor: str, concentrate: bool) -> None:
        def build(meta: SkuMeta) -> StockChange | None:
            active = meta.shards.get(pool, 1)
            shards = [s for s in self.repository.read_shards(meta) if s.pool == pool and s.shard < active]
            deltas = layout.plan_layout(
                shards,
                {pool: sum(s.available for s in shards)},
                {pool: meta.shards.get(pool, 1)},
                concentrate=frozenset({pool}) if concentrate else frozenset(),
            )
            if not deltas:
                return None
            return StockChange(
                sku_id=sku_id,
                expected_version=meta.version,
                op="consolidate" if concentrate else "level",
                actor=actor,
                shard_deltas=deltas,
                paused=meta.paused,
                bump_version=False,
            )

        self._change(sku_id, build)

    def release_reserve(
        self, sku_id: str, quantity: int | None, actor: str, reference: str | None = None
    ) -> dict[str, Any]:
        """Moves reserve into shared: the given quantity, or all of it."""
        body: dict[str, Any] = {"quantity": quantity}
        released: dict[str, int] = {"units": 0}

        def build(meta: SkuMeta) -> StockChange | None:
            shards = self.repository.read_shards(meta)
            in_reserve = layout.pool_totals(shards).get(RESERVE, 0)
            units = in_reserve if quantity is None else quantity
            if units > in_reserve:
                raise InsufficientFreeStock(
                    f"the reserve holds {in_reserve} units", {"requested": units, "free": in_reserve}
                )
            released["units"] = units
            if units == 0:
                return None
            taken = layout.plan_take(shards, RESERVE, units) or []
            return StockChange(
                sku_id=sku_id,
                expected_version=meta.version,
                op="release-reserve",
                actor=actor,
                reference=reference,
                shard_deltas=taken + layout.plan_add(SHARED, meta.shards[SHARED], units, self.rng),
                operation_kind="reserve-release" if reference else None,
                operation_record=(
                    {
                        "request_hash": fingerprint(body),
                        "response": {"sku_id": sku_id, "released": units, "reference": reference},
                    }
                    if reference
                    else None
                ),
                paused=meta.paused,
            )

        if reference is None:
            self._change(sku_id, build)
            return {"sku_id": sku_id, "released": released["units"], "reference": None}
        nothing = {"sku_id": sku_id, "released": 0, "reference": reference}
        return self._idempotent(sku_id, "reserve-release", reference, body, build, unchanged=nothing)

    # --- settings ---------------------------------------------------------------------------

    def set_paused(self, sku_id: str, paused: bool, actor: str) -> SkuView:
        def build(meta: SkuMeta) -> StockChange | None:
            if meta.paused == paused:
                return None
            return StockChange(
                sku_id=sku_id,
                expected_version=meta.version,
                op="pause" if paused else "resume",
                actor=actor,
                set_fields={"paused": paused},
                pause_shards=[(pool, n) for pool, count in meta.shards.items() for n in range(count)],
                paused_to=paused,
            )

        self._change(sku_id, build)
        return self.view(sku_id)

    def set_fields(self, sku_id: str, fields: dict[str, Any], op: str, actor: str) -> SkuView:
        def build(meta: SkuMeta) -> StockChange | None:
            current = meta.model_dump()
            if all(current.get(name) == new for name, new in fields.items()):
                return None
            return StockChange(sku_id=sku_id, expected_version=meta.version, op=op, actor=actor, set_fields=fields)

        self._change(sku_id, build)
        return self.view(sku_id)
