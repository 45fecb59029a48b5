"""Every function, invoked with its sample event from events/ (the events sam local invoke uses)."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from livestock import wiring
from livestock_local.lambda_runtime import LocalLambda
from livestock_local.template import ROOT, Template
from tests.unit.conftest import INVENTORY, LEDGER, World

EVENTS = ROOT / "events"


def event(name: str, **changes: Any) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    if "body" in changes:
        changes["body"] = json.dumps(changes["body"]) if not isinstance(changes["body"], str) else changes["body"]
    return {**loaded, **changes}


@pytest.fixture
def functions(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, LocalLambda]]:
    monkeypatch.setenv("INVENTORY_TABLE_NAME", INVENTORY)
    monkeypatch.setenv("LEDGER_TABLE_NAME", LEDGER)
    monkeypatch.setenv("REPLAY_WAIT_S", "0")
    wiring.reset()
    loaded = Template().functions(
        {
            "InventoryTable": INVENTORY,
            "LedgerTable": LEDGER,
            "EventsTable": "livestock-EventsTable",
            "ConsoleTable": "livestock-ConsoleTable",
        }
    )
    yield {f.logical_id: LocalLambda(f, play_iam=True) for f in loaded}
    wiring.reset()


def body(result: dict[str, Any]) -> Any:
    return json.loads(result["body"])


def test_every_function_has_sample_events() -> None:
    folders = {
        Path(f.code_uri).name
        for f in Template().functions(
            {"InventoryTable": "a", "LedgerTable": "b", "EventsTable": "c", "ConsoleTable": "d"}
        )
    }
    assert folders == {p.name for p in EVENTS.iterdir() if any(p.glob("*.json"))}


def test_the_stock_and_hold_sample_events_end_to_end(functions: dict[str, LocalLambda], world: World) -> None:
    stock, holds = functions["StockApiFunction"], functions["HoldsApiFunction"]
    assert stock.invoke(event("stock_api/set_sku.json"))["statusCode"] == 201
    assert stock.invoke(event("stock_api/allocation.json"))["statusCode"] == 200
    assert stock.invoke(event("stock_api/limits.json"))["statusCode"] == 200
    assert stock.invoke(event("stock_api/receipt.json"))["statusCode"] == 201
    assert stock.invoke(event("stock_api/adjustment.json"))["statusCode"] == 201
    placed = holds.invoke(event("holds_api/place_hold.json"))
    assert placed["statusCode"] == 201, placed
    assert body(placed)["status"] == "held" and body(placed)["pool"] == "channel:douyin"
    world.drain()
    replayed = holds.invoke(event("holds_api/place_hold.json"))
    assert (replayed["statusCode"], body(replayed)) == (201, body(placed))
    world.drain()
    assert body(holds.invoke(event("holds_api/get_hold.json")))["status"] == "held"
    assert body(holds.invoke(event("holds_api/confirm_hold.json")))["status"] == "confirmed"
    assert body(holds.invoke(event("holds_api/cancel_hold.json")))["status"] == "refunded"
    for name in ("pause", "resume", "settings", "reserve_release", "get_sku", "ledger"):
        result = stock.invoke(event(f"stock_api/{name}.json"))
        assert result["statusCode"] == 200, (name, result)
    world.drain()
    reconciliation = body(stock.invoke(event("stock_api/reconciliation.json")))
    assert reconciliation["consistent"], reconciliation
    view = body(stock.invoke(event("stock_api/get_sku.json")))
    assert view["on_hand"] == 5000 + 2000 - 3
    assert view["pools"]["reserve"] == 550


@pytest.mark.parametrize(
    ("name", "changes", "status", "code"),
    [
        ("holds_api/place_hold.json", {"body": "{not json"}, 422, "VALIDATION_ERROR"),
        ("holds_api/place_hold.json", {"body": {"channel": "douyin"}}, 422, "VALIDATION_ERROR"),
        (
            "holds_api/place_hold.json",
            {"body": {"channel": "douyin", "order_id": "x", "sku_id": "tee-black-m", "quantity": "2"}},
            422,
            "VALIDATION_ERROR",
        ),
        (
            "holds_api/place_hold.json",
            {"body": {"channel": "douyin", "order_id": "x", "sku_id": "no-such-sku", "quantity": 1}},
            404,
            "SKU_NOT_FOUND",
        ),
        (
            "holds_api/get_hold.json",
            {"path": "/holds/h_000000000000000000000000", "pathParameters": {"hold_id": "h_000000000000000000000000"}},
            404,
            "HOLD_NOT_FOUND",
        ),
        (
            "holds_api/get_hold.json",
            {"path": "/holds/nope", "pathParameters": {"hold_id": "nope"}},
            422,
            "VALIDATION_ERROR",
        ),
        ("stock_api/get_sku.json", {}, 404, "SKU_NOT_FOUND"),
        ("stock_api/receipt.json", {"body": {"quantity": 1, "reference": "r", "extra": 1}}, 422, "VALIDATION_ERROR"),
        ("stock_api/set_sku.json", {"body": "x" * 20_000}, 413, "PAYLOAD_TOO_LARGE"),
    ],
)
def test_bad_requests_get_a_clear_machine_readable_error(
    functions: dict[str, LocalLambda], name: str, changes: dict[str, Any], status: int, code: str
) -> None:
    function = functions["HoldsApiFunction" if name.startswith("holds") else "StockApiFunction"]
    result = function.invoke(event(name, **changes))
    assert result["statusCode"] == status, result
    payload = body(result)
    assert payload["code"] == code
    assert payload["message"] and isinstance(payload["details"], dict)


def test_the_stream_consumer_writes_the_ledger_and_settles_the_hold(
    functions: dict[str, LocalLambda], world: World
) -> None:
    functions["StockApiFunction"].invoke(event("stock_api/set_sku.json"))
    placed = functions["HoldsApiFunction"].invoke(event("holds_api/place_hold.json"))
    hold_id = body(placed)["hold_id"]
    consumer = functions["StreamConsumerFunction"]
    sample = event("stream_consumer/hold_decrement.json")
    assert consumer.invoke(sample) == {"batchItemFailures": []}
    assert world.repository.get_hold(hold_id).status == "held"
    assert consumer.invoke(sample) == {"batchItemFailures": []}, "a redelivered batch changes nothing more"
    movements = world.repository.all_movements("tee-black-m")
    assert [(m["op"], m["bucket"], m["delta"]) for m in movements] == [("hold", "pool:shared", -2)]


def test_the_sweeper_runs_on_its_schedule_event(functions: dict[str, LocalLambda]) -> None:
    assert functions["HoldSweeperFunction"].invoke(event("hold_sweeper/schedule.json")) == {
        "expired": 0,
        "confirmed": 0,
        "abandoned": 0,
        "released": 0,
        "skipped": 0,
        "not_closed": 0,
    }


def test_a_poisoned_stream_record_comes_back_and_the_rest_are_applied(
    functions: dict[str, LocalLambda], world: World
) -> None:
    functions["StockApiFunction"].invoke(event("stock_api/set_sku.json"))
    placed = functions["HoldsApiFunction"].invoke(event("holds_api/place_hold.json"))
    hold_id = body(placed)["hold_id"]
    sample = event("stream_consumer/hold_decrement.json")
    poisoned = json.loads(json.dumps(sample["Records"][1]))
    poisoned["dynamodb"]["SequenceNumber"] = "100000000000000000009"
    poisoned["dynamodb"]["NewImage"]["available"] = {"S": "a great many"}
    batch = {"Records": [poisoned, *sample["Records"]]}
    result = functions["StreamConsumerFunction"].invoke(batch)
    assert result == {"batchItemFailures": [{"itemIdentifier": "100000000000000000009"}]}
    assert world.repository.get_hold(hold_id).status == "held", "the good records were applied"
    movements = world.repository.all_movements("tee-black-m")
    assert [(m["op"], m["bucket"], m["delta"]) for m in movements] == [("hold", "pool:shared", -2)]


@pytest.mark.parametrize(
    ("path", "status", "sku_id"),
    [
        ("/skus/a%3Ab", 201, "a:b"),
        ("/skus/a:b", 201, "a:b"),
        ("/skus/a%2Fb", 422, None),
        ("/skus/%E2%98%83", 422, None),
    ],
)
def test_path_parameters_are_percent_decoded_as_api_gateway_does(
    functions: dict[str, LocalLambda], path: str, status: int, sku_id: str | None
) -> None:
    result = functions["StockApiFunction"].invoke(event("stock_api/set_sku.json", path=path))
    assert result["statusCode"] in (status, 200 if status == 201 else status), result
    if sku_id is not None:
        assert body(result)["sku_id"] == sku_id
    else:
        assert body(result)["code"] == "VALIDATION_ERROR"
