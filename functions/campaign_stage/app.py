"""The campaign state machine's task: release one stage when its Wait ends.

Invoked by Step Functions (`arn:aws:states:::lambda:invoke`) with `{"campaign_id", "stage"}`. A
released stage or a cancelled campaign is an outcome, not an error; anything else raises, so the
state's Retry runs it again (the release is idempotent by campaign and stage).
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from livestock.models.campaigns import CAMPAIGN_ID_PATTERN, MAX_STAGES
from livestock.observability import count_metric, logger, metrics, tracer
from livestock.wiring import stage_service

ACTOR = "system:campaign"


class StageTask(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    campaign_id: str = Field(pattern=CAMPAIGN_ID_PATTERN)
    stage: int = Field(ge=1, le=MAX_STAGES)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = StageTask.model_validate(event)
    result = stage_service().run_stage(task.campaign_id, task.stage, ACTOR)
    logger.info("stage task", extra=result)
    if result["outcome"] == "released":
        count_metric("StagesReleased", 1)
    return result
