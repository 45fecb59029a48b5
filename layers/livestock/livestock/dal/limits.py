"""Buyer-limit counters: units a buyer holds of a SKU, across channels; per live session when the
session sets the limit (a session's counters are its own, so nothing carries into the next)."""

from boto3.dynamodb.conditions import Attr

from livestock import keys
from livestock.dal.expressions import Store, Update


def _counter_pk(sku_id: str, buyer_id: str, session_id: str | None) -> str:
    if session_id is None:
        return keys.buyer_limit_pk(sku_id, buyer_id)
    return keys.session_buyer_limit_pk(session_id, sku_id, buyer_id)


class LimitStore(Store):
    def charge_buyer_limit(
        self, sku_id: str, buyer_id: str, hold_id: str, quantity: int, limit: int, session_id: str | None = None
    ) -> bool:
        """Counts a hold against the buyer's allowance; per-hold attributes make it idempotent."""
        hold_attr = keys.buyer_limit_hold_attr(hold_id)
        return self.update_if(
            Update(_counter_pk(sku_id, buyer_id, session_id), keys.LIMIT_SK)
            .set(**{hold_attr: quantity}, entity="limit")
            .add(units=quantity)
            .when(Attr(hold_attr).exists() | Attr("units").not_exists() | Attr("units").lte(limit - quantity))
        )

    def refund_buyer_limit(
        self, sku_id: str, buyer_id: str, hold_id: str, quantity: int, session_id: str | None = None
    ) -> None:
        """Gives a hold's units back to the buyer's allowance, once (a second call finds no charge)."""
        hold_attr = keys.buyer_limit_hold_attr(hold_id)
        self.update_if(
            Update(_counter_pk(sku_id, buyer_id, session_id), keys.LIMIT_SK)
            .remove(hold_attr)
            .add(units=-quantity)
            .when(Attr(hold_attr).exists())
        )

    def buyer_units(self, sku_id: str, buyer_id: str, session_id: str | None = None) -> int:
        item = self.get(_counter_pk(sku_id, buyer_id, session_id), keys.LIMIT_SK)
        return 0 if item is None else int(item.get("units", 0))
