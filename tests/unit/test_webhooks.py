"""Webhook delivery on moto with a scripted receiver: signatures, retries, final refusals, dedupe,
and the secret kept out of every answer and log line."""

import hashlib
import hmac
import json
import logging

import pytest

from livestock.dal.registry import RegistryRevision
from livestock.dal.webhooks import Webhook, WebhookRepository
from livestock.logic.webhooks import WebhookService, signature, verify
from livestock.models.event_exceptions import WebhookDeliveryFailed, WebhookNotFound
from livestock.models.event_io import WebhookRequest
from livestock.observability import logger
from livestock.platforms.endpoints import EndpointRefused
from livestock.settings import EventSettings
from livestock_local.template import Template
from tests.unit.conftest import World

EVENTS = "livestock-EventsTable"
SECRET = "whsec-0123456789abcdef"


class Script:
    """Answers POSTs with the scripted statuses (or raises a timeout), recording each call."""

    def __init__(self, answers: list[int | None]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, bytes, dict[str, str]]] = []

    def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
        self.calls.append((url, body, headers))
        answer = self.answers.pop(0) if self.answers else 200
        if answer is None:
            raise TimeoutError("timed out")
        return answer


def service(world: World, script: Script, sleeps: list[float]) -> WebhookService:
    world.client.create_table(**Template().create_table_request("EventsTable", EVENTS))
    settings = EventSettings(events_table_name=EVENTS, webhook_attempts=4, webhook_backoff_s=0.5)
    return WebhookService(
        WebhookRepository(EVENTS, world.client),
        RegistryRevision(EVENTS, world.client),
        settings,
        script,
        sleeps.append,
        world.clock,
    )


def event(event_id: str = "tee:SoldOut:7:sku", detail_type: str = "SoldOut") -> dict[str, object]:
    return {
        "version": "0",
        "id": "eb-1",
        "detail-type": detail_type,
        "source": "livestock.inventory",
        "detail": {"event_id": event_id, "sku_id": "tee"},
    }


def register(svc: WebhookService, types: list[str] | None = None) -> None:
    svc.put(
        "w1",
        WebhookRequest.model_validate(
            {"url": "https://hooks.example/x", "secret": SECRET, "event_types": types or ["SoldOut"]}
        ),
    )


def test_500_twice_then_delivered_with_one_event_id_and_growing_backoff(world: World) -> None:
    script, sleeps = Script([500, 503]), list[float]()
    svc = service(world, script, sleeps)
    register(svc)
    assert svc.deliver(event()) == {"w1": "delivered"}
    assert len(script.calls) == 3
    assert {headers["X-LiveStock-Event-Id"] for _, _, headers in script.calls} == {"tee:SoldOut:7:sku"}
    assert sleeps == [0.5, 1.0]
    for _, body, headers in script.calls:
        timestamp, digest = (part.split("=", 1)[1] for part in headers["X-LiveStock-Signature"].split(","))
        expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        assert digest == expected
        assert json.loads(body)["detail"]["event_id"] == "tee:SoldOut:7:sku"
    [delivery] = svc.deliveries("w1").deliveries
    assert [a.status_code for a in delivery.attempts] == [500, 503, 200] and delivery.status == "delivered"
    assert svc.deliver(event()) == {"w1": "skipped"}, "a second copy of the event is not delivered again"
    assert len(script.calls) == 3


def test_a_client_error_is_final_and_timeouts_are_retried(world: World) -> None:
    script = Script([None, 410])
    svc = service(world, script, [])
    register(svc)
    assert svc.deliver(event()) == {"w1": "rejected"}
    assert len(script.calls) == 2
    assert [a.error for a in svc.deliveries("w1").deliveries[0].attempts] == ["TimeoutError", None]


def test_a_receiver_down_for_every_attempt_fails_the_invocation_for_lambda_to_retry(world: World) -> None:
    script = Script([500] * 8)
    svc = service(world, script, [])
    register(svc)
    with pytest.raises(WebhookDeliveryFailed):
        svc.deliver(event())
    assert len(script.calls) == 4
    assert svc.deliveries("w1").deliveries[0].status == "retrying"
    with pytest.raises(WebhookDeliveryFailed):
        svc.deliver(event())  # Lambda's retry: the same webhook is tried again, not skipped
    assert len(script.calls) == 8


def test_an_invocation_that_outlived_its_lease_leaves_the_delivery_to_the_one_that_claimed_it(world: World) -> None:
    """The first invocation's call hangs past its lease; Lambda's retry claims the delivery and
    delivers. The late answer (a 500) must not overwrite that delivery as `retrying`, nor the
    first invocation post the event again: the event would reach the receiver twice."""
    calls: list[dict[str, str]] = []
    svc: WebhookService

    def poster(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
        calls.append(headers)
        if len(calls) == 1:
            world.clock.now += 3600  # far past the lease
            assert svc.deliver(event()) == {"w1": "delivered"}
            return 500
        return 200

    svc = service(world, Script([]), [])
    svc.poster = poster
    register(svc)
    assert svc.deliver(event()) == {"w1": "skipped"}
    assert len(calls) == 2, "posted by each invocation once, not again by the first"
    [delivery] = svc.deliveries("w1").deliveries
    assert delivery.status == "delivered"
    assert [a.status_code for a in delivery.attempts] == [200]
    assert svc.deliver(event()) == {"w1": "skipped"}


def test_only_subscribers_get_an_event_and_secrets_never_leave(world: World, caplog: pytest.LogCaptureFixture) -> None:
    script = Script([])
    svc = service(world, script, [])
    register(svc, ["StockLow"])
    caplog.set_level(logging.DEBUG)
    # Our logger too: POWERTOOLS_LOG_LEVEL (WARNING in tests) set its own level when it was made.
    caplog.set_level(logging.DEBUG, logger=logger.name)
    assert svc.deliver(event()) == {}
    assert script.calls == []
    view = svc.get("w1")
    assert SECRET not in view.model_dump_json()
    svc.deliver(event("tee:StockLow:3:50", "StockLow"))
    # Ours, not botocore's wire dump at DEBUG (never enabled in the functions).
    ours = [
        r.getMessage() + str(r.__dict__)
        for r in caplog.records
        if not r.name.startswith(("botocore", "moto", "urllib3"))
    ]
    assert ours, "the delivery logged its attempt"
    assert all(SECRET not in line for line in ours)
    svc.delete("w1")
    with pytest.raises(WebhookNotFound):
        svc.get("w1")


def test_the_signature_scheme() -> None:
    body = b'{"a":1}'
    header = signature("s3cret", 1_800_000_000, body)
    digest = hmac.new(b"s3cret", b'1800000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1800000000,v1={digest}"
    assert verify("s3cret", header, body, now=1_800_000_100)
    assert not verify("s3cret", header, body + b" ", now=1_800_000_100)
    assert not verify("s3cret", header, body, now=1_800_001_000), "too old: a replay"


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example/x",  # not https: the signed body would travel in clear
        "https://169.254.169.254/latest/meta-data",  # the instance metadata service
        "https://127.0.0.1:9001/2018-06-01/runtime/invocation/next",  # the Lambda runtime API
        "https://10.0.0.7/hook",
        "https://[::1]/hook",
        "https://localhost/hook",
        "https://intranet/hook",
        "https://user:pass@hooks.example/x",
    ],
)
def test_a_webhook_url_off_the_public_internet_is_refused_and_never_called(
    world: World, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, sleeps = Script([]), list[float]()
    svc = service(world, script, sleeps)
    monkeypatch.setattr(svc, "settings", svc.settings.model_copy(update={"allow_loopback_endpoints": False}))
    with pytest.raises(EndpointRefused) as refused:
        svc.put("w1", WebhookRequest.model_validate({"url": url, "secret": SECRET, "event_types": ["SoldOut"]}))
    assert refused.value.code == "VALIDATION_ERROR"
    assert refused.value.details["errors"][0]["location"] == ["body", "url"]
    assert svc.repository.get_webhook("w1") is None
    # One stored before URLs were checked is not called either: its delivery is rejected at once.
    svc.repository.put(
        Webhook(webhook_id="w1", url=url, secret=SECRET, event_types=["SoldOut"], created_at=1.0, updated_at=1.0)
    )
    svc.registry.bump()
    assert svc.deliver(event()) == {"w1": "rejected"}
    assert script.calls == []
    assert svc.deliveries("w1").deliveries[0].attempts[0].error == "EndpointRefused"
