"""Events through HTTP on the local stack: tiered alerts during a real burst reach a signed
webhook once each and in time; a re-armed tier fires again; a failing receiver gets retries."""

import hashlib
import hmac
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from livestock_local.stack import LocalStack
from livestock_local.webhook_receiver import Received, Receiver, receiving
from tests.support.api import Api

pytestmark = [pytest.mark.integration, pytest.mark.timing]

SECRET = "whsec-" + "k" * 26
WITHIN_S = 2.0


def signature_ok(received: Received, secret: str = SECRET) -> bool:
    """The receiver's side, written from the documented scheme (not with the sender's code)."""
    header = received.headers["X-LiveStock-Signature"]
    fields = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - int(fields["t"])) < 300


@pytest.fixture
def webhook(api: Api) -> Iterator[tuple[str, Receiver]]:
    """A webhook for alerts, deleted afterwards so later tests' events are not sent to it."""
    webhook_id = f"wh-{uuid.uuid4().hex[:8]}"
    with receiving() as receiver:
        answer = api.put(
            f"/webhooks/{webhook_id}", {"url": receiver.url, "secret": SECRET, "event_types": ["StockLow", "SoldOut"]}
        )
        assert answer.status == 201, answer.body
        assert SECRET not in str(answer.body)
        yield webhook_id, receiver
        assert api.call("DELETE", f"/webhooks/{webhook_id}").status == 204
    assert api.get(f"/webhooks/{webhook_id}").code == "WEBHOOK_NOT_FOUND"


class Burst:
    """Orders from many clients. Each accepted order's answer tells when the hold was created (its
    expires_at less its payment window): a server-side time just before its decrement."""

    PAY_WITHIN_S = 900

    def __init__(self, api: Api, sku_id: str) -> None:
        self.api = api
        self.sku_id = sku_id
        self.created: list[float] = []
        self.held: list[str] = []
        self.lock = threading.Lock()

    def order(self, order_id: str) -> int:
        body = {
            "channel": "douyin",
            "order_id": order_id,
            "sku_id": self.sku_id,
            "quantity": 1,
            "pay_within_s": self.PAY_WITHIN_S,
        }
        answer = self.api.call_patiently("POST", "/holds", body)
        assert answer.status in (201, 409), answer.body
        if answer.status == 201:
            expires_at = datetime.fromisoformat(answer.body["expires_at"]).timestamp()
            with self.lock:
                self.held.append(answer.body["hold_id"])
                self.created.append(expires_at - self.PAY_WITHIN_S)
        return answer.status

    def run(self, orders: int, clients: int, prefix: str) -> None:
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(self.order, [f"{prefix}-{n}" for n in range(orders)]))

    def taken_no_earlier_than(self, unit: int) -> float:
        """Every hold is created before its decrement, so the unit-th decrement of the burst comes
        no earlier than the unit-th hold creation."""
        return sorted(self.created)[unit - 1]


def alerts_of(receiver: Receiver, sku_id: str, detail_type: str) -> list[Received]:
    return [r for r in receiver.of_type(detail_type) if r.event["detail"]["sku_id"] == sku_id]


def wait_until(condition: Callable[[], bool], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_tiers_fire_once_each_in_time_signed_and_again_after_a_cancel(
    stack: LocalStack, api: Api, sku_id: str, webhook: tuple[str, Receiver]
) -> None:
    webhook_id, receiver = webhook
    assert api.put(f"/skus/{sku_id}", {"name": "Hot tee", "on_hand": 1000}).status == 201
    alerts = api.put(f"/skus/{sku_id}/alerts", {"tiers_pct": [50, 20, 5], "baseline": "opening"})
    assert alerts.status == 200, alerts.body
    assert alerts.body["baseline"] == 1000
    assert alerts.body["fired_tiers"] == []

    burst = Burst(api, sku_id)
    burst.run(1100, 64, "first")
    assert len(burst.held) == 1000

    wait_until(lambda: len(alerts_of(receiver, sku_id, "SoldOut")) >= 1)
    stack.eventbridge.wait_idle()
    lows = alerts_of(receiver, sku_id, "StockLow")
    sold_outs = alerts_of(receiver, sku_id, "SoldOut")
    assert sorted(r.event["detail"]["tier_pct"] for r in lows) == [5, 20, 50], [r.event for r in lows]
    assert len(sold_outs) == 1
    assert sold_outs[0].event["detail"]["scope"] == "sku"
    for received in [*lows, *sold_outs]:
        detail = received.event["detail"]
        assert signature_ok(received), received.headers
        assert received.headers["X-LiveStock-Event-Id"] == detail["event_id"]
        remaining_at_crossing = detail["threshold"] if received in lows else 0
        crossed_no_earlier_than = burst.taken_no_earlier_than(1000 - remaining_at_crossing)
        assert received.at - crossed_no_earlier_than <= WITHIN_S, (detail, received.at - crossed_no_earlier_than)
        assert detail["baseline"] == 1000
        assert detail["remaining"] <= remaining_at_crossing
        assert "douyin" not in detail["channels"]  # no quota: douyin sells shared only
        assert detail["eta"]["window_s"] == 60
    assert lows[0].event["detail"]["eta"]["velocity_per_min"] > 0

    # A cancel lifts stock above the 5% tier (50 units): the tier and SoldOut re-arm...
    for hold_id in burst.held[:60]:
        assert api.call_patiently("POST", f"/holds/{hold_id}/cancel").status == 200
    wait_until(lambda: api.get(f"/skus/{sku_id}/alerts").body["fired_tiers"] == [50, 20])
    # ... and a second sell-out fires them again, and nothing else.
    second = Burst(api, sku_id)
    second.run(100, 16, "second")
    assert len(second.held) == 60
    wait_until(lambda: len(alerts_of(receiver, sku_id, "SoldOut")) >= 2)
    stack.eventbridge.wait_idle()
    lows = alerts_of(receiver, sku_id, "StockLow")
    assert sorted(r.event["detail"]["tier_pct"] for r in lows) == [5, 5, 20, 50]
    again = [r for r in lows if r.event["detail"]["tier_pct"] == 5][1:] + alerts_of(receiver, sku_id, "SoldOut")[1:]
    for received in again:
        remaining_at_crossing = received.event["detail"]["threshold"] or 0
        assert received.at - second.taken_no_earlier_than(60 - remaining_at_crossing) <= WITHIN_S
        assert signature_ok(received)
    assert len(alerts_of(receiver, sku_id, "SoldOut")) == 2
    ids = [r.headers["X-LiveStock-Event-Id"] for r in receiver.received]
    assert len(ids) == len(set(ids)), "no event was delivered twice"
    deliveries = api.get(f"/webhooks/{webhook_id}/deliveries").body["deliveries"]
    assert {d["status"] for d in deliveries} == {"delivered"}
    assert SECRET not in str(deliveries)


def test_a_receiver_failing_twice_gets_the_event_on_the_third_try_with_the_same_id(
    stack: LocalStack, api: Api, sku_id: str
) -> None:
    webhook_id = f"wh-{uuid.uuid4().hex[:8]}"
    with receiving(answers=[500, 500]) as receiver:
        answer = api.put(
            f"/webhooks/{webhook_id}", {"url": receiver.url, "secret": SECRET, "event_types": ["Restocked"]}
        )
        assert answer.status == 201, answer.body
        try:
            assert api.put(f"/skus/{sku_id}", {"name": "Mug", "on_hand": 10}).status == 201
            assert api.post(f"/skus/{sku_id}/receipts", {"quantity": 5, "reference": "po-1"}).status == 201

            def mine() -> list[Received]:
                return [r for r in receiver.received if r.event["detail"]["sku_id"] == sku_id]

            wait_until(lambda: len(mine()) >= 3)
            stack.eventbridge.wait_idle()
            tries = mine()
            assert len(tries) == 3
            assert len({r.headers["X-LiveStock-Event-Id"] for r in tries}) == 1
            assert all(signature_ok(r) for r in tries)
            assert tries[0].event["detail"]["quantity"] == 5
            assert tries[1].at - tries[0].at >= 0.4, "backed off before retrying"
            assert tries[2].at - tries[1].at > tries[1].at - tries[0].at, "the backoff grows"
            deliveries = api.get(f"/webhooks/{webhook_id}/deliveries").body["deliveries"]
            [delivery] = [d for d in deliveries if d["event_id"] == tries[0].headers["X-LiveStock-Event-Id"]]
            assert delivery["status"] == "delivered"
            assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 200]
        finally:
            assert api.call("DELETE", f"/webhooks/{webhook_id}").status == 204


def test_alert_and_webhook_routes_validate_and_answer_in_the_error_shape(api: Api, sku_id: str) -> None:
    assert api.get(f"/skus/{sku_id}/alerts").code == "ALERTS_NOT_SET"
    assert api.put(f"/skus/{sku_id}/alerts", {"tiers_pct": [50]}).code == "SKU_NOT_FOUND"
    bad = api.put(f"/skus/{sku_id}/alerts", {"tiers_pct": [50, 50], "baseline": "opening"})
    assert bad.status == 422 and bad.code == "VALIDATION_ERROR"
    assert api.put(f"/skus/{sku_id}/alerts", {"tiers_pct": [0]}).status == 422
    refused = api.put("/webhooks/w1", {"url": "ftp://example.com", "secret": SECRET, "event_types": ["StockChanged"]})
    assert refused.status == 422
    assert set(refused.body) == {"code", "message", "details"}
    assert SECRET not in str(refused.body)
    assert (
        api.put("/webhooks/w1", {"url": "https://example.com/h", "secret": "short", "event_types": ["SoldOut"]}).status
        == 422
    )
    assert api.get("/webhooks/nope/deliveries").code == "WEBHOOK_NOT_FOUND"
    assert api.call("DELETE", "/webhooks/nope").code == "WEBHOOK_NOT_FOUND"
