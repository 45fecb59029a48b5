"""Every DynamoDB key and attribute format, built and parsed in one place.

Hot items get partition keys of their own: each pool shard, each hold and each buyer-limit
counter is its own partition key, so no SKU is capped by one key's 1,000 WCU/s. What many
writes of one SKU share (hold counters, ledger entries) is spread over several keys.
"""

import hashlib
import zlib
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Prefix:
    """A key or attribute format "<prefix><part>#<part>...": one object builds it and reads it back."""

    text: str

    def __call__(self, *parts: str | int) -> str:
        return self.text + "#".join(str(part) for part in parts)

    def marks(self, value: str) -> bool:
        return value.startswith(self.text)

    def rest(self, value: str) -> str | None:
        """What follows the prefix; None for a value of another format."""
        return value.removeprefix(self.text) if self.marks(value) else None

    def strip(self, value: str) -> str:
        return value.removeprefix(self.text)


sku_pk = Prefix("SKU#")


shard_pk = Prefix("POOL#")


# The ring-fenced pool of a channel.
channel_pool = Prefix(CHANNEL_PREFIX)


# The channel whose ring-fenced pool this is; None for shared and the reserve.
channel_of_pool = channel_pool.rest


# The pool a staged-release campaign's units wait in until their stage: not sellable.
campaign_pool = Prefix(CAMPAIGN_PREFIX)


is_campaign_pool = campaign_pool.marks


campaign_pk = Prefix("CAMPAIGN#")


# Who a hold's movements are recorded as, when no one else is named.
channel_actor = Prefix(CHANNEL_PREFIX)


# The ledger bucket of a pool's units.
pool_bucket = Prefix(POOL_BUCKET_PREFIX)


is_pool_bucket = pool_bucket.marks


def hold_id_for(channel: str, order_id: str, sku_id: str) -> str:
    """A hold id is derived from (channel, order id, SKU), so a replayed order line finds its
    first hold, and an order with several SKUs gets one hold per SKU."""
    digest = hashlib.sha256(f"{channel}\x1f{order_id}\x1f{sku_id}".encode()).hexdigest()
    return f"h_{digest[:24]}"


hold_pk = Prefix("HOLD#")


def hold_reference(hold_id: str, attempt: int) -> str:
    """What a decrement names on its shard: the hold and which attempt of it took the units."""
    return f"{hold_id}#{attempt}"


def parse_hold_reference(reference: str) -> tuple[str, int]:
    hold_id, _, attempt = reference.rpartition("#")
    return hold_id, int(attempt)


def spread_of(value: str, spread: int = INDEX_SPREAD) -> int:
    return int(hashlib.sha256(value.encode()).hexdigest()[:8], 16) % spread


open_holds_partition = Prefix("OPEN#")


def open_holds_pk(hold_id: str) -> str:
    return open_holds_partition(spread_of(hold_id))


def open_holds_partitions() -> list[str]:
    return [open_holds_partition(n) for n in range(INDEX_SPREAD)]


hold_counter = Prefix("COUNT#")


def hold_counter_pk(sku_id: str, hold_id: str) -> str:
    return hold_counter(sku_id, spread_of(hold_id, COUNTER_SPREAD))


def hold_counter_partitions(sku_id: str) -> list[str]:
    return [hold_counter(sku_id, n) for n in range(COUNTER_SPREAD)]


TAKEN_PREFIX = "taken:"


# The hold-counter attribute of the units a channel's orders hold (held + sold).
taken_attr = Prefix(TAKEN_PREFIX)


buyer_limit_pk = Prefix("LIMIT#")


buyer_limit_hold_attr = Prefix("h_")


# A buyer's units of a SKU within one live session: a counter per session, so an allowance
# used in one live never counts against the next.
session_buyer_limit_pk = Prefix("SLIMIT#")


session_pk = Prefix("SESSION#")


# Refused orders of a SKU in a live session are counted (the review reads them): a refusal turned
# away by the sold-out shield leaves no hold behind. Spread, so a burst of refusals after a
# sell-out does not pile on one key.
REFUSAL_SPREAD = 8


refusal_pk = Prefix("REFUSED#")


def refusal_partitions(session_id: str, sku_id: str) -> list[str]:
    return [refusal_pk(session_id, sku_id, n) for n in range(REFUSAL_SPREAD)]


def refusal_attr(channel: str, code: str) -> str:
    """One counter per channel and refusal code on each spread item."""
    return f"r|{channel}|{code}"


def parse_refusal_attr(attribute: str) -> tuple[str, str] | None:
    kind, _, rest = attribute.partition("|")
    channel, _, code = rest.partition("|")
    return (channel, code) if kind == "r" and channel and code else None


operation_pk = Prefix("OP#")


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
    return sku_pk(sku_id, zlib.crc32(sequence.encode()) % LEDGER_SPREAD)


def ledger_partitions(sku_id: str) -> list[str]:
    return [sku_pk(sku_id, n) for n in range(LEDGER_SPREAD)]


def sku_of_ledger_pk(pk: str) -> str:
    return sku_pk.strip(pk).rpartition("#")[0]


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


# A SKU's last published figures, its StockChanged sequence and its alert tiers' state.
event_state_pk = Prefix("EVSKU#")


outbox_attr = Prefix(OUTBOX_PREFIX)


# The event id of an outbox attribute; None for any other attribute.
outbox_event_id = outbox_attr.rest


def record_event_id(pk: str, sk: str, sequence: str, detail_type: str) -> str:
    """The id of an event one stream record means. Sequence numbers are unique within a stream
    shard; with the changed item's key, everywhere."""
    return f"{detail_type}:{zlib.crc32(f'{pk}|{sk}'.encode()):08x}:{sequence}"


event_claim_pk = Prefix("EVENT#")


def webhook_key(webhook_id: str) -> tuple[str, str]:
    return WEBHOOKS_PK, webhook_id


delivery_pk = Prefix("DELIVERY#")


# Every write LiveStock makes to a counter item (a shard, a SKU's settings) adds 1 to this
# attribute, in the same write. A stream record whose counter moved while it did not is a change
# no LiveStock operation made (a direct write to the table): the ledger records it as unattributed.
WRITE_REVISION = "rev"
UNATTRIBUTED_OP = "unattributed"


# A SKU's journal of bus events the review reads (alerts, sell-outs, releases, stages).
journal_pk = Prefix("JOURNAL#")


def journal_sk(at_iso: str, event_id: str) -> str:
    return f"{at_iso}#{event_id}"


# A SKU's line in each review it appeared in: GET /skus/{id}/history reads them.
review_history_pk = Prefix("REVIEWED#")


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


sync_state_pk = Prefix("SYNC#")


def sync_state_key(channel_id: str, sku_id: str) -> tuple[str, str]:
    """What sync knows of one SKU on one channel: units told, outbox, lease, figures shown."""
    return sync_state_pk(channel_id), sku_id


sync_log_pk = Prefix("SYNCLOG#")


def sync_log_key(channel_id: str, sku_id: str, op_id: str) -> tuple[str, str]:
    """One acknowledged sync call (its lag), for the figures; expires after a week."""
    return sync_log_pk(channel_id, sku_id), op_id


def rate_key(channel_id: str) -> tuple[str, str]:
    """The channel's app quota: the theoretical arrival time of its next call (GCRA)."""
    return f"RATE#{channel_id}", "RATE"


inbound_order_pk = Prefix("INBOUND#")


def inbound_order_key(channel_id: str, order_id: str, sku_id: str) -> tuple[str, str]:
    """One order line a platform pushed: what its messages did, so a replay does nothing."""
    return inbound_order_pk(channel_id), f"{order_id}#{sku_id}"


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


console_connection_pk = Prefix("CONN#")


# A watched session's partition: its connections, its SKUs' panels, its alert feed, and the
# push item that coalesces what waits to be sent.
console_session_pk = Prefix("CSESSION#")


console_connection_sk = Prefix(CONNECTION_PREFIX)


console_panel_sk = Prefix(PANEL_PREFIX)


def console_feed_sk(occurred_at: float, event_id: str) -> str:
    return f"{FEED_PREFIX}{occurred_at:017.6f}#{event_id}"


# Which sessions a console watches a SKU in: the fan-out's one query per event.
console_watch_pk = Prefix("CWATCH#")


console_watch_sk = Prefix("SESSION#")


session_of_watch_sk = console_watch_sk.strip
