"""Malformed, stalled and abusive HTTP gets a 4xx in the API's one error shape, never a hang, a
traceback, an HTML page or a thread per connection; path parameters are decoded as API Gateway
decodes them."""

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from livestock_local.chaos import abuse_probe
from livestock_local.fuzz import raw_request
from livestock_local.sources import ApiSource
from livestock_local.stack import DEFAULT_API_KEY, LocalStack
from livestock_local.stack_process import start_stack
from tests.conftest import API_KEY, REQUEST_DEADLINE_S

pytestmark = pytest.mark.e2e


def raw(stack: LocalStack, request: bytes, timeout_s: float = 15) -> tuple[int, dict[str, str], Any, float]:
    """Sends bytes as they are; returns the status, headers, JSON body and seconds to answer."""
    began = time.monotonic()
    status, headers, body = raw_request(stack.url, request, timeout_s)
    return status, headers, json.loads(body), time.monotonic() - began


def assert_error_shape(status: int, headers: dict[str, str], body: Any, expected: int, code: str) -> None:
    assert status == expected, body
    assert headers["content-type"].startswith("application/json")
    assert set(body) == {"code", "message", "details"}, body
    assert body["code"] == code


def request_head(method: str, path: str, *headers: str, key: bool = True) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", *headers]
    if key:
        lines.append(f"x-api-key: {API_KEY}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


MALFORMED = [
    pytest.param(
        request_head("POST", "/holds", "Content-Type: multipart/form-data", "Content-Length: 3") + b"abc",
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        id="multipart-without-boundary",
    ),
    pytest.param(request_head("TRACE", "/holds"), 405, "METHOD_NOT_ALLOWED", id="trace"),
    pytest.param(request_head("QUERY", "/holds", "Content-Length: 0"), 405, "METHOD_NOT_ALLOWED", id="query"),
    pytest.param(request_head("OPTIONS", "/holds"), 403, "FORBIDDEN", id="options"),
    pytest.param(request_head("POST", "/holds", "Content-Length: -1"), 400, "BAD_REQUEST", id="content-length--1"),
    pytest.param(request_head("POST", "/holds", "Content-Length: abc"), 400, "BAD_REQUEST", id="content-length-abc"),
    pytest.param(b"GARBAGE\r\n\r\n", 400, "BAD_REQUEST", id="not-http"),
    pytest.param(
        request_head("GET", "/holds/x", "X-Big: " + "a" * 11_000), 431, "HEADERS_TOO_LARGE", id="headers-too-large"
    ),
    pytest.param(
        # Headers that do not end within 20 KB are not buffered any further.
        b"GET /holds/x HTTP/1.1\r\nX-Big: " + b"a" * 30_000,
        400,
        "BAD_REQUEST",
        id="headers-that-never-end",
    ),
    pytest.param(request_head("GET", "/skus/" + "a" * 9000), 414, "URI_TOO_LONG", id="uri-too-long"),
    pytest.param(
        request_head("POST", "/holds", "Content-Type: application/json", f"Content-Length: {11 * 1024 * 1024}"),
        413,
        "PAYLOAD_TOO_LARGE",
        id="declared-body-too-large",
    ),
    pytest.param(request_head("GET", "/nowhere"), 403, "FORBIDDEN", id="no-such-route"),
    pytest.param(
        # Ten megabytes declared, not one byte sent, no key: refused from the headers alone.
        request_head("POST", "/holds", "Content-Type: application/json", "Content-Length: 10000000", key=False),
        403,
        "FORBIDDEN",
        id="key-checked-before-the-body",
    ),
]


@pytest.mark.parametrize(("request_bytes", "status", "code"), MALFORMED)
def test_malformed_requests_get_a_4xx_in_the_one_error_shape(
    stack: LocalStack, request_bytes: bytes, status: int, code: str
) -> None:
    answer_status, headers, body, seconds = raw(stack, request_bytes)
    assert_error_shape(answer_status, headers, body, status, code)
    assert seconds < REQUEST_DEADLINE_S, "answered at once, not after a timeout"


def test_a_method_the_api_does_not_serve_gets_405_with_the_methods_it_does(stack: LocalStack) -> None:
    status, headers, body, _ = raw(stack, request_head("TRACE", "/skus/a%3Ab"))
    assert_error_shape(status, headers, body, 405, "METHOD_NOT_ALLOWED")
    assert headers["allow"] == "GET, PUT"  # RFC 9110: a 405 names what the resource serves


# The 408 comes at the deadline, within 3 s: run alone (the timing pass).
@pytest.mark.timing
@pytest.mark.parametrize(
    "stalled",
    [
        pytest.param(b"POST /holds HTTP/1.1\r\nHost: x\r\nx-api-key: ", id="headers-never-finished"),
        pytest.param(
            request_head("POST", "/holds", "Content-Type: application/json", "Content-Length: 100") + b'{"a": 1',
            id="body-shorter-than-its-length",
        ),
    ],
)
def test_a_stalled_request_gets_a_408_at_the_deadline(stack: LocalStack, stalled: bytes) -> None:
    status, headers, body, seconds = raw(stack, stalled)
    assert_error_shape(status, headers, body, 408, "REQUEST_TIMEOUT")
    assert REQUEST_DEADLINE_S - 0.5 < seconds < REQUEST_DEADLINE_S + 3


def test_path_parameters_are_percent_decoded_as_api_gateway_does(stack: LocalStack) -> None:
    """REST APIs decode each path parameter and leave `path` as the client sent it."""
    (gateway,) = [source.gateway for source in stack.sources if isinstance(source, ApiSource)]
    for raw_path, sku_id in [
        ("/skus/a%3Ab", "a:b"),
        ("/skus/a%3ab", "a:b"),
        ("/skus/a%2Fb", "a/b"),
        ("/skus/a:b", "a:b"),
    ]:
        matched = gateway.match("GET", raw_path)
        assert matched is not None, raw_path
        route, parameters = matched
        assert parameters == {"sku_id": sku_id}
        event = gateway.event(route, "GET", raw_path, "", {}, b"", parameters)
        assert (event["path"], event["pathParameters"], event["resource"]) == (raw_path, parameters, "/skus/{sku_id}")
    assert gateway.match("GET", "/skus/a/b") is None, "a real slash is a segment boundary"


# It times a normal client against a baseline: run alone, not beside another worker's stack.
@pytest.mark.timing
def test_abuse_leaves_memory_and_threads_bounded_and_a_normal_client_answered(tmp_path: Path) -> None:
    # A stack of its own, in its own process: its figures are not mixed with this one's.
    running = start_stack(tmp_path / "state", fresh=True)
    try:
        sku = "/skus/abuse-1"
        headers = {"x-api-key": DEFAULT_API_KEY}
        assert requests.put(running.url + sku, json={"name": "Tee", "on_hand": 1}, headers=headers, timeout=30).ok
        began = time.monotonic()
        assert requests.get(running.url + sku, headers=headers, timeout=30).ok
        baseline_s = time.monotonic() - began
        result = abuse_probe(running.url, running.pid, sku, incomplete=200, bodies=16)
    finally:
        os.killpg(running.pid, signal.SIGTERM)
        # How fast a stop is, is test_lifecycle's claim (timed alone); here it only has to stop.
        running.process.wait(timeout=60)
    assert result.normal_status == 200, result
    # Within 1 s, plus what the same call took just before on this shared 2-core machine.
    assert result.normal_client_s < 1.0 + 2 * baseline_s, (baseline_s, result)
    assert result.during[1] - result.before[1] <= 4, f"threads per connection: {result}"
    assert result.during[0] - result.before[0] < 50, f"memory per body: {result}"
