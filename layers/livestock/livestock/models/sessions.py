"""Live sessions: the request body, the stored record and the view.

A session is planned (PUT), goes live (start: its lineup's limits and alert tiers are applied to
the SKUs) and ends (end: the limits come off; SessionEnded feeds the review). Times in requests
and views are ISO-8601; the record keeps Unix seconds.
"""

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field, field_validator, model_validator

from livestock.models.domain import Record
from livestock.models.input import MAX_ORDER_UNITS, MAX_STOCK, STRICT, ChannelId, Identifier, StrictModel, distinct

SESSION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$"
MAX_LINEUP = 100
# RFC 3339, what the document's `format: date-time` promises: pydantic alone would also take a
# space for the T, no seconds, or a number of Unix seconds.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE)


def _rfc3339(value: Any) -> Any:
    if not isinstance(value, str) or not RFC3339.match(value):
        raise ValueError("give a date-time as RFC 3339 with a time zone, e.g. 2026-11-30T20:00:00+08:00")
    return value


# ISO-8601 with a time zone ("2026-11-30T20:00:00+08:00", "...Z"): a string, unlike other fields.
IsoTime = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    Field(strict=False, description="RFC 3339 date-time with a time zone"),
]


class SessionStatus(StrEnum):
    PLANNED = "planned"
    LIVE = "live"
    ENDED = "ended"


class LineupItem(StrictModel):
    sku_id: Identifier
    per_buyer_limit: int | None = Field(
        description=f"{STRICT} Units one buyer may hold during this session, across every platform.",
        default=None,
        ge=1,
        le=MAX_ORDER_UNITS,
    )
    alert_tiers_pct: Annotated[list[Annotated[int, Field(ge=1, le=99)]], distinct("tiers")] | None = Field(
        description="Low-stock tiers set on the SKU when the session starts (baseline: sellable then).",
        default=None,
        min_length=1,
        max_length=99,
    )
    forecast_units: int | None = Field(
        description=f"{STRICT} Units the merchant expects to sell (the review compares).",
        default=None,
        ge=0,
        le=MAX_STOCK,
    )


class SessionRequest(StrictModel):
    title: Annotated[str, Field(min_length=1, max_length=200)]
    channels: Annotated[list[ChannelId], distinct("channels")] = Field(min_length=1, max_length=16)
    starts_at: IsoTime
    ends_at: IsoTime
    lineup: list[LineupItem] = Field(min_length=1, max_length=MAX_LINEUP)
    expected_version: int | None = Field(description=STRICT, default=None, ge=0)

    @field_validator("lineup")
    @classmethod
    def _distinct_skus(cls, value: list[LineupItem]) -> list[LineupItem]:
        if len({item.sku_id for item in value}) != len(value):
            raise ValueError("a SKU appears once in a lineup")
        return value

    @model_validator(mode="after")
    def _ends_after_start(self) -> "SessionRequest":
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class LineupEntry(BaseModel):
    """A lineup item as stored and shown (no request strictness)."""

    sku_id: str
    per_buyer_limit: int | None = None
    alert_tiers_pct: list[int] | None = None
    forecast_units: int | None = None


class Session(Record):
    """The stored session (keys.session_pk(session_id), keys.SESSION_SK; entity "session")."""

    session_id: str
    title: str
    channels: list[str]
    starts_at: float = Field(description="Planned start, Unix seconds")
    ends_at: float = Field(description="Planned end, Unix seconds")
    lineup: list[LineupEntry]
    status: SessionStatus = SessionStatus.PLANNED
    started_at: float | None = None
    ended_at: float | None = None

    @property
    def sku_ids(self) -> list[str]:
        return [item.sku_id for item in self.lineup]


def iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


class SessionView(BaseModel):
    session_id: str
    title: str
    channels: list[str]
    starts_at: str
    ends_at: str
    lineup: list[LineupEntry]
    status: SessionStatus
    started_at: str | None = Field(description="When the session was started (ISO-8601, UTC)")
    ended_at: str | None = Field(description="When the session was ended (ISO-8601, UTC)")
    version: int

    @classmethod
    def of(cls, session: Session) -> "SessionView":
        return cls(
            session_id=session.session_id,
            title=session.title,
            channels=session.channels,
            starts_at=iso(session.starts_at) or "",
            ends_at=iso(session.ends_at) or "",
            lineup=session.lineup,
            status=session.status,
            started_at=iso(session.started_at),
            ended_at=iso(session.ended_at),
            version=session.version,
        )
