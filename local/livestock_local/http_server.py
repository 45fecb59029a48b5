"""The HTTP server of the local stack's own endpoints (the fake platforms, the WebSocket API's
management endpoint, the webhook receiver of the benchmarks).

socketserver listens with a backlog of 5. When more clients than that connect at once (64 buyers,
or a fan-out posting on 16 threads), the kernel drops or resets what it cannot queue: a reset
("Connection reset by peer", "Remote end closed connection without response") killed `make demo`'s
platform part, with no error on the server's side, and a dropped connection attempt is retried
only after a second.

Its connections send without Nagle's delay. A handler writes the head and then the body of an
answer; on a kept-alive connection the kernel held the body back until the client acknowledged the
head, and the client delays that acknowledgement by up to 40 ms: every answer after a connection's
first came 40 ms late."""

import socket
import threading
from http.server import ThreadingHTTPServer


class HttpServer(ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True
    # shutdown() returns at the serving loop's next look: socketserver's 0.5 s, paid at every stop.
    shutdown_poll_s = 0.05

    def get_request(self) -> tuple[socket.socket, object]:
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address

    def serve_in_thread(self, name: str) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, args=(self.shutdown_poll_s,), name=name, daemon=True)
        thread.start()
        return thread
