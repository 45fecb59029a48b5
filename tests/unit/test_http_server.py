"""The local stack's own HTTP endpoints (fake platforms, management API, webhook receiver)."""

import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
import requests

from livestock_local.http_server import HttpServer


class _TellsItsSocket(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        nodelay = str(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(nodelay)))
        self.end_headers()
        self.wfile.write(nodelay)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[HttpServer]:
    server = HttpServer(("127.0.0.1", 0), _TellsItsSocket)
    server.serve_in_thread("test-http")
    yield server
    server.shutdown()
    server.server_close()


def test_connections_answer_without_nagles_delay(server: HttpServer) -> None:
    """A handler writes an answer's head, then its body: with Nagle's algorithm on, the body of each
    answer after a kept-alive connection's first waited for the client's delayed acknowledgement."""
    with requests.Session() as session:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        assert [session.get(url, timeout=5).text for _ in range(2)] == ["1", "1"]
