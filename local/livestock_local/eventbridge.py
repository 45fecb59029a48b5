"""The template's EventBridge, SNS, SQS and S3 buckets, played by moto in server mode.

moto serves the control-plane calls the functions make (PutEvents, and SNS/SQS) at a loopback
endpoint, exported as AWS_ENDPOINT_URL_EVENTS / _SNS / _SQS. The template's buses, topics, queues
and rules are created in moto as written; moto matches the patterns. A rule target moto cannot
deliver itself (a Lambda function, an SNS topic) is given an SQS relay queue instead, and this class
polls the relays: a function is invoked the way Lambda runs an asynchronous invocation (retries
per the function's EventInvokeConfig, then its OnFailure destination), a topic gets the message
published. moto holds no stock: only events in flight.

    bridge = LocalEventBridge(template, invoke)  # invoke(logical_id, event) -> Any
    bridge.start()      # moto up, resources created, relays polled, endpoint variables exported
    bridge.idle()       # True when no relay holds a message and no invocation runs
    bridge.stop()
"""

import json
import logging
import os
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from livestock_local.dynamodb_local import LOOPBACK, die_with_parent, free_port
from livestock_local.moto_server import MotoClients, cache_jsonpath_parsing
from livestock_local.sources import StackContext, register
from livestock_local.template import FunctionEvent, Template
from livestock_local.waiting import wait_until_quiet

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

Invoker = Callable[[str, dict[str, Any]], Any]
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
# Lambda retries a failed asynchronous invocation after about 1 and 2 minutes; locally, seconds.
LOCAL_ASYNC_RETRY_DELAYS_S = (1.0, 2.0)


class EventBridgeTemplateError(ValueError):
    """Something in the template the local EventBridge cannot play; named, so it fails loudly."""


@dataclass
class Relay:
    """A rule target delivered through an SQS queue this class polls."""

    queue_url: str
    kind: str  # "function" or "topic"
    target: str  # the function's logical id, or the topic's ARN
    retries: int = 0
    on_failure: str | None = None  # a queue's logical id (the function's OnFailure destination)


@dataclass
class _Counters:
    in_flight: int = 0
    invocations: int = 0
    failures: int = 0
    dead_lettered: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class LocalEventBridge:
    def __init__(
        self,
        template: Template,
        invoke: Invoker,
        host: str = "127.0.0.1",
        port: int | None = None,
        async_retry_delays_s: Sequence[float] = LOCAL_ASYNC_RETRY_DELAYS_S,
        workers: int = 16,
        own_process: bool = True,
    ) -> None:
        self.template = template
        self.invoke = invoke
        self.host = host
        self.port = port or free_port()
        self.async_retry_delays_s = tuple(async_retry_delays_s)
        self.workers = workers
        # moto in a process of its own keeps its request handling off the stack's interpreter
        # (the gateway's and the handlers' threads); in-process starts faster (unit tests).
        self.own_process = own_process
        self._process: subprocess.Popen[bytes] | None = None
        self.queue_urls: dict[str, str] = {}  # logical id -> URL
        self.topic_arns: dict[str, str] = {}
        self.bus_names: dict[str, str] = {}
        self.rules: dict[str, tuple[str, dict[str, Any]]] = {}  # rule name -> (bus, pattern)
        self.relays: list[Relay] = []
        self._topic_taps: dict[str, str] = {}  # topic logical id -> tap queue URL
        self._server: ThreadedMotoServer | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pool: ThreadPoolExecutor | None = None
        self._counters = _Counters()
        self._clients = MotoClients(self.endpoint)

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def environment(self) -> dict[str, str]:
        """The endpoint variables. botocore names EventBridge's by its service id (EVENTBRIDGE);
        EVENTS (the endpoint prefix) is exported too, for tools that go by the prefix."""
        services = ("EVENTBRIDGE", "EVENTS", "SNS", "SQS", "SSM", "SECRETS_MANAGER", "S3")
        return {f"AWS_ENDPOINT_URL_{service}": self.endpoint for service in services}

    def launch(self) -> None:
        """Starts moto's process without waiting for it to serve (it takes seconds to import):
        the stack starts its other processes meanwhile. start() launches it if this was not called."""
        if self.own_process and self._process is None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "livestock_local.moto_server", "-H", self.host, "-p", str(self.port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - one prctl call, async-signal-safe
            )

    def start(self) -> None:
        """Starts moto, creates the template's resources and exports the endpoint variables (to
        os.environ, so that function processes started afterwards inherit them)."""
        if self.own_process:
            self.launch()
            self._wait_until_serving()
        else:
            # werkzeug would log every PutEvents and every poll of a relay queue.
            logging.getLogger("werkzeug").setLevel(logging.ERROR)
            cache_jsonpath_parsing()
            self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
            self._server.start()
            # moto's backends live in the process, not in the server: start from nothing, whatever
            # an earlier bridge of this process left.
            self._post("/moto-api/reset")
        os.environ.update(self.environment)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="eventbridge")
        self._create_resources()
        for relay in self.relays:
            thread = threading.Thread(target=self._poll, args=(relay,), name="eventbridge-relay", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._pool:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._server:
            self._server.stop()
            self._server = None
        if self._process:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def _post(self, path: str) -> None:
        request = urllib.request.Request(f"{self.endpoint}{path}", method="POST")  # noqa: S310 - our http URL
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310

    def _wait_until_serving(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"moto exited at start (code {self._process.returncode}); is port {self.port} free?")
            try:
                self._post("/moto-api/reset")
            except OSError:
                time.sleep(0.1)
                continue
            return
        raise TimeoutError("moto did not start serving")

    def idle(self) -> bool:
        if self._counters.in_flight:
            return False
        for relay in self.relays:
            attributes = self.sqs().get_queue_attributes(
                QueueUrl=relay.queue_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            if int(attributes["ApproximateNumberOfMessages"]) or int(
                attributes["ApproximateNumberOfMessagesNotVisible"]
            ):
                return False
        return True

    def wait_idle(self, timeout_s: float = 30.0, quiet_s: float = 0.2) -> None:
        wait_until_quiet(self.idle, timeout_s, quiet_s, "the local EventBridge did not drain")

    # --- clients ---------------------------------------------------------------------------

    def _client(self, service: str) -> Any:
        return self._clients(service)

    def events(self) -> "EventBridgeClient":
        client: EventBridgeClient = self._client("events")
        return client

    def sns(self) -> "SNSClient":
        client: SNSClient = self._client("sns")
        return client

    def sqs(self) -> "SQSClient":
        client: SQSClient = self._client("sqs")
        return client

    # --- what tests and tools read -----------------------------------------------------------

    def queue_messages(self, logical_id: str) -> list[dict[str, Any]]:
        """Drains a template queue (a dead-letter queue, say) and returns the message bodies."""
        return self._drain(self.queue_urls[logical_id])

    def topic_messages(self, logical_id: str) -> list[str]:
        """What was published on a template topic since the last call (a tap queue subscribes)."""
        return [str(body) for body in self._drain(self._topic_taps[logical_id], parse=False)]

    def _drain(self, url: str, parse: bool = True) -> list[Any]:
        found: list[Any] = []
        sqs = self.sqs()
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]) if parse else message["Body"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    # --- the template ------------------------------------------------------------------------

    def _parameters(self) -> dict[str, str]:
        return {
            name: str(spec.get("Default", "")) for name, spec in self.template.document.get("Parameters", {}).items()
        }

    def _resolve(self, value: Any, what: str) -> str:
        """The few intrinsic functions rules and targets use here: !Ref and !GetAtt X.Arn."""
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and "Ref" in value:
            ref = str(value["Ref"])
            parameters = self._parameters()
            for names in (parameters, self.bus_names, self.topic_arns, self.queue_urls):
                if ref in names:
                    return names[ref]
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            if attribute == "Arn":
                if logical_id in self.queue_urls:
                    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{logical_id}"
                if logical_id in self.topic_arns:
                    return self.topic_arns[logical_id]
                if logical_id in self.bus_names:
                    return f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{self.bus_names[logical_id]}"
                if self.template.resources.get(logical_id, {}).get("Type") == "AWS::Serverless::Function":
                    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"
        raise EventBridgeTemplateError(f"the local EventBridge cannot resolve {what}: {value!r}")

    def _of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: r.get("Properties", {}) for name, r in self.template.resources.items() if r["Type"] == kind}

    def _create_resources(self) -> None:
        events, sns, sqs = self.events(), self.sns(), self.sqs()
        s3 = self._client("s3")
        for bucket in self.template.buckets().values():
            s3.create_bucket(Bucket=bucket)
        for logical_id in self._of_type("AWS::SQS::Queue"):
            self.queue_urls[logical_id] = sqs.create_queue(QueueName=logical_id)["QueueUrl"]
        for logical_id in self._of_type("AWS::SNS::Topic"):
            arn = sns.create_topic(Name=logical_id)["TopicArn"]
            self.topic_arns[logical_id] = arn
            tap = sqs.create_queue(QueueName=f"tap-{logical_id}")["QueueUrl"]
            self._topic_taps[logical_id] = tap
            sns.subscribe(
                TopicArn=arn,
                Protocol="sqs",
                Endpoint=f"arn:aws:sqs:{REGION}:{ACCOUNT}:tap-{logical_id}",
                Attributes={"RawMessageDelivery": "true"},
            )
        for logical_id, props in self._of_type("AWS::Events::EventBus").items():
            name = self._resolve(props["Name"], f"{logical_id}.Name")
            events.create_event_bus(Name=name)
            self.bus_names[logical_id] = name
        for logical_id, props in self._of_type("AWS::Events::Rule").items():
            if "EventPattern" not in props:
                raise EventBridgeTemplateError(f"rule {logical_id}: only pattern rules run locally (schedules do not)")
            bus = self._resolve(props.get("EventBusName", "default"), f"{logical_id}.EventBusName")
            self._put_rule(
                logical_id, bus, props["EventPattern"], [self._target(logical_id, t) for t in props["Targets"]]
            )
        for function_id, props in self._of_type("AWS::Serverless::Function").items():
            for event_id, event in props.get("Events", {}).items():
                if event["Type"] != "EventBridgeRule":
                    continue
                event_props = event.get("Properties", {})
                if "Target" in event_props or "InputTransformer" in event_props:
                    raise EventBridgeTemplateError(f"{function_id}.{event_id}: Target/InputTransformer are not played")
                bus = self._resolve(event_props.get("EventBusName", "default"), f"{function_id}.{event_id}")
                name = f"{function_id}-{event_id}"
                relay = self._function_relay(name, function_id, props)
                self._put_rule(name, bus, event_props["Pattern"], [{"Id": function_id, "Arn": relay}])

    def _put_rule(self, name: str, bus: str, pattern: dict[str, Any], targets: list[dict[str, Any]]) -> None:
        events = self.events()
        events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule=name, EventBusName=bus, Targets=targets)  # type: ignore[arg-type]
        self.rules[name] = (bus, pattern)

    def _relay_queue(self, name: str) -> tuple[str, str]:
        queue_name = f"relay-{name}"[:80]
        url = self.sqs().create_queue(QueueName=queue_name)["QueueUrl"]
        return url, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_name}"

    def _function_relay(self, name: str, function_id: str, props: dict[str, Any]) -> str:
        invoke_config = props.get("EventInvokeConfig", {})
        on_failure = invoke_config.get("DestinationConfig", {}).get("OnFailure", {})
        destination = None
        if on_failure:
            if on_failure.get("Type") != "SQS":
                raise EventBridgeTemplateError(f"{function_id}: only SQS OnFailure destinations are played")
            destination = on_failure["Destination"]["Fn::GetAtt"][0]
        url, arn = self._relay_queue(name)
        self.relays.append(
            Relay(url, "function", function_id, int(invoke_config.get("MaximumRetryAttempts", 2)), destination)
        )
        return arn

    def _target(self, rule_id: str, target: dict[str, Any]) -> dict[str, Any]:
        arn = self._resolve(target["Arn"], f"{rule_id} target {target.get('Id')}")
        local: dict[str, Any] = {"Id": target["Id"], "Arn": arn}
        if "InputTransformer" in target:
            local["InputTransformer"] = target["InputTransformer"]
        elif set(target) - {"Id", "Arn"}:
            raise EventBridgeTemplateError(
                f"{rule_id}: target settings {sorted(set(target) - {'Id', 'Arn'})} not played"
            )
        if ":sqs:" in arn:
            return local
        if ":lambda:" in arn:
            function_id = arn.rsplit(":", 1)[1]
            props = self.template.resources[function_id].get("Properties", {})
            return {**local, "Arn": self._function_relay(f"{rule_id}-{target['Id']}", function_id, props)}
        if ":sns:" in arn:
            url, relay_arn = self._relay_queue(f"{rule_id}-{target['Id']}")
            self.relays.append(Relay(url, "topic", arn))
            return {**local, "Arn": relay_arn}
        raise EventBridgeTemplateError(f"{rule_id}: the local EventBridge cannot deliver to {arn}")

    # --- delivery ----------------------------------------------------------------------------

    def _poll(self, relay: Relay) -> None:
        sqs = self.sqs()
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=relay.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=900
                ).get("Messages", [])
            except Exception:  # noqa: BLE001 - moto going down at stop; otherwise keep polling
                if not self._stop.is_set():
                    traceback.print_exc()
                    self._stop.wait(0.5)
                continue
            for message in messages:
                with self._counters.lock:
                    self._counters.in_flight += 1
                assert self._pool is not None
                self._pool.submit(self._deliver, relay, message["Body"], message["ReceiptHandle"])

    def _deliver(self, relay: Relay, body: str, receipt: str) -> None:
        try:
            if relay.kind == "topic":
                self.sns().publish(TopicArn=relay.target, Message=body)
            else:
                self._invoke_async(relay, json.loads(body))
            self.sqs().delete_message(QueueUrl=relay.queue_url, ReceiptHandle=receipt)
        except Exception:  # noqa: BLE001 - report and keep the relay running
            traceback.print_exc()
        finally:
            with self._counters.lock:
                self._counters.in_flight -= 1

    def _invoke_async(self, relay: Relay, event: dict[str, Any]) -> None:
        """As Lambda runs an asynchronous invocation: retried on error, then the OnFailure destination."""
        request_id = str(uuid.uuid4())
        error: BaseException | None = None
        for attempt in range(relay.retries + 1):
            if attempt:
                self._stop.wait(self.async_retry_delays_s[min(attempt, len(self.async_retry_delays_s)) - 1])
            with self._counters.lock:
                self._counters.invocations += 1
            try:
                self.invoke(relay.target, event)
                return
            except Exception as failure:  # noqa: BLE001 - a function error is what the retries are for
                error = failure
                with self._counters.lock:
                    self._counters.failures += 1
        if relay.on_failure is None:
            return
        with self._counters.lock:
            self._counters.dead_lettered += 1
        record = {
            "version": "1.0",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "requestContext": {
                "requestId": request_id,
                "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{relay.target}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": relay.retries + 1,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__},
        }
        self.sqs().send_message(QueueUrl=self.queue_urls[relay.on_failure], MessageBody=json.dumps(record))

    @property
    def stats(self) -> dict[str, int]:
        counters = self._counters
        return {
            "invocations": counters.invocations,
            "failures": counters.failures,
            "dead_lettered": counters.dead_lettered,
        }


@register("EventBridgeRule")
class EventBridgeRuleSource:
    """The registry's face of the local EventBridge: one bridge plays every bus, rule, topic and queue
    of the template; each function is given the endpoint variables before its workers are spawned."""

    def __init__(self, context: StackContext, events: list[FunctionEvent]) -> None:
        invoker = context.invoker
        self.bridge = LocalEventBridge(
            context.template,
            lambda logical_id, event: invoker.invoke(logical_id, event, pool="events"),
            # Only the stack's own processes call it, whatever address the gateway is given.
            LOOPBACK,
        )
        for function in context.functions.values():
            function.environment.update(self.bridge.environment)

    def launch(self) -> None:
        self.bridge.launch()

    def start(self) -> None:
        self.bridge.start()

    def stop(self) -> None:
        self.bridge.stop()

    def idle(self) -> bool:
        return self.bridge.idle()
