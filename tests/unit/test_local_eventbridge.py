"""The local EventBridge (moto in server mode): the template's own routing, each pattern operator
the template uses held to EventBridge's documented semantics, and Lambda's asynchronous retries
ending in the OnFailure destination."""

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from livestock_local.eventbridge import LocalEventBridge
from livestock_local.template import Template


class Recorder:
    def __init__(self, failing: frozenset[str] = frozenset()) -> None:
        self.failing = failing
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def __call__(self, logical_id: str, event: dict[str, Any]) -> Any:
        with self.lock:
            self.calls.append((logical_id, event))
        if logical_id in self.failing:
            raise RuntimeError("the function failed")
        return {"ok": True}

    def detail_types(self, logical_id: str) -> list[str]:
        return sorted(str(e["detail-type"]) for fn, e in self.calls if fn == logical_id)


@pytest.fixture
def env_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """start() exports endpoint variables; keep them out of the other tests."""
    for service in ("EVENTBRIDGE", "EVENTS", "SNS", "SQS"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", "unset")


def started(template: Template, recorder: Recorder) -> Iterator[LocalEventBridge]:
    bridge = LocalEventBridge(template, recorder, async_retry_delays_s=(0.0, 0.0), own_process=False)
    bridge.start()
    try:
        yield bridge
    finally:
        bridge.stop()


def put(
    bridge: LocalEventBridge, bus: str, *events: tuple[str, dict[str, Any]], source: str = "livestock.inventory"
) -> None:
    entries = [
        {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail), "EventBusName": bus}
        for detail_type, detail in events
    ]
    response = bridge.events().put_events(Entries=entries)  # type: ignore[arg-type]
    assert response["FailedEntryCount"] == 0
    bridge.wait_idle(10)


@pytest.mark.usefixtures("env_guard")
def test_the_templates_rules_route_alerts_to_the_topic_and_webhooks_and_stock_changes_to_sync_only() -> None:
    recorder = Recorder()
    for bridge in started(Template(), recorder):
        bus = bridge.bus_names["LiveStockEventBus"]
        put(
            bridge,
            bus,
            ("StockChanged", {"event_id": "a", "sequence": 1}),
            ("StockLow", {"event_id": "b", "tier_pct": 50}),
            ("AlertRaised", {"event_id": "c", "severity": "info", "message": "quiet"}),
            ("AlertRaised", {"event_id": "d", "severity": "critical", "message": "tee is sold out"}),
        )
        assert recorder.detail_types("WebhookDeliveryFunction") == ["AlertRaised", "AlertRaised", "StockLow"]
        assert recorder.detail_types("PlatformSyncFunction") == ["StockChanged"]
        assert recorder.detail_types("SessionJournalFunction") == ["AlertRaised", "AlertRaised"], "for the review"
        assert bridge.topic_messages("AlertTopic") == ['"LiveStock critical: tee is sold out"']
        # The console's fan-out takes stock changes and alerts alike.
        assert recorder.detail_types("ConsoleFanoutFunction") == [
            "AlertRaised",
            "AlertRaised",
            "StockChanged",
            "StockLow",
        ]
        calls = len(recorder.calls)
        put(bridge, bus, ("StockLow", {"event_id": "e"}), source="someone.else")
        assert len(recorder.calls) == calls, "another source matches no rule"


# Each operator the template uses, with the outcome EventBridge's documentation gives for it
# ("Content filtering in event patterns", "Comparison operators for use in event patterns").
OPERATOR_CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    # exact match: case-sensitive, whole value; a list is an OR; every field named must be there
    ("exact", {"detail": {"severity": ["warn", "critical"]}}, {"severity": "warn"}, True),
    ("exact", {"detail": {"severity": ["warn", "critical"]}}, {"severity": "critical"}, True),
    ("exact", {"detail": {"severity": ["warn", "critical"]}}, {"severity": "Warn"}, False),
    ("exact", {"detail": {"severity": ["warn", "critical"]}}, {"severity": "warning"}, False),
    ("exact", {"detail": {"severity": ["warn", "critical"]}}, {"level": "warn"}, False),
    # an array in the event matches if any of its elements does
    ("exact", {"detail": {"severity": ["warn", "critical"]}}, {"severity": ["info", "critical"]}, True),
    # fields of one pattern are ANDed
    ("exact", {"detail": {"severity": ["warn"], "scope": ["sku"]}}, {"severity": "warn", "scope": "channel"}, False),
    ("exact", {"detail": {"severity": ["warn"], "scope": ["sku"]}}, {"severity": "warn", "scope": "sku"}, True),
    # anything-but: any value but those listed (the field must still be there)
    ("anything-but", {"detail-type": [{"anything-but": ["StockChanged"]}]}, {}, True),
    ("anything-but", {"detail": {"kind": [{"anything-but": ["StockChanged"]}]}}, {"kind": "StockChanged"}, False),
    ("anything-but", {"detail": {"kind": [{"anything-but": ["StockChanged"]}]}}, {"kind": "stockchanged"}, True),
    ("anything-but", {"detail": {"kind": [{"anything-but": ["StockChanged"]}]}}, {"other": 1}, False),
]


@pytest.mark.usefixtures("env_guard")
@pytest.mark.parametrize(("operator", "pattern", "detail", "matches"), OPERATOR_CASES)
def test_pattern_operators_follow_eventbridge(
    operator: str, pattern: dict[str, Any], detail: dict[str, Any], matches: bool
) -> None:
    document = {
        "Resources": {
            "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "t-bus"}},
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Events": {
                        "Rule": {
                            "Type": "EventBridgeRule",
                            "Properties": {"EventBusName": {"Ref": "Bus"}, "Pattern": pattern},
                        }
                    }
                },
            },
        }
    }
    recorder = Recorder()
    for bridge in started(Template(document), recorder):
        put(bridge, "t-bus", ("StockLow", detail))
        assert (len(recorder.calls) == 1) is matches, (operator, pattern, detail)


@pytest.mark.usefixtures("env_guard")
def test_a_failing_function_is_retried_then_its_event_goes_to_the_on_failure_queue() -> None:
    document = {
        "Resources": {
            "Dlq": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "EventInvokeConfig": {
                        "MaximumRetryAttempts": 2,
                        "DestinationConfig": {
                            "OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": ["Dlq", "Arn"]}}
                        },
                    },
                    "Events": {
                        "Rule": {
                            "Type": "EventBridgeRule",
                            "Properties": {"Pattern": {"source": ["livestock.inventory"]}},
                        }
                    },
                },
            },
        }
    }
    recorder = Recorder(failing=frozenset({"Fn"}))
    for bridge in started(Template(document), recorder):
        put(bridge, "default", ("SoldOut", {"event_id": "x"}))
        assert len(recorder.calls) == 3, "the first try and two retries"
        [record] = bridge.queue_messages("Dlq")
        assert record["requestContext"]["condition"] == "RetriesExhausted"
        assert record["requestPayload"]["detail"] == {"event_id": "x"}
        assert record["responsePayload"]["errorType"] == "RuntimeError"


def test_what_the_local_eventbridge_cannot_play_fails_loudly() -> None:
    document = {
        "Resources": {
            "Rule": {
                "Type": "AWS::Events::Rule",
                "Properties": {"ScheduleExpression": "rate(1 minute)", "Targets": []},
            }
        }
    }
    bridge = LocalEventBridge(Template(document), Recorder())
    with pytest.raises(ValueError, match="only pattern rules"):
        bridge._create_resources()
