"""The template's state machines and EventBridge Scheduler, played by moto in this process.

moto serves the Step Functions and Scheduler APIs the functions call (StartExecution,
StopExecution, CreateSchedule, DeleteSchedule) at a loopback endpoint, exported to the functions as
AWS_ENDPOINT_URL_SFN and AWS_ENDPOINT_URL_SCHEDULER. Each `AWS::Serverless::StateMachine` is created
from its own `DefinitionUri` file (the very file SAM deploys) with its `DefinitionSubstitutions`
applied, and moto's ASL interpreter runs its executions for real: Waits on the real clock, Map,
Retry. Two patches make that interpreter play AWS here:

- a Lambda task (`arn:aws:states:::lambda:invoke`) goes through moto's Lambda, which cannot run
  code without Docker: its invoke is routed to the local function of that name (by logical id);
- moto drops a Wait's fraction of a second, reads the clock as local naive time and waits whole
  seconds, so a stage could fire up to a second early (or, rounded up, late). AWS fires a Wait at
  its timestamp, never before: here it waits until that instant, read in UTC with its fraction.

Scheduler: moto stores schedules but never fires them; this class polls them and fires one-time
`at()` schedules at their time (their target: Step Functions StartExecution, by the universal
`aws-sdk:sfn:startExecution` target or the state machine's ARN), then deletes those whose
ActionAfterCompletion is DELETE. moto holds no stock: only executions and schedules.
"""

import json
import logging
import os
import threading
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moto.awslambda import models as lambda_models
from moto.core.config import default_user_config
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException
from moto.stepfunctions.parser.asl.component.state.wait.wait_function import timestamp as wait_timestamp

from livestock_local.lambda_runtime import Invoker
from livestock_local.moto_server import BoundMotoServer, MotoClients
from livestock_local.scheduler import next_run
from livestock_local.sources import StackContext, register_resource
from livestock_local.template import ROOT, Template, local_arn

if TYPE_CHECKING:
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_stepfunctions import SFNClient

START_EXECUTION_TARGET = "arn:aws:scheduler:::aws-sdk:sfn:startExecution"
SCHEDULE_POLL_S = 0.25


class StateMachineTemplateError(ValueError):
    """Something in a state machine's definition the local stack cannot play; named, so it fails loudly."""


def _seconds_until_timestamp(self: Any, env: Any) -> float:
    """moto's Timestamp._get_wait_seconds, but exact: the time left until the timestamp, fraction
    and all, in UTC (moto truncates both)."""
    self.string.eval(env=env)
    timestamp_str: str = env.stack.pop()
    if not self._is_valid_timestamp_pattern(timestamp_str):
        raise FailureEventException(self._create_failure_event(env, timestamp_str))
    return max(0.0, (datetime.fromisoformat(timestamp_str) - datetime.now(UTC)).total_seconds())


def _wait_until_done(self: Any, env: Any, wait_seconds: float) -> None:
    """moto's WaitFunction._wait_interval for a fraction of a second too (moto counts what it waited
    in whole seconds and would wait the fraction again): until the deadline, or until the execution
    is stopped."""
    deadline = time.monotonic() + wait_seconds
    while env.is_running() and (left := deadline - time.monotonic()) > 0:
        if env.program_state_event.wait(left) and env.is_running():
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))  # an unrelated interrupt


def state_machine_definition(template: Template, logical_id: str) -> str:
    """The definition file with its DefinitionSubstitutions, as SAM deploys it."""
    props = template.resources[logical_id]["Properties"]
    text = Path(ROOT / props["DefinitionUri"]).read_text()
    for name, value in props.get("DefinitionSubstitutions", {}).items():
        text = text.replace(f"${{{name}}}", template.resolve(value, {}))
    json.loads(text)  # a definition that is not JSON fails here, named, not in moto
    return text


def create_state_machines(sfn: "SFNClient", template: Template) -> dict[str, str]:
    """Each `AWS::Serverless::StateMachine` of the template, created in moto from its own
    DefinitionUri file under its logical id (the ARN the functions are given); logical id -> ARN."""
    created = {}
    for logical_id, resource in template.resources.items():
        if resource["Type"] != "AWS::Serverless::StateMachine":
            continue
        props = resource.get("Properties", {})
        if "DefinitionUri" not in props or not isinstance(props["DefinitionUri"], str):
            raise StateMachineTemplateError(f"{logical_id}: only a DefinitionUri file is played locally")
        arn = sfn.create_state_machine(
            name=logical_id,
            definition=state_machine_definition(template, logical_id),
            roleArn=local_arn("AWS::IAM::Role", f"{logical_id}Role"),
        )["stateMachineArn"]
        if arn != local_arn("AWS::Serverless::StateMachine", logical_id):
            raise StateMachineTemplateError(f"{logical_id}: moto named it {arn}")
        created[logical_id] = arn
    return created


class LocalStepFunctions:
    def __init__(self, template: Template, invoker: Invoker, host: str = "127.0.0.1") -> None:
        self.template = template
        self.invoker = invoker
        self.host = host
        server = BoundMotoServer(host)
        self._server: BoundMotoServer | None = server
        self.port = server.port
        self._clients = MotoClients(self.endpoint)
        self.state_machines: dict[str, str] = {}  # logical id -> ARN
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._lock = threading.Lock()
        self._tasks_in_flight = 0
        self.tasks_run = 0
        self.schedules_fired = 0

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def environment(self) -> dict[str, str]:
        """botocore's variables: SFN (Step Functions' service id) and SCHEDULER."""
        return {"AWS_ENDPOINT_URL_SFN": self.endpoint, "AWS_ENDPOINT_URL_SCHEDULER": self.endpoint}

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # moto logs every stopped execution's aborted Map iteration as an error with its whole state
        # tree; an execution's outcome is read with DescribeExecution instead.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        default_user_config["stepfunctions"]["execute_state_machine"] = True
        # The interpreter's Lambda client calls moto at MOTO_PORT: this server.
        os.environ["MOTO_PORT"] = str(self.port)
        lambda_models.LambdaBackend.invoke = self._lambda_invoke  # type: ignore[method-assign, assignment]
        wait_timestamp.Timestamp._get_wait_seconds = _seconds_until_timestamp  # type: ignore[method-assign, assignment]
        wait_timestamp.Timestamp._wait_interval = _wait_until_done  # type: ignore[method-assign]
        assert self._server is not None, "a stopped Step Functions is not started again"
        self._server.start()
        os.environ.update(self.environment)
        self._create_state_machines()
        self._poller = threading.Thread(target=self._poll_schedules, name="local-scheduler", daemon=True)
        self._poller.start()

    def stop(self) -> None:
        self._stop.set()
        if self._poller:
            self._poller.join(timeout=3)
        if self._server:
            for arn in self.state_machines.values():
                self._stop_running(arn)
            self._server.stop()
            self._server = None

    def idle(self) -> bool:
        """No task in flight. Executions waiting for a stage's time are not work in flight."""
        return self._tasks_in_flight == 0

    # --- clients ---------------------------------------------------------------------------

    def _client(self, service: str) -> Any:
        return self._clients(service)

    def sfn(self) -> "SFNClient":
        client: SFNClient = self._client("stepfunctions")
        return client

    def scheduler(self) -> "EventBridgeSchedulerClient":
        client: EventBridgeSchedulerClient = self._client("scheduler")
        return client

    # --- the template ------------------------------------------------------------------------

    def _create_state_machines(self) -> None:
        self.state_machines = create_state_machines(self.sfn(), self.template)

    def definition(self, logical_id: str) -> str:
        return state_machine_definition(self.template, logical_id)

    # --- Lambda tasks --------------------------------------------------------------------------

    def _lambda_invoke(
        self, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        """moto's LambdaBackend.invoke, routed to the local function (its name is its logical id)."""
        logical_id = function_name.rsplit(":", 1)[-1] if function_name.startswith("arn:") else function_name
        event = json.loads(body) if body else {}
        with self._lock:
            self._tasks_in_flight += 1
        try:
            result = self.invoker.invoke(logical_id, event)
        except Exception as error:  # noqa: BLE001 - a function error is the task's failure, as Lambda reports it
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = json.dumps({"errorMessage": str(error), "errorType": type(error).__name__}).encode()
        else:
            payload = json.dumps(result).encode()
        finally:
            with self._lock:
                self._tasks_in_flight -= 1
                self.tasks_run += 1
        response_headers["Content-Length"] = str(len(payload))
        return payload

    # --- one-time schedules ----------------------------------------------------------------------

    def _poll_schedules(self) -> None:
        while not self._stop.wait(SCHEDULE_POLL_S):
            try:
                self._fire_due()
            except Exception:  # noqa: BLE001 - report and keep polling (moto going down at stop)
                if not self._stop.is_set():
                    traceback.print_exc()

    def _fire_due(self) -> None:
        scheduler = self.scheduler()
        for group in scheduler.list_schedule_groups()["ScheduleGroups"]:
            for summary in scheduler.list_schedules(GroupName=group["Name"])["Schedules"]:
                schedule = scheduler.get_schedule(Name=summary["Name"], GroupName=group["Name"])
                expression = schedule["ScheduleExpression"]
                if not expression.startswith("at(") or schedule.get("State") == "DISABLED":
                    continue  # rate() and cron() schedules of the template are played by scheduler.Schedule
                if next_run(expression, datetime.now(UTC)) is not None:
                    continue
                with self._lock:
                    self._tasks_in_flight += 1
                try:
                    self._run_target(schedule["Target"])
                    self.schedules_fired += 1
                    if schedule.get("ActionAfterCompletion") == "DELETE":
                        scheduler.delete_schedule(Name=summary["Name"], GroupName=group["Name"])
                    else:
                        scheduler.update_schedule(
                            Name=summary["Name"],
                            GroupName=group["Name"],
                            ScheduleExpression=expression,
                            FlexibleTimeWindow=schedule["FlexibleTimeWindow"],
                            Target=schedule["Target"],
                            State="DISABLED",
                        )
                finally:
                    with self._lock:
                        self._tasks_in_flight -= 1

    def _run_target(self, target: Any) -> None:
        arn = str(target["Arn"])
        payload = json.loads(target.get("Input") or "{}")
        if arn == START_EXECUTION_TARGET:
            request = {"stateMachineArn": payload["StateMachineArn"], "input": payload.get("Input", "{}")}
            if "Name" in payload:
                request["name"] = payload["Name"]
        elif ":states:" in arn and ":stateMachine:" in arn:
            request = {"stateMachineArn": arn, "input": target.get("Input") or "{}"}
        else:
            raise StateMachineTemplateError(f"the local scheduler cannot fire a schedule at {arn}")
        try:
            self.sfn().start_execution(**request)
        except self.sfn().exceptions.ExecutionAlreadyExists:
            pass  # a schedule fired twice (a retry) starts the one execution once

    def _stop_running(self, state_machine_arn: str) -> None:
        sfn = self.sfn()
        for execution in sfn.list_executions(stateMachineArn=state_machine_arn, statusFilter="RUNNING")["executions"]:
            sfn.stop_execution(executionArn=execution["executionArn"], cause="the local stack stops")

    def wait_for_execution(self, execution_arn: str, timeout_s: float = 60.0) -> dict[str, Any]:
        """The execution's description once it has finished (tests)."""
        deadline = time.monotonic() + timeout_s
        while True:
            described = dict(self.sfn().describe_execution(executionArn=execution_arn))
            if described["status"] != "RUNNING" or time.monotonic() > deadline:
                return described
            time.sleep(0.1)


@register_resource("AWS::Serverless::StateMachine")
class StateMachineSource:
    """The registry's face of the local Step Functions and Scheduler: every function is given the
    endpoint variables before its workers are spawned."""

    def __init__(self, context: StackContext, logical_ids: list[str]) -> None:
        self.local = LocalStepFunctions(context.template, context.invoker, context.host)
        self.logical_ids = logical_ids
        for function in context.functions.values():
            function.environment.update(self.local.environment)

    def start(self) -> None:
        self.local.start()

    def stop(self) -> None:
        self.local.stop()

    def idle(self) -> bool:
        return self.local.idle()
