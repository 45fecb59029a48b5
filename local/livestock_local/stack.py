"""The local stack: DynamoDB Local + tables from template.yaml + the API gateway + the stream
consumer + the schedules, in one process. `python -m livestock_local.stack` runs it until Ctrl-C."""

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from livestock_local.dynamodb_local import DynamoDBLocal, DynamoDBLocalError, client, free_port, port_in_use
from livestock_local.eventbridge import LocalEventBridge
from livestock_local.gateway import Gateway, GatewayServer, serve
from livestock_local.lambda_runtime import FunctionPool, LocalLambda
from livestock_local.scheduler import Schedule, period_of
from livestock_local.streams import StreamWorker
from livestock_local.template import ROOT, Template

STATE_DIR = ROOT / ".state"
LOCK_FILE = STATE_DIR / "stack.json"
DEFAULT_API_KEY = "local-dev-key"  # local use only; AWS generates the deployed key


class StackError(RuntimeError):
    pass


def running_stack() -> dict[str, Any] | None:
    """The stack another process runs, if its lock is live."""
    try:
        lock = json.loads(LOCK_FILE.read_text())
        os.kill(int(lock["pid"]), 0)
    except (FileNotFoundError, ValueError, KeyError, ProcessLookupError, PermissionError):
        return None
    return dict(lock)


class LocalStack:
    def __init__(
        self,
        port: int = 3000,
        dynamodb_port: int | None = None,
        api_key: str = DEFAULT_API_KEY,
        data_dir: Path | None = None,
        sweep_period_s: float | None = 1.0,
        environment: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        take_lock: bool = False,
        api_workers: int = int(os.environ.get("LIVESTOCK_API_WORKERS", "8")),
        dead_letter_path: Path = STATE_DIR / "stream-dead-letters.jsonl",
    ) -> None:
        self.dead_letter_path = dead_letter_path
        self.port = port
        self.host = host
        self.api_key = api_key
        self.sweep_period_s = sweep_period_s
        self.extra_environment = environment or {}
        self.take_lock = take_lock
        self.database = DynamoDBLocal(dynamodb_port or free_port(), data_dir, log_path=STATE_DIR / "dynamodb-local.log")
        self.template = Template()
        self.table_names = {name: f"livestock-{name}" for name in self.template.tables()}
        self.functions: dict[str, LocalLambda] = {}
        self.function_pool: FunctionPool | None = None
        self.api_workers = api_workers
        self.pollers: list[StreamWorker] = []
        self.schedules: list[Schedule] = []
        self.server: GatewayServer | None = None
        self.eventbridge = LocalEventBridge(
            self.template, lambda logical_id, event: self.functions[logical_id].invoke(event)
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "LocalStack":
        STATE_DIR.mkdir(exist_ok=True)
        if self.take_lock:
            other = running_stack()
            if other:
                raise StackError(
                    f"a local stack is already running (pid {other['pid']}, {other['url']}); stop it first"
                )
        if port_in_use(self.port, self.host):
            raise StackError(f"port {self.port} is already in use; set LIVESTOCK_PORT to another port")
        self.database.start()
        try:
            self._configure_environment()
            self.eventbridge.start()
            self._create_tables()
            self._start_functions()
        except BaseException:
            self.stop()
            raise
        if self.take_lock:
            LOCK_FILE.write_text(json.dumps({"pid": os.getpid(), "url": self.url, "api_key_hint": "LIVESTOCK_API_KEY"}))
        return self

    def _configure_environment(self) -> None:
        # Metrics are not published locally; Powertools would warn about it on every call.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        endpoint = self.database.endpoint
        os.environ.update(
            {
                "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
                "AWS_ENDPOINT_URL_DYNAMODBSTREAMS": endpoint,
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
            }
        )

    def _create_tables(self) -> None:
        dynamodb: Any = client(self.database.endpoint)
        existing = set(dynamodb.list_tables()["TableNames"])
        for logical_id, name in self.table_names.items():
            if name not in existing:
                dynamodb.create_table(**self.template.create_table_request(logical_id, name))
                dynamodb.get_waiter("table_exists").wait(TableName=name)

    def _start_functions(self) -> None:
        for function in self.template.functions(self.table_names):
            # Functions share this process, so their environments merge (they only differ by design).
            os.environ.update(function.environment)
            os.environ.update(self.extra_environment)
            self.functions[function.logical_id] = LocalLambda(function)
        routes = []
        for function in self.template.functions(self.table_names):
            routes += function.routes
            local = self.functions[function.logical_id]
            for table in function.stream_tables:
                worker = StreamWorker(self.database.endpoint, self.table_names[table], function, self.dead_letter_path)
                worker.start()
                self.pollers.append(worker)
            for expression in function.schedules:
                period = self.sweep_period_s if self.sweep_period_s is not None else period_of(expression)
                schedule = Schedule(local, period)
                schedule.start()
                self.schedules.append(schedule)
        self.function_pool = FunctionPool(self.template.functions(self.table_names), self.api_workers)
        self.function_pool.warm_up()
        self.server, _ = serve(Gateway(routes, self.function_pool, self.api_key, "live"), self.host, self.port)

    def wait_for_streams(self, timeout_s: float = 60.0, quiet_s: float = 0.3) -> None:
        """Waits until every stream has been consumed and stayed quiet for a moment."""
        deadline = time.monotonic() + timeout_s
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            if all(p.idle.is_set() for p in self.pollers):
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= quiet_s:
                    return
            else:
                quiet_since = None
            time.sleep(0.05)
        raise TimeoutError("the stream consumer did not catch up")

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        if self.function_pool:
            self.function_pool.shutdown()
            self.function_pool = None
        for schedule in self.schedules:
            schedule.stop()
        for poller in self.pollers:
            poller.stop()
        self.eventbridge.stop()
        self.database.stop()
        lock = running_stack() if self.take_lock else None
        if lock and lock["pid"] == os.getpid():
            LOCK_FILE.unlink(missing_ok=True)

    def __enter__(self) -> "LocalStack":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run LiveStock on one machine (no AWS account).")
    parser.add_argument("--port", type=int, default=int(os.environ.get("LIVESTOCK_PORT", "3000")))
    parser.add_argument("--fresh", action="store_true", help="keep data in memory only")
    parser.add_argument(
        "--sweep-period",
        type=float,
        default=float(os.environ.get("LIVESTOCK_SWEEP_PERIOD_S", "5")),
        help="seconds between hold sweeps (AWS: one minute)",
    )
    args = parser.parse_args(argv)
    api_key = os.environ.get("LIVESTOCK_API_KEY", DEFAULT_API_KEY)
    stack = LocalStack(
        port=args.port,
        api_key=api_key,
        data_dir=None if args.fresh else STATE_DIR / "dynamodb",
        sweep_period_s=args.sweep_period,
        take_lock=True,
    )
    try:
        stack.start()
    except (StackError, DynamoDBLocalError) as error:
        print(f"livestock: {error}", file=sys.stderr)
        return 1
    print(f"LiveStock local stack on {stack.url}  (DynamoDB Local on {stack.database.endpoint})")
    print(f"API key: {api_key}   (set LIVESTOCK_API_KEY to change it; send it as the x-api-key header)")
    print("Ctrl-C stops the stack and everything it started.")
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopping.wait()
    print("stopping...")
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
