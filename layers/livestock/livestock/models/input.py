"""Request bodies. Strict: a quantity is a JSON integer, never a float or a string."""

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

# ASCII only, no '#' (our key separator), no spaces or control characters: ids travel in keys,
# URLs and platform APIs, where odd unicode causes look-alike and normalisation bugs.
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")]
ChannelId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_\-]{1,31}$")]
PoolName = Annotated[str, StringConstraints(pattern=r"^(shared|reserve|channel:[a-z][a-z0-9_\-]{1,31})$")]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=200)]

# Every count is a JSON integer, strictly: 3750.0, "3750" and true are refused with 422.
STRICT = 'A JSON integer (3750.0, "3750" and true are refused).'

MAX_STOCK = 100_000_000
MAX_ORDER_UNITS = 10_000
MAX_PAY_WINDOW_S = 7 * 24 * 3600


def distinct(what: str) -> AfterValidator:
    """A list whose values may not repeat (alert tiers, a session's channels): "<what> must be distinct"."""

    def check[T](values: list[T]) -> list[T]:
        if len(set(values)) != len(values):
            raise ValueError(f"{what} must be distinct")
        return values

    return AfterValidator(check)


class StrictModel(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class SetSkuRequest(StrictModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    on_hand: int = Field(description=STRICT, ge=0, le=MAX_STOCK)
    expected_version: int | None = Field(description=STRICT, default=None, ge=0)


class ReceiptRequest(StrictModel):
    quantity: int = Field(description=STRICT, ge=1, le=MAX_STOCK)
    reference: Identifier


class AdjustmentRequest(StrictModel):
    quantity: int = Field(description=STRICT, ge=-MAX_STOCK, le=MAX_STOCK)
    reason: Reason
    reference: Identifier

    @field_validator("quantity")
    @classmethod
    def _non_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("quantity must not be zero")
        return value


class AllocationRequest(StrictModel):
    pools: dict[PoolName, Annotated[int, Field(ge=0, le=MAX_STOCK, description=STRICT)]] = Field(max_length=32)
    shards: dict[PoolName, Annotated[int, Field(ge=1, le=64, description=STRICT)]] | None = Field(
        default=None, max_length=32
    )

    @field_validator("pools")
    @classmethod
    def _no_shared_target(cls, value: dict[str, int]) -> dict[str, int]:
        if "shared" in value:
            raise ValueError("shared is what remains; set the ring-fenced pools only")
        return value


class ReserveReleaseRequest(StrictModel):
    quantity: int | None = Field(description=STRICT, default=None, ge=1, le=MAX_STOCK)


class LimitsRequest(StrictModel):
    per_buyer: int | None = Field(description=STRICT, ge=1, le=MAX_ORDER_UNITS)


class SkuSettingsRequest(StrictModel):
    auto_release_reserve: bool


class HoldRequest(StrictModel):
    channel: ChannelId
    order_id: Identifier
    sku_id: Identifier
    quantity: int = Field(description=STRICT, ge=1, le=MAX_ORDER_UNITS)
    buyer_id: Identifier | None = None
    pay_within_s: int | None = Field(description=STRICT, default=None, ge=1, le=MAX_PAY_WINDOW_S)
