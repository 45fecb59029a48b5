"""The template's WebSocket API (AWS::ApiGatewayV2::Api, ProtocolType WEBSOCKET), played locally.

A `websockets` server on a port of its own takes the connections. For each it builds the events
API Gateway sends: the REQUEST authorizer's (when $connect has one; a missing identity source is
refused 401 before it runs, "Unauthorized" raised by it is 401, a Deny is 403), then $connect,
each message routed by the API's RouteSelectionExpression (`$request.body.action`), and
$disconnect. A second server plays the management API the functions post through:
`POST /@connections/{id}` (410 GoneException once the connection has gone), `GET` and `DELETE`.
Functions reach it at AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI and at the endpoint variable the
template gives them (CONSOLE_MANAGEMENT_ENDPOINT), both set here before their workers start.
"""

import asyncio
import base64
import contextlib
import http
import json
import os
import re
import secrets
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from livestock_local.dynamodb_local import free_port
from livestock_local.http_server import HttpServer
from livestock_local.lambda_runtime import FunctionTimeout, Invoker
from livestock_local.sources import StackContext, UnsupportedEventSource, register_resource
from livestock_local.template import Template

# API Gateway's WebSocket limits: 128 KB a message (32 KB frames are joined here).
MAX_MESSAGE_BYTES = 128 * 1024
_FUNCTION_ARN = re.compile(r"\$\{(\w+)\.Arn\}")
_INTEGRATION = re.compile(r"integrations/\$\{(\w+)\}")


@dataclass(frozen=True)
class WsRoute:
    key: str
    function: str
    authorizer: str | None = None  # a function's logical id
    identity_query: tuple[str, ...] = ()  # query parameters the authorizer needs (identity source)


@dataclass
class WebSocketApi:
    logical_id: str
    stage: str
    selection: str  # "$request.body.<field>"
    routes: dict[str, WsRoute] = field(default_factory=dict)

    @classmethod
    def read(cls, template: Template, logical_id: str, table_names: dict[str, str]) -> "WebSocketApi":
        resources = template.resources
        props = resources[logical_id]["Properties"]
        selection = str(props.get("RouteSelectionExpression", "$request.body.action"))
        if not selection.startswith("$request.body."):
            raise UnsupportedEventSource(f"{logical_id}: RouteSelectionExpression {selection!r} is not played locally")
        stages = [
            r["Properties"]
            for r in resources.values()
            if r["Type"] == "AWS::ApiGatewayV2::Stage" and _ref(r["Properties"].get("ApiId")) == logical_id
        ]
        stage = template.resolve(stages[0]["StageName"], table_names) if stages else "production"
        api = cls(logical_id, stage, selection)
        for name, resource in resources.items():
            if (
                resource["Type"] != "AWS::ApiGatewayV2::Route"
                or _ref(resource["Properties"].get("ApiId")) != logical_id
            ):
                continue
            route = resource["Properties"]
            target = _INTEGRATION.search(str(route.get("Target", {}).get("Fn::Sub", "")))
            if target is None:
                raise UnsupportedEventSource(f"{name}: only Target !Sub integrations/${{Integration}} is played")
            integration = resources[target.group(1)]["Properties"]
            if integration.get("IntegrationType") != "AWS_PROXY":
                raise UnsupportedEventSource(f"{target.group(1)}: only AWS_PROXY (Lambda) integrations are played")
            authorizer, identity = None, ()
            if route.get("AuthorizationType") == "CUSTOM":
                spec = resources[_ref(route["AuthorizerId"]) or ""]["Properties"]
                if spec.get("AuthorizerType") != "REQUEST":
                    raise UnsupportedEventSource(f"{name}: only REQUEST authorizers are played")
                authorizer = _function_of(spec["AuthorizerUri"], name)
                identity = tuple(
                    source.removeprefix("route.request.querystring.")
                    for source in spec.get("IdentitySource", [])
                    if source.startswith("route.request.querystring.")
                )
            elif route.get("AuthorizationType", "NONE") != "NONE":
                raise UnsupportedEventSource(f"{name}: AuthorizationType {route['AuthorizationType']} is not played")
            key = str(route["RouteKey"])
            api.routes[key] = WsRoute(key, _function_of(integration["IntegrationUri"], name), authorizer, identity)
        return api


def _ref(value: Any) -> str | None:
    return str(value["Ref"]) if isinstance(value, dict) and "Ref" in value else None


def _function_of(uri: Any, where: str) -> str:
    found = _FUNCTION_ARN.search(str(uri.get("Fn::Sub", "")) if isinstance(uri, dict) else str(uri))
    if found is None:
        raise UnsupportedEventSource(f"{where}: the integration names no function (${{Function.Arn}})")
    return found.group(1)


@dataclass
class Peer:
    connection: ServerConnection
    connected_at: float
    source_ip: str
    user_agent: str | None
    authorizer: dict[str, Any] | None
    last_active_at: float = field(default_factory=time.time)


class LocalWebSocketApi:
    def __init__(self, api: WebSocketApi, invoker: Invoker, host: str, port: int, management_port: int) -> None:
        self.api = api
        self.invoker = invoker
        self.host = host
        self.port = port
        self.management_port = management_port
        self.peers: dict[str, Peer] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._management: ThreadingHTTPServer | None = None
        self._calls = ThreadPoolExecutor(max(2, invoker.workers * 2), thread_name_prefix="websocket-call")
        self._started = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def management_endpoint(self) -> str:
        return f"http://{self.host}:{self.management_port}/{self.api.stage}"

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> None:
        self._thread = threading.Thread(target=self._run, name="websocket-api", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout_s):
            raise RuntimeError("the local WebSocket API did not start")
        if self._server is None:
            raise RuntimeError(f"the local WebSocket API could not listen on port {self.port}")
        self._management = HttpServer((self.host, self.management_port), _management_handler(self))
        self._management.serve_in_thread("websocket-management")

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            self._server = await serve(
                self._handle,
                self.host,
                self.port,
                process_request=self._process_request,
                max_size=MAX_MESSAGE_BYTES,
                server_header=None,
            )
        except OSError:
            self._started.set()
            return
        self._started.set()
        await self._stopping.wait()
        self._server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 3)

    def stop(self) -> None:
        if self._management is not None:
            self._management.shutdown()
            self._management.server_close()
            self._management = None
        if self.loop is not None and self._stopping is not None:
            self.loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._calls.shutdown(wait=False, cancel_futures=True)

    def idle(self) -> bool:
        return self._in_flight == 0

    # --- invocations -------------------------------------------------------------------------

    async def _invoke(self, function: str, event: dict[str, Any]) -> Any:
        assert self.loop is not None
        with self._lock:
            self._in_flight += 1
        try:
            return await self.loop.run_in_executor(self._calls, self.invoker.invoke, function, event)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _context(self, connection_id: str, route: str, event_type: str, peer: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        return {
            "routeKey": route,
            "eventType": event_type,
            "messageDirection": "IN",
            "extendedRequestId": str(uuid.uuid4()),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "stage": self.api.stage,
            "connectedAt": int(peer["connected_at"] * 1000),
            "requestTimeEpoch": int(now * 1000),
            "identity": {"sourceIp": peer["source_ip"], "userAgent": peer["user_agent"]},
            "requestId": str(uuid.uuid4()),
            "domainName": f"{self.host}:{self.port}",
            "connectionId": connection_id,
            "apiId": "local",
        }

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """The handshake: authorizer, then $connect; any refusal answers the upgrade with its status."""
        split = urlsplit(request.path)
        query = parse_qs(split.query, keep_blank_values=True)
        headers = {name.lower(): value for name, value in request.headers.raw_items()}
        connection_id = base64.urlsafe_b64encode(secrets.token_bytes(10)).decode()
        address = connection.remote_address
        connected_at, source_ip, user_agent = (
            time.time(),
            str(address[0]) if address else "127.0.0.1",
            headers.get("user-agent"),
        )
        peer: dict[str, Any] = {"connected_at": connected_at, "source_ip": source_ip, "user_agent": user_agent}
        route = self.api.routes.get("$connect")
        context = self._context(connection_id, "$connect", "CONNECT", peer)
        common = {
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "isBase64Encoded": False,
        }
        authorized: dict[str, Any] | None = None
        if route is not None and route.authorizer is not None:
            if any(not query.get(name, [""])[-1] for name in route.identity_query):
                return _refusal(connection, http.HTTPStatus.UNAUTHORIZED)
            event = {
                "type": "REQUEST",
                "methodArn": f"arn:aws:execute-api:us-east-1:000000000000:local/{self.api.stage}/$connect",
                **common,
                "stageVariables": {},
                "requestContext": context,
            }
            try:
                answer = await self._invoke(route.authorizer, event)
            except FunctionTimeout:
                return _refusal(connection, http.HTTPStatus.INTERNAL_SERVER_ERROR)
            except Exception as error:  # noqa: BLE001 - an authorizer's error is a refusal, as on AWS
                if str(error) == "Unauthorized":
                    return _refusal(connection, http.HTTPStatus.UNAUTHORIZED)
                traceback.print_exc()
                return _refusal(connection, http.HTTPStatus.INTERNAL_SERVER_ERROR)
            if not _allows(answer):
                return _refusal(connection, http.HTTPStatus.FORBIDDEN)
            authorized = {**dict(answer.get("context") or {}), "principalId": answer.get("principalId")}
            context["authorizer"] = authorized
        if route is not None:
            try:
                result = await self._invoke(route.function, {**common, "requestContext": context})
            except Exception:  # noqa: BLE001 - a failed $connect refuses the connection, as on AWS
                traceback.print_exc()
                return _refusal(connection, http.HTTPStatus.INTERNAL_SERVER_ERROR)
            status = int(result.get("statusCode", 200)) if isinstance(result, dict) else 200
            if not 200 <= status < 300:
                return _refusal(connection, http.HTTPStatus(status))
        connection.livestock_id = connection_id  # type: ignore[attr-defined]
        self.peers[connection_id] = Peer(connection, connected_at, source_ip, user_agent, authorized)
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        connection_id: str = connection.livestock_id  # type: ignore[attr-defined]
        peer = self.peers[connection_id]
        status, reason = 1000, "Client closed"
        try:
            async for message in connection:
                peer.last_active_at = time.time()
                text = message if isinstance(message, str) else message.decode("utf-8", errors="replace")
                await self._message(connection_id, peer, text)
        except ConnectionClosed as closed:
            status, reason = (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (1006, "Going away")
        finally:
            self.peers.pop(connection_id, None)
            route = self.api.routes.get("$disconnect")
            if route is not None:
                context = self._context(connection_id, "$disconnect", "DISCONNECT", _peer_dict(peer))
                context |= {"disconnectStatusCode": status, "disconnectReason": reason or ""}
                if peer.authorizer is not None:
                    context["authorizer"] = peer.authorizer
                with contextlib.suppress(Exception):
                    await self._invoke(route.function, _message_event(context, None))

    async def _message(self, connection_id: str, peer: Peer, text: str) -> None:
        field_name = self.api.selection.removeprefix("$request.body.")
        try:
            selected = json.loads(text).get(field_name)
        except (ValueError, AttributeError):
            selected = None
        route = self.api.routes.get(str(selected)) if selected is not None else None
        route = route or self.api.routes.get("$default")
        if route is None:
            # API Gateway's own answer when no route matches and there is no $default.
            await peer.connection.send(
                json.dumps({"message": "Forbidden", "connectionId": connection_id, "requestId": str(uuid.uuid4())})
            )
            return
        context = self._context(connection_id, route.key, "MESSAGE", _peer_dict(peer))
        context["messageId"] = secrets.token_urlsafe(12)
        if peer.authorizer is not None:
            context["authorizer"] = peer.authorizer
        try:
            await self._invoke(route.function, _message_event(context, text))
        except Exception:  # noqa: BLE001 - API Gateway answers an integration failure with a message
            traceback.print_exc()
            await peer.connection.send(
                json.dumps(
                    {
                        "message": "Internal server error",
                        "connectionId": connection_id,
                        "requestId": context["requestId"],
                    }
                )
            )

    # --- the management API ------------------------------------------------------------------

    def post(self, connection_id: str, data: bytes) -> bool:
        peer = self.peers.get(connection_id)
        if peer is None or self.loop is None:
            return False
        text = data.decode("utf-8", errors="replace")
        future = asyncio.run_coroutine_threadsafe(peer.connection.send(text), self.loop)
        try:
            future.result(timeout=5)
        except ConnectionClosed:
            return False
        return True

    def close(self, connection_id: str) -> bool:
        peer = self.peers.get(connection_id)
        if peer is None or self.loop is None:
            return False
        asyncio.run_coroutine_threadsafe(peer.connection.close(1000, "closed by the management API"), self.loop)
        return True


def _peer_dict(peer: Peer) -> dict[str, Any]:
    return {"connected_at": peer.connected_at, "source_ip": peer.source_ip, "user_agent": peer.user_agent}


def _message_event(context: dict[str, Any], body: str | None) -> dict[str, Any]:
    event: dict[str, Any] = {"requestContext": context, "isBase64Encoded": False}
    if body is not None:
        event["body"] = body
    else:
        event |= {"headers": {}, "multiValueHeaders": {}}
    return event


def _allows(answer: Any) -> bool:
    if not isinstance(answer, dict):
        return False
    statements = (answer.get("policyDocument") or {}).get("Statement") or []
    return bool(statements) and all(s.get("Effect") == "Allow" for s in statements)


def _refusal(connection: ServerConnection, status: http.HTTPStatus) -> Response:
    response = connection.respond(status, json.dumps({"message": status.phrase}) + "\n")
    response.headers = Headers({**dict(response.headers.raw_items()), "Content-Type": "application/json"})
    return response


def _management_handler(api: LocalWebSocketApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # Keep-alive, as API Gateway's endpoint: a fan-out posting to fifty connections four times
        # a second reuses its connections instead of opening one (and a server thread) per post.
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _connection_id(self) -> str | None:
            path = unquote(urlsplit(self.path).path)
            marker = "/@connections/"
            return path.split(marker, 1)[1] if marker in path else None

        def _answer(self, status: int, body: dict[str, Any] | None = None, error: str | None = None) -> None:
            payload = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            if error:
                self.send_header("x-amzn-ErrorType", error)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _gone(self, connection_id: str) -> None:
            self._answer(410, {"message": f"connection {connection_id} is gone"}, "GoneException")

        def do_POST(self) -> None:
            connection_id = self._connection_id()
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
            if connection_id is None:
                self._answer(404, {"message": "no such route"}, "NotFoundException")
            elif length > MAX_MESSAGE_BYTES:
                self._answer(413, {"message": "payload too large"}, "PayloadTooLargeException")
            elif api.post(connection_id, data):
                self._answer(200)
            else:
                self._gone(connection_id)

        def do_GET(self) -> None:
            connection_id = self._connection_id()
            peer = api.peers.get(connection_id or "")
            if connection_id is None or peer is None:
                self._gone(connection_id or "")
                return
            self._answer(
                200,
                {
                    "ConnectedAt": _iso(peer.connected_at),
                    "LastActiveAt": _iso(peer.last_active_at),
                    "Identity": {"SourceIp": peer.source_ip, "UserAgent": peer.user_agent or ""},
                },
            )

        def do_DELETE(self) -> None:
            connection_id = self._connection_id()
            if connection_id is not None and api.close(connection_id):
                self._answer(204)
            else:
                self._gone(connection_id or "")

    return Handler


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@register_resource("AWS::ApiGatewayV2::Api")
class WebSocketApiSource:
    """Every WEBSOCKET API of the template (one port each; the first on LIVESTOCK_WS_PORT if set).
    The functions are given the management endpoint and the page's addresses before they start."""

    def __init__(self, context: StackContext, logical_ids: list[str]) -> None:
        self.apis: list[LocalWebSocketApi] = []
        for number, logical_id in enumerate(logical_ids):
            props = context.template.resources[logical_id]["Properties"]
            if props.get("ProtocolType") != "WEBSOCKET":
                raise UnsupportedEventSource(
                    f"{logical_id}: only WEBSOCKET APIs are played locally (HTTP APIs are not)"
                )
            api = WebSocketApi.read(context.template, logical_id, context.table_names)
            wanted = os.environ.get("LIVESTOCK_WS_PORT") if number == 0 else None
            local = LocalWebSocketApi(api, context.invoker, context.host, int(wanted or free_port()), free_port())
            self.apis.append(local)
            self._export(context, logical_id, local)

    @staticmethod
    def _export(context: StackContext, logical_id: str, local: LocalWebSocketApi) -> None:
        """What the template's !Sub addresses of this API mean here. They go into this process's
        environment too: a worker process runs every function, and the services one function
        builds (and caches) must not keep another's view of the addresses."""
        variables = {"AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI": local.management_endpoint}
        for function in context.functions.values():
            for name, value in list(function.environment.items()):
                if f"local-{logical_id}" not in value:
                    continue
                if value.startswith("wss://"):
                    variables[name] = local.url
                    variables["CONSOLE_PAGE_URL"] = f"http://{context.host}:{context.port}/console"
                elif value.startswith("https://"):
                    variables[name] = local.management_endpoint
        os.environ.update(variables)
        for function in context.functions.values():
            function.environment.update(variables)

    def start(self) -> None:
        for api in self.apis:
            api.start()

    def stop(self) -> None:
        for api in self.apis:
            api.stop()

    def idle(self) -> bool:
        return all(api.idle() for api in self.apis)
