"""Staged releases (campaigns): the request, the stored record and the view.

A campaign moves its total into its own pool (`campaign:<id>`, not sellable) at once; each stage
then moves its quantity into the target pool at its time (second precision, as a Step Functions
Wait), or when the host releases it early. Cancelling returns every unreleased unit to shared.
"""

import itertools
import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, field_validator

from livestock import keys
from livestock.models.domain import Record
from livestock.models.input import MAX_STOCK, STRICT, Identifier, StrictModel
from livestock.models.sessions import IsoTime

CAMPAIGN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"
MAX_STAGES = 20
# A stage number in a path (1 to MAX_STAGES): path parameters are matched as text, by pattern.
STAGE_PATTERN = "^(?:" + "|".join(str(n) for n in range(MAX_STAGES, 0, -1)) + ")$"
TargetPool = Annotated[str, StringConstraints(pattern=r"^(shared|channel:[a-z][a-z0-9_\-]{1,31})$")]


class StageRequest(StrictModel):
    at: IsoTime
    quantity: int = Field(description=STRICT, ge=1, le=MAX_STOCK)


class CampaignRequest(StrictModel):
    campaign_id: Annotated[str, StringConstraints(pattern=CAMPAIGN_ID_PATTERN)]
    sku_id: Identifier
    target_pool: TargetPool = "shared"
    stages: list[StageRequest] = Field(min_length=1, max_length=MAX_STAGES)

    @field_validator("stages")
    @classmethod
    def _in_order(cls, value: list[StageRequest]) -> list[StageRequest]:
        seconds = [stage_second(stage.at.timestamp()) for stage in value]
        if any(later <= earlier for earlier, later in itertools.pairwise(seconds)):
            raise ValueError("stages must be in time order, at least a second apart")
        return value


# The ledger operation of a stage's release (a campaign's fund and cancel are others).
STAGE_RELEASE_OP = "stage-release"


def stage_second(epoch: float) -> float:
    """A stage fires on a whole second (Step Functions Wait has second precision): never before its time."""
    return float(math.ceil(epoch))


class CampaignStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"  # every stage released
    CANCELLED = "cancelled"  # unreleased units returned to shared


class Stage(BaseModel):
    n: int = Field(description="1-based stage number")
    at: float = Field(description="When the stage is due, Unix seconds (a whole second)")
    quantity: int
    released_at: float | None = None
    released_by: str | None = None


class Campaign(Record):
    """The stored campaign (keys.campaign_pk(campaign_id), keys.CAMPAIGN_SK; entity "campaign")."""

    campaign_id: str
    session_id: str
    sku_id: str
    target_pool: str
    stages: list[Stage]
    status: CampaignStatus = CampaignStatus.ACTIVE
    total: int
    released_units: int = 0
    returned_units: int = 0
    request_hash: str
    cancelled_at: float | None = None
    # The stage the last write released (what the stream record of that write is about).
    last_stage: int | None = None
    execution_arn: str | None = None
    schedule_name: str | None = None

    @property
    def pool(self) -> str:
        return keys.campaign_pool(self.campaign_id)

    @property
    def pending_units(self) -> int:
        return sum(stage.quantity for stage in self.stages if stage.released_at is None)

    def stage(self, n: int) -> Stage | None:
        return self.stages[n - 1] if 1 <= n <= len(self.stages) else None


def iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def asl_time(epoch: float) -> str:
    """A Step Functions Wait timestamp: UTC, whole seconds, Z."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StageView(BaseModel):
    n: int
    at: str
    quantity: int
    status: str = Field(description="released, pending, or cancelled (the campaign was cancelled first)")
    released_at: str | None
    released_by: str | None


class CampaignView(BaseModel):
    campaign_id: str
    session_id: str
    sku_id: str
    pool: str = Field(description="The campaign's own pool, campaign:<id>: units waiting for their stage")
    target_pool: str
    status: CampaignStatus
    total: int
    released_units: int
    pending_units: int = Field(description="Units still waiting in the campaign pool (0 once cancelled)")
    returned_units: int = Field(description="Units a cancel returned to shared")
    stages: list[StageView]
    started_by: str = Field(description="execution (a Step Functions execution runs now) or schedule (one-time)")
    version: int

    @classmethod
    def of(cls, campaign: Campaign) -> "CampaignView":
        cancelled = campaign.status == CampaignStatus.CANCELLED
        return cls(
            **campaign.model_dump(include=set(cls.model_fields) - {"pool", "pending_units", "stages", "started_by"}),
            pool=campaign.pool,
            pending_units=0 if cancelled else campaign.pending_units,
            stages=[
                StageView(
                    n=stage.n,
                    at=iso(stage.at) or "",
                    quantity=stage.quantity,
                    status="released" if stage.released_at is not None else "cancelled" if cancelled else "pending",
                    released_at=iso(stage.released_at),
                    released_by=stage.released_by,
                )
                for stage in campaign.stages
            ],
            started_by="schedule" if campaign.schedule_name else "execution",
        )
