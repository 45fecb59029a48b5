"""Request and response bodies of the channel routes, and the sync state they show."""

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from livestock.models.input import Identifier, StrictModel

Platform = Literal["douyin", "kuaishou", "taobao", "wechat", "webhook"]
# A reference, never a secret: `secretsmanager:<name or ARN>` or `ssm:<parameter name>` (SecureString).
CredentialsRef = Annotated[
    str, StringConstraints(pattern=r"^(secretsmanager:[A-Za-z0-9/_+=.@:\-]{1,512}|ssm:/?[A-Za-z0-9/_.\-]{1,1011})$")
]
PlatformId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:\-]{1,64}$")]


class PlatformSkuIds(StrictModel):
    product_id: PlatformId
    sku_id: PlatformId


class ChannelRequest(StrictModel):
    platform: Platform
    mode: Literal["quota", "shared"]
    ratio: float | None = Field(
        # A floor, not gt=0: a denormal float is a number DynamoDB cannot store (schemathesis sent 5e-324).
        default=None,
        ge=0.0001,
        le=1,
        description="Shared mode: the share of sellable stock shown (default 1)",
    )
    buffer: int | None = Field(default=None, ge=0, le=1_000_000, description="Shared mode: units held back")
    endpoint: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]{1,500}$")]
    credentials_ref: CredentialsRef
    sku_map: dict[Identifier, PlatformSkuIds] = Field(min_length=1, max_length=500)
    qps: float = Field(default=10.0, ge=0.01, le=10_000, description="The app's per-second quota on the platform")

    @field_validator("ratio", mode="before")
    @classmethod
    def _number(cls, value: object) -> object:
        # strict mode refuses an int for a float; 1 is a fine ratio.
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _mode_fields(self) -> "ChannelRequest":
        if self.mode == "quota" and (self.ratio is not None or self.buffer is not None):
            raise ValueError("ratio and buffer are shared-mode settings; a quota channel is shown its quota")
        return self


class SkuSyncView(BaseModel):
    sku_id: str
    platform_ids: PlatformSkuIds
    shown: int | None = Field(description="What the platform should show now, as last computed")
    last_sent: int | None = Field(description="The displayed value the last call sent the platform towards")
    last_acknowledged: int | None = Field(description="The displayed value of the last acknowledged call")
    acknowledged_at: float | None
    lag_s: float | None = Field(description="Stock change seen to platform acknowledgement, last call")
    pending: bool = Field(description="A change is in the outbox, not yet acknowledged")
    calls: int
    rate_limited: int
    last_error: str | None
    sequence: int = Field(description="The highest StockChanged sequence synced")
    lag_p50_s: float | None = Field(description="Median change-to-acknowledgement lag of the recent calls")
    lag_p99_s: float | None
    queued_p50_s: float | None = Field(
        description="Of the lag, the part a change waited before the round that synced it began (its"
        " event's delivery, then the round before it): median of the recent calls"
    )
    queued_p99_s: float | None
    orders: int = Field(description="Orders the platform pushed (created)")
    orders_refused: int = Field(
        description="Orders the platform accepted that LiveStock refused: platform-side oversell"
    )
    units_refused: int = Field(description="Units of those orders (off the platform's display until it cancels them)")


class ChannelView(BaseModel):
    channel_id: str
    platform: Platform
    mode: Literal["quota", "shared"]
    ratio: float | None
    buffer: int | None
    endpoint: str
    credentials_ref: str
    qps: float
    sku_map: dict[str, PlatformSkuIds]
    version: int
    sync: list[SkuSyncView]


class QuotaMoveRequest(StrictModel):
    from_channel: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_\-]{1,31}$")]
    to_channel: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_\-]{1,31}$")]
    quantity: int = Field(ge=1, le=100_000_000)
    reference: Identifier


class QuotaMoveView(BaseModel):
    sku_id: str
    from_channel: str
    to_channel: str
    quantity: int
    reference: str
    phases: dict[str, float] = Field(
        description="Seconds each phase took: lower, drain, move, and raise (absent when the raise was "
        "left to the StockChanged events because the call's time ran out)"
    )
