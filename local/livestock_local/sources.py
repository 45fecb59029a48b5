"""The registry of event sources: for each event type a function can declare in template.yaml, the
class that plays the AWS piece delivering those events locally.

A source class is registered for one or more event types. The stack gives it every event of those
types in the template at once (an API serves many routes; a stream mapping is one event), with
a `StackContext` holding what sources share (the template, the invoker, the database, settings).
The constructor must not start anything: the stack constructs every source, then spawns the
functions' execution environments (so a constructor may add variables to
`context.functions[<LogicalId>].environment`, such as the `AWS_ENDPOINT_URL_<SERVICE>` of a
service it plays), then calls start() on each. It polls idle() (nothing delivered or in flight)
and calls stop(), which must return within a few seconds. Functions are called through
`context.invoker.invoke(logical_id, event)`, which applies their environment and Timeout.
A template event whose type no class is registered for stops the stack from starting, with the
event named.

To add a source (EventBridge rules, SQS, ...):

    @register("EventBridgeRule")
    class EventBridgeRules:
        def __init__(self, context: StackContext, events: list[FunctionEvent]) -> None: ...
        def start(self) -> None: ...
        def stop(self) -> None: ...
        def idle(self) -> bool: ...

and import its module in `livestock_local.stack` so that the decorator runs.
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from livestock_local.dynamodb_local import Credentials
from livestock_local.gateway import Gateway, GatewayServer
from livestock_local.lambda_runtime import Invoker
from livestock_local.scheduler import Schedule
from livestock_local.streams import StreamMapping, StreamWorker
from livestock_local.template import Function, FunctionEvent, Route, Template


@dataclass
class StackContext:
    """What every event source may use."""

    template: Template
    functions: dict[str, Function]
    invoker: Invoker
    table_names: dict[str, str]
    database_endpoint: str
    credentials: Credentials
    state_dir: Path
    # Where stream mappings keep their positions: beside data on disk, or a folder of this run's
    # own for an in-memory database (positions in a database that is gone would skip records).
    checkpoint_dir: Path
    host: str = "127.0.0.1"
    port: int = 3000
    api_key: str = "local-dev-key"
    # Replaces every schedule's own expression (tests and `make up` sweep faster than AWS can).
    schedule_period_s: float | None = None
    dead_letter_path: Path | None = None
    # How long a client has to send a whole request (headers and body) before a 408.
    request_deadline_s: float = 10.0
    extra: dict[str, Any] = field(default_factory=dict)


class EventSource(Protocol):
    """start() is called once the tables exist; a source with a slow process of its own may also
    have launch(), called before the database is ready, to start that process without waiting."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def idle(self) -> bool: ...


# How often a stream mapping's process is checked, and started again if it died.
SUPERVISE_PERIOD_S = 0.2

SourceClass = Callable[[StackContext, list[FunctionEvent]], EventSource]
REGISTRY: dict[str, SourceClass] = {}
# Resources played without being a function's event (a WebSocket API's routes name their functions
# through integrations; a state machine): constructed with the logical ids of every such resource.
ResourceSourceClass = Callable[[StackContext, list[str]], EventSource]
RESOURCE_REGISTRY: dict[str, ResourceSourceClass] = {}


class UnsupportedEventSource(ValueError):
    pass


def register(*event_types: str) -> Callable[[SourceClass], SourceClass]:
    def add(cls: SourceClass) -> SourceClass:
        for event_type in event_types:
            REGISTRY[event_type] = cls
        return cls

    return add


def register_resource(*resource_types: str) -> Callable[[ResourceSourceClass], ResourceSourceClass]:
    def add(cls: ResourceSourceClass) -> ResourceSourceClass:
        for resource_type in resource_types:
            RESOURCE_REGISTRY[resource_type] = cls
        return cls

    return add


def build(context: StackContext) -> list[EventSource]:
    """One source per registered class, given every template event of its types, then one per
    registered resource type the template has."""
    by_class: dict[SourceClass, list[FunctionEvent]] = {}
    for function in context.functions.values():
        for event in function.events:
            source_class = REGISTRY.get(event.type)
            if source_class is None:
                raise UnsupportedEventSource(
                    f"template.yaml: {function.logical_id}.Events.{event.name} has Type {event.type!r}, which "
                    f"the local stack cannot run (it runs {', '.join(sorted(REGISTRY))})"
                )
            by_class.setdefault(source_class, []).append(event)
    built = [source_class(context, events) for source_class, events in by_class.items()]
    for resource_type, resource_class in RESOURCE_REGISTRY.items():
        logical_ids = [name for name, r in context.template.resources.items() if r["Type"] == resource_type]
        if logical_ids:
            built.append(resource_class(context, logical_ids))
    return built


@register("Api")
class ApiSource:
    """API Gateway REST APIs: one gateway on the stack's port serves the routes of every Api event
    (the template has one API; a second RestApiId would need a port of its own)."""

    def __init__(self, context: StackContext, events: list[FunctionEvent]) -> None:
        apis = {_rest_api_id(event) for event in events}
        if len(apis) > 1:
            raise UnsupportedEventSource(f"the local gateway serves one REST API, the template has {apis}")
        api = context.template.rest_api(apis.pop(), context.table_names)
        routes = [
            Route.declared(
                event.function,
                str(event.properties["Method"]),
                str(event.properties["Path"]),
                event.properties.get("Auth", {}).get("ApiKeyRequired"),
            )
            for event in events
        ]
        self.gateway = Gateway(routes, context.invoker, context.api_key, api)
        self.host = context.host
        self.port = context.port
        self.request_deadline_s = context.request_deadline_s
        self.server: GatewayServer | None = None

    def start(self) -> None:
        self.server = GatewayServer(self.gateway, self.host, self.port, self.request_deadline_s)
        self.server.start()

    def stop(self) -> None:
        if self.server:
            self.server.stop()
            self.server = None

    def idle(self) -> bool:
        return True


def _rest_api_id(event: FunctionEvent) -> str | None:
    reference = event.properties.get("RestApiId")
    return None if reference is None else str(reference["Ref"])


@register("DynamoDB")
class DynamoDBStreamSource:
    """Lambda's event source mappings for DynamoDB streams, one child process each, with the
    template's BatchSize, ParallelizationFactor, MaximumRetryAttempts and BisectBatchOnFunctionError."""

    def __init__(self, context: StackContext, events: list[FunctionEvent]) -> None:
        self.workers = []
        for event in events:
            table = str(event.properties["Stream"]["Fn::GetAtt"][0])
            starting_position = str(event.properties.get("StartingPosition", "TRIM_HORIZON"))
            if starting_position not in ("TRIM_HORIZON", "LATEST"):
                raise UnsupportedEventSource(
                    f"{event.function}.Events.{event.name}: StartingPosition {starting_position!r} is not one a "
                    "DynamoDB stream mapping takes (TRIM_HORIZON, LATEST)"
                )
            mapping = StreamMapping(
                endpoint=context.database_endpoint,
                credentials=context.credentials,
                table_name=context.table_names[table],
                function=context.functions[event.function],
                batch_size=int(event.properties.get("BatchSize", 100)),
                parallelization=int(event.properties.get("ParallelizationFactor", 1)),
                maximum_retry_attempts=int(event.properties.get("MaximumRetryAttempts", -1)),
                bisect_on_error=bool(event.properties.get("BisectBatchOnFunctionError", False)),
                dead_letter_path=context.dead_letter_path,
                checkpoint_path=context.checkpoint_dir / f"{event.function}-{event.name}.json",
                starting_position=starting_position,
            )
            self.workers.append(StreamWorker(mapping))

        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    def start(self) -> None:
        for worker in self.workers:
            worker.start()
        # Starts a dead mapping's process again for as long as the stack runs.
        self._supervisor = threading.Thread(target=self._supervise, name="stream-supervisor", daemon=True)
        self._supervisor.start()

    def _supervise(self) -> None:
        while not self._stopping.wait(SUPERVISE_PERIOD_S):
            for worker in self.workers:
                if worker.supervise():
                    print(f"livestock: the stream mapping of {worker.mapping.function.logical_id} died; started again")

    def stop(self) -> None:
        self._stopping.set()
        if self._supervisor:
            self._supervisor.join(timeout=2)
        for worker in self.workers:
            worker.stop()

    def idle(self) -> bool:
        return all(worker.idle() for worker in self.workers)


@register("Schedule", "ScheduleV2")
class ScheduleSource:
    """EventBridge (Scheduler) schedules: a timer per event, with its expression, Input and RetryPolicy."""

    def __init__(self, context: StackContext, events: list[FunctionEvent]) -> None:
        self.schedules = []
        for event in events:
            properties = event.properties
            expression = context.template.resolve(properties["ScheduleExpression"], context.table_names)
            retries = properties.get("RetryPolicy", {}).get("MaximumRetryAttempts", 0)
            self.schedules.append(
                Schedule(
                    f"{event.function}.{event.name}",
                    _invoker_of(context.invoker, event.function),
                    expression,
                    Schedule.event_for(properties),
                    int(retries),
                    context.schedule_period_s,
                )
            )

    def start(self) -> None:
        for schedule in self.schedules:
            schedule.start()

    def stop(self) -> None:
        for schedule in self.schedules:
            schedule.stop()

    def idle(self) -> bool:
        return all(schedule.idle() for schedule in self.schedules)


def _invoker_of(invoker: Invoker, logical_id: str) -> Callable[[dict[str, Any]], Any]:
    return lambda event: invoker.invoke(logical_id, event, pool="schedule")
