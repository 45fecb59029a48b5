"""The event functions, invoked with their sample events from events/ on moto."""

import json
import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from livestock import wiring
from livestock_local.lambda_runtime import LocalLambda
from livestock_local.template import ROOT, Template
from tests.unit.conftest import INVENTORY, LEDGER, World

EVENTS_TABLE = "livestock-EventsTable"
BUS = "livestock-events"


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "events" / name).read_text())
    return loaded


@pytest.fixture
def functions(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, LocalLambda]]:
    world.client.create_table(**Template().create_table_request("EventsTable", EVENTS_TABLE))
    boto3.client("events", region_name="us-east-1").create_event_bus(Name=BUS)
    for name, value in {
        "INVENTORY_TABLE_NAME": INVENTORY,
        "LEDGER_TABLE_NAME": LEDGER,
        "EVENTS_TABLE_NAME": EVENTS_TABLE,
        "EVENT_BUS_NAME": BUS,
        # The sessions function's campaign settings, as the stack resolves them (ending a session
        # cancels its campaigns); the campaign test makes a state machine of its own.
        "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:CampaignStateMachine",
        "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/CampaignSchedulerRole",
    }.items():
        monkeypatch.setenv(name, value)
    wiring.reset()
    loaded = Template().functions(
        {
            "InventoryTable": INVENTORY,
            "LedgerTable": LEDGER,
            "EventsTable": EVENTS_TABLE,
            "ConsoleTable": "livestock-ConsoleTable",
        }
    )
    yield {f.logical_id: LocalLambda(f, play_iam=True) for f in loaded}
    wiring.reset()


def test_the_alert_and_webhook_sample_events(functions: dict[str, LocalLambda]) -> None:
    api = functions["EventsApiFunction"]
    assert api.invoke(sample("events_api/set_alerts.json"))["statusCode"] == 404, "no such SKU yet"
    assert functions["StockApiFunction"].invoke(sample("stock_api/set_sku.json"))["statusCode"] == 201
    alerts = api.invoke(sample("events_api/set_alerts.json"))
    assert alerts["statusCode"] == 200, alerts
    assert json.loads(api.invoke(sample("events_api/get_alerts.json"))["body"])["tiers_pct"] == [50, 20, 5]
    created = api.invoke(sample("events_api/put_webhook.json"))
    assert created["statusCode"] == 201
    assert "secret" not in created["body"]
    assert api.invoke(sample("events_api/put_webhook.json"))["statusCode"] == 200, "a replacement"
    assert json.loads(api.invoke(sample("events_api/get_webhook.json"))["body"])["event_types"] == [
        "SoldOut",
        "StockLow",
    ]
    assert json.loads(api.invoke(sample("events_api/webhook_deliveries.json"))["body"])["deliveries"] == []
    assert api.invoke(sample("events_api/delete_webhook.json"))["statusCode"] == 204
    assert api.invoke(sample("events_api/get_webhook.json"))["statusCode"] == 404


def test_the_publisher_and_delivery_sample_events(functions: dict[str, LocalLambda]) -> None:
    assert functions["StockApiFunction"].invoke(sample("stock_api/set_sku.json"))["statusCode"] == 201
    published = functions["EventPublisherFunction"].invoke(sample("event_publisher/hold_decrement.json"))
    assert published["published"] >= 1, published
    again = functions["EventPublisherFunction"].invoke(sample("event_publisher/hold_decrement.json"))
    assert again["published"] == 0, "a redelivered batch"
    assert functions["WebhookDeliveryFunction"].invoke(sample("webhook_delivery/SoldOut.json")) == {}, "no subscriber"


def test_the_session_sample_events(functions: dict[str, LocalLambda]) -> None:
    api = functions["SessionsApiFunction"]
    missing = api.invoke(sample("sessions_api/put_session.json"))
    assert (missing["statusCode"], json.loads(missing["body"])["code"]) == (404, "SKU_NOT_FOUND")
    assert functions["StockApiFunction"].invoke(sample("stock_api/set_sku.json"))["statusCode"] == 201
    assert api.invoke(sample("sessions_api/put_session.json"))["statusCode"] == 201
    assert api.invoke(sample("sessions_api/put_session.json"))["statusCode"] == 200, "the same plan again"
    assert api.invoke(sample("sessions_api/end_session.json"))["statusCode"] == 409, "not started"
    started = api.invoke(sample("sessions_api/start_session.json"))
    assert started["statusCode"] == 200 and json.loads(started["body"])["status"] == "live"
    assert json.loads(api.invoke(sample("sessions_api/get_session.json"))["body"])["status"] == "live"
    alerts = functions["EventsApiFunction"].invoke(sample("events_api/get_alerts.json"))
    assert json.loads(alerts["body"])["tiers_pct"] == [50, 20, 5], "the lineup's tiers were set"
    ended = api.invoke(sample("sessions_api/end_session.json"))
    assert ended["statusCode"] == 200 and json.loads(ended["body"])["status"] == "ended"


def test_the_campaign_sample_events_and_the_stage_task_without_the_launcher_settings(
    functions: dict[str, LocalLambda], monkeypatch: pytest.MonkeyPatch
) -> None:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    arn = sfn.create_state_machine(
        name="CampaignStateMachine",
        definition=(ROOT / "statemachine" / "campaign.asl.json").read_text(),
        roleArn="arn:aws:iam::123456789012:role/CampaignStateMachineRole",
    )["stateMachineArn"]
    monkeypatch.setenv("STATE_MACHINE_ARN", arn)
    monkeypatch.setenv("SCHEDULER_ROLE_ARN", "arn:aws:iam::123456789012:role/CampaignSchedulerRole")
    api = functions["SessionsApiFunction"]
    assert functions["StockApiFunction"].invoke(sample("stock_api/set_sku.json"))["statusCode"] == 201
    assert api.invoke(sample("sessions_api/put_session.json"))["statusCode"] == 201
    assert api.invoke(sample("sessions_api/start_session.json"))["statusCode"] == 200
    created = api.invoke(sample("sessions_api/create_campaign.json"))
    assert created["statusCode"] == 201, created
    assert json.loads(api.invoke(sample("sessions_api/get_campaign.json"))["body"])["pending_units"] == 300
    released = json.loads(api.invoke(sample("sessions_api/release_stage.json"))["body"])
    assert [s["status"] for s in released["stages"]] == ["pending", "released", "pending"]
    # The task's function is given no launcher settings (template.yaml): it releases stages all the same.
    wiring.reset()
    monkeypatch.delenv("STATE_MACHINE_ARN")
    monkeypatch.delenv("SCHEDULER_ROLE_ARN")
    task = functions["CampaignStageFunction"]
    assert task.invoke(sample("campaign_stage/stage_task.json"))["outcome"] == "released"
    assert task.invoke(sample("campaign_stage/stage_task.json"))["outcome"] == "already-released"


def test_the_review_sample_events(
    functions: dict[str, LocalLambda], world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session ends; the builder's sample (SessionEnded) builds its review into the bucket, the
    journal's sample (AlertRaised) is kept once, and the reviews API's samples read them."""
    bucket = "livestock-reviewbucket"  # the name the local stack gives !Ref ReviewBucket
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=bucket)
    monkeypatch.setenv("REVIEW_BUCKET_NAME", bucket)
    wiring.reset()
    reviews = functions["ReviewsApiFunction"]
    assert json.loads(reviews.invoke(sample("reviews_api/sku_history.json"))["body"])["code"] == "SKU_NOT_FOUND"
    assert functions["StockApiFunction"].invoke(sample("stock_api/set_sku.json"))["statusCode"] == 201
    sessions = functions["SessionsApiFunction"]
    assert sessions.invoke(sample("sessions_api/put_session.json"))["statusCode"] == 201
    assert json.loads(reviews.invoke(sample("reviews_api/get_review.json"))["body"])["code"] == "REVIEW_NOT_READY"
    assert sessions.invoke(sample("sessions_api/start_session.json"))["statusCode"] == 200
    journal = functions["SessionJournalFunction"]
    assert journal.invoke(sample("session_journal/AlertRaised.json"))["kept"] is True
    assert journal.invoke(sample("session_journal/AlertRaised.json"))["kept"] is False, "a redelivery"
    assert sessions.invoke(sample("sessions_api/end_session.json"))["statusCode"] == 200
    world.drain()  # the ledger catches up, so the build finds the SKU reconciled at once
    built = functions["ReviewBuilderFunction"].invoke(sample("review_builder/SessionEnded.json"))
    assert built["session_id"] == "s-1111-warmup" and len(built["digest"]) == 64
    again = functions["ReviewBuilderFunction"].invoke(sample("review_builder/SessionEnded.json"))
    assert again == built, "a second delivery rebuilds the same review"
    # A refusal counted after the review was built (an order answered late): a build from the
    # state now would differ.
    world.stores.refusals.count("s-1111-warmup", "tee-black-m", "douyin", "SOLD_OUT", random.Random(1))
    late = functions["ReviewBuilderFunction"].invoke(sample("review_builder/SessionEnded.json"))
    assert late == built, "a delivery after the state moved on announces the review built, not another"
    answer = reviews.invoke(sample("reviews_api/get_review.json"))
    assert answer["statusCode"] == 200 and answer["multiValueHeaders"]["Content-Type"][0].startswith("text/csv")
    assert answer["body"].splitlines()[1].startswith("s-1111-warmup,tee-black-m,")
    history = json.loads(reviews.invoke(sample("reviews_api/sku_history.json"))["body"])
    assert [h["session_id"] for h in history["sessions"]] == ["s-1111-warmup"]
