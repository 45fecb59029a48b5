"""The local API Gateway: serves every Api route of template.yaml, with the same API-key check.

Each HTTP request becomes the REST API proxy event AWS would send; the handler runs in-process.
"""

import json
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from livestock_local.lambda_runtime import FunctionPool
from livestock_local.template import Route

# API Gateway's own limit on a request body.
MAX_BODY_BYTES = 10 * 1024 * 1024
FORBIDDEN = {"code": "FORBIDDEN", "message": "a valid x-api-key header is required", "details": {}}


class Gateway:
    def __init__(self, routes: list[Route], functions: FunctionPool, api_key: str, stage: str) -> None:
        self.routes = routes
        self.functions = functions
        self.api_key = api_key
        self.stage = stage

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            found = route.pattern.match(path)
            if found and route.method == method:
                return route, found.groupdict()
        return None

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        lowered = {k.lower(): v for k, v in headers.items()}
        if lowered.get("x-api-key") != self.api_key:
            return _json(403, FORBIDDEN)
        parts = urlsplit(raw_path)
        matched = self.match(method, parts.path)
        if matched is None:
            # What API Gateway answers for a route it does not have.
            return _json(403, {**FORBIDDEN, "message": "no such route, or a valid x-api-key header is required"})
        route, path_parameters = matched
        event = self._event(route, method, parts.path, parts.query, headers, body, path_parameters)
        try:
            result = self.functions.invoke(route.function, event)
        except Exception as error:  # noqa: BLE001 - a crashed Lambda is a 502 at API Gateway too
            traceback.print_exc()
            return _json(
                502,
                {"code": "INTERNAL_ERROR", "message": f"the function failed: {type(error).__name__}", "details": {}},
            )
        status = int(result.get("statusCode", 200))
        out_headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            out_headers[name] = ", ".join(str(v) for v in values)
        payload = result.get("body") or ""
        return status, out_headers, payload.encode() if isinstance(payload, str) else bytes(payload)

    def _event(
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
                "path": f"/{self.stage}{path}",
                "stage": self.stage,
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


def _json(status: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


class _RequestHandler(BaseHTTPRequestHandler):
    gateway: Gateway
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            status, headers, payload = _json(
                413, {"code": "PAYLOAD_TOO_LARGE", "message": "body too large", "details": {"limit": MAX_BODY_BYTES}}
            )
            self.close_connection = True
        else:
            body = self.rfile.read(length) if length else b""
            status, headers, payload = self.gateway.handle(self.command, self.path, dict(self.headers), body)
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        return


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512


def serve(gateway: Gateway, host: str, port: int) -> tuple[GatewayServer, threading.Thread]:
    handler = type("BoundHandler", (_RequestHandler,), {"gateway": gateway})
    server = GatewayServer((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, name="gateway", daemon=True)
    thread.start()
    return server, thread
