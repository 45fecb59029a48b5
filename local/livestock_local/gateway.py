"""The local API Gateway: serves every Api route of template.yaml, with the same API-key check.

Each HTTP request becomes the REST API proxy event AWS would send, and one of the invoker's
execution environments runs it. HTTP itself is uvicorn's (h11): it refuses malformed requests
(bad Content-Length, bad request lines, oversized headers) before any of this code runs, keeps
incomplete connections on one event loop instead of a thread each, and stops reading a body the
application has not asked for. What is added here: the one JSON error shape for every refusal,
a deadline for the whole request to arrive, a bound on connections, and the API key checked
before a byte of the body is read.
"""

import asyncio
import json
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from livestock_local.lambda_runtime import FunctionTimeout, Invoker
from livestock_local.template import GatewayResponse, RestApi, Route

# API Gateway's own limits: a 10 MB payload, and a request line it refuses past 8 KB (414).
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_URI_BYTES = 8192
# A refused request's declared body up to this size is read and dropped before the connection closes.
DRAIN_LIMIT_BYTES = 64 * 1024
# A slow or stalled client gets this long to send its whole request (headers and body).
REQUEST_DEADLINE_S = 10.0
MAX_CONNECTIONS = 1000
# API Gateway's limit on the request line and headers together; h11 also stops buffering a request
# whose headers have not ended by twice that (400).
MAX_HEADER_BYTES = 10240
# The methods API Gateway's REST APIs serve (TRACE, CONNECT and made-up ones never reach a route).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> bytes:
    """The API's one error shape, for the answers the gateway gives itself."""
    return json.dumps({"code": code, "message": message, "details": details or {}}).encode()


# What the gateway answers itself when the template declares no GatewayResponse of that type.
# Each is in the API's error shape, so a client never has to parse a second one.
DEFAULT_RESPONSES = {
    # Unparseable HTTP. (The template's BAD_REQUEST_BODY is for a body the request validator refuses.)
    "DEFAULT_4XX": GatewayResponse(400, error_body("BAD_REQUEST", "the request could not be read").decode()),
    "INVALID_API_KEY": GatewayResponse(403, error_body("FORBIDDEN", "a valid x-api-key header is required").decode()),
    "MISSING_AUTHENTICATION_TOKEN": GatewayResponse(403, error_body("FORBIDDEN", "no such route").decode()),
    "METHOD_NOT_ALLOWED": GatewayResponse(
        405, error_body("METHOD_NOT_ALLOWED", "the API does not serve this method").decode()
    ),
    "REQUEST_TIMEOUT": GatewayResponse(
        408, error_body("REQUEST_TIMEOUT", "the request did not arrive in time").decode()
    ),
    "HEADERS_TOO_LARGE": GatewayResponse(
        431, error_body("HEADERS_TOO_LARGE", "request line and headers too large", {"limit": MAX_HEADER_BYTES}).decode()
    ),
    "REQUEST_TOO_LARGE": GatewayResponse(
        413, error_body("PAYLOAD_TOO_LARGE", "body too large", {"limit": MAX_BODY_BYTES}).decode()
    ),
    "URI_TOO_LONG": GatewayResponse(
        414, error_body("URI_TOO_LONG", "the request line is too long", {"limit": MAX_URI_BYTES}).decode()
    ),
    "UNSUPPORTED_MEDIA_TYPE": GatewayResponse(
        415, error_body("UNSUPPORTED_MEDIA_TYPE", "send the body as application/json").decode()
    ),
    "THROTTLED": GatewayResponse(429, error_body("THROTTLED", "too many requests").decode()),
    "INTEGRATION_FAILURE": GatewayResponse(502, error_body("INTERNAL_ERROR", "the function failed").decode()),
    "INTEGRATION_TIMEOUT": GatewayResponse(504, error_body("TIMEOUT", "the function timed out").decode()),
}


def _rendered(kind: str, declared: GatewayResponse) -> GatewayResponse:
    """A template's gateway response as API Gateway sends it: its status, or the kind's own when it
    names none, and the two $context.error variables our templates use filled in."""
    default = DEFAULT_RESPONSES.get(kind)
    said = json.loads(default.body) if default else {}
    body = declared.body.replace("$context.error.responseType", str(said.get("code", kind))).replace(
        "$context.error.messageString", json.dumps(said.get("message", kind))
    )
    return GatewayResponse(declared.status or (default.status if default else 500), body)


class Gateway:
    """One REST API: its routes, its stage, its key and its gateway responses."""

    def __init__(self, routes: list[Route], invoker: Invoker, api_key: str, api: RestApi) -> None:
        self.routes = routes
        self.invoker = invoker
        self.api_key = api_key
        self.api = api
        self.responses = {**DEFAULT_RESPONSES, **{kind: _rendered(kind, r) for kind, r in api.responses.items()}}
        # Invocations wait in this pool's queue; the workers bound how many run at once.
        self._calls = ThreadPoolExecutor(max(1, invoker.workers * 2), thread_name_prefix="gateway-call")

    def response(self, kind: str) -> tuple[int, dict[str, str], bytes]:
        found = self.responses[kind]
        return found.status, {"content-type": "application/json"}, found.body.encode()

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        raw_segments = raw_path.strip("/").split("/")
        for route in self.routes:
            if route.method != method:
                continue
            parameters = route.match(raw_segments)
            if parameters is not None:
                return route, parameters
        return None

    def allowed(self, raw_path: str) -> str:
        """The methods the routes on this path serve, for the Allow header of a 405 (RFC 9110)."""
        raw_segments = raw_path.strip("/").split("/")
        return ", ".join(sorted({route.method for route in self.routes if route.match(raw_segments) is not None}))

    def _method_not_allowed(self, raw_path: str) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = self.response("METHOD_NOT_ALLOWED")
        return status, {**headers, "allow": self.allowed(raw_path)}, body

    def _keyless_path(self, raw_path: str) -> bool:
        raw_segments = raw_path.strip("/").split("/")
        served = [route for route in self.routes if route.match(raw_segments) is not None]
        return bool(served) and all(route.api_key_required is False for route in served)

    def refuse_before_body(
        self, method: str, raw_path: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes] | None:
        """What the gateway answers from the request line and headers alone, before the body."""
        if len(raw_path) > MAX_URI_BYTES:
            return self.response("URI_TOO_LONG")
        if len(method) + len(raw_path) + sum(len(k) + len(v) for k, v in headers.items()) > MAX_HEADER_BYTES:
            return self.response("HEADERS_TOO_LARGE")
        if method not in KNOWN_METHODS:
            return self._method_not_allowed(raw_path)
        matched = self.match(method, raw_path)
        if matched is None and self._keyless_path(raw_path):
            # A path only keyless routes serve (the console's page, the platforms' pushes): no key
            # could make another method valid, so the method is what is wrong.
            return self._method_not_allowed(raw_path)
        key_required = self.api.api_key_required
        if matched is not None and matched[0].api_key_required is not None:
            key_required = matched[0].api_key_required
        if key_required and headers.get("x-api-key") != self.api_key:
            return self.response("INVALID_API_KEY")
        if matched is None:
            return self.response("MISSING_AUTHENTICATION_TOKEN")
        declared_length = headers.get("content-length")
        if declared_length is not None and int(declared_length) > MAX_BODY_BYTES:
            return self.response("REQUEST_TOO_LARGE")
        content_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
        # The API takes JSON only; anything else (a multipart body without its boundary, a form)
        # is refused here rather than handed to a function that cannot parse it.
        if declared_length not in (None, "0") and content_type not in ("application/json", ""):
            return self.response("UNSUPPORTED_MEDIA_TYPE")
        return None

    def invoke(
        self, method: str, raw_path: str, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        matched = self.match(method, raw_path)
        if matched is None:
            return self.response("MISSING_AUTHENTICATION_TOKEN")
        route, path_parameters = matched
        # API Gateway (REST) decodes pathParameters but leaves `path` as the client sent it;
        # Powertools' router matches on the encoded path.
        event = self.event(route, method, raw_path, query, headers, body, path_parameters)
        try:
            result = self.invoker.invoke(route.function, event)
        except FunctionTimeout:
            return self.response("INTEGRATION_TIMEOUT")
        except Exception:  # noqa: BLE001 - a crashed Lambda is a 502 at API Gateway too
            traceback.print_exc()
            return self.response("INTEGRATION_FAILURE")
        if not isinstance(result, dict) or "statusCode" not in result:
            return self.response("INTEGRATION_FAILURE")
        status = int(result["statusCode"])
        out_headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            out_headers[name.lower()] = ", ".join(str(v) for v in values)
        payload = result.get("body") or ""
        return status, out_headers, payload.encode() if isinstance(payload, str) else bytes(payload)

    async def invoke_async(
        self, method: str, raw_path: str, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._calls, self.invoke, method, raw_path, query, headers, body)

    def event(
        self,
        route: Route,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        path_parameters: dict[str, str],
    ) -> dict[str, Any]:
        multi_query = parse_qs(query, keep_blank_values=True)
        text = body.decode("utf-8", errors="replace") if body else None
        return {
            "resource": route.path,
            "path": path,
            "httpMethod": method,
            "headers": dict(headers),
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": route.path,
                "httpMethod": method,
                "path": f"/{self.api.stage}{path}",
                "stage": self.api.stage,
                "requestId": str(uuid.uuid4()),
                "requestTimeEpoch": int(time.time() * 1000),
                "accountId": "000000000000",
                "apiId": "local",
                "protocol": "HTTP/1.1",
                "identity": {"sourceIp": "127.0.0.1", "apiKey": self.api_key, "apiKeyId": "local"},
            },
            "body": text,
            "isBase64Encoded": False,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI application uvicorn serves."""
        if scope["type"] != "http":
            return
        method = str(scope["method"])
        raw_path = bytes(scope["raw_path"]).decode("latin-1")
        query = bytes(scope["query_string"]).decode("latin-1")
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1").lower()
            headers[key] = f"{headers[key]}, {value.decode('latin-1')}" if key in headers else value.decode("latin-1")
        refused = self.refuse_before_body(method, raw_path, headers)
        if refused is not None:
            # The refusal was decided before any body byte was read. A small declared body is then
            # read and dropped, so that closing does not reset the connection under the answer (a
            # socket closed with unread data sends RST); a large or chunked one is never read.
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) <= DRAIN_LIMIT_BYTES:
                await _discard_body(receive)
            await _answer(send, *refused, close=True)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body"))
            if len(body) > MAX_BODY_BYTES:
                # A chunked body declares no length: it is refused once it grows past the limit.
                await _answer(send, *self.response("REQUEST_TOO_LARGE"), close=True)
                return
        await _answer(send, *await self.invoke_async(method, raw_path, query, headers, bytes(body)))

    def shutdown(self) -> None:
        self._calls.shutdown(wait=False, cancel_futures=True)


async def _discard_body(receive: Receive) -> None:
    more = True
    while more:
        message = await receive()
        more = message["type"] != "http.disconnect" and bool(message.get("more_body"))


async def _answer(send: Send, status: int, headers: dict[str, str], payload: bytes, close: bool = False) -> None:
    raw_headers = [(k.encode(), v.encode()) for k, v in headers.items() if k not in ("content-length", "connection")]
    raw_headers.append((b"content-length", str(len(payload)).encode()))
    if close:
        raw_headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


def _raw_answer(response: GatewayResponse) -> bytes:
    """A whole HTTP answer, for refusals made before h11 has a request to answer."""
    body = response.body.encode()
    return (
        f"HTTP/1.1 {response.status} {HTTPStatus(response.status).phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol with the gateway's refusals in the API's error shape, a deadline for
    each request to arrive whole, and a cap on open connections."""

    responses: dict[str, GatewayResponse] = DEFAULT_RESPONSES
    request_deadline_s: float = REQUEST_DEADLINE_S
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        if len(self.connections) > MAX_CONNECTIONS:
            self._refuse("THROTTLED")
            return
        self._arm_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
            self._arm_deadline()
        else:
            self._disarm_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_deadline()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        self._refuse("DEFAULT_4XX")

    def _arm_deadline(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.request_deadline_s, self._request_timed_out)

    def _disarm_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _request_timed_out(self) -> None:
        self._deadline = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            answered = self.cycle is not None and self.cycle.response_started
            if answered:
                self.transport.close()
            else:
                self._refuse("REQUEST_TIMEOUT")

    def _refuse(self, kind: str) -> None:
        self._disarm_deadline()
        if not self.transport.is_closing():
            self.transport.write(_raw_answer(self.responses[kind]))
            self.transport.close()


class GatewayServer:
    """uvicorn on a socket bound here, so a busy port fails the caller, not a server thread."""

    def __init__(self, gateway: Gateway, host: str, port: int, request_deadline_s: float = REQUEST_DEADLINE_S) -> None:
        self.gateway = gateway
        # proto=IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off only on the connections
        # accepted on such a socket. With it on, an answer's body (uvicorn writes the head, then the
        # body) waited for the client's delayed ACK of the head: 40 ms on every kept-alive request
        # after a connection's first.
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.socket.listen(1024)
        protocol = type(
            "GatewayProtocol",
            (_Protocol,),
            {"responses": gateway.responses, "request_deadline_s": request_deadline_s},
        )
        config = uvicorn.Config(
            gateway,
            http=protocol,
            lifespan="off",
            # uvicorn logs each malformed request at WARNING: under abuse, a flood.
            log_level="error",
            access_log=False,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=2,
            h11_max_incomplete_event_size=2 * MAX_HEADER_BYTES,
            server_header=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name="gateway", daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.socket]))

    def start(self, timeout_s: float = 10) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.socket.close()
        self.gateway.shutdown()
