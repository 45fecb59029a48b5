"""The append-only ledger of movements, written only by the stream consumer.

A SKU's movements are spread over keys.LEDGER_SPREAD partition keys (by movement), so a hot SKU
is not capped by one key; reading them queries each partition and merges by time.
"""

import heapq
from typing import Any

from boto3.dynamodb.conditions import ConditionBase, Key

from livestock import keys
from livestock.dal.codec import deserialize
from livestock.dal.expressions import Store, key_query


class LedgerStore(Store):
    def put_movements(self, movements: list[dict[str, Any]]) -> None:
        """Ledger entries are keyed by their stream record, so a redelivered record rewrites the same entry."""
        self.put_all(movements)

    def _partition(self, pk: str, limit: int | None, before: str | None, consistent: bool) -> list[dict[str, Any]]:
        condition: ConditionBase = Key("pk").eq(pk)
        if before is not None:
            condition = condition & Key("sk").lt(before)
        extra: dict[str, Any] = {"ScanIndexForward": False, "ConsistentRead": consistent}
        found: list[dict[str, Any]] = []
        paginator = self.client.get_paginator("query")
        pages = paginator.paginate(
            **key_query(self.table, None, condition, **extra),
            PaginationConfig={"MaxItems": limit} if limit else {},
        )
        for page in pages:
            found += [deserialize(i) for i in page["Items"]]
        return found

    def newest(self, sku_id: str, limit: int, before: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """Up to `limit` movements, newest first, older than the sort key `before`; and the sort
        key to continue from (None when there is nothing older)."""
        partitions = [self._partition(pk, limit + 1, before, False) for pk in keys.ledger_partitions(sku_id)]
        merged = list(heapq.merge(*partitions, key=lambda m: str(m["sk"]), reverse=True))
        page = merged[:limit]
        return page, (str(page[-1]["sk"]) if len(merged) > limit else None)

    def all_movements(self, sku_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for pk in keys.ledger_partitions(sku_id):
            found += self._partition(pk, None, None, True)
        return found
