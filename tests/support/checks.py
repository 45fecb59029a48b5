"""Checks shared by the integration tests."""

import time
from typing import Any

from livestock_local.stack import LocalStack
from tests.support.api import Api

STREAM_CONSUMER = "StreamConsumerFunction"


def settled_reconciliation(stack: LocalStack, api: Api, sku_id: str, timeout_s: float = 180) -> dict[str, Any]:
    """Waits for the stream consumer, then for in-flight holds to settle, and reconciles. Only the
    consumer's mappings are waited for: what it settles is what reconciliation reads, and events,
    platform sync and the console work on after it. The timeout only catches a consumer that
    stopped: a 1,000-order burst leaves ~10 s of stream to read on an idle 2-core machine, several
    times that beside another worker's stack."""
    deadline = time.monotonic() + timeout_s
    stack.wait_for_stream_mappings(STREAM_CONSUMER, timeout_s)
    while True:
        answer = api.get(f"/skus/{sku_id}/reconciliation")
        assert answer.status == 200, answer.body
        body: dict[str, Any] = answer.body
        if body["consistent"] or time.monotonic() > deadline:
            return body
        time.sleep(0.2)
        stack.wait_for_stream_mappings(STREAM_CONSUMER, timeout_s)
