"""Campaign records (keys.campaign_pk, keys.CAMPAIGN_SK) and what starts and stops their releases:
a Step Functions execution of the campaign state machine, or a one-time EventBridge Scheduler
schedule that starts it later.

A campaign's record is written only inside the stock change that moves its units (as a guard of
that transaction), so a stage release and a cancel can never both take the same units.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from livestock import keys
from livestock.dal import clients
from livestock.dal.expressions import Store, Update
from livestock.models.campaigns import Campaign, CampaignStatus, Stage, asl_time
from livestock.settings import CampaignSettings

if TYPE_CHECKING:
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_stepfunctions import SFNClient

ENTITY = "campaign"
# EventBridge Scheduler's universal target for Step Functions StartExecution.
START_EXECUTION_TARGET = "arn:aws:scheduler:::aws-sdk:sfn:startExecution"
SCHEDULE_PREFIX = "livestock-campaign-"
SCHEDULE_NAME_MAX = 64
SCHEDULE_DIGEST_CHARS = 16


class CampaignStore(Store):
    def get_campaign(self, campaign_id: str, consistent: bool = True) -> Campaign | None:
        item = self.get(keys.campaign_pk(campaign_id), keys.CAMPAIGN_SK, consistent)
        return None if item is None else Campaign.model_validate(item)

    @staticmethod
    def new_item(campaign: Campaign) -> dict[str, Any]:
        return {
            "pk": keys.campaign_pk(campaign.campaign_id),
            "sk": keys.CAMPAIGN_SK,
            "entity": ENTITY,
            **campaign.model_dump(mode="json"),
        }

    @staticmethod
    def _from(campaign: Campaign, at: float, actor: str) -> Update:
        """A write of the campaign as read: refused if anything wrote it since, or it is over."""
        return (
            Update(keys.campaign_pk(campaign.campaign_id), keys.CAMPAIGN_SK)
            .set(updated_at=at, last_actor=actor)
            .add(version=1)
            .when(Attr("version").eq(campaign.version) & Attr("status").eq(CampaignStatus.ACTIVE.value))
        )

    def release_update(self, campaign: Campaign, n: int, at: float, actor: str) -> Update:
        stages = [
            stage.model_copy(update={"released_at": at, "released_by": actor}) if stage.n == n else stage
            for stage in campaign.stages
        ]
        done = all(stage.released_at is not None for stage in stages)
        quantity = stages[n - 1].quantity
        return self._from(campaign, at, actor).set(
            stages=[stage.model_dump(mode="json") for stage in stages],
            released_units=campaign.released_units + quantity,
            last_stage=n,
            status=(CampaignStatus.COMPLETED if done else CampaignStatus.ACTIVE).value,
        )

    def cancel_update(self, campaign: Campaign, at: float, actor: str) -> Update:
        return self._from(campaign, at, actor).set(
            status=CampaignStatus.CANCELLED.value,
            returned_units=campaign.pending_units,
            cancelled_at=at,
            last_stage=None,
        )

    def record_start(self, campaign_id: str, execution_arn: str | None, schedule_name: str | None) -> None:
        """Where the releases run; written once, outside the stock changes (it moves no units)."""
        self.update_if(
            Update(keys.campaign_pk(campaign_id), keys.CAMPAIGN_SK)
            .set(execution_arn=execution_arn, schedule_name=schedule_name)
            .when(Attr("pk").exists())
        )


def execution_input(campaign: Campaign) -> dict[str, Any]:
    """What the state machine is started with: each stage's number and due time."""
    return {"campaign_id": campaign.campaign_id, "stages": [_stage_input(stage) for stage in campaign.stages]}


def _stage_input(stage: Stage) -> dict[str, Any]:
    return {"n": stage.n, "at": asl_time(stage.at)}


@dataclass(frozen=True)
class Started:
    execution_arn: str | None
    schedule_name: str | None


@dataclass
class CampaignLauncher:
    """Starts a campaign's execution now, or schedules it with a one-time `at()` schedule when its
    first stage is more than `schedule_after_s` away (Scheduler fires on the minute, so the schedule
    starts the execution `schedule_lead_s` early and the execution's Waits keep second precision)."""

    settings: CampaignSettings
    sfn: Callable[[], "SFNClient"] = clients.stepfunctions
    scheduler: Callable[[], "EventBridgeSchedulerClient"] = clients.scheduler

    def execution_arn(self, campaign_id: str) -> str:
        """Executions are named after their campaign: a retried start finds the first one."""
        return f"{self.settings.state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{campaign_id}"

    @staticmethod
    def schedule_name(campaign_id: str) -> str:
        """The campaign's schedule: Scheduler takes at most 64 characters, and an id may have 64 of
        its own, so a long one is cut and told apart by a digest of the whole."""
        name = f"{SCHEDULE_PREFIX}{campaign_id}"
        if len(name) <= SCHEDULE_NAME_MAX:
            return name
        digest = hashlib.sha256(campaign_id.encode()).hexdigest()[:SCHEDULE_DIGEST_CHARS]
        kept = SCHEDULE_NAME_MAX - len(SCHEDULE_PREFIX) - len("-") - SCHEDULE_DIGEST_CHARS
        return f"{SCHEDULE_PREFIX}{campaign_id[:kept]}-{digest}"

    def start(self, campaign: Campaign, now: float) -> Started:
        payload = json.dumps(execution_input(campaign), separators=(",", ":"))
        first = campaign.stages[0].at
        if first - now > self.settings.schedule_after_s:
            name = self.schedule_name(campaign.campaign_id)
            try:
                self.scheduler().create_schedule(
                    Name=name,
                    GroupName=self.settings.schedule_group,
                    ScheduleExpression=f"at({asl_time(first - self.settings.schedule_lead_s).removesuffix('Z')})",
                    ScheduleExpressionTimezone="UTC",
                    FlexibleTimeWindow={"Mode": "OFF"},
                    ActionAfterCompletion="DELETE",
                    # The universal target calls StartExecution itself, so the execution carries
                    # the campaign's name and a cancel can stop it whoever started it.
                    Target={
                        "Arn": START_EXECUTION_TARGET,
                        "RoleArn": self.settings.scheduler_role_arn,
                        "Input": json.dumps(
                            {
                                "StateMachineArn": self.settings.state_machine_arn,
                                "Name": campaign.campaign_id,
                                "Input": payload,
                            }
                        ),
                    },
                )
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConflictException":
                    raise
            return Started(None, name)
        try:
            arn = self.sfn().start_execution(
                stateMachineArn=self.settings.state_machine_arn, name=campaign.campaign_id, input=payload
            )["executionArn"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise
            arn = self.execution_arn(campaign.campaign_id)
        return Started(arn, None)

    def stop(self, campaign: Campaign) -> None:
        """Stops what runs the campaign's releases: its schedule (if it has not fired) and its
        execution (started directly or by the schedule, under the campaign's name)."""
        if campaign.schedule_name:
            try:
                self.scheduler().delete_schedule(Name=campaign.schedule_name, GroupName=self.settings.schedule_group)
            except ClientError as error:
                if error.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
        arn = campaign.execution_arn or self.execution_arn(campaign.campaign_id)
        try:
            self.sfn().stop_execution(executionArn=arn, cause="campaign cancelled")
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("ExecutionDoesNotExist", "ResourceNotFound"):
                raise
