"""One versioned pydantic model per detail-type: the contract every consumer of the bus reads.

Every detail carries `event_id`, deterministic for what caused it (a stream record, or a SKU's
StockChanged sequence), so a receiver can drop a second copy; and `version`, bumped on any change
a consumer could notice (a field removed or re-typed; added optional fields keep the version).
"""

from typing import Any, ClassVar, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SOURCE = "livestock.inventory"


class DomainEvent(BaseModel):
    """What every detail carries. Events about one SKU carry its `sku_id` too (EventDetail); events
    about a live session (SessionStarted, SessionEnded) carry `session_id` instead."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    detail_type: ClassVar[str]

    version: Literal[1] = 1
    event_id: str = Field(min_length=1, max_length=200)
    occurred_at: float = Field(description="Unix seconds when the publisher saw the change")
    registry_revision: int | None = Field(
        default=None,
        ge=0,
        description="The revision of the subscriptions (webhooks, console watches) when the stream publisher"
        " published the event; LiveStock's own consumers use it to tell whether their copy of them is current."
        " Absent on events an API published.",
    )


class EventDetail(DomainEvent):
    sku_id: str


class StockFigures(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    on_hand: int
    sellable: int = Field(description="Units any channel can still take: every pool but the reserve")
    pools: dict[str, int]
    channels: dict[str, int] = Field(
        description="Per channel with a quota: its pool plus shared. Channels without a quota sell shared only."
    )
    paused: bool


class StockChanged(EventDetail):
    """At most one per SKU per stream batch. `sequence` grows by one per publication of the SKU:
    a consumer keeps the figures of the highest sequence it has seen and ignores lower ones."""

    detail_type: ClassVar[str] = "StockChanged"
    sequence: int = Field(ge=1)
    figures: StockFigures


class Eta(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    velocity_per_min: float = Field(ge=0, description="Units taken per minute over the window")
    window_s: int = Field(description="The sliding window the velocity is measured over")
    sold_out_in_s: float | None = Field(description="remaining / velocity; None when nothing sold in the window")
    text: str = Field(description='e.g. "at this rate, sold out in 3 min 20 s"')


class AlertFacts(EventDetail):
    """What every alert carries: tier, baseline, remaining, per-channel remaining, ETA."""

    tier_pct: int | None = Field(description="The tier crossed; None for a SoldOut outside any tier")
    threshold: int | None = Field(description="floor(baseline * tier_pct / 100)")
    baseline: int | None = Field(description="Units the tiers are a share of; None when no tiers are set")
    remaining: int
    channels: dict[str, int]
    eta: Eta


class StockLow(AlertFacts):
    detail_type: ClassVar[str] = "StockLow"
    tier_pct: int
    threshold: int
    baseline: int


class SoldOut(AlertFacts):
    """`scope` sku: no channel can sell; `scope` channel: that channel's quota and shared are empty."""

    detail_type: ClassVar[str] = "SoldOut"
    scope: Literal["sku", "channel"]
    channel: str | None = None


class AlertRaised(AlertFacts):
    """The human-facing form of an alert (SNS e-mail, console): a severity and a sentence."""

    detail_type: ClassVar[str] = "AlertRaised"
    alert: Literal["StockLow", "SoldOut"]
    severity: Literal["info", "warn", "critical"]
    message: str
    cause_event_id: str


class Restocked(EventDetail):
    """On-hand grew (a receipt, a positive adjustment, the ERP's figure raised)."""

    detail_type: ClassVar[str] = "Restocked"
    quantity: int = Field(ge=1)
    on_hand: int = Field(description="On-hand after the change")
    operation: str = Field(description="What raised it: receive, adjust or erp-set")
    reference: str | None


class HoldExpired(EventDetail):
    detail_type: ClassVar[str] = "HoldExpired"
    hold_id: str
    channel: str
    order_id: str
    quantity: int
    pool: str | None


class ReserveReleased(EventDetail):
    """Units moved from the reserve to shared (one event per reserve shard the release touched)."""

    detail_type: ClassVar[str] = "ReserveReleased"
    quantity: int = Field(ge=1)
    reserve_left_in_shard: int = Field(description="Units still in the reserve shard the release took from")
    shard: int
    reference: str | None
    actor: str | None


class UnattributedChange(EventDetail):
    """A counter moved in a write no LiveStock operation made (a direct write to the table). The
    ledger records it as `unattributed` and reconciliation reports the SKU inconsistent until an
    operator corrects the stock with an adjustment."""

    detail_type: ClassVar[str] = "UnattributedChange"
    severity: Literal["critical"] = "critical"
    bucket: str = Field(description="The counter that moved: pool:<name> or on_hand")
    before: int
    after: int
    delta: int
    message: str


class StageReleased(EventDetail):
    """A campaign stage's units moved from the campaign pool into sale (at its time, or early by the host)."""

    detail_type: ClassVar[str] = "StageReleased"
    campaign_id: str
    session_id: str
    stage: int = Field(ge=1, description="1-based stage number")
    quantity: int = Field(ge=1)
    target_pool: str = Field(description="shared or channel:<id>")
    scheduled_at: float = Field(description="When the stage was due, Unix seconds")
    released_at: float = Field(description="When it was released, Unix seconds")
    actor: str | None = Field(description="system:campaign (the state machine) or who released it early")
    stages_released: int
    stages_total: int
    pending_units: int = Field(description="Units still waiting in the campaign pool")
    next_stage_at: float | None = Field(
        default=None, description="When the next pending stage is due, Unix seconds (the console's countdown)"
    )


class CampaignCancelled(EventDetail):
    """A campaign was cancelled: every unreleased unit went back to shared, once."""

    detail_type: ClassVar[str] = "CampaignCancelled"
    campaign_id: str
    session_id: str
    returned_units: int = Field(ge=0, description="Units returned to shared")
    stages_released: int
    stages_cancelled: int
    actor: str | None


class LineupSku(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sku_id: str
    per_buyer_limit: int | None = Field(description="Units one buyer may hold in this session; None: no session limit")
    alert_tiers_pct: list[int] | None = Field(description="Low-stock tiers set on the SKU at the start")
    forecast_units: int | None = Field(description="Units the merchant expected to sell")


class SessionEvent(DomainEvent):
    """A live session's status change, one per change (its id is the session item's stream record)."""

    session_id: str
    title: str
    channels: list[str]
    lineup: list[LineupSku]
    starts_at: float = Field(description="The planned start, Unix seconds")
    ends_at: float = Field(description="The planned end, Unix seconds")
    started_at: float = Field(description="When the session was started, Unix seconds")
    actor: str | None = Field(description="Who started or ended it")


class SessionStarted(SessionEvent):
    """The session is live: its lineup's per-buyer limits and alert tiers are applied."""

    detail_type: ClassVar[str] = "SessionStarted"


class SessionEnded(SessionEvent):
    """The session is over (the review starts from this): its limits no longer apply."""

    detail_type: ClassVar[str] = "SessionEnded"
    ended_at: float = Field(description="When the session was ended, Unix seconds")


class ChannelChanged(DomainEvent):
    """A channel was created or its settings replaced: platform sync sets each SKU it maps to what
    the channel may now show, without waiting for the SKU's next StockChanged. Its id is the
    channel and its settings' version."""

    detail_type: ClassVar[str] = "ChannelChanged"
    channel_id: str
    channel_version: int = Field(ge=1, description="The settings' version this change made")
    sku_ids: list[str] = Field(description="The SKUs the channel maps")


class BusEnvelope(BaseModel):
    """What a rule target reads of the EventBridge event around a detail (the fields every bus
    delivery carries; moto's local deliveries leave out `account`, which nothing here reads)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    id: str
    detail_type: str = Field(alias="detail-type")
    source: str
    time: AwareDatetime
    detail: dict[str, Any]


class ReviewLocations(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    api_json: str = Field(description="GET this API path for the JSON review")
    api_csv: str = Field(description="... with ?format=csv: one row per SKU x platform")
    api_html: str = Field(description="... with ?format=html: the page with its charts")
    bucket: str = Field(description="The bucket the three objects are kept in")
    keys: list[str] = Field(description="Their object keys (JSON, CSV, HTML)")


class ReviewReady(DomainEvent):
    """A session's review was built from the ledger and stored. Its id is the session and the
    review's digest: a rebuild of an unchanged review publishes the same id (receivers drop it);
    a rebuild after late movements (expiries, refunds) has a new digest and a new id."""

    detail_type: ClassVar[str] = "ReviewReady"
    session_id: str
    title: str
    digest: str = Field(description="SHA-256 of the review's figures")
    started_at: float
    ended_at: float
    skus: list[str]
    summary: list[str] = Field(description="The review's plain-language lines")
    oversold: int = Field(description="Units oversold over the session's SKUs (must be 0)")
    reconciled: bool = Field(description="Every SKU's ledger replays to its counters")
    locations: ReviewLocations


DETAIL_TYPES: dict[str, type[DomainEvent]] = {
    model.detail_type: model
    for model in (
        StockChanged,
        StockLow,
        SoldOut,
        AlertRaised,
        Restocked,
        HoldExpired,
        ReserveReleased,
        UnattributedChange,
        SessionStarted,
        SessionEnded,
        StageReleased,
        CampaignCancelled,
        ReviewReady,
        ChannelChanged,
    )
}

# What a webhook may subscribe to. StockChanged is not among them: it is the high-volume feed for
# platform sync and the console, which read the bus directly; nor ChannelChanged, platform sync's own.
WebhookEventType = Literal[
    "StockLow",
    "SoldOut",
    "AlertRaised",
    "Restocked",
    "HoldExpired",
    "ReserveReleased",
    "UnattributedChange",
    "SessionStarted",
    "SessionEnded",
    "StageReleased",
    "CampaignCancelled",
    "ReviewReady",
]
WEBHOOK_EVENT_TYPES: tuple[str, ...] = get_args(WebhookEventType)
