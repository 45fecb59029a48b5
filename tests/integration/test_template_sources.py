"""The local stack is driven by template.yaml: one registered class per event-source type, an
unknown type refused before anything starts, and schedules, timeouts, retry settings, the stage
and the gateway responses read from the template."""

import copy
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from livestock_local import sources
from livestock_local.dynamodb_local import Credentials, free_port
from livestock_local.gateway import Gateway
from livestock_local.lambda_runtime import FunctionTimeout, Invoker
from livestock_local.scheduler import next_run
from livestock_local.stack import LocalStack, StackError
from livestock_local.template import ROOT, Function, Template

pytestmark = pytest.mark.integration

TABLES = {name: f"livestock-{name}" for name in Template().tables()}


def with_unknown_event(document: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    events = changed["Resources"]["HoldSweeperFunction"]["Properties"]["Events"]
    events["Pigeon"] = {"Type": "CarrierPigeon", "Properties": {"Loft": "roof"}}
    return changed


def test_an_unknown_event_source_type_fails_the_start_with_a_clear_message(tmp_path: Path) -> None:
    template = Template(with_unknown_event(Template().document))
    stack = LocalStack(port=free_port(), state_dir=tmp_path, template=template)
    with pytest.raises(StackError, match=r"HoldSweeperFunction\.Events\.Pigeon has Type 'CarrierPigeon'"):
        stack.start()
    assert stack.database is None, "refused before anything was started"


def test_make_up_refuses_a_template_with_an_unknown_event_source_type(tmp_path: Path) -> None:
    bad = tmp_path / "template.yaml"
    bad.write_text(yaml.safe_dump(with_unknown_event(Template().document)))
    command = [sys.executable, "-m", "livestock_local.stack", "--fresh", "--port", str(free_port())]
    refused = subprocess.run(
        [*command, "--template", str(bad), "--state-dir", str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 1
    assert "'CarrierPigeon', which the local stack cannot run" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_every_event_type_in_the_template_has_a_registered_source() -> None:
    used = {event.type for function in Template().functions(TABLES) for event in function.events}
    assert used <= set(sources.REGISTRY), used - set(sources.REGISTRY)


def test_functions_carry_their_own_timeout_memory_and_environment() -> None:
    functions = {f.logical_id: f for f in Template().functions(TABLES)}
    assert functions["StockApiFunction"].timeout_s == 29
    assert functions["HoldsApiFunction"].timeout_s == 10, "from Globals"
    assert functions["StreamConsumerFunction"].timeout_s == 60
    assert functions["HoldsApiFunction"].memory_mb == 512
    assert functions["HoldsApiFunction"].environment["INVENTORY_TABLE_NAME"] == "livestock-InventoryTable"


def test_stage_and_gateway_responses_come_from_the_template() -> None:
    document = copy.deepcopy(Template().document)
    api = document["Resources"]["LiveStockApi"]["Properties"]
    api["GatewayResponses"]["INVALID_API_KEY"]["ResponseTemplates"]["application/json"] = json.dumps(
        {"code": "FORBIDDEN", "message": "from the template", "details": {}}
    )
    document["Parameters"]["StageName"]["Default"] = "rehearsal"
    template = Template(document)
    rest_api = template.rest_api("LiveStockApi", TABLES)
    assert rest_api.stage == "rehearsal"
    assert rest_api.api_key_required is True
    routes = [route for function in template.functions(TABLES) for route in function.routes]
    gateway = Gateway(routes, cast(Invoker, _NoInvoker()), "k", rest_api)
    status, _, body = gateway.refuse_before_body("GET", "/skus/x", {})  # type: ignore[misc]
    assert (status, json.loads(body)["message"]) == (403, "from the template")
    event = gateway.event(routes[0], "GET", "/skus/x", "", {}, b"", {"sku_id": "x"})
    assert event["requestContext"]["stage"] == "rehearsal"
    gateway.shutdown()


class _NoInvoker:
    workers = 1


def test_stream_mappings_take_batch_parallelization_and_retry_settings_from_the_template(tmp_path: Path) -> None:
    template = Template()
    functions = {f.logical_id: f for f in template.functions(TABLES)}
    context = sources.StackContext(
        template=template,
        functions=functions,
        invoker=cast(Invoker, _NoInvoker()),
        table_names=TABLES,
        database_endpoint="http://127.0.0.1:1",
        credentials=Credentials.generate(),
        state_dir=tmp_path,
        checkpoint_dir=tmp_path / "checkpoints",
    )
    events = [e for f in functions.values() for e in f.events if e.type == "DynamoDB"]
    source = sources.DynamoDBStreamSource(context, events)
    mappings = {worker.mapping.function.logical_id: worker.mapping for worker in source.workers}
    assert mappings["EventPublisherFunction"].starting_position == "LATEST"
    mapping = mappings["StreamConsumerFunction"]
    assert mapping.starting_position == "TRIM_HORIZON"
    assert (mapping.batch_size, mapping.parallelization) == (100, 10)
    assert (mapping.maximum_retry_attempts, mapping.bisect_on_error) == (10, True)
    assert mapping.table_name == "livestock-InventoryTable"
    assert mapping.checkpoint_path == tmp_path / "checkpoints" / "StreamConsumerFunction-InventoryStream.json"


def test_schedule_expressions_rate_cron_and_at() -> None:
    now = datetime(2026, 11, 30, 14, 7, 30, tzinfo=UTC)  # a Monday
    assert next_run("rate(1 minute)", now) == datetime(2026, 11, 30, 14, 8, 30, tzinfo=UTC)
    assert next_run("rate(5 seconds)", now) == datetime(2026, 11, 30, 14, 7, 35, tzinfo=UTC)
    assert next_run("cron(0/15 * * * ? *)", now) == datetime(2026, 11, 30, 14, 15, tzinfo=UTC)
    # EventBridge counts days of the week from 1 = Sunday: 2-6 is Monday to Friday.
    assert next_run("cron(0 9 ? * 2-6 *)", now) == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert next_run("cron(0 9 ? * 1 *)", now) == datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    assert next_run("at(2026-12-24T18:00:00)", now) == datetime(2026, 12, 24, 18, 0, tzinfo=UTC)
    assert next_run("at(2026-01-01T00:00:00)", now) is None
    with pytest.raises(ValueError, match="not a schedule expression"):
        next_run("every 5 minutes", now)


def test_the_invoker_runs_a_function_with_its_environment_and_stops_it_at_its_timeout() -> None:
    slow = Function(
        logical_id="SlowFunction",
        code_uri=ROOT / "tests" / "support",
        handler="functions.sleep_then_echo",
        environment={"GREETING": "from the template"},
        timeout_s=1.0,
    )
    invoker = Invoker([slow], workers=1)
    try:
        invoker.warm_up()
        assert invoker.invoke("SlowFunction", {"sleep_s": 0}) == {"greeting": "from the template"}
        with pytest.raises(FunctionTimeout, match="SlowFunction timed out after 1 seconds"):
            invoker.invoke("SlowFunction", {"sleep_s": 5})
        assert invoker.invoke("SlowFunction", {"sleep_s": 0}) == {"greeting": "from the template"}
    finally:
        invoker.shutdown()
