"""The post-live review (复盘): what sold, how fast, when each SKU sold out, what the forecast missed.

Every figure is derived from the ledger (stock movements), the session's holds (which platform an
order came from) and the session journal (alerts and stage announcements from the bus); see
logic/review.py for the definitions. Units are units, times are ISO-8601 UTC, durations seconds.
"""

from pydantic import BaseModel, Field

REVIEW_FORMAT_VERSION = 1


class OrderFigures(BaseModel):
    """Units of the session's orders, per what happened to them (additive over platforms)."""

    held_units: int = Field(description="Units placed on hold (orders taken)")
    sold_units: int = Field(description="Units paid (hold confirmed)")
    refunded_units: int = Field(description="Paid units refunded")
    expired_units: int = Field(description="Held units never paid, released when the payment window ended")
    cancelled_units: int = Field(description="Held units cancelled before payment")
    still_held_units: int = Field(description="Held units not yet paid, cancelled or expired when the review was built")
    unpaid_rate: float | None = Field(description="expired_units / held_units (None with no holds)")
    refused_sold_out: int = Field(description="Orders refused because no stock was left for the platform")
    refused_over_limit: int = Field(description="Orders refused by the per-buyer limit")
    refused_paused: int = Field(description="Orders refused while sales were paused")


class PlatformReview(OrderFigures):
    channel: str
    opening_sellable: int = Field(description="What the platform could sell at the start: its quota plus shared")
    made_available: int = Field(description="Opening sellable plus units moved into its quota or shared in the live")
    sell_through: float | None = Field(
        description="(sold_units - refunded_units) / made_available: a refunded unit sold again counts once"
    )
    sold_out_at: str | None = Field(description="When the platform first had nothing left to sell")
    time_to_sell_out_s: float | None = Field(description="From the session's start to sold_out_at")
    peak_units_per_min: int = Field(description="The most units held in one minute of the session")


class Release(BaseModel):
    """Units moved between pools by one operation (a reserve release, a stage, a quota move)."""

    at: str
    units: int
    from_pools: list[str]
    to_pools: list[str]
    op: str
    reference: str | None
    actor: str | None


class JournalEntry(BaseModel):
    """An event from the bus the session journal kept (alerts, stage announcements)."""

    at: str
    detail_type: str
    event_id: str
    severity: str | None = None
    message: str | None = None
    detail: dict[str, object] = Field(description="The event's detail as published")


class MinuteSales(BaseModel):
    minute: int = Field(description="Minutes since the session started (0 = the first minute)")
    held_units: int
    sold_units: int


class Reconciled(BaseModel):
    consistent: bool
    differences: dict[str, int]
    unattributed_movements: int


class SkuReview(OrderFigures):
    sku_id: str
    name: str
    opening_sellable: int = Field(description="Units any platform could sell at the start (not reserve, not campaign)")
    opening_reserve: int
    opening_campaign: int = Field(description="Units in campaign pools (flash-sale stages not released) at the start")
    made_available: int = Field(
        description="opening_sellable plus units moved into sale during the live (reserve, stages, receipts)"
    )
    sell_through: float | None = Field(
        description="(sold_units - refunded_units) / made_available: a refunded unit sold again counts once"
    )
    sold_out_at: str | None = Field(description="When every platform first had nothing left to sell")
    time_to_sell_out_s: float | None
    sell_outs: list[str] = Field(description="Every moment sellable stock reached 0 during the live")
    peak_units_per_min: int
    reserve_used: int = Field(description="Units released from the reserve during the live")
    reserve_releases: list[Release]
    staged_units: int = Field(description="Units released from campaign pools (flash-sale stages) during the live")
    stages: list[Release]
    stage_events: list[JournalEntry] = Field(description="StageReleased events the bus carried for this SKU")
    quota_moves: list[Release] = Field(description="Allocation changes between sellable pools during the live")
    alerts: list[JournalEntry] = Field(description="AlertRaised events fired for this SKU during the live")
    forecast_units: int | None
    actual_units: int = Field(description="sold_units - refunded_units: what the forecast is compared with")
    forecast_miss_units: int | None = Field(description="actual_units - forecast_units (positive: above forecast)")
    forecast_miss_pct: float | None = Field(description="forecast_miss_units / forecast_units x 100")
    oversold: int = Field(description="Units any pool went below zero in the ledger (must be 0)")
    reconciliation: Reconciled
    platforms: list[PlatformReview]
    minutes: list[MinuteSales]


class PlatformSyncReview(BaseModel):
    """How one platform's displayed stock of one SKU was kept in step during the session (channels
    that map the SKU; their sync log lives 7 days, so a review rebuilt later may see fewer calls)."""

    channel_id: str
    platform: str
    mode: str
    sku_id: str
    calls_acknowledged: int = Field(description="Stock changes the platform acknowledged during the session")
    lag_p50_s: float | None = Field(description="Stock change seen to platform acknowledgement, median")
    lag_p99_s: float | None
    lag_max_s: float | None
    rate_limited_total: int = Field(
        description="Calls the platform refused for its rate limit, since the channel was set up"
    )
    failing_at_end: str | None = Field(description="The last error, if the sync was failing when the review was built")
    pending_at_end: bool = Field(description="A change was still in the outbox when the review was built")
    platform_oversell_orders_total: int = Field(
        description="Orders the platform accepted that LiveStock refused, since the channel was set up"
    )


class SessionTotals(OrderFigures):
    oversold: int
    reconciled: bool


class Review(BaseModel):
    format_version: int = REVIEW_FORMAT_VERSION
    session_id: str
    title: str
    channels: list[str]
    started_at: str
    ended_at: str
    duration_s: float
    summary: list[str] = Field(description="Plain-language lines, the top of the page")
    totals: SessionTotals
    skus: list[SkuReview]
    sync: list[PlatformSyncReview] = Field(default_factory=list, description="Platform sync, per channel and SKU")
    digest: str = Field(default="", description="SHA-256 of the review's figures: equal digests, equal reviews")


class SkuHistoryEntry(BaseModel):
    session_id: str
    title: str
    started_at: str
    ended_at: str
    held_units: int
    sold_units: int
    refunded_units: int
    sell_through: float | None
    time_to_sell_out_s: float | None
    forecast_units: int | None
    actual_units: int
    forecast_miss_units: int | None
    forecast_miss_pct: float | None


class SkuHistory(BaseModel):
    sku_id: str
    sessions: list[SkuHistoryEntry] = Field(description="Each reviewed session the SKU was in, newest first")
