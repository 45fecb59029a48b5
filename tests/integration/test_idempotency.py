"""Every write endpoint, replayed three times, changes state once."""

from collections.abc import Callable
from typing import Any

import pytest

from livestock_local.stack import LocalStack
from tests.support.api import Answer, Api
from tests.support.checks import settled_reconciliation

pytestmark = pytest.mark.integration


def thrice(call: Callable[[], Answer]) -> Answer:
    answers = [call() for _ in range(3)]
    assert all(a.status == answers[0].status for a in answers), answers
    assert all(a.body == answers[0].body for a in answers), answers
    return answers[0]


def state(stack: LocalStack, api: Api, sku_id: str) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """Counters, ledger length and settings: everything a write could change."""
    reconciliation = settled_reconciliation(stack, api, sku_id)
    assert reconciliation["consistent"], reconciliation
    movements = api.get(f"/skus/{sku_id}/ledger?limit=500").body["movements"]
    return reconciliation["actual"], len(movements), api.get(f"/skus/{sku_id}").body


def test_every_write_endpoint_replayed_three_times_changes_state_once(stack: LocalStack, api: Api, sku_id: str) -> None:
    base = f"/skus/{sku_id}"
    created = [api.put(base, {"name": "Tee", "on_hand": 100}) for _ in range(3)]
    # PUT creates once (201), then finds the SKU as asked (200), the same SKU each time.
    assert [a.status for a in created] == [201, 200, 200]
    assert created[0].body == created[1].body == created[2].body
    steps: list[tuple[str, Callable[[], Answer]]] = [
        ("set on hand", lambda: api.put(base, {"name": "Tee", "on_hand": 120})),
        ("receipt", lambda: api.post(f"{base}/receipts", {"quantity": 30, "reference": "po-9"})),
        ("adjustment", lambda: api.post(f"{base}/adjustments", {"quantity": -5, "reason": "lost", "reference": "a-1"})),
        ("allocation", lambda: api.put(f"{base}/allocation", {"pools": {"channel:douyin": 40, "reserve": 20}})),
        (
            "reserve release",
            lambda: api.post(f"{base}/reserve/release", {"quantity": 5}, headers={"Idempotency-Key": "rr-1"}),
        ),
        ("limits", lambda: api.put(f"{base}/limits", {"per_buyer": 4})),
        ("pause", lambda: api.post(f"{base}/pause")),
        ("resume", lambda: api.post(f"{base}/resume")),
        (
            "hold",
            lambda: api.call_patiently(
                "POST", "/holds", {"channel": "douyin", "order_id": "i-1", "sku_id": sku_id, "quantity": 3}
            ),
        ),
    ]
    # Each step's state before it is the one read after the step before it (nothing runs between).
    current = state(stack, api, sku_id)
    for name, step in steps:
        before = current
        first = step()
        assert first.status in (200, 201), (name, first.body)
        after_first = state(stack, api, sku_id)
        assert after_first != before, f"{name} changed nothing"
        thrice(step)
        current = state(stack, api, sku_id)
        assert current == after_first, f"{name} changed state on replay"

    hold_id = api.call_patiently(
        "POST", "/holds", {"channel": "douyin", "order_id": "i-1", "sku_id": sku_id, "quantity": 3}
    ).body["hold_id"]
    current = state(stack, api, sku_id)
    for action in ("confirm", "cancel"):
        before = current
        thrice(lambda action=action: api.call_patiently("POST", f"/holds/{hold_id}/{action}"))  # type: ignore[misc]
        after = state(stack, api, sku_id)
        assert after != before
        thrice(lambda action=action: api.call_patiently("POST", f"/holds/{hold_id}/{action}"))  # type: ignore[misc]
        current = state(stack, api, sku_id)
        assert current == after
