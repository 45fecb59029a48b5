"""Records as the domain sees them (the repository converts them to and from DynamoDB items)."""

from enum import StrEnum

from pydantic import BaseModel, Field

SHARED = "shared"
RESERVE = "reserve"


def channel_pool(channel: str) -> str:
    return f"channel:{channel}"


class HoldStatus(StrEnum):
    PENDING = "pending"  # hold record written, decrement not yet seen in the stream
    HELD = "held"
    CONFIRMED = "confirmed"
    RELEASED = "released"  # cancelled before payment
    EXPIRED = "expired"
    REFUNDED = "refunded"  # cancelled after payment
    REJECTED = "rejected"  # refused (sold out, paused, limit): the stored answer
    ABANDONED = "abandoned"  # first attempt crashed before its decrement; a replay re-drives it


OPEN_STATUSES = {HoldStatus.PENDING, HoldStatus.HELD}


class SkuMeta(BaseModel):
    sku_id: str
    name: str
    on_hand: int
    version: int
    paused: bool = False
    per_buyer_limit: int | None = None
    auto_release_reserve: bool = True
    # pool name -> number of shard items
    shards: dict[str, int] = Field(default_factory=lambda: {SHARED: 1})
    # pool -> shard count before a shrink that is still draining its retired shards
    retiring: dict[str, int] = Field(default_factory=dict)

    def stored_shards(self, pool: str) -> int:
        """Shards that may hold units: the active ones and any retired ones still draining."""
        return max(self.shards.get(pool, 0), self.retiring.get(pool, 0))


class ShardStock(BaseModel):
    sku_id: str
    pool: str
    shard: int
    available: int


class Hold(BaseModel):
    hold_id: str
    sku_id: str
    channel: str
    order_id: str
    quantity: int
    buyer_id: str | None = None
    status: HoldStatus
    attempt: int = 1
    pool: str | None = None
    shard: int | None = None
    request_hash: str
    pay_within_s: int
    created_at: float
    expires_at: float | None = None
    refusal_code: str | None = None
    refusal_message: str | None = None
    refusal_details: dict[str, int | str] | None = None
    settled_seq: str | None = None
