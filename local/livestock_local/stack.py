"""The local stack: DynamoDB Local, the tables of template.yaml, and one event source per event type
the template's functions declare (see livestock_local.sources), in one process tree.
`python -m livestock_local.stack` runs it until Ctrl-C or SIGTERM."""

import argparse
import contextlib
import faulthandler
import json
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from types import FrameType
from typing import Any

from livestock_local import eventbridge, fake_platforms, iam, sources, stepfunctions, websocket
from livestock_local.dynamodb_local import (
    LOOPBACK,
    Credentials,
    DynamoDBLocal,
    DynamoDBLocalError,
    client,
    free_port,
    port_in_use,
)
from livestock_local.lambda_runtime import Invoker
from livestock_local.template import ROOT, Function, Template, load
from livestock_local.waiting import wait_until_quiet

STATE_DIR = ROOT / ".state"
DEFAULT_API_KEY = "local-dev-key"  # local use only; AWS generates the deployed key
# A stop (SIGTERM, Ctrl-C) that has not finished by then is finished by force. A stop takes about
# 3 s on an idle machine; a slow machine running the tests in parallel takes three times that.
STOP_DEADLINE_S = 20.0
# A partition of the sweeper's list is walked at least once every this many local sweeps.
SWEEPS_PER_PASS = 4


class StackError(RuntimeError):
    pass


def lock_file(state_dir: Path = STATE_DIR) -> Path:
    return state_dir / "stack.json"


def _process_start(pid: int) -> tuple[str, int] | None:
    """A process's state letter and start time (clock ticks since boot), from /proc/<pid>/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its closing one.
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def stale_reason(lock: dict[str, Any]) -> str | None:
    """Why a lock no longer stands for a running stack, or None if it does. On these machines an
    orphan killed with -9 stays a zombie (PID 1 does not reap), and os.kill(pid, 0) succeeds on a
    zombie: the process's state is read instead."""
    pid = int(lock["pid"])
    found = _process_start(pid)
    if found is None:
        return f"its process {pid} is gone"
    state, started = found
    if state in ("Z", "X"):
        return f"its process {pid} is a zombie"
    if lock.get("started") is not None and int(lock["started"]) != started:
        return f"pid {pid} now belongs to another process"
    host, _, port = str(lock["url"]).removeprefix("http://").rpartition(":")
    if not port_in_use(int(port), host):
        return f"its port {port} does not answer"
    return None


def running_stack(state_dir: Path = STATE_DIR) -> dict[str, Any] | None:
    """The stack another process runs, if its lock is live."""
    try:
        lock = dict(json.loads(lock_file(state_dir).read_text()))
    except (FileNotFoundError, ValueError):
        return None
    return None if stale_reason(lock) else lock


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
        # Environments for rule targets: a burst of alerts is delivered this many at a time, where
        # Lambda would scale out. Three, as a platform-sync invocation that holds a (channel, SKU)
        # lease runs rounds for as long as newer changes are asked, and those asks are calls of
        # their own: with two, two holders could take both environments, their asks waited behind
        # them, and every platform's sync stalled for seconds (BENCHMARKS.md, stop 14).
        event_workers: int = int(os.environ.get("LIVESTOCK_EVENT_WORKERS", "3")),
        dead_letter_path: Path | None = None,
        state_dir: Path = STATE_DIR,
        template: Template | None = None,
        request_deadline_s: float = 10.0,
        dynamodb_host: str = LOOPBACK,
    ) -> None:
        self.dynamodb_host = dynamodb_host
        self.request_deadline_s = request_deadline_s
        self.state_dir = state_dir
        self.dead_letter_path = dead_letter_path or state_dir / "stream-dead-letters.jsonl"
        self.port = port
        self.host = host
        self.api_key = api_key
        self.sweep_period_s = sweep_period_s
        self.event_workers = event_workers
        self.extra_environment = environment or {}
        self.take_lock = take_lock
        self.data_dir = data_dir
        self._dynamodb_port = dynamodb_port
        self.database: DynamoDBLocal | None = None
        self.template = template or Template()
        self.table_names = {name: f"livestock-{name}" for name in self.template.tables()}
        self.functions: dict[str, Function] = {}
        self.invoker: Invoker | None = None
        self.api_workers = api_workers
        self.sources: list[sources.EventSource] = []
        self.messages: list[str] = []
        self._locked = False
        self._memory_checkpoints: Path | None = None
        self.fake_platforms: fake_platforms.FakePlatforms | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def iam_denials(self) -> Path:
        """Where the functions' calls that their roles do not allow are written (livestock_local.iam)."""
        return self.state_dir / "iam-denials.jsonl"

    @property
    def credentials(self) -> Credentials:
        if self.database is None:
            raise StackError("the stack is not started")
        return self.database.credentials

    def start(self) -> "LocalStack":
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.functions = {f.logical_id: f for f in self.template.functions(self.table_names)}
        self._check_event_sources()
        if self.take_lock:
            self._take_lock()
        try:
            if port_in_use(self.port, self.host):
                raise StackError(f"port {self.port} is already in use; set LIVESTOCK_PORT to another port")
            # Data on disk is opened with the key kept beside it; an in-memory database gets a new one.
            credentials = Credentials.kept_in(self.state_dir / "dynamodb-credentials.json") if self.data_dir else None
            self.database = DynamoDBLocal(
                self._dynamodb_port or free_port(),
                self.data_dir,
                log_path=self.state_dir / "dynamodb-local.log",
                credentials=credentials,
                host=self.dynamodb_host,
            )
            # The slow starts overlap (the JVM and moto from this thread, which their PDEATHSIG
            # follows): moto loads while the JVM starts, and the function workers while the tables
            # and the sources are made. The JVM is not made to share its start with them.
            self.database.launch()
            self._configure_environment()
            built = self._build_sources()
            self.database.wait_until_ready()
            assert self.invoker is not None
            self.invoker.begin_warm_up()
            self._create_tables()
            self._start_sources(built)
            if os.environ.get("LIVESTOCK_FAKE_PLATFORMS") == "1":
                self._start_fake_platforms()
        except BaseException:
            self.stop()
            raise
        if self.take_lock:
            # The lock is the stack's card for `make invoke` and the chaos probes: mode 0600 in a
            # 0700 folder, as it carries the database key.
            lock_file(self.state_dir).write_text(
                json.dumps(
                    {
                        "pid": os.getpid(),
                        "started": _start_of_self(),
                        "url": self.url,
                        "dynamodb": self.database.endpoint,
                        "credentials": self.database.credentials.environment(),
                    }
                )
            )
        return self

    def _check_event_sources(self) -> None:
        for function in self.functions.values():
            for event in function.events:
                if event.type not in sources.REGISTRY:
                    raise StackError(
                        f"template.yaml: {function.logical_id}.Events.{event.name} has Type {event.type!r}, "
                        f"which the local stack cannot run (it runs {', '.join(sorted(sources.REGISTRY))})"
                    )

    def _take_lock(self) -> None:
        path = lock_file(self.state_dir)
        for _ in range(3):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                try:
                    lock = dict(json.loads(path.read_text()))
                except (FileNotFoundError, ValueError):
                    lock = {}
                reason = stale_reason(lock) if lock else "it is unreadable"
                if reason is None:
                    raise StackError(
                        f"a local stack is already running (pid {lock['pid']}, {lock['url']}); stop it first"
                    ) from None
                self.messages.append(f"removed a stale lock ({reason})")
                path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as handle:
                json.dump({"pid": os.getpid(), "started": _start_of_self(), "url": self.url}, handle)
            self._locked = True
            return
        raise StackError(f"could not take the lock {path}")

    def _configure_environment(self) -> None:
        """This process's environment is what code run here directly (tests, `make invoke`) sees;
        the functions' workers are spawned with it and add their own variables."""
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        assert self.database is not None
        endpoint = self.database.endpoint
        os.environ.update(
            {
                "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
                "AWS_ENDPOINT_URL_DYNAMODBSTREAMS": endpoint,
                "AWS_DEFAULT_REGION": "us-east-1",
                **self.database.credentials.environment(),
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
                # The fake platforms and the webhook receivers listen on this machine.
                "ALLOW_LOOPBACK_ENDPOINTS": "true",
            }
        )
        # Calls the template's policies would refuse on AWS are refused and written here.
        self.iam_denials.unlink(missing_ok=True)
        for function in self.functions.values():
            function.environment[iam.DENIALS_VARIABLE] = str(self.iam_denials)
            if self.sweep_period_s:
                # Sweeps every sweep_period_s, each partition of the sweeper's list walked at least
                # every SWEEPS_PER_PASS sweeps: as many queries a second as 16 partitions walked on
                # every sweep made, with the spread AWS needs (keys.INDEX_SPREAD).
                function.environment["SWEEP_PASS_S"] = f"{self.sweep_period_s * SWEEPS_PER_PASS:g}"
            function.environment.update(self.extra_environment)
            # The template's log level would flood a terminal; the stack's own setting wins.
            function.environment["POWERTOOLS_LOG_LEVEL"] = os.environ["POWERTOOLS_LOG_LEVEL"]
            os.environ.update(function.environment)

    def _create_tables(self) -> None:
        assert self.database is not None
        dynamodb: Any = client(self.database.endpoint, self.database.credentials)
        existing = set(dynamodb.list_tables()["TableNames"])
        for logical_id, name in self.table_names.items():
            if name not in existing:
                dynamodb.create_table(**self.template.create_table_request(logical_id, name))
                dynamodb.get_waiter("table_exists").wait(TableName=name)

    def _build_sources(self) -> list[sources.EventSource]:
        assert self.database is not None
        # No worker is spawned before every source is constructed: a constructor may still add
        # variables to the functions' environments (an endpoint it serves, say).
        self.invoker = Invoker(list(self.functions.values()), self.api_workers, self.event_workers)
        context = sources.StackContext(
            template=self.template,
            functions=self.functions,
            invoker=self.invoker,
            table_names=self.table_names,
            database_endpoint=self.database.endpoint,
            credentials=self.database.credentials,
            state_dir=self.state_dir,
            checkpoint_dir=self._checkpoint_dir(),
            host=self.host,
            port=self.port,
            api_key=self.api_key,
            schedule_period_s=self.sweep_period_s,
            dead_letter_path=self.dead_letter_path,
            request_deadline_s=self.request_deadline_s,
        )
        built = sources.build(context)
        self.sources = list(built)  # stop() stops them, started or only launched
        for source in built:
            launch = getattr(source, "launch", None)
            if launch is not None:
                launch()
        return built

    def _start_sources(self, built: list[sources.EventSource]) -> None:
        assert self.invoker is not None
        for source in built:
            source.start()
        self.invoker.finish_warm_up()

    def _start_fake_platforms(self) -> None:
        """The fake platforms (LIVESTOCK_FAKE_PLATFORMS=1): their credentials go into the local
        Secrets Manager, and where they listen into <state>/fake-platforms.json for the demo."""
        self.fake_platforms = fake_platforms.FakePlatforms(push_base=self.url).start(self.host)
        refs = self.fake_platforms.store_credentials()
        card = {
            name: {
                "endpoint": endpoint,
                "credentials_ref": refs[name],
                "qps": self.fake_platforms.platforms[name].qps,
            }
            for name, endpoint in self.fake_platforms.endpoints.items()
        }
        (self.state_dir / "fake-platforms.json").write_text(json.dumps(card, indent=2))
        self.messages.append(
            "fake platforms: " + ", ".join(f"{n} {e}" for n, e in self.fake_platforms.endpoints.items())
        )

    def _checkpoint_dir(self) -> Path:
        if self.data_dir is not None:
            return self.state_dir / "checkpoints"
        self._memory_checkpoints = Path(tempfile.mkdtemp(prefix="checkpoints-", dir=self.state_dir))
        return self._memory_checkpoints

    def idle(self) -> bool:
        return all(source.idle() for source in self.sources)

    @property
    def stepfunctions(self) -> stepfunctions.LocalStepFunctions:
        """The local Step Functions and Scheduler (tests read executions)."""
        for source in self.sources:
            if isinstance(source, stepfunctions.StateMachineSource):
                return source.local
        raise StackError("the template declares no state machine")

    @property
    def eventbridge(self) -> eventbridge.LocalEventBridge:
        """The local EventBridge (tests wait for its deliveries)."""
        for source in self.sources:
            if isinstance(source, eventbridge.EventBridgeRuleSource):
                return source.bridge
        raise StackError("the template declares no EventBridge rule target")

    @property
    def websocket(self) -> websocket.LocalWebSocketApi:
        """The local console WebSocket API (its URL, its connections)."""
        for source in self.sources:
            if isinstance(source, websocket.WebSocketApiSource) and source.apis:
                return source.apis[0]
        raise StackError("the template declares no WebSocket API")

    def wait_for_streams(self, timeout_s: float = 60.0, quiet_s: float = 0.3) -> None:
        """Waits until every event source has delivered what it had and stayed quiet for a moment."""
        wait_until_quiet(self.idle, timeout_s, quiet_s, "the stream consumer did not catch up")

    def wait_for_stream_mappings(self, function: str, timeout_s: float = 60.0, quiet_s: float = 0.3) -> None:
        """Waits until the DynamoDB stream mappings of one function (its logical id) have delivered
        what they had and stayed quiet for a moment; the rest of the stack (events, platform sync,
        the console) may still be working."""
        workers = [
            worker
            for source in self.sources
            if isinstance(source, sources.DynamoDBStreamSource)
            for worker in source.workers
            if worker.mapping.function.logical_id == function
        ]
        if not workers:
            raise StackError(f"{function} reads no DynamoDB stream")
        wait_until_quiet(
            lambda: all(worker.idle() for worker in workers), timeout_s, quiet_s, f"{function} did not catch up"
        )

    def stop(self) -> None:
        """Stops every source, the functions and the database, each within a bounded time."""
        if self.fake_platforms is not None:
            self.fake_platforms.stop()
            self.fake_platforms = None
            (self.state_dir / "fake-platforms.json").unlink(missing_ok=True)
        for source in reversed(self.sources):
            source.stop()
        self.sources = []
        if self.invoker:
            self.invoker.shutdown()
            self.invoker = None
        if self.database:
            self.database.stop()
        if self._memory_checkpoints is not None:
            shutil.rmtree(self._memory_checkpoints, ignore_errors=True)
            self._memory_checkpoints = None
        self.release_lock()

    def release_lock(self) -> None:
        if self._locked:
            with contextlib.suppress(FileNotFoundError, ValueError):
                path = lock_file(self.state_dir)
                if json.loads(path.read_text()).get("pid") == os.getpid():
                    path.unlink()
            self._locked = False

    def force_stop(self) -> None:
        """What a stop that overran its deadline does: the lock goes, every child is killed."""
        self.release_lock()
        for child in multiprocessing.active_children():
            with contextlib.suppress(OSError):
                child.kill()
        if self.database and self.database.process:
            with contextlib.suppress(OSError):
                self.database.process.kill()

    def __enter__(self) -> "LocalStack":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _start_of_self() -> int | None:
    found = _process_start(os.getpid())
    return None if found is None else found[1]


class _Stopper:
    """SIGTERM and Ctrl-C (SIGINT), to this process or its whole group, ask for a stop; a stop
    that is still running after STOP_DEADLINE_S, or a second signal, ends the process by force."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.requested = threading.Event()

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.requested.is_set():
            self._force("a second signal came")
        self.requested.set()
        threading.Thread(target=self._watchdog, name="stop-watchdog", daemon=True).start()

    def _watchdog(self) -> None:
        time.sleep(STOP_DEADLINE_S)
        # Where the stop hung, for whoever reads the log.
        faulthandler.dump_traceback(all_threads=True)
        self._force("the stop overran its deadline")

    def _force(self, why: str) -> None:
        self.stack.force_stop()
        print(f"livestock: {why}; stopped by force", file=sys.stderr, flush=True)
        os._exit(1)


def function_variables(path: Path) -> dict[str, str]:
    """The `Parameters` of a `sam local --env-vars` file: variables every function gets over the
    template's (the bounded kill -9 tests shorten the settlement windows with it). Sections for
    one function are not read here, so they are refused rather than ignored."""
    document = json.loads(path.read_text())
    parameters = document.get("Parameters") if isinstance(document, dict) else None
    if not isinstance(parameters, dict) or set(document) != {"Parameters"}:
        raise ValueError(f'{path} must hold one object, {{"Parameters": {{"NAME": "value", ...}}}}')
    return {str(name): str(value) for name, value in parameters.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run LiveStock on one machine (no AWS account).")
    parser.add_argument("--port", type=int, default=int(os.environ.get("LIVESTOCK_PORT", "3000")))
    parser.add_argument(
        "--host",
        default=os.environ.get("LIVESTOCK_HOST", LOOPBACK),
        help="the address the API listens on (default 127.0.0.1: this machine only; 0.0.0.0 for every interface)",
    )
    parser.add_argument(
        "--dynamodb-host",
        default=os.environ.get("LIVESTOCK_DYNAMODB_HOST", LOOPBACK),
        help="the address DynamoDB Local listens on (default 127.0.0.1)",
    )
    parser.add_argument("--fresh", action="store_true", help="keep data in memory only")
    parser.add_argument(
        "--sweep-period",
        type=float,
        default=float(os.environ.get("LIVESTOCK_SWEEP_PERIOD_S", "5")),
        help="seconds between hold sweeps (AWS: one minute)",
    )
    parser.add_argument("--template", type=Path, default=None, help="another SAM template (default: template.yaml)")
    parser.add_argument("--state-dir", type=Path, default=Path(os.environ.get("LIVESTOCK_STATE_DIR", STATE_DIR)))
    parser.add_argument(
        "--env-vars",
        type=Path,
        default=None,
        help='a JSON file of function variables over the template\'s, as for `sam local`: {"Parameters": {...}}',
    )
    args = parser.parse_args(argv)
    api_key = os.environ.get("LIVESTOCK_API_KEY", DEFAULT_API_KEY)
    try:
        variables = function_variables(args.env_vars) if args.env_vars else {}
        template = Template(load(args.template)) if args.template else Template()
        stack = LocalStack(
            port=args.port,
            host=args.host,
            dynamodb_host=args.dynamodb_host,
            api_key=api_key,
            data_dir=None if args.fresh else args.state_dir / "dynamodb",
            sweep_period_s=args.sweep_period,
            take_lock=True,
            state_dir=args.state_dir,
            template=template,
            environment=variables,
        )
    except (OSError, ValueError, KeyError) as error:
        print(f"livestock: cannot read the template or the variables: {error}", file=sys.stderr)
        return 1
    stopper = _Stopper(stack)
    stopper.install()
    try:
        stack.start()
    except (StackError, DynamoDBLocalError, sources.UnsupportedEventSource) as error:
        print(f"livestock: {error}", file=sys.stderr)
        return 1
    for message in stack.messages:
        print(f"livestock: {message}", flush=True)
    if stopper.requested.is_set():
        stack.stop()
        return 0
    assert stack.database is not None
    print(f"LiveStock local stack on {stack.url}  (DynamoDB Local on {stack.database.endpoint})")
    print(f"API key: {api_key}   (set LIVESTOCK_API_KEY to change it; send it as the x-api-key header)")
    with contextlib.suppress(StackError):
        print(f"Console: {stack.url}/console (POST /console/tokens for a link); WebSocket on {stack.websocket.url}")
    print("Ctrl-C stops the stack and everything it started.", flush=True)
    # A timed wait: a signal the kernel hands to another thread only trips a flag, which the main
    # thread acts on when it next runs Python. An untimed wait never does; under load a stop hung.
    while not stopper.requested.wait(timeout=0.5):
        pass
    print("stopping...", flush=True)
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
