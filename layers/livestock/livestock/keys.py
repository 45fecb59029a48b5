"""Every DynamoDB key and attribute format, built and parsed in one place.

Hot items get partition keys of their own: each pool shard, each hold and each buyer-limit
counter is its own partition key, so no SKU is capped by one key's 1,000 WCU/s. What many
writes of one SKU share (hold counters, ledger entries) is spread over several keys.
"""

import hashlib
import zlib

META_SK = "META"
STOCK_SK = "STOCK"
HOLD_SK = "HOLD"
LIMIT_SK = "LIMIT"
OP_SK = "OP"
COUNT_SK = "COUNT"
SESSION_SK = "SESSION"

# The sweeper's index is spread over this many partition values so that index writes never pile
# on one. An order causes about five index write units (listed pending, re-keyed when held, taken
# off when closed), so 64 values carry about 12,800 orders/s of one SKU on AWS. The sweeper walks
# a partition per Query; how often it walks each one is bounded by time, not by how often it runs
# (logic/sweeper.py), so the spread does not multiply a fast local sweep's queries.
INDEX_SPREAD = 64
# Held/sold counters of a SKU are spread over this many items: one counter item per SKU would
# take every settle, confirm and cancel of a hot SKU (2 WCU each, in a transaction).
COUNTER_SPREAD = 32
# Ledger entries of a SKU are spread over this many partition keys: at two movements per order,
# one key (1,000 WCU/s) would cap a SKU near 500 orders/s; 32 keys carry 16,000 orders/s.
LEDGER_SPREAD = 32

CHANNEL_PREFIX = "channel:"
CAMPAIGN_PREFIX = "campaign:"
CAMPAIGN_SK = "CAMPAIGN"
POOL_BUCKET_PREFIX = "pool:"


def sku_pk(sku_id: str) -> str:
    return f"SKU#{sku_id}"


def shard_pk(sku_id: str, pool: str, shard: int) -> str:
    return f"POOL#{sku_id}#{pool}#{shard}"


def channel_pool(channel: str) -> str:
    """The ring-fenced pool of a channel."""
    return f"{CHANNEL_PREFIX}{channel}"


def channel_of_pool(pool: str) -> str | None:
    """The channel whose ring-fenced pool this is; None for shared and the reserve."""
    return pool.removeprefix(CHANNEL_PREFIX) if pool.startswith(CHANNEL_PREFIX) else None


def campaign_pool(campaign_id: str) -> str:
    """The pool a staged-release campaign's units wait in until their stage: not sellable."""
    return f"{CAMPAIGN_PREFIX}{campaign_id}"


def is_campaign_pool(pool: str) -> bool:
    return pool.startswith(CAMPAIGN_PREFIX)


def campaign_pk(campaign_id: str) -> str:
    return f"CAMPAIGN#{campaign_id}"


def channel_actor(channel: str) -> str:
    """Who a hold's movements are recorded as, when no one else is named."""
    return f"{CHANNEL_PREFIX}{channel}"


def pool_bucket(pool: str) -> str:
    """The ledger bucket of a pool's units."""
    return f"{POOL_BUCKET_PREFIX}{pool}"


def is_pool_bucket(bucket: str) -> bool:
    return bucket.startswith(POOL_BUCKET_PREFIX)


def hold_id_for(channel: str, order_id: str, sku_id: str) -> str:
    """A hold id is derived from (channel, order id, SKU), so a replayed order line finds its
    first hold, and an order with several SKUs gets one hold per SKU."""
    digest = hashlib.sha256(f"{channel}\x1f{order_id}\x1f{sku_id}".encode()).hexdigest()
    return f"h_{digest[:24]}"


def hold_pk(hold_id: str) -> str:
    return f"HOLD#{hold_id}"


def hold_reference(hold_id: str, attempt: int) -> str:
    """What a decrement names on its shard: the hold and which attempt of it took the units."""
    return f"{hold_id}#{attempt}"


def parse_hold_reference(reference: str) -> tuple[str, int]:
    hold_id, _, attempt = reference.rpartition("#")
    return hold_id, int(attempt)


def spread_of(value: str, spread: int = INDEX_SPREAD) -> int:
    return int(hashlib.sha256(value.encode()).hexdigest()[:8], 16) % spread


def open_holds_pk(hold_id: str) -> str:
    return f"OPEN#{spread_of(hold_id)}"


def open_holds_partitions() -> list[str]:
    return [f"OPEN#{n}" for n in range(INDEX_SPREAD)]


def hold_counter_pk(sku_id: str, hold_id: str) -> str:
    return f"COUNT#{sku_id}#{spread_of(hold_id, COUNTER_SPREAD)}"


def hold_counter_partitions(sku_id: str) -> list[str]:
    return [f"COUNT#{sku_id}#{n}" for n in range(COUNTER_SPREAD)]


TAKEN_PREFIX = "taken:"


def taken_attr(channel: str) -> str:
    """The hold-counter attribute of the units a channel's orders hold (held + sold)."""
    return f"{TAKEN_PREFIX}{channel}"


def buyer_limit_pk(sku_id: str, buyer_id: str) -> str:
    return f"LIMIT#{sku_id}#{buyer_id}"


def buyer_limit_hold_attr(hold_id: str) -> str:
    return f"h_{hold_id}"


def session_buyer_limit_pk(session_id: str, sku_id: str, buyer_id: str) -> str:
    """A buyer's units of a SKU within one live session: a counter per session, so an allowance
    used in one live never counts against the next."""
    return f"SLIMIT#{session_id}#{sku_id}#{buyer_id}"


def session_pk(session_id: str) -> str:
    return f"SESSION#{session_id}"


# Refused orders of a SKU in a live session are counted (the review reads them): a refusal turned
# away by the sold-out shield leaves no hold behind. Spread, so a burst of refusals after a
# sell-out does not pile on one key.
REFUSAL_SPREAD = 8


def refusal_pk(session_id: str, sku_id: str, n: int) -> str:
    return f"REFUSED#{session_id}#{sku_id}#{n}"


def refusal_partitions(session_id: str, sku_id: str) -> list[str]:
    return [refusal_pk(session_id, sku_id, n) for n in range(REFUSAL_SPREAD)]


def refusal_attr(channel: str, code: str) -> str:
    """One counter per channel and refusal code on each spread item."""
    return f"r|{channel}|{code}"


def parse_refusal_attr(attribute: str) -> tuple[str, str] | None:
    kind, _, rest = attribute.partition("|")
    channel, _, code = rest.partition("|")
    return (channel, code) if kind == "r" and channel and code else None


def operation_pk(sku_id: str, kind: str, reference: str) -> str:
    return f"OP#{sku_id}#{kind}#{reference}"


def ledger_sequence(sequence: str, item_key: str, index: int) -> str:
    """Sortable, and unique per movement: sequence numbers are unique only within a stream shard,
    so the changed item's key is part of it."""
    return f"{sequence.rjust(40, '0')}.{zlib.crc32(item_key.encode()):08x}.{index}"


def ledger_item_of(sequence: str) -> str:
    """Which item a movement changed (the hash ledger_sequence put in), "" for a bare sequence."""
    parts = sequence.split(".")
    return parts[1] if len(parts) == 3 else ""


def ledger_pk(sku_id: str, sequence: str) -> str:
    """The partition of one movement: spread by its sequence, so a hot shard's movements do not
    pile on one key either."""
    return f"SKU#{sku_id}#{zlib.crc32(sequence.encode()) % LEDGER_SPREAD}"


def ledger_partitions(sku_id: str) -> list[str]:
    return [f"SKU#{sku_id}#{n}" for n in range(LEDGER_SPREAD)]


def sku_of_ledger_pk(pk: str) -> str:
    return pk.removeprefix("SKU#").rpartition("#")[0]


def ledger_sk(at_iso: str, sequence: str) -> str:
    return f"{at_iso}#{sequence}"


# --- The events table: what the event publisher and the webhook deliverer remember ------------

STATE_SK = "STATE"
CLAIM_SK = "CLAIM"
WEBHOOK_SK = "WEBHOOK"
# All webhooks share one partition: a handful per merchant, read together for every event.
WEBHOOKS_PK = "WEBHOOKS"
# Events written with a state change and not yet confirmed published: an attribute each.
OUTBOX_PREFIX = "ob_"
# The revision of the registrations event consumers keep copies of (dal/registry.py).
REGISTRY_KEY = ("REGISTRY", "REVISION")


def event_state_pk(sku_id: str) -> str:
    """A SKU's last published figures, its StockChanged sequence and its alert tiers' state."""
    return f"EVSKU#{sku_id}"


def outbox_attr(event_id: str) -> str:
    return f"{OUTBOX_PREFIX}{event_id}"


def outbox_event_id(attribute: str) -> str | None:
    """The event id of an outbox attribute; None for any other attribute."""
    return attribute.removeprefix(OUTBOX_PREFIX) if attribute.startswith(OUTBOX_PREFIX) else None


def record_event_id(pk: str, sk: str, sequence: str, detail_type: str) -> str:
    """The id of an event one stream record means. Sequence numbers are unique within a stream
    shard; with the changed item's key, everywhere."""
    return f"{detail_type}:{zlib.crc32(f'{pk}|{sk}'.encode()):08x}:{sequence}"


def event_claim_pk(event_id: str) -> str:
    return f"EVENT#{event_id}"


def webhook_key(webhook_id: str) -> tuple[str, str]:
    return WEBHOOKS_PK, webhook_id


def delivery_pk(webhook_id: str) -> str:
    return f"DELIVERY#{webhook_id}"


# Every write LiveStock makes to a counter item (a shard, a SKU's settings) adds 1 to this
# attribute, in the same write. A stream record whose counter moved while it did not is a change
# no LiveStock operation made (a direct write to the table): the ledger records it as unattributed.
WRITE_REVISION = "rev"
UNATTRIBUTED_OP = "unattributed"


def journal_pk(sku_id: str) -> str:
    """A SKU's journal of bus events the review reads (alerts, sell-outs, releases, stages)."""
    return f"JOURNAL#{sku_id}"


def journal_sk(at_iso: str, event_id: str) -> str:
    return f"{at_iso}#{event_id}"


def review_history_pk(sku_id: str) -> str:
    """A SKU's line in each review it appeared in: GET /skus/{id}/history reads them."""
    return f"REVIEWED#{sku_id}"


def review_history_sk(ended_at_iso: str, session_id: str) -> str:
    return f"{ended_at_iso}#{session_id}"


def review_object(session_id: str, extension: str) -> str:
    """The S3 key of a session's review in one format (json, csv, html)."""
    return f"reviews/{session_id}/review.{extension}"


def delivery_key(webhook_id: str, event_id: str) -> tuple[str, str]:
    """One event's delivery to one webhook: the webhook's deliveries share a partition."""
    return delivery_pk(webhook_id), event_id


# --- Platform sync (the events table) -----------------------------------------------------------

# All channels share one partition: a handful per merchant, read together for every StockChanged.
CHANNELS_PK = "CHANNELS"


def channel_key(channel_id: str) -> tuple[str, str]:
    return CHANNELS_PK, channel_id


def sync_state_key(channel_id: str, sku_id: str) -> tuple[str, str]:
    """What sync knows of one SKU on one channel: units told, outbox, lease, figures shown."""
    return f"SYNC#{channel_id}", sku_id


def sync_state_pk(channel_id: str) -> str:
    return f"SYNC#{channel_id}"


def sync_log_key(channel_id: str, sku_id: str, op_id: str) -> tuple[str, str]:
    """One acknowledged sync call (its lag), for the figures; expires after a week."""
    return f"SYNCLOG#{channel_id}#{sku_id}", op_id


def sync_log_pk(channel_id: str, sku_id: str) -> str:
    return f"SYNCLOG#{channel_id}#{sku_id}"


def rate_key(channel_id: str) -> tuple[str, str]:
    """The channel's app quota: the theoretical arrival time of its next call (GCRA)."""
    return f"RATE#{channel_id}", "RATE"


def inbound_order_key(channel_id: str, order_id: str, sku_id: str) -> tuple[str, str]:
    """One order line a platform pushed: what its messages did, so a replay does nothing."""
    return f"INBOUND#{channel_id}", f"{order_id}#{sku_id}"


def inbound_order_pk(channel_id: str) -> str:
    return f"INBOUND#{channel_id}"


# --- The console table: tokens, WebSocket connections, who watches what, pushes in waiting ------

TOKEN_SK = "TOKEN"  # noqa: S105 - a sort key, not a secret
CONNECTION_SK = "CONN"
PUSH_SK = "PUSH"
CONNECTION_PREFIX = "CONN#"
PANEL_PREFIX = "PANEL#"
FEED_PREFIX = "FEED#"


def console_token_pk(token: str) -> str:
    """A console token is stored under its SHA-256 only: the table never holds one that works."""
    return f"CTOKEN#{hashlib.sha256(token.encode()).hexdigest()}"


def console_connection_pk(connection_id: str) -> str:
    return f"CONN#{connection_id}"


def console_session_pk(session_id: str) -> str:
    """A watched session's partition: its connections, its SKUs' panels, its alert feed, and the
    push item that coalesces what waits to be sent."""
    return f"CSESSION#{session_id}"


def console_connection_sk(connection_id: str) -> str:
    return f"{CONNECTION_PREFIX}{connection_id}"


def console_panel_sk(sku_id: str) -> str:
    return f"{PANEL_PREFIX}{sku_id}"


def console_feed_sk(occurred_at: float, event_id: str) -> str:
    return f"{FEED_PREFIX}{occurred_at:017.6f}#{event_id}"


def console_watch_pk(sku_id: str) -> str:
    """Which sessions a console watches a SKU in: the fan-out's one query per event."""
    return f"CWATCH#{sku_id}"


def console_watch_sk(session_id: str) -> str:
    return f"SESSION#{session_id}"


def session_of_watch_sk(sk: str) -> str:
    return sk.removeprefix("SESSION#")
