"""Response bodies, also the source of the checked-in OpenAPI document."""

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """The one body of every refusal: a machine-readable code, a sentence, and what it concerns."""

    code: str = Field(description="SOLD_OUT, PAUSED, LIMIT_EXCEEDED, SKU_NOT_FOUND, VALIDATION_ERROR, ...")
    message: str
    details: dict[str, Any]


class SkuView(BaseModel):
    sku_id: str
    name: str
    on_hand: int
    pools: dict[str, int]
    sellable: int
    held: int
    sold: int
    in_flight: int
    paused: bool
    per_buyer_limit: int | None
    session_id: str | None = Field(default=None, description="The live session the SKU is in, if any")
    session_per_buyer_limit: int | None = Field(
        default=None, description="That session's per-buyer limit, which replaces per_buyer_limit while it is live"
    )
    auto_release_reserve: bool
    shards: dict[str, int]
    version: int


class HoldView(BaseModel):
    hold_id: str
    status: str
    sku_id: str
    channel: str
    order_id: str
    quantity: int
    pool: str | None
    expires_at: str | None


class Movement(BaseModel):
    """One ledger entry: a bucket's count moved from `before` to `after`."""

    sku_id: str
    at: str = Field(description="When the change was recorded (ISO 8601, UTC).")
    sequence: str = Field(description="Unique and sortable: the stream record it comes from.")
    op: str = Field(description="receive, adjust, erp-set, allocate, hold, confirm, cancel, expire, refund, ...")
    bucket: str = Field(description="pool:<name>, on_hand, held or sold.")
    delta: int
    quantity: int = Field(description="The size of the move, |delta|.")
    before: int
    after: int
    reference: str | None = None
    actor: str | None = None
    reason: str | None = None


class LedgerPage(BaseModel):
    movements: list[Movement]
    cursor: str | None


class Reconciliation(BaseModel):
    sku_id: str
    consistent: bool
    expected: dict[str, int]
    actual: dict[str, int]
    differences: dict[str, int]
    conservation: dict[str, int]
    # Ledger movements of counters changed by a write that no LiveStock operation made.
    unattributed: dict[str, int]


class ReceiptRecorded(BaseModel):
    sku_id: str
    reference: str
    version: int
    quantity: int


class AdjustmentRecorded(BaseModel):
    sku_id: str
    reference: str
    version: int
    quantity: int
    reason: str


class ReserveReleased(BaseModel):
    sku_id: str
    released: int
    reference: str | None
