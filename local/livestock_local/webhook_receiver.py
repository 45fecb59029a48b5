"""A small webhook receiver, for the tests and the event latency benchmark: records every POST
with its arrival time, and answers with programmed status codes (e.g. 500 twice, then 200)."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from livestock_local.http_server import HttpServer


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class Receiver:
    def __init__(self, answers: list[int] | None = None) -> None:
        self.received: list[Received] = []
        self.answers = list(answers or [])
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.received.append(Received(time.time(), dict(self.headers.items()), body))
                    status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = HttpServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def of_type(self, detail_type: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.event["detail-type"] == detail_type]

    def wait_for(self, count: int, detail_type: str, timeout_s: float = 15) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.of_type(detail_type)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        return self.of_type(detail_type)


@contextmanager
def receiving(answers: list[int] | None = None) -> Iterator[Receiver]:
    receiver = Receiver(answers)
    receiver.server.serve_in_thread("webhook-receiver")
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
