"""Records as the domain sees them (the repository converts them to and from DynamoDB items)."""

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from livestock.keys import channel_pool, is_campaign_pool

SHARED = "shared"
RESERVE = "reserve"

__all__ = [
    "HOLD_TRANSITIONS",
    "RESERVE",
    "SHARED",
    "Hold",
    "HoldCounts",
    "HoldStatus",
    "Record",
    "ShardStock",
    "SkuMeta",
    "SkuPatch",
    "channel_pool",
    "is_sellable",
]


def is_sellable(pool: str) -> bool:
    """Pools a channel can sell from: not the reserve, not a campaign's units awaiting their stage."""
    return pool != RESERVE and not is_campaign_pool(pool)


class HoldStatus(StrEnum):
    PENDING = "pending"  # hold record written, decrement not yet seen in the stream
    HELD = "held"
    CONFIRMED = "confirmed"
    RELEASED = "released"  # cancelled before payment
    EXPIRED = "expired"
    REFUNDED = "refunded"  # cancelled after payment
    REJECTED = "rejected"  # refused (sold out, paused, limit): the stored answer
    ABANDONED = "abandoned"  # first attempt crashed before its decrement; a replay re-drives it


class Record(BaseModel):
    """What a record operators plan and change carries: its version (a write names the version it
    read), when it was made and last changed, and who changed it last."""

    version: int = 1
    created_at: float
    updated_at: float
    last_actor: str | None = None


class SkuMeta(BaseModel):
    sku_id: str
    name: str
    on_hand: int
    version: int
    paused: bool = False
    per_buyer_limit: int | None = None
    auto_release_reserve: bool = True
    # The live session whose lineup the SKU is in while it is live, and that session's per-buyer
    # limit: while set, it replaces per_buyer_limit, counted per session (keys.session_buyer_limit_pk).
    session_id: str | None = None
    session_per_buyer_limit: int | None = None
    # pool name -> number of shard items
    shards: dict[str, int] = Field(default_factory=lambda: {SHARED: 1})
    # pool -> shard count before a shrink that is still draining its retired shards
    retiring: dict[str, int] = Field(default_factory=dict)

    def stored_shards(self, pool: str) -> int:
        """Shards that may hold units: the active ones and any retired ones still draining."""
        return max(self.shards.get(pool, 0), self.retiring.get(pool, 0))


class SkuPatch(BaseModel):
    """The settings a change sets on a SKU; a field left out is left as it is."""

    name: str | None = None
    paused: bool | None = None
    per_buyer_limit: int | None = None
    auto_release_reserve: bool | None = None
    session_id: str | None = None
    session_per_buyer_limit: int | None = None
    shards: dict[str, int] | None = None
    retiring: dict[str, int] | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)

    def changes_nothing_of(self, meta: SkuMeta) -> bool:
        current = meta.model_dump()
        return all(current.get(name) == new for name, new in self.changes().items())


class ShardStock(BaseModel):
    sku_id: str
    pool: str
    shard: int
    available: int
    rev: int | None = None  # keys.WRITE_REVISION: which write left this level


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
    # Who asked to confirm the hold while it was still settling; the stream confirms it on settling.
    confirm_requested_by: str | None = None
    # The live session the SKU was in when the order came (None outside any session).
    session_id: str | None = None
    # The allowance the hold is counted against, decided when it is placed: the units a buyer may
    # hold, and the session whose counter it is (None: the SKU's own counter). No limit: None.
    buyer_limit: int | None = None
    limit_session: str | None = None


class HoldCounts(BaseModel):
    """Units in settled holds of a SKU, kept as counters so reading them never pages through holds."""

    held: int = 0
    sold: int = 0


# (old status, new status) -> the operation, and the buckets a hold's quantity leaves (-1) or
# enters (+1). The ledger records these legs; the hold counters move by them.
HOLD_TRANSITIONS: dict[tuple[HoldStatus | None, HoldStatus], tuple[str, list[tuple[str, int]]]] = {
    (HoldStatus.PENDING, HoldStatus.HELD): ("hold", [("held", 1)]),
    (HoldStatus.ABANDONED, HoldStatus.HELD): ("hold", [("held", 1)]),
    (HoldStatus.HELD, HoldStatus.CONFIRMED): ("confirm", [("held", -1), ("sold", 1)]),
    (HoldStatus.HELD, HoldStatus.RELEASED): ("cancel", [("held", -1)]),
    (HoldStatus.HELD, HoldStatus.EXPIRED): ("expire", [("held", -1)]),
    (HoldStatus.CONFIRMED, HoldStatus.REFUNDED): ("refund", [("sold", -1)]),
}
