"""The loop every administrative change of a SKU shares: read, plan, apply; on a lost race
(the version or a shard moved under us) plan again. Changes recorded under a reference run once."""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livestock.dal.skus import ChangeRefused, OperationRecord, SkuStore, StockChange
from livestock.logic.requests import fingerprint
from livestock.models.domain import SkuMeta
from livestock.models.exceptions import Conflict, IdempotencyMismatch, LiveStockError, SkuNotFound, VersionConflict

MAX_ATTEMPTS = 20

Plan = Callable[[SkuMeta], StockChange | None]


@dataclass(frozen=True)
class Applied:
    """The SKU after a change, and the change that was applied (None: nothing to change)."""

    meta: SkuMeta
    change: StockChange | None


def operation(kind: str, reference: str, body: dict[str, Any], response: dict[str, Any]) -> OperationRecord:
    return OperationRecord(kind=kind, reference=reference, request_hash=fingerprint(body), response=response)


class ChangeRunner:
    def __init__(
        self, skus: SkuStore, rng: random.Random | None = None, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.skus = skus
        self.rng = rng or random.Random()
        self.sleep = sleep

    def meta(self, sku_id: str) -> SkuMeta:
        return SkuNotFound.unless(self.skus.get_meta(sku_id, consistent=True), sku_id)

    def run(self, sku_id: str, plan: Plan, expected_version: int | None = None) -> Applied:
        for attempt in range(MAX_ATTEMPTS):
            meta = self.meta(sku_id)
            if expected_version is not None and meta.version != expected_version:
                raise VersionConflict(
                    "the SKU changed since you read it",
                    {"expected_version": expected_version, "current_version": meta.version},
                )
            change = plan(meta)
            if change is None:
                return Applied(meta, None)
            try:
                self.skus.apply_change(change)
            except ChangeRefused as refused:
                if refused.part == "operation":
                    raise
                if refused.part == "version" and expected_version is not None:
                    raise VersionConflict(
                        "the SKU changed since you read it", {"expected_version": expected_version}
                    ) from refused
                self.sleep(min(0.2, 0.005 * 2**attempt) * self.rng.random())
                continue
            return Applied(self.meta(sku_id), change)
        raise Conflict("the SKU is changing too fast; try again", {"sku_id": sku_id})

    def run_once(
        self,
        sku_id: str,
        kind: str,
        reference: str,
        body: dict[str, Any],
        plan: Plan,
        unchanged: dict[str, Any],
    ) -> dict[str, Any]:
        """Runs a change at most once per reference; the first call and every replay answer with
        the response recorded with the change (`unchanged` when there was nothing to change)."""
        stored = self.skus.get_operation(sku_id, kind, reference)
        if stored is None:
            try:
                applied = self.run(sku_id, plan)
            except (ChangeRefused, LiveStockError) as refused:
                # A retry that planned while its first request was committing finds the units
                # that request took gone (LiveStockError): it answers as that request if recorded.
                stored = self.skus.get_operation(sku_id, kind, reference)
                if stored is None and not isinstance(refused, ChangeRefused):
                    raise
            else:
                record = applied.change.operation if applied.change else None
                return dict(record.response) if record else dict(unchanged)
        if stored is None:
            raise Conflict("the operation could not be recorded; try again", {"reference": reference})
        return _replayed(stored, kind, reference, body)

    def recorded(self, sku_id: str, kind: str, reference: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """The response recorded with the change this reference made, if it made one: a caller
        with slow work before the change (a quota move's lower phase) skips it on a replay."""
        stored = self.skus.get_operation(sku_id, kind, reference)
        return None if stored is None else _replayed(stored, kind, reference, body)


def _replayed(stored: OperationRecord, kind: str, reference: str, body: dict[str, Any]) -> dict[str, Any]:
    if stored.request_hash != fingerprint(body):
        raise IdempotencyMismatch(f"reference {reference!r} was used for a different {kind}", {"reference": reference})
    return dict(stored.response)
