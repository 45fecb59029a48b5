"""Live sessions through HTTP on the local stack: a session's per-buyer limit holds across every
platform under a concurrent burst, and does not apply to the next session; SessionStarted and
SessionEnded reach a subscribed webhook once each."""

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from livestock_local.stack import LocalStack
from livestock_local.webhook_receiver import receiving
from tests.conftest import STACK_ENVIRONMENT
from tests.support.api import Api
from tests.support.checks import settled_reconciliation

pytestmark = [pytest.mark.integration, pytest.mark.timing]

CHANNELS = ["douyin", "kuaishou", "taobao", "wechat"]
LIMIT = 3
BUYERS = 20


def plan(sku_id: str, limit: int | None) -> dict[str, Any]:
    return {
        "title": "Flash live",
        "channels": CHANNELS,
        "starts_at": "2027-01-15T12:00:00Z",
        "ends_at": "2027-01-15T14:00:00Z",
        "lineup": [{"sku_id": sku_id, "per_buyer_limit": limit, "forecast_units": 100}],
    }


def wait_for_cache() -> None:
    """The hot path trusts its cached SKU settings for META_CACHE_S: a start applies within that."""
    time.sleep(float(STACK_ENVIRONMENT["META_CACHE_S"]) * 2)


def burst(api: Api, sku_id: str, tag: str, orders_per_buyer: int) -> Counter[str]:
    """Every buyer orders one unit at a time on every platform at once; returns accepted units per buyer."""

    def order(n: int) -> tuple[str, int, str | None]:
        buyer = f"buyer-{n % BUYERS}"
        channel = CHANNELS[(n // BUYERS) % len(CHANNELS)]  # each buyer on every platform
        body = {"channel": channel, "order_id": f"{tag}-{n}", "sku_id": sku_id, "quantity": 1, "buyer_id": buyer}
        answer = api.call_patiently("POST", "/holds", body)
        return buyer, answer.status, answer.code

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(order, range(BUYERS * orders_per_buyer)))
    assert {(status, code) for _, status, code in results} <= {(201, None), (429, "LIMIT_EXCEEDED")}, results
    return Counter(buyer for buyer, status, _ in results if status == 201)


def test_a_session_limit_holds_across_platforms_and_ends_with_the_session(
    stack: LocalStack, api: Api, sku_id: str
) -> None:
    first, second = f"s-{uuid.uuid4().hex[:8]}", f"s-{uuid.uuid4().hex[:8]}"
    assert api.put(f"/skus/{sku_id}", {"name": "Limited tee", "on_hand": 5000}).status == 201
    with receiving() as receiver:
        webhook = f"wh-{uuid.uuid4().hex[:8]}"
        subscribed = {"url": receiver.url, "secret": "s" * 32, "event_types": ["SessionStarted", "SessionEnded"]}
        assert api.put(f"/webhooks/{webhook}", subscribed).status == 201
        try:
            assert api.put(f"/sessions/{first}", plan(sku_id, LIMIT)).status == 201
            assert api.put(f"/sessions/{second}", plan(sku_id, LIMIT)).status == 201
            started = api.post(f"/sessions/{first}/start")
            assert started.status == 200 and started.body["status"] == "live", started.body
            assert api.get(f"/skus/{sku_id}").body["session_id"] == first
            wait_for_cache()
            accepted = burst(api, sku_id, "a", orders_per_buyer=8)
            assert accepted == dict.fromkeys(accepted, LIMIT) and len(accepted) == BUYERS, accepted

            assert api.post(f"/sessions/{first}/end").body["status"] == "ended"
            assert api.get(f"/skus/{sku_id}").body["session_id"] is None
            assert api.post(f"/sessions/{second}/start").body["status"] == "live"
            wait_for_cache()
            again = burst(api, sku_id, "b", orders_per_buyer=5)
            assert again == dict.fromkeys(again, LIMIT) and len(again) == BUYERS, "a fresh allowance per session"
            assert api.post(f"/sessions/{second}/end").status == 200

            ends = receiver.wait_for(2, "SessionEnded")
            starts = receiver.wait_for(2, "SessionStarted")
            assert sorted(r.event["detail"]["session_id"] for r in starts) == sorted([first, second])
            assert sorted(r.event["detail"]["session_id"] for r in ends) == sorted([first, second])
            assert len({r.event["detail"]["event_id"] for r in receiver.received}) == 4, "each once"
        finally:
            assert api.call("DELETE", f"/webhooks/{webhook}").status == 204
    reconciliation = settled_reconciliation(stack, api, sku_id)
    assert reconciliation["consistent"], reconciliation
    assert reconciliation["actual"]["held"] == 2 * BUYERS * LIMIT
