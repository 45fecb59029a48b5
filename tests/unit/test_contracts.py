"""Contracts that must not drift: the checked-in OpenAPI document and the template's promises."""

import json
from typing import Any

from livestock_local.openapi import OPENAPI_FILE, render
from livestock_local.template import Template


def test_the_checked_in_openapi_document_is_current() -> None:
    assert OPENAPI_FILE.read_text() == render(), "run `make openapi` and commit openapi.json"


def test_a_204_is_documented_without_a_body() -> None:
    """Powertools documents a handler's return annotation as the body; a 204 has none (schemathesis
    found DELETE /webhooks/{id} answering 204 without the JSON its document promised)."""
    document = json.loads(OPENAPI_FILE.read_text())
    no_content = [
        operation["responses"]["204"]
        for operations in document["paths"].values()
        for operation in operations.values()
        if "204" in operation.get("responses", {})
    ]
    assert no_content
    assert all("content" not in response for response in no_content)


def test_every_operation_that_takes_a_body_documents_the_gateways_415() -> None:
    document = json.loads(OPENAPI_FILE.read_text())
    with_body = [op for ops in document["paths"].values() for op in ops.values() if "requestBody" in op]
    assert len(with_body) >= 11, "the operations with a body (one more per feature that adds one)"
    assert all("415" in operation["responses"] for operation in with_body)


def test_every_route_in_the_template_is_documented() -> None:
    document = OPENAPI_FILE.read_text()
    tables = {"InventoryTable": "a", "LedgerTable": "b", "EventsTable": "c", "ConsoleTable": "d"}
    for function in Template().functions(tables):
        for route in function.routes:
            assert f'"{route.path}"' in document, route.path


def resources(kind: str) -> dict[str, Any]:
    return {name: r for name, r in Template().resources.items() if r["Type"] == kind}


def test_tables_are_on_demand_recoverable_and_streamed() -> None:
    """On demand, recoverable and the stream's view type are cfn-lint rules (lint/template-rules.txt);
    that the inventory table has a stream at all is a presence check, which those rules cannot make."""
    tables = resources("AWS::DynamoDB::Table")
    assert set(tables) == {"InventoryTable", "LedgerTable", "EventsTable", "ConsoleTable"}
    assert "StreamSpecification" in tables["InventoryTable"]["Properties"]


def test_every_route_needs_an_api_key_but_the_console_page_its_token_actions_and_the_platform_pushes() -> None:
    api = resources("AWS::Serverless::Api")["LiveStockApi"]["Properties"]
    assert api["Auth"]["ApiKeyRequired"] is True
    assert api["Auth"]["UsagePlan"]["CreateUsagePlan"] == "PER_API"
    keyless = {
        (name, event["Properties"]["Path"])
        for name, function in resources("AWS::Serverless::Function").items()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == "Api" and event["Properties"].get("Auth", {}).get("ApiKeyRequired") is False
    }
    # The page holds no data; each action checks a console token with `operate` for its session; a
    # platform's order push carries the platform's own signature.
    assert {function for function, _ in keyless} == {"ConsoleApiFunction", "PlatformOrdersFunction"}
    assert {path for name, path in keyless if name == "PlatformOrdersFunction"} == {"/platforms/{channel_id}/orders"}
    assert {
        path for name, path in keyless if name == "ConsoleApiFunction" and not path.startswith("/console/sessions/")
    } == {
        "/console",
        "/console/app.js",
        "/console/app.css",
    }


def test_the_console_websocket_connects_through_a_token_authorizer_and_posts_with_manage_connections_only() -> None:
    routes = {r["Properties"]["RouteKey"]: r["Properties"] for r in resources("AWS::ApiGatewayV2::Route").values()}
    assert set(routes) == {"$connect", "$disconnect", "subscribe"}
    assert routes["$connect"]["AuthorizationType"] == "CUSTOM"
    authorizer = resources("AWS::ApiGatewayV2::Authorizer")["ConsoleAuthorizer"]["Properties"]
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["IdentitySource"] == ["route.request.querystring.token"]
    assert resources("AWS::DynamoDB::Table")["ConsoleTable"]["Properties"]["TimeToLiveSpecification"]["Enabled"]
    functions = resources("AWS::Serverless::Function")
    for name in ("ConsoleFanoutFunction", "ConsoleSocketFunction"):
        statements = functions[name]["Properties"]["Policies"][0]["Statement"]
        posting = [s for s in statements if any(a.startswith("execute-api:") for a in s["Action"])]
        assert [s["Action"] for s in posting] == [["execute-api:ManageConnections"]]
        assert "/POST/@connections/*" in posting[0]["Resource"]["Fn::Sub"]
    feed = functions["ConsoleFanoutFunction"]["Properties"]["Events"]["ConsoleFeed"]["Properties"]["Pattern"]
    assert set(feed["detail-type"]) == {"StockChanged", "StockLow", "SoldOut", "StageReleased", "AlertRaised"}


def test_policies_are_least_privilege() -> None:
    for name, function in resources("AWS::Serverless::Function").items():
        for policy in function["Properties"]["Policies"]:
            for statement in policy["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert all("*" not in action for action in actions), (name, actions)
                assert statement["Resource"] != "*", name
    holds = resources("AWS::Serverless::Function")["HoldsApiFunction"]["Properties"]["Policies"][0]["Statement"]
    assert "dynamodb:DeleteItem" not in holds[0]["Action"]
    assert all("LedgerTable" not in str(s["Resource"]) for s in holds), "the hot path never touches the ledger"


def test_the_stream_consumer_reports_partial_failures_and_dead_letters() -> None:
    consumer = resources("AWS::Serverless::Function")["StreamConsumerFunction"]["Properties"]
    stream = consumer["Events"]["InventoryStream"]["Properties"]
    assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert stream["DestinationConfig"]["OnFailure"]["Type"] == "SQS"


def test_the_sweeper_runs_on_a_schedule() -> None:
    sweeper = resources("AWS::Serverless::Function")["HoldSweeperFunction"]["Properties"]
    assert sweeper["Events"]["Sweep"]["Type"] == "ScheduleV2"


def test_no_function_puts_its_answers_in_traces() -> None:
    """Tracing is active, and Powertools records a handler's return value in the trace unless told
    not to: a minted console token would be readable by anyone who may read traces. (A cfn-lint
    custom rule on the variable did not fire on a wrong value with the cfn-lint sam 1.170 carries.)"""
    functions = Template().functions(
        {"InventoryTable": "a", "LedgerTable": "b", "EventsTable": "c", "ConsoleTable": "d"}
    )
    assert functions
    assert {
        f.logical_id for f in functions if f.environment.get("POWERTOOLS_TRACER_CAPTURE_RESPONSE") != "false"
    } == set()


def test_every_operation_is_documented_by_its_routes_docstring() -> None:
    """openapi.json's summary is the route's first docstring paragraph (Powertools' default is
    "METHOD /path"); where a route refuses with codes of its own, its description names them."""
    document = json.loads(OPENAPI_FILE.read_text())
    undocumented = [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation["summary"] == f"{method.upper()} {path}"
    ]
    assert undocumented == []
    start = document["paths"]["/sessions/{session_id}/start"]["post"]
    assert start["summary"] == "Start the live: claim the lineup's SKUs, apply their limits and alert tiers, go live."
    assert "SKU_IN_ANOTHER_SESSION" in start["description"]
