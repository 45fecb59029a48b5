"""Bad input gets a clear 4xx and changes nothing (the ledger and the counters are as before)."""

from typing import Any

import pytest

from livestock_local.stack import LocalStack
from tests.support.api import Api
from tests.support.checks import settled_reconciliation

pytestmark = pytest.mark.integration

HOLD = {"channel": "douyin", "order_id": "b-1", "quantity": 1}


def bad_requests(sku_id: str) -> list[tuple[str, str, Any, int, str]]:
    hold = {**HOLD, "sku_id": sku_id}
    base = f"/skus/{sku_id}"
    return [
        ("POST", "/holds", {**hold, "quantity": 0}, 422, "VALIDATION_ERROR"),
        ("POST", "/holds", {**hold, "quantity": -1}, 422, "VALIDATION_ERROR"),
        ("POST", "/holds", {**hold, "quantity": 10**12}, 422, "VALIDATION_ERROR"),
        ("POST", "/holds", {**hold, "quantity": 1.5}, 422, "VALIDATION_ERROR"),
        ("POST", "/holds", {**hold, "quantity": "1"}, 422, "VALIDATION_ERROR"),
        ("POST", "/holds", {**hold, "quantity": True}, 422, "VALIDATION_ERROR"),
        ("POST", "/holds", {**hold, "quantity": None}, 422, "VALIDATION_ERROR"),
        ("POST", "/holds", {**hold, "sku_id": "unknown-sku"}, 404, "SKU_NOT_FOUND"),
        ("POST", "/holds", {**hold, "channel": "Not A Channel"}, 422, "VALIDATION_ERROR"),
        ("POST", "/holds", {**hold, "order_id": "\uff4f\uff52\uff44\uff45\uff52\uff11"}, 422, "VALIDATION_ERROR"),
        ("POST", "/holds", {**hold, "order_id": "a\u200bb"}, 422, "VALIDATION_ERROR"),
        ("POST", "/holds", {**hold, "order_id": "x#y"}, 422, "VALIDATION_ERROR"),
        ("POST", "/holds", {**hold, "buyer_id": ""}, 422, "VALIDATION_ERROR"),
        ("POST", "/holds", {**hold, "extra": 1}, 422, "VALIDATION_ERROR"),
        ("POST", "/holds", "{not json", 422, "VALIDATION_ERROR"),
        ("POST", "/holds", "[1, 2]", 422, "VALIDATION_ERROR"),
        ("POST", "/holds", "x" * 20_000, 413, "PAYLOAD_TOO_LARGE"),
        ("GET", "/holds/h_000000000000000000000000", None, 404, "HOLD_NOT_FOUND"),
        ("GET", "/holds/not-a-hold", None, 422, "VALIDATION_ERROR"),
        ("POST", "/holds/h_000000000000000000000000/confirm", None, 404, "HOLD_NOT_FOUND"),
        ("POST", "/holds/h_000000000000000000000000/cancel", None, 404, "HOLD_NOT_FOUND"),
        ("PUT", base, {"name": "Tee", "on_hand": -1}, 422, "VALIDATION_ERROR"),
        ("PUT", base, {"name": "", "on_hand": 1}, 422, "VALIDATION_ERROR"),
        ("PUT", base, {"name": "Tee", "on_hand": 5, "expected_version": 99}, 409, "VERSION_CONFLICT"),
        ("PUT", base, {"name": "Tee", "on_hand": 0}, 409, "INSUFFICIENT_FREE_STOCK"),
        ("PUT", "/skus/%E2%98%83", {"name": "Tee", "on_hand": 1}, 422, "VALIDATION_ERROR"),
        ("POST", f"{base}/receipts", {"quantity": 0, "reference": "r"}, 422, "VALIDATION_ERROR"),
        ("POST", f"{base}/receipts", {"quantity": 1}, 422, "VALIDATION_ERROR"),
        ("POST", f"{base}/adjustments", {"quantity": 0, "reason": "x", "reference": "a"}, 422, "VALIDATION_ERROR"),
        (
            "POST",
            f"{base}/adjustments",
            {"quantity": -99, "reason": "x", "reference": "a"},
            409,
            "INSUFFICIENT_FREE_STOCK",
        ),
        ("PUT", f"{base}/allocation", {"pools": {"channel:douyin": 999}}, 409, "INSUFFICIENT_FREE_STOCK"),
        ("PUT", f"{base}/allocation", {"pools": {"shared": 1}}, 422, "VALIDATION_ERROR"),
        ("PUT", f"{base}/allocation", {"pools": {"warehouse": 1}}, 422, "VALIDATION_ERROR"),
        ("POST", f"{base}/reserve/release", {"quantity": 5}, 409, "INSUFFICIENT_FREE_STOCK"),
        ("PUT", f"{base}/limits", {"per_buyer": 0}, 422, "VALIDATION_ERROR"),
        ("GET", f"{base}/ledger?limit=0", None, 422, "VALIDATION_ERROR"),
        ("GET", f"{base}/ledger?cursor=%%%", None, 422, "VALIDATION_ERROR"),
        ("POST", "/skus/unknown-sku/receipts", {"quantity": 1, "reference": "r"}, 404, "SKU_NOT_FOUND"),
        ("GET", "/skus/unknown-sku/reconciliation", None, 404, "SKU_NOT_FOUND"),
    ]


def test_bad_input_gets_a_clear_error_and_changes_nothing(stack: LocalStack, api: Api, sku_id: str) -> None:
    assert api.put(f"/skus/{sku_id}", {"name": "Tee", "on_hand": 10}).status == 201
    assert api.call_patiently("POST", "/holds", {**HOLD, "order_id": "good", "sku_id": sku_id}).status == 201
    before = settled_reconciliation(stack, api, sku_id)
    ledger_before = api.get(f"/skus/{sku_id}/ledger?limit=500").body["movements"]
    for method, path, payload, status, code in bad_requests(sku_id):
        if isinstance(payload, str):
            answer = api.call(method, path, data=payload.encode())
        else:
            answer = api.call(method, path, json=payload)
        assert (answer.status, answer.code) == (status, code), (method, path, payload, answer.body)
        assert answer.body["message"], answer.body
        assert isinstance(answer.body["details"], dict)
    after = settled_reconciliation(stack, api, sku_id)
    assert after["consistent"], after
    assert after["actual"] == before["actual"]
    assert api.get(f"/skus/{sku_id}/ledger?limit=500").body["movements"] == ledger_before
