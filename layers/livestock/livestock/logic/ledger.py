"""Reading a SKU's ledger a page at a time. The cursor is the sort key to continue from, tied to
its SKU: a cursor given out for one SKU is refused for another."""

import base64
import binascii
import json
from dataclasses import dataclass

from livestock.dal.ledger import LedgerStore
from livestock.logic.changes import ChangeRunner
from livestock.models.exceptions import BadCursor
from livestock.models.output import LedgerPage, Movement


def _encode(sku_id: str, before: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"sku_id": sku_id, "before": before}).encode()).decode()


def _decode(sku_id: str, cursor: str) -> str:
    refused = BadCursor("the cursor is not one this API gave out", {"cursor": cursor[:64]})
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError) as error:
        raise refused from error
    if not isinstance(decoded, dict) or set(decoded) != {"sku_id", "before"} or not isinstance(decoded["before"], str):
        raise refused
    if decoded["sku_id"] != sku_id:
        raise BadCursor("the cursor belongs to another SKU", {"cursor": cursor[:64], "sku_id": sku_id})
    return decoded["before"]


@dataclass
class LedgerService:
    runner: ChangeRunner
    ledger: LedgerStore

    def page(self, sku_id: str, limit: int, cursor: str | None) -> LedgerPage:
        self.runner.meta(sku_id)
        before = _decode(sku_id, cursor) if cursor else None
        items, last = self.ledger.newest(sku_id, limit, before)
        return LedgerPage(
            movements=[Movement.model_validate(item) for item in items],
            cursor=_encode(sku_id, last) if last else None,
        )
