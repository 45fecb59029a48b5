"""Through the local gateway, as a platform's order service or an operator would call it."""

import os
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

from livestock_local.dynamodb_local import free_port
from livestock_local.sources import ApiSource
from livestock_local.stack import LocalStack
from tests.support.api import Api

pytestmark = pytest.mark.e2e


def test_a_missing_or_wrong_api_key_is_refused_with_json(stack: LocalStack, sku_id: str) -> None:
    for headers in ({}, {"x-api-key": "wrong"}):
        response = requests.get(f"{stack.url}/skus/{sku_id}", headers=headers, timeout=10)
        assert response.status_code == 403
        assert response.json()["code"] == "FORBIDDEN"


def test_a_route_the_api_does_not_have(stack: LocalStack, api: Api) -> None:
    answer = api.call("DELETE", "/skus/x")
    assert answer.status == 403
    assert answer.code == "FORBIDDEN"


def test_malformed_body_unknown_sku_and_replay(api: Api, sku_id: str) -> None:
    bad = api.post("/holds", {"channel": "douyin", "order_id": "o-1", "sku_id": sku_id, "quantity": "many"})
    assert bad.status == 422
    assert bad.code == "VALIDATION_ERROR"
    assert bad.body["details"]["errors"][0]["location"] == ["body", "quantity"]
    unknown = api.post("/holds", {"channel": "douyin", "order_id": "o-1", "sku_id": sku_id, "quantity": 1})
    assert (unknown.status, unknown.code) == (404, "SKU_NOT_FOUND")
    assert api.put(f"/skus/{sku_id}", {"name": "Tee", "on_hand": 5}).status == 201
    order = {"channel": "douyin", "order_id": "o-2", "sku_id": sku_id, "quantity": 2}
    first = api.call_patiently("POST", "/holds", order)
    assert first.status == 201
    replay = api.call_patiently("POST", "/holds", order)
    assert (replay.status, replay.body) == (first.status, first.body)
    mismatch = api.post("/holds", {**order, "quantity": 3})
    assert (mismatch.status, mismatch.code) == (409, "IDEMPOTENCY_MISMATCH")


def run_stack_cli(port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "livestock_local.stack", "--fresh", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "LIVESTOCK_API_WORKERS": "1"},
    )


def test_the_stack_command_refuses_a_busy_port_and_a_second_stack() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        refused = run_stack_cli(port)
        output, _ = refused.communicate(timeout=60)
        assert refused.returncode == 1
        assert f"port {port} is already in use" in output
        assert "Traceback" not in output

    first = run_stack_cli(free_port())
    output_of_first: list[str] = []
    try:
        assert first.stdout is not None
        deadline = time.monotonic() + 240  # a slow, busy machine starts it slowly
        line = ""
        while "Ctrl-C" not in line:
            assert time.monotonic() < deadline, "the first stack started"
            line = first.stdout.readline()
        # Keep reading: a stack whose output pipe is full blocks on its next log line, stop included.
        reader = threading.Thread(target=lambda: output_of_first.extend(first.stdout or []), daemon=True)
        reader.start()
        second = run_stack_cli(free_port())
        output, _ = second.communicate(timeout=240)
        assert second.returncode == 1
        assert "already running" in output
    finally:
        first.terminate()
        first.wait(timeout=60)
    assert first.returncode == 0, "SIGTERM stops the stack cleanly:\n" + "".join(output_of_first[-20:])


def test_kept_alive_connections_answer_without_nagles_delay(stack: LocalStack, api: Api) -> None:
    """An answer's head and body are two writes: with Nagle's algorithm on, the body of every
    answer after a connection's first waited ~40 ms for the client's delayed acknowledgement."""
    assert api.get("/skus/no-such-sku").status == 404
    [gateway] = [source for source in stack.sources if isinstance(source, ApiSource)]
    assert gateway.server is not None
    connections = gateway.server.server.server_state.connections
    assert connections
    for connection in connections:
        accepted = connection.transport.get_extra_info("socket")
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
