"""Every DynamoDB key format, in one place.

Hot items get partition keys of their own: each pool shard, each hold and each buyer-limit
counter is its own partition key, so no SKU is capped by one key's 1,000 WCU/s.
"""

import hashlib

META_SK = "META"
STOCK_SK = "STOCK"
HOLD_SK = "HOLD"
LIMIT_SK = "LIMIT"
OP_SK = "OP"

# Index partitions are spread over this many keys so that index writes never pile on one key.
INDEX_SPREAD = 16


def sku_pk(sku_id: str) -> str:
    return f"SKU#{sku_id}"


def shard_pk(sku_id: str, pool: str, shard: int) -> str:
    return f"POOL#{sku_id}#{pool}#{shard}"


def hold_id_for(channel: str, order_id: str, sku_id: str) -> str:
    """A hold id is derived from (channel, order id, SKU), so a replayed order line finds its
    first hold, and an order with several SKUs gets one hold per SKU."""
    digest = hashlib.sha256(f"{channel}\x1f{order_id}\x1f{sku_id}".encode()).hexdigest()
    return f"h_{digest[:24]}"


def hold_pk(hold_id: str) -> str:
    return f"HOLD#{hold_id}"


def spread_of(value: str) -> int:
    return int(hashlib.sha256(value.encode()).hexdigest()[:8], 16) % INDEX_SPREAD


def holds_by_sku_pk(sku_id: str, hold_id: str) -> str:
    return f"HOLDS#{sku_id}#{spread_of(hold_id)}"


def holds_by_sku_partitions(sku_id: str) -> list[str]:
    return [f"HOLDS#{sku_id}#{n}" for n in range(INDEX_SPREAD)]


def open_holds_pk(hold_id: str) -> str:
    return f"OPEN#{spread_of(hold_id)}"


def open_holds_partitions() -> list[str]:
    return [f"OPEN#{n}" for n in range(INDEX_SPREAD)]


def buyer_limit_pk(sku_id: str, buyer_id: str) -> str:
    return f"LIMIT#{sku_id}#{buyer_id}"


def buyer_limit_hold_attr(hold_id: str) -> str:
    return f"h_{hold_id}"


def operation_pk(sku_id: str, kind: str, reference: str) -> str:
    return f"OP#{sku_id}#{kind}#{reference}"


def ledger_pk(sku_id: str) -> str:
    return f"SKU#{sku_id}"


def ledger_sk(at_iso: str, sequence: str) -> str:
    return f"{at_iso}#{sequence}"


# --- The events table: what the event publisher and the webhook deliverer remember ------------

STATE_SK = "STATE"
CLAIM_SK = "CLAIM"
WEBHOOK_SK = "WEBHOOK"
# All webhooks share one partition: a handful per merchant, read together for every event.
WEBHOOKS_PK = "WEBHOOKS"


def event_state_pk(sku_id: str) -> str:
    """A SKU's last published figures, its StockChanged sequence and its alert tiers' state."""
    return f"EVSKU#{sku_id}"


def event_claim_pk(event_id: str) -> str:
    return f"EVENT#{event_id}"


def delivery_pk(webhook_id: str) -> str:
    return f"DELIVERY#{webhook_id}"
