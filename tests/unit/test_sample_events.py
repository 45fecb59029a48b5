"""events/ is complete and current: one event per route of every API function and at least one
per other function, each in the shape `sam local generate-event` gives, and each parsed by the
model its handler reads it with. A route, a request model or a stream item that changes without
its sample failing here would leave `sam local invoke` with a stale event.
"""

import json
import re
import shutil
import subprocess
import typing
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventModel, EventBridgeModel
from pydantic import BaseModel

from livestock.dal.stream import change_of, parse
from livestock.events.models import DETAIL_TYPES
from livestock_local.lambda_runtime import LocalLambda
from livestock_local.template import ROOT, Function, Template

EVENTS = ROOT / "events"
SAM = ROOT / ".sam-venv" / "bin" / "sam"


def functions() -> dict[str, Function]:
    """Each function by the folder its events live in (its CodeUri's name)."""
    loaded = Template().functions({name: name for name in Template().tables()})
    return {f.code_uri.name: f for f in loaded}


def samples(folder: str) -> list[Path]:
    return sorted((EVENTS / folder).glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@cache
def resolver(folder: str) -> Any:
    """The function's own Powertools resolver (its module's `app`), imported as Lambda would."""
    return LocalLambda(functions()[folder]).environment().app


API_FOLDERS = sorted(folder for folder, f in functions().items() if f.routes)
OTHER_FOLDERS = sorted(folder for folder, f in functions().items() if not f.routes)
API_SAMPLES = [p for folder in API_FOLDERS for p in samples(folder)]


def test_every_function_has_an_event_and_every_route_has_exactly_one() -> None:
    for folder in OTHER_FOLDERS:
        assert samples(folder), f"events/{folder}/ has no sample event"
    for folder in API_FOLDERS:
        declared = sorted((r.method, r.path) for r in functions()[folder].routes)
        sampled = sorted((load(p)["httpMethod"], load(p)["resource"]) for p in samples(folder))
        assert sampled == declared, f"events/{folder}/ must hold one event per route of template.yaml"


@pytest.mark.parametrize("path", API_SAMPLES, ids=lambda p: str(p.relative_to(EVENTS)))
def test_an_api_event_reaches_its_route_and_its_request_model_accepts_it(path: Path) -> None:
    event = load(path)
    proxy = APIGatewayProxyEventModel.model_validate(event)
    assert proxy.requestContext.resourcePath == event["resource"]
    assert proxy.requestContext.stage == "live" and proxy.requestContext.path == f"/live{event['path']}"
    assert proxy.multiValueHeaders == {k: [v] for k, v in (proxy.headers or {}).items()}
    app = resolver(path.parent.name)
    matches = [
        (route, found.groupdict())
        for route in app._static_routes + app._dynamic_routes
        if route.method == event["httpMethod"] and (found := route.rule.match(event["path"]))
    ]
    assert len(matches) == 1, f"{event['httpMethod']} {event['path']} matches {len(matches)} routes"
    route, parameters = matches[0]
    assert re.sub(r"<(\w+)>", r"{\1}", route.path) == event["resource"]
    assert (event["pathParameters"] or {}) == parameters
    for name, hint in typing.get_type_hints(route.func, include_extras=True).items():
        for marker in getattr(hint, "__metadata__", ()):
            if isinstance(marker, PathParam):
                patterns = [m.pattern for m in marker.metadata if getattr(m, "pattern", None)]
                assert patterns, f"{route.func.__name__}: the path parameter {name} has no pattern"
                assert re.fullmatch(patterns[0], parameters[name]), f"{name}={parameters[name]!r}"
            if isinstance(marker, Body):
                model: type[BaseModel] = typing.get_args(hint)[0]
                assert event["body"], f"{route.func.__name__} reads a {model.__name__} body"
                model.model_validate_json(event["body"])


@pytest.mark.parametrize("folder", ["stream_consumer", "event_publisher"])
def test_a_stream_event_is_read_record_by_record_by_the_consumers_model(folder: str) -> None:
    for path in samples(folder):
        records = load(path)["Records"]
        parsed = [parse(record) for record in records]  # raises on a record the model does not read
        assert all(change_of(record) is not None for record in parsed), "each record is a change that counts"


def test_the_schedule_event_is_an_eventbridge_scheduler_event() -> None:
    for path in samples("hold_sweeper"):
        event = EventBridgeModel.model_validate(load(path))
        assert event.source == "aws.scheduler" and event.detail_type == "Scheduled Event"


def test_each_bus_event_carries_the_detail_its_detail_type_names() -> None:
    for path in samples("webhook_delivery") + samples("platform_sync"):
        event = EventBridgeModel.model_validate(load(path))
        DETAIL_TYPES[event.detail_type].model_validate(event.detail)
        assert path.stem == event.detail_type


def test_a_state_machine_task_event_is_read_by_the_task_model() -> None:
    task_model = LocalLambda(functions()["campaign_stage"]).environment().StageTask
    for path in samples("campaign_stage"):
        task_model.model_validate(load(path))


def _keys(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON document, without descending into free-form maps."""
    free_form = {"headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters"}
    free_form |= {"pathParameters", "stageVariables", "Keys", "NewImage", "OldImage", "detail"}
    if isinstance(value, list):
        return _keys(value[0], f"{prefix}[]") if value else set()
    if not isinstance(value, dict):
        return set()
    found = set()
    for key, item in value.items():
        found.add(f"{prefix}/{key}")
        if key not in free_form:
            found |= _keys(item, f"{prefix}/{key}")
    return found


GENERATED = {
    "apigateway aws-proxy": API_SAMPLES,
    "dynamodb update": samples("stream_consumer") + samples("event_publisher"),
    "cloudwatch scheduled-event": samples("hold_sweeper") + samples("webhook_delivery") + samples("platform_sync"),
}


@pytest.mark.parametrize("kind", sorted(GENERATED))
def test_the_events_have_every_field_sam_local_generate_event_gives(kind: str) -> None:
    if shutil.which(str(SAM)) is None:
        pytest.skip("the SAM CLI is not installed (.sam-venv; make lint installs it)")
    generated = subprocess.run(
        [str(SAM), "local", "generate-event", *kind.split()], capture_output=True, text=True, check=True
    )
    expected = _keys(json.loads(generated.stdout))
    for path in GENERATED[kind]:
        missing = expected - _keys(load(path))
        assert not missing, f"{path.relative_to(EVENTS)} lacks {sorted(missing)}"
