"""moto's server as `python -m moto.server` runs it, less one cost: moto (5.2) parses every rule
target's input paths, eight JSONPath expressions, anew for each event and each target
(`EventTemplateParser.parse`, which builds a yacc parser per expression). That was about 10 ms per
event per target, most of what a PutEvents cost the local EventBridge while the relays waited.
The paths are the same few every time, so their parsed form is cached.

    python -m livestock_local.moto_server -H 127.0.0.1 -p 5000   # moto.server's own arguments

MotoClients gives the stack's own callers (the EventBridge relays, the Step Functions runner) one
boto3 client per service of the server.
"""

import functools
import sys
import threading
from typing import Any

import boto3
import jsonpath_ng.ext
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import main
from werkzeug.serving import make_server

from livestock_local.dynamodb_local import claim_port
from livestock_local.template import LOCAL_REGION


def cache_jsonpath_parsing() -> None:
    """moto imports `parse` from jsonpath_ng.ext at each call, so replacing it there is enough; a
    parsed expression is not changed by finding matches with it."""
    parse = jsonpath_ng.ext.parse  # type: ignore[attr-defined]
    if not hasattr(parse, "cache_info"):
        jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(parse)  # type: ignore[attr-defined]


class BoundMotoServer:
    """moto's server in a thread of this process, like moto's ThreadedMotoServer, but listening from
    the moment it is made, on a port the kernel picks: a port picked first and bound later can be
    taken in between (ThreadedMotoServer then waits for ever for the bind that failed), and the
    stack hands the port to the functions before the server starts serving."""

    def __init__(self, host: str) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        while True:  # not a port another server of the stack was given and has yet to bind
            self._server = make_server(host, 0, app, threaded=True, request_handler=MotoRequestHandler)
            self.port = int(self._server.server_address[1])
            if claim_port(self.port):
                break
            self._server.server_close()
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()


class MotoClients:
    """boto3 clients of one moto server, each made once: making a client costs milliseconds of CPU
    (a relay made one per message it delivered), and a client once made is safe to share between
    threads; making them is not, hence the lock."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._made: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, service: str) -> Any:
        with self._lock:
            if service not in self._made:
                self._made[service] = boto3.client(
                    service,  # type: ignore[call-overload]
                    endpoint_url=self.endpoint,
                    region_name=LOCAL_REGION,
                    aws_access_key_id="local",
                    aws_secret_access_key="local",  # noqa: S106 - moto accepts any; no AWS account is involved
                )
            return self._made[service]


if __name__ == "__main__":
    cache_jsonpath_parsing()
    main(sys.argv[1:])
