"""The real SAM CLI against local services: `sam local invoke`, `start-api` and `start-lambda` run
the built functions in Docker containers (the Lambda Python 3.13 image, or the stand-in built by
../shared/tools/lambda-python-image/build.sh), and the containers reach DynamoDB Local and the
local EventBridge (moto) on the host at the Docker bridge's gateway.

    python -m livestock_local.sam invoke HoldsApiFunction events/holds_api/place_hold.json
    python -m livestock_local.sam api            # sam local start-api on LIVESTOCK_SAM_API_PORT (3001)

Where no Docker daemon answers (or the image is missing), `invoke` says so in one line and runs the
in-process invoker (livestock_local.invoke) instead; `api` says so and stops.

`--env-vars` overrides only variables the template declares: the endpoint variables are declared,
empty, under the template's Globals. Data persists in .state/sam/dynamodb between runs (a replayed
order finds its first answer), unless a local stack (`make up`) runs: then its database is used.
"""

import argparse
import compileall
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3

from livestock_local import invoke as in_process
from livestock_local import sam_images
from livestock_local.dynamodb_local import (
    LOOPBACK,
    Credentials,
    DynamoDBLocal,
    DynamoDBLocalError,
    client,
    free_port,
)
from livestock_local.eventbridge import LocalEventBridge
from livestock_local.fake_platforms import PLATFORMS, fake_credentials
from livestock_local.http_server import HttpServer
from livestock_local.lambda_runtime import LocalLambda
from livestock_local.stack import STATE_DIR, running_stack
from livestock_local.stepfunctions import create_state_machines
from livestock_local.streams import Checkpoint, StreamPoller, seek_to_latest
from livestock_local.template import ROOT, Function, Template
from livestock_local.waiting import wait_until_quiet

IMAGE = "public.ecr.aws/lambda/python:3.13-x86_64"
IMAGE_BUILDER = "../shared/tools/lambda-python-image/build.sh"
SAM = ROOT / ".sam-venv" / "bin" / "sam"
BUILD_DIR = ROOT / ".aws-sam" / "build"
BUILT_TEMPLATE = BUILD_DIR / "template.yaml"
REGION = "us-east-1"
# What `sam build` reads: a change to any of these makes the build stale.
BUILD_INPUTS = ("template.yaml", "functions", "layers")
BRIDGE_FORMAT = '{{range .IPAM.Config}}{{.Gateway}}{{end}} {{index .Options "com.docker.network.bridge.name"}}'
SIOCGIFADDR = 0x8915
SIGNED_BY = re.compile(r"Credential=([^/,\s]+)/")


class SamUnavailable(RuntimeError):
    """Why `sam local` cannot run on this machine."""


def _run(command: list[str], timeout_s: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)


def unavailable() -> str | None:
    """Why `sam local` cannot run here, in a few words; None when it can."""
    if shutil.which("docker") is None:
        return "no docker command (apt-get install docker.io)"
    try:
        info = _run(["docker", "info", "--format", "{{.ServerVersion}}"])
    except subprocess.TimeoutExpired:
        return "the Docker daemon does not answer within 20 s"
    if info.returncode != 0 or not info.stdout.strip():
        return "no Docker daemon answers (start one: dockerd --storage-driver=overlay2 --iptables=false)"
    if _run(["docker", "image", "inspect", "--format", "{{.Id}}", IMAGE]).returncode != 0:
        return f"the image {IMAGE} is missing (docker pull it, or build the stand-in with {IMAGE_BUILDER})"
    if not SAM.exists():
        return f"the SAM CLI is not installed at {SAM.relative_to(ROOT)} (make lint installs it)"
    return None


def bridge_gateway() -> str:
    """The host's address on Docker's default bridge: where containers reach the host's services.
    Debian's dockerd 20.10 leaves the gateway out of `docker network inspect`; then it is the
    address of the bridge's interface (docker0)."""
    found = _run(["docker", "network", "inspect", "bridge", "--format", BRIDGE_FORMAT])
    if found.returncode != 0:
        raise SamUnavailable(f"cannot inspect the Docker bridge: {found.stderr.strip()}")
    gateway, _, interface = found.stdout.strip("\n").partition(" ")
    if gateway:
        return gateway
    return interface_address(interface or "docker0")


def interface_address(name: str) -> str:
    """An interface's IPv4 address (the SIOCGIFADDR ioctl)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            packed = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
        except OSError as error:
            raise SamUnavailable(f"the Docker bridge's interface {name} has no IPv4 address: {error}") from None
    return socket.inet_ntoa(packed[20:24])


def _newest_input() -> float:
    newest = 0.0
    for name in BUILD_INPUTS:
        path = ROOT / name
        paths = (
            [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        )
        newest = max([newest, *(p.stat().st_mtime for p in paths)])
    return newest


def ensure_built(out: Any = sys.stderr) -> float:
    """Runs `sam build` when the template or the code changed since the last build; its seconds."""
    if BUILT_TEMPLATE.exists() and BUILT_TEMPLATE.stat().st_mtime >= _newest_input():
        return 0.0
    print("livestock: sam build (the template or the code changed)", file=out, flush=True)
    started = time.monotonic()
    built = _run([str(SAM), "build", "--region", REGION], timeout_s=600)
    if built.returncode != 0:
        raise SamUnavailable(f"sam build failed:\n{built.stdout[-2000:]}{built.stderr[-2000:]}")
    compile_build()
    return time.monotonic() - started


def compile_build() -> None:
    """Byte-compiles what `sam build` wrote (pip installs the layer without .pyc files here).
    Without them every cold start compiles pydantic, Powertools and botocore: importing the holds
    function took 7.6 s instead of 3.0 s in a container on a loaded machine (load 21), past the
    10 s Timeout that `sam local` counts the import in."""
    compileall.compile_dir(BUILD_DIR, quiet=1, workers=1)


class ConsoleManagementApi:
    """The console WebSocket API's management endpoint, for `sam local` (which plays no WebSocket
    API) and the in-process invoker beside it: `POST /@connections/{id}` answers 200 and keeps the
    message under the access key id that signed it (each side of the SAM tests has its own), until
    the connection is marked gone; then 410 GoneException, as API Gateway answers once a
    connection has closed (its $disconnect may come later)."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.gone: set[str] = set()
        self._posted: dict[str, list[tuple[str, Any]]] = {}
        self._lock = threading.Lock()
        self._server = HttpServer((host, 0), self._handler())
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self._server.server_address[1]}"

    def taken(self, access_key_id: str) -> list[tuple[str, Any]]:
        """What the functions signed by this key posted since the last call: (connection id, message)."""
        with self._lock:
            return self._posted.pop(access_key_id, [])

    def _post(self, signed_by: str, connection_id: str, data: bytes) -> bool:
        with self._lock:
            if connection_id in self.gone:
                return False
            try:
                message: Any = json.loads(data)
            except ValueError:
                message = data.decode(errors="replace")
            self._posted.setdefault(signed_by, []).append((connection_id, message))
            return True

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self, status: int, error: str = "", message: str = "") -> None:
                payload = json.dumps({"message": message}).encode() if error else b""
                self.send_response(status)
                if error:
                    self.send_header("x-amzn-ErrorType", error)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                path = unquote(urlsplit(self.path).path)
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                signed = SIGNED_BY.search(self.headers.get("Authorization") or "")
                if "/@connections/" not in path or signed is None:
                    self._answer(404, "NotFoundException", "no such route")
                elif api._post(signed.group(1), path.split("/@connections/", 1)[1], data):
                    self._answer(200)
                else:
                    self._answer(410, "GoneException", "the connection is gone")

        return Handler

    def start(self) -> None:
        self._thread = self._server.serve_in_thread("console-management")

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()


@dataclass
class Backends:
    """The services the containers call: DynamoDB Local (the running stack's, or one started here)
    with the template's tables, and the local EventBridge's moto server, which also serves Step
    Functions and Scheduler (the template's state machines created from their DefinitionUri files;
    executions are recorded, not run: `sam local` has no Lambda to run their tasks, whose events
    are invoked directly instead), SSM / Secrets Manager (the sample channels' credentials) and S3
    (the template's buckets); the console WebSocket API's management endpoint
    (ConsoleManagementApi); and the `--env-vars` file that points the functions at them through
    the bridge gateway."""

    state_dir: Path = STATE_DIR
    persistent: bool = True
    credentials: Credentials | None = None
    log_level: str = "INFO"
    gateway: str = ""
    database: DynamoDBLocal | None = None
    dynamodb_host: str = ""
    dynamodb_port: int = 0
    bridge: LocalEventBridge | None = None
    management: ConsoleManagementApi | None = None
    state_machines: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    # Variables given to every function over the template's (SAM applies each where declared).
    overrides: dict[str, str] = field(default_factory=dict)
    # The layer-less template and each function's image, once the first command asked for them.
    _prepared: tuple[Path, dict[str, str]] | None = field(default=None, init=False, repr=False)

    @property
    def sam_dir(self) -> Path:
        return self.state_dir / "sam"

    @property
    def env_file(self) -> Path:
        return self.sam_dir / "env.json"

    @property
    def table_names(self) -> dict[str, str]:
        # The local stack's names, so `make up`'s database serves `sam local` too.
        return {name: f"livestock-{name}" for name in Template().tables()}

    def start(self) -> "Backends":
        self.sam_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.gateway = bridge_gateway()
        try:
            self._start_database()
            self.create_tables(self.credentials_in_use)
            # Bound to the bridge gateway: the containers reach it there, nothing outside does.
            self.bridge = LocalEventBridge(in_process.functions_only(), self._no_rule_targets, host=self.gateway)
            self.bridge.start()
            # Code run on the host (the in-process invoker beside SAM) reaches the same moto.
            os.environ.update(self.moto_variables())
            self.state_machines = create_state_machines(self._moto("stepfunctions"), Template())
            self._store_sample_credentials()
            self.management = ConsoleManagementApi(self.gateway)
            self.management.start()
            self.write_env_file()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_database(self) -> None:
        lock = running_stack(self.state_dir) if self.persistent else None
        stack_host = str(lock["dynamodb"]).rpartition("//")[2].rpartition(":")[0] if lock is not None else ""
        if lock is not None and stack_host == LOOPBACK:
            # The stack binds its database to loopback unless told otherwise: no container reaches it.
            self.messages.append(
                "the running local stack's DynamoDB Local listens on 127.0.0.1 only (`python -m "
                f"livestock_local.stack --dynamodb-host {self.gateway}` opens it to containers): using one of sam's own"
            )
            lock = None
        if lock is not None:
            # Opened to the containers (--dynamodb-host): the stack's database serves them too.
            self.dynamodb_host = stack_host
            self.dynamodb_port = int(str(lock["dynamodb"]).rpartition(":")[2])
            self.credentials = Credentials(
                lock["credentials"]["AWS_ACCESS_KEY_ID"], lock["credentials"]["AWS_SECRET_ACCESS_KEY"]
            )
            self.messages.append(f"using the running local stack's DynamoDB Local ({lock['dynamodb']})")
            return
        if self.persistent and self.credentials is None:
            self.credentials = Credentials.kept_in(self.sam_dir / "dynamodb-credentials.json")
        self.dynamodb_port = free_port()
        # Bound to the bridge gateway, as moto is: the containers reach it there, nothing outside does.
        self.dynamodb_host = self.gateway
        self.database = DynamoDBLocal(
            self.dynamodb_port,
            self.sam_dir / "dynamodb" if self.persistent else None,
            log_path=self.sam_dir / "dynamodb-local.log",
            credentials=self.credentials,
            host=self.gateway,
        )
        self.database.start()
        self.credentials = self.database.credentials

    def _moto(self, service: str) -> Any:
        assert self.bridge is not None
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.bridge.endpoint,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto accepts any; no AWS account is involved
        )

    def _store_sample_credentials(self) -> None:
        """The credentials the sample channels of events/ name (`secretsmanager:livestock/<platform>-main`):
        the fake platforms' deterministic test credentials, never real ones; the sample order pushes
        are signed with them."""
        secrets = self._moto("secretsmanager")
        for platform in PLATFORMS:
            value = fake_credentials(platform).model_dump_json()
            try:
                secrets.create_secret(Name=f"livestock/{platform}-main", SecretString=value)
            except secrets.exceptions.ResourceExistsException:
                secrets.put_secret_value(SecretId=f"livestock/{platform}-main", SecretString=value)

    def moto_variables(self) -> dict[str, str]:
        """The endpoint variables of the services moto serves besides EventBridge and SNS."""
        if self.bridge is None:
            return {}
        services = ("SFN", "SCHEDULER", "SSM", "SECRETS_MANAGER", "S3")
        return {f"AWS_ENDPOINT_URL_{service}": self.bridge.endpoint for service in services}

    def console_variables(self) -> dict[str, str]:
        """The management endpoint, where the template's !Sub names the WebSocket API's (which
        `sam local` does not run) and for a client made without an endpoint."""
        if self.management is None:
            return {}
        endpoint = self.management.endpoint
        return {"CONSOLE_MANAGEMENT_ENDPOINT": endpoint, "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI": endpoint}

    def resource_variables(self) -> dict[str, str]:
        """Variables the template sets from a resource (!Ref, !GetAtt, !Sub): `sam local` leaves a
        resource it does not run unresolved, so each is given the name the local stack gives it
        (one value per variable name: `--env-vars` Parameters apply to every function)."""
        template = Template()
        found: dict[str, str] = {}
        for function in template.functions(self.table_names):
            declared = template.resources[function.logical_id]["Properties"].get("Environment", {})
            for name, value in declared.get("Variables", {}).items():
                if isinstance(value, dict):
                    resolved = function.environment[name]
                    if found.setdefault(name, resolved) != resolved:
                        raise SamUnavailable(f"{name} names {found[name]} and {resolved}: one --env-vars value")
        return found

    @staticmethod
    def _no_rule_targets(logical_id: str, _event: dict[str, Any]) -> Any:
        raise RuntimeError(f"the functions-only template has no rule targeting {logical_id}")

    @property
    def credentials_in_use(self) -> Credentials:
        assert self.credentials is not None, "start() first"
        return self.credentials

    @property
    def host_endpoint(self) -> str:
        return f"http://{self.dynamodb_host}:{self.dynamodb_port}"

    def create_tables(self, credentials: Credentials) -> None:
        """The template's tables, in the database that these credentials open."""
        template = Template()
        dynamodb: Any = client(self.host_endpoint, credentials)
        existing = set(dynamodb.list_tables()["TableNames"])
        for logical_id, name in self.table_names.items():
            if name not in existing:
                dynamodb.create_table(**template.create_table_request(logical_id, name))
                dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2})

    def variables(self) -> dict[str, str]:
        """What every function is given (SAM applies each where the template declares it)."""
        variables = {
            **self.resource_variables(),
            "AWS_ENDPOINT_URL_DYNAMODB": f"http://{self.dynamodb_host}:{self.dynamodb_port}",
            "INVENTORY_TABLE_NAME": self.table_names["InventoryTable"],
            "LEDGER_TABLE_NAME": self.table_names["LedgerTable"],
            "EVENTS_TABLE_NAME": self.table_names["EventsTable"],
            "POWERTOOLS_LOG_LEVEL": self.log_level,
        }
        if self.bridge is not None:
            variables["AWS_ENDPOINT_URL_EVENTBRIDGE"] = self.bridge.endpoint
            variables["AWS_ENDPOINT_URL_SNS"] = self.bridge.endpoint
            variables |= self.moto_variables()
        return variables | self.console_variables() | self.overrides

    def host_variables(self) -> dict[str, str]:
        """The endpoint variables for code run on the host rather than in a container."""
        variables = {
            "AWS_ENDPOINT_URL_DYNAMODB": self.host_endpoint,
            "AWS_ENDPOINT_URL_DYNAMODBSTREAMS": self.host_endpoint,
        }
        if self.bridge is not None:
            variables |= {
                "AWS_ENDPOINT_URL_EVENTBRIDGE": self.bridge.endpoint,
                "AWS_ENDPOINT_URL_SNS": self.bridge.endpoint,
                **self.moto_variables(),
            }
        return variables | self.console_variables()

    def write_env_file(self) -> None:
        self.env_file.write_text(json.dumps({"Parameters": self.variables()}, indent=2))

    def sam_environment(self) -> dict[str, str]:
        """The SAM CLI's own environment: it hands its credentials and region to the containers,
        and the database is chosen by the access key id."""
        # SAM asks STS for the account id before every command; AWS's STS is out of reach here
        # and its retries cost 5 s, so moto answers (with SAM's own default account id).
        sts = {"AWS_ENDPOINT_URL_STS": self.bridge.endpoint} if self.bridge is not None else {}
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")},
            **self.credentials_in_use.environment(),
            **sts,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "SAM_CLI_TELEMETRY": "0",
        }

    def layer_images(self) -> tuple[Path, dict[str, str]]:
        """The layer-less template and each function's image, built on the first call."""
        if self._prepared is None:
            try:
                self._prepared = sam_images.prepare(BUILT_TEMPLATE, IMAGE)
            except sam_images.LayerImageError as error:
                raise SamUnavailable(str(error)) from None
        return self._prepared

    def sam_command(self, *args: str) -> list[str]:
        """A `sam local ...` command line over the built functions and the env-vars file, each
        function in the image of its layers (built once: see livestock_local.sam_images)."""
        template, images = self.layer_images()
        return [
            str(SAM),
            "local",
            *args,
            "--template",
            str(template),
            *[argument for function, image in images.items() for argument in ("--invoke-image", f"{function}={image}")],
            "--env-vars",
            str(self.env_file),
            "--skip-pull-image",
            "--region",
            REGION,
        ]

    def stop_bridge(self) -> None:
        if self.bridge is not None:
            self.bridge.stop()
            self.bridge = None

    def stop(self) -> None:
        self.stop_bridge()
        if self.management is not None:
            self.management.stop()
            self.management = None
        if self.database is not None:
            self.database.stop()
            self.database = None

    def __enter__(self) -> "Backends":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


@dataclass(frozen=True)
class StreamMapping:
    """A function's DynamoDB event: which table's stream it reads, and how."""

    function: Function
    table: str
    batch_size: int
    starting_position: str


def stream_mappings(backends: "Backends") -> list[StreamMapping]:
    found = []
    for function in Template().functions(backends.table_names):
        for event in function.events:
            if event.type == "DynamoDB":
                table = str(event.properties["Stream"]["Fn::GetAtt"][0])
                found.append(
                    StreamMapping(
                        function,
                        backends.table_names[table],
                        int(event.properties.get("BatchSize", 100)),
                        str(event.properties.get("StartingPosition", "LATEST")),
                    )
                )
    return found


def checkpoint_path(backends: "Backends", mapping: StreamMapping) -> Path:
    return backends.sam_dir / "checkpoints" / f"{mapping.function.logical_id}.json"


def prepare_streams(backends: "Backends") -> None:
    """A mapping that starts at LATEST and has never run reads only what is written from now on."""
    for mapping in stream_mappings(backends):
        path = checkpoint_path(backends, mapping)
        if mapping.starting_position == "LATEST" and not path.exists():
            dynamodb: Any = client(backends.host_endpoint, backends.credentials_in_use)
            stream_arn = dynamodb.describe_table(TableName=mapping.table)["Table"]["LatestStreamArn"]
            streams = client(backends.host_endpoint, backends.credentials_in_use, "dynamodbstreams")
            checkpoint = Checkpoint(path)
            seek_to_latest(streams, stream_arn, checkpoint)
            checkpoint.save()


def deliver_streams(backends: "Backends") -> dict[str, int]:
    """What the event source mappings do on AWS right after a write: the stream's new records go to
    each function that reads it (the ledger, the hold's settlement, the events). No poller runs
    beside `sam local invoke`, so they are delivered here once, in this process, by the local
    stack's stream poller; each mapping's checkpoint (in .state/sam) means each record goes once."""
    delivered = {}
    saved = dict(os.environ)
    try:
        for mapping in stream_mappings(backends):
            os.environ.update(
                {
                    **mapping.function.environment,
                    **backends.credentials_in_use.environment(),
                    **backends.host_variables(),
                    "POWERTOOLS_TRACE_DISABLED": "true",
                    "POWERTOOLS_METRICS_DISABLED": "true",
                    "POWERTOOLS_LOG_LEVEL": "WARNING",
                }
            )
            poller = StreamPoller(
                client(backends.host_endpoint, backends.credentials_in_use),
                client(backends.host_endpoint, backends.credentials_in_use, "dynamodbstreams"),
                mapping.table,
                LocalLambda(mapping.function),
                mapping.batch_size,
                parallelization=1,
                checkpoint_path=checkpoint_path(backends, mapping),
                maximum_retry_attempts=2,
            )
            poller.start()
            try:
                wait_until_quiet(poller.idle.is_set, 60.0, 0.3, f"{mapping.function.logical_id} did not catch up")
            finally:
                poller.stop()
            delivered[mapping.function.logical_id] = poller.delivered
            os.environ.clear()
            os.environ.update(saved)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return delivered


def sam_invoke(logical_id: str, event_path: Path) -> int:
    """`sam local invoke` of one function on one event; the answer on stdout, SAM's log on stderr."""
    template = Template()
    if template.resources.get(logical_id, {}).get("Type") != "AWS::Serverless::Function":
        names = ", ".join(n for n, r in template.resources.items() if r["Type"] == "AWS::Serverless::Function")
        print(f"livestock: no function {logical_id} in template.yaml (it has {names})", file=sys.stderr)
        return 2
    ensure_built()
    started = time.monotonic()
    with Backends() as backends:
        for message in backends.messages:
            print(f"livestock: {message}", file=sys.stderr)
        own_database = backends.database is not None
        if own_database:
            prepare_streams(backends)
        command = backends.sam_command("invoke", logical_id, "--event", str(event_path))
        ready_s = time.monotonic() - started
        ran = subprocess.run(
            command,
            env=backends.sam_environment(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        sys.stderr.write(ran.stderr)
        print(
            f"livestock: sam local invoke took {time.monotonic() - started - ready_s:.1f} s"
            f" (after {ready_s:.1f} s for the database, the tables and the layer images)",
            file=sys.stderr,
        )
        # A running local stack's own pollers deliver its stream; otherwise it is done here.
        if own_database and ran.returncode == 0:
            delivered = deliver_streams(backends)
            if any(delivered.values()):
                counts = ", ".join(f"{count} to {name}" for name, count in delivered.items())
                print(
                    f"livestock: the stream's new records, delivered in-process as its mappings would: {counts}",
                    file=sys.stderr,
                )
    if ran.returncode != 0:
        return ran.returncode
    try:
        print(json.dumps(answer_of(ran.stdout), indent=2))
    except ValueError:
        print(ran.stdout, end="")
    return 0


def answer_of(stdout: str) -> Any:
    """The function's answer in what `sam local invoke` printed: its last line of stdout, JSON."""
    lines = stdout.strip().splitlines()
    if not lines:
        raise ValueError("sam local invoke printed no answer")
    return json.loads(lines[-1])


def lambda_containers() -> set[str]:
    """The containers SAM runs functions in (by its label)."""
    found = _run(["docker", "ps", "-aq", "--no-trunc", "--filter", "label=sam.cli.container.type=lambda"])
    return set(found.stdout.split())


def _default_sigint() -> None:
    # A process started in the background by a non-interactive shell ignores SIGINT, and so would
    # SAM, started from it: SAM stops (and removes its containers) on SIGINT only.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def sam_process(backends: Backends, out: Any, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """A long-running `sam local ...` (start-api, start-lambda), stopped with SIGINT as Ctrl-C
    stops it. SAM removes its containers then, but not always (an error in its shutdown left four
    running once): those that were not there before it started are removed after it."""
    before = lambda_containers()
    process = subprocess.Popen(
        backends.sam_command(*args),
        env=backends.sam_environment(),
        cwd=ROOT,
        stdout=out,
        stderr=subprocess.STDOUT if out is not None else None,
        preexec_fn=_default_sigint,  # noqa: PLW1509 - one signal() call, async-signal-safe
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        left = sorted(lambda_containers() - before)
        if left:
            _run(["docker", "rm", "-f", *left], timeout_s=120)


def sam_api(port: int) -> int:
    """`sam local start-api` in the foreground until Ctrl-C, with the backends up around it."""
    ensure_built()
    with Backends() as backends:
        for message in backends.messages:
            print(f"livestock: {message}", file=sys.stderr)
        print(
            f"livestock: SAM's own gateway on http://127.0.0.1:{port} (no API keys; one container per function, "
            "started on its first request). Ctrl-C stops it.",
            file=sys.stderr,
            flush=True,
        )

        def interrupted(*_: object) -> None:
            # Ctrl-C reaches the whole terminal group: SAM stops itself, and so does moto, so the
            # bridge's relays stop now rather than poll a server that is gone.
            backends.stop_bridge()

        previous = signal.signal(signal.SIGINT, interrupted)
        try:
            with sam_process(backends, None, "start-api", "--port", str(port), "--warm-containers", "LAZY") as process:
                return process.wait()
        finally:
            signal.signal(signal.SIGINT, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The SAM CLI's local commands against DynamoDB Local.")
    commands = parser.add_subparsers(dest="command", required=True)
    invoke = commands.add_parser("invoke", help="sam local invoke FN --event EVENT")
    invoke.add_argument("function")
    invoke.add_argument("event", type=Path)
    api = commands.add_parser("api", help="sam local start-api")
    api.add_argument("--port", type=int, default=int(os.environ.get("LIVESTOCK_SAM_API_PORT", "3001")))
    commands.add_parser("why-not", help="print why sam local cannot run here (nothing when it can)")
    args = parser.parse_args(argv)
    reason = unavailable()
    if args.command == "why-not":
        if reason is not None:
            print(reason)
        return 0
    try:
        if args.command == "invoke":
            if reason is not None:
                print(
                    f"livestock: sam local invoke cannot run: {reason}; using the in-process invoker", file=sys.stderr
                )
                return in_process.main([args.function, str(args.event)])
            return sam_invoke(args.function, args.event)
        if reason is not None:
            print(f"livestock: sam local start-api cannot run: {reason}", file=sys.stderr)
            return 1
        return sam_api(args.port)
    except (SamUnavailable, DynamoDBLocalError, OSError) as error:
        print(f"livestock: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
