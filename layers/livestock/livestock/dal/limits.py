"""Buyer-limit counters: units a buyer holds of a SKU, across channels; per live session when the
session sets the limit (a session's counters are its own, so nothing carries into the next)."""

from boto3.dynamodb.conditions import Attr

from livestock import keys
from livestock.dal.expressions import Store, Update
from livestock.models.domain import Hold


def _counter_pk(sku_id: str, buyer_id: str, session_id: str | None) -> str:
    if session_id is None:
        return keys.buyer_limit_pk(sku_id, buyer_id)
    return keys.session_buyer_limit_pk(session_id, sku_id, buyer_id)


class LimitStore(Store):
    def charge_buyer_limit(
        self, sku_id: str, buyer_id: str, hold_id: str, quantity: int, limit: int, session_id: str | None = None
    ) -> bool:
        """Counts a hold against the buyer's allowance, once: the hold's own attribute marks the
        charge, so driving the hold again (a replay of an abandoned first attempt) finds it made
        instead of counting its units a second time. The refusal's copy of the item (no read of
        its own) tells a charge already made from an allowance used up. An order larger than the
        whole allowance is refused without a write (the condition alone would let it through
        while the buyer has no counter yet)."""
        if quantity > limit:
            return False
        hold_attr = keys.buyer_limit_hold_attr(hold_id)
        stored = self.update_or_stored(
            Update(_counter_pk(sku_id, buyer_id, session_id), keys.LIMIT_SK)
            .set(**{hold_attr: quantity}, entity="limit")
            .add(units=quantity)
            .when(Attr(hold_attr).not_exists() & (Attr("units").not_exists() | Attr("units").lte(limit - quantity)))
        )
        return stored is None or hold_attr in stored

    def allowance_refund(self, hold: Hold) -> Update | None:
        """The write that gives a hold's units back to its buyer's allowance, for the transaction
        that closes the hold (None: the hold counts against no allowance). It refuses where the
        hold holds no charge, so it gives back once."""
        if not hold.buyer_id or hold.buyer_limit is None:
            return None
        hold_attr = keys.buyer_limit_hold_attr(hold.hold_id)
        return (
            Update(_counter_pk(hold.sku_id, hold.buyer_id, hold.limit_session), keys.LIMIT_SK)
            .remove(hold_attr)
            .add(units=-hold.quantity)
            .when(Attr(hold_attr).exists())
        )

    def buyer_units(self, sku_id: str, buyer_id: str, session_id: str | None = None) -> int:
        item = self.get(_counter_pk(sku_id, buyer_id, session_id), keys.LIMIT_SK)
        return 0 if item is None else int(item.get("units", 0))
