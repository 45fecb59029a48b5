"""Request and response bodies of the alert and webhook routes."""

from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from livestock.events.models import WEBHOOK_EVENT_TYPES, WebhookEventType
from livestock.models.input import MAX_STOCK, StrictModel, distinct

WEBHOOK_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$"
Secret = Annotated[str, StringConstraints(min_length=16, max_length=256)]


class AlertsRequest(StrictModel):
    tiers_pct: Annotated[list[Annotated[int, Field(ge=1, le=99)]], distinct("tiers")] = Field(
        min_length=1, max_length=99
    )
    baseline: Literal["opening"] | Annotated[int, Field(ge=1, le=MAX_STOCK)] = "opening"


class AlertsView(BaseModel):
    sku_id: str
    tiers_pct: list[int]
    baseline: int
    baseline_mode: Literal["opening", "units"]
    fired_tiers: list[int] = Field(description="Tiers crossed and not re-armed yet")
    sellable: int | None = Field(description="Sellable units when the publisher last saw the SKU")
    set_at: float


class WebhookRequest(StrictModel):
    model_config = ConfigDict(strict=True, extra="forbid", hide_input_in_errors=True)

    url: AnyHttpUrl
    secret: Secret
    event_types: list[WebhookEventType] = Field(min_length=1, max_length=len(WEBHOOK_EVENT_TYPES))

    @field_validator("url", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        if not isinstance(value, str):
            raise ValueError("url must be a string")  # strict mode would otherwise refuse every str
        return AnyHttpUrl(value)


class WebhookView(BaseModel):
    """A webhook as the API shows it: never its secret."""

    webhook_id: str
    url: str
    event_types: list[str]
    created_at: float
    updated_at: float


class DeliveryAttempt(BaseModel):
    at: float
    status_code: int | None = None
    error: str | None = None
    duration_ms: int


class DeliveryView(BaseModel):
    event_id: str
    detail_type: str
    status: Literal["delivering", "delivered", "retrying", "rejected"]
    attempts: list[DeliveryAttempt]
    created_at: float
    delivered_at: float | None = None


class DeliveriesPage(BaseModel):
    webhook_id: str
    deliveries: list[DeliveryView]
