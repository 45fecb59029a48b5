"""The live console: its tokens, its WebSocket connections, its operator requests and the
messages pushed to the page.

A console token is minted with the API key for one session and a short life. It opens the
console's WebSocket (in the query string, since a browser cannot set headers on one) and, when
minted with `operate`, authorises a few operator actions on that session's SKUs (in an
`Authorization: Bearer` header), so the page never holds the API key.
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from livestock.models.input import MAX_STOCK, STRICT, StrictModel
from livestock.models.sessions import SESSION_ID_PATTERN

# A day at most: a token is for one live, not a standing credential.
MAX_TOKEN_TTL_S = 24 * 3600
DEFAULT_TOKEN_TTL_S = 4 * 3600
# API Gateway closes a WebSocket after two hours; its records outlive that a little.
CONNECTION_TTL_S = 2 * 3600 + 600
FEED_LENGTH = 50

SessionIdentifier = Annotated[str, StringConstraints(pattern=SESSION_ID_PATTERN)]
# A platform, or `shared` (the units any platform may sell).
QuotaPool = Annotated[str, StringConstraints(pattern=r"^(shared|[a-z][a-z0-9_\-]{1,31})$")]


class TokenRequest(StrictModel):
    session_id: SessionIdentifier
    ttl_s: int = Field(
        default=DEFAULT_TOKEN_TTL_S, ge=60, le=MAX_TOKEN_TTL_S, description=f"{STRICT} Seconds the token works."
    )
    operate: bool = Field(
        default=False, description="Also authorise the page's operator actions (pause, reserve, quota, stages)."
    )


class TokenIssued(BaseModel):
    token: str = Field(description="Shown once; only its SHA-256 is stored")
    session_id: str
    operate: bool
    expires_at: str = Field(description="ISO-8601, UTC")
    console_url: str = Field(description="The console page with the token in its fragment (never sent to a server)")
    websocket_url: str


class ConsoleToken(BaseModel):
    """A stored token (under keys.console_token_pk(token))."""

    session_id: str
    operate: bool
    expires_at: float
    created_at: float
    actor: str


class Connection(BaseModel):
    """A console's WebSocket connection (keys.console_connection_pk)."""

    connection_id: str
    session_id: str
    operate: bool
    connected_at: float
    token_expires_at: float
    sku_ids: list[str] = Field(default_factory=list)


class SubscribeMessage(BaseModel):
    """What the page sends on the `subscribe` route: its session (it must be the token's) and,
    optionally, a part of the lineup."""

    model_config = ConfigDict(extra="forbid", strict=True)

    action: Literal["subscribe"]
    session_id: SessionIdentifier | None = None
    sku_ids: list[Annotated[str, StringConstraints(max_length=128)]] | None = Field(default=None, max_length=100)


class QuotaMoveRequest(StrictModel):
    from_channel: QuotaPool = Field(description="A platform whose ring-fenced quota gives units, or shared")
    to_channel: QuotaPool = Field(description="A platform whose quota receives them, or shared")
    quantity: int = Field(ge=1, le=MAX_STOCK, description=STRICT)

    @model_validator(mode="after")
    def _two_pools(self) -> "QuotaMoveRequest":
        if self.from_channel == self.to_channel:
            raise ValueError("from_channel and to_channel must differ")
        return self


class ConsoleReserveRequest(StrictModel):
    quantity: int | None = Field(default=None, ge=1, le=MAX_STOCK, description=f"{STRICT} None: all of it.")


class Tier(BaseModel):
    """The alert tier a SKU has reached: the last StockLow/SoldOut, with its AlertRaised severity."""

    alert: str
    tier_pct: int | None = None
    severity: Literal["info", "warn", "critical"]
    occurred_at: float


class SkuPanel(BaseModel):
    """One SKU as the console shows it. `channels`: what each platform of the session can sell
    (its quota plus shared; 0 when paused)."""

    sku_id: str
    name: str
    on_hand: int
    sellable: int
    reserve: int
    channels: dict[str, int]
    pools: dict[str, int]
    held: int
    sold: int
    in_flight: int = Field(description="Taken from a pool, not yet counted as held (the stream settles it)")
    paused: bool
    tier: Tier | None = None
    stage: dict[str, Any] | None = Field(
        default=None, description="The last StageReleased detail of the SKU, as published (next_stage_at if planned)"
    )
    read_at: float


class FeedItem(BaseModel):
    event_id: str
    detail_type: str
    severity: Literal["info", "warn", "critical"]
    message: str
    sku_id: str | None
    occurred_at: float


class SessionCard(BaseModel):
    session_id: str
    title: str
    status: str
    channels: list[str]
    operate: bool
    token_expires_at: float


class Push(BaseModel):
    """A message to the page: the first (`snapshot`) has every SKU of the subscription and the
    recent feed; each `update` has the SKUs changed and the alerts raised since the last one."""

    type: Literal["snapshot", "update"]
    skus: list[SkuPanel]
    alerts: list[FeedItem]
    session: SessionCard | None = None
    sent_at: float
    slot: int | None = Field(
        default=None, description="An update's coalescing slot (Unix seconds / push interval): one per slot at most"
    )


class PushError(BaseModel):
    type: Literal["error"] = "error"
    code: str
    message: str
