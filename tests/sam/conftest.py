"""The real SAM CLI and the Lambda runtime interface, in Docker, against DynamoDB Local.

One package-scoped story: `sam local start-lambda --warm-containers EAGER` starts once (one warm
container per function), every event in events/ is invoked through boto3's Lambda client at it,
and the same event goes through the local stack's in-process invoker. The two sides run on one
DynamoDB Local process but in two databases (DynamoDB Local keeps one per access key id), each
with the template's tables, so each answer and the state each call leaves can be compared.
start-lambda is stopped when the story ends, before the CLI and start-api tests start their own
containers: at most one function's containers run at a time beside the story's.

Without Docker these tests are skipped with the reason (`make test` says it in one line);
LIVESTOCK_REQUIRE_SAM=1 (CI) turns that into a failure.
"""

import contextlib
import json
import os
import statistics
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.config import Config

from livestock_local import sam
from livestock_local.dynamodb_local import Credentials, client, free_port, port_in_use
from livestock_local.lambda_runtime import Invoker
from livestock_local.template import ROOT, Template

EVENTS = ROOT / "events"
READY_TIMEOUT_S = 420.0
# The review builder's wait for a SKU's ledger to reconcile, on both sides: the story's SKU never
# does (no stream poller brings its ledger up to date), so the template's 20 s would only be waited
# out, twice. One second still goes through the wait and its "unreconciled" path.
SETTLE_WAIT = {"REVIEW_SETTLE_WAIT_S": "1"}


def _require() -> None:
    reason = sam.unavailable()
    if reason is None:
        return
    if os.environ.get("LIVESTOCK_REQUIRE_SAM"):
        pytest.fail(f"LIVESTOCK_REQUIRE_SAM is set but sam local cannot run: {reason}", pytrace=False)
    pytest.skip(f"sam local cannot run here: {reason}")


# The story: every event in events/, in an order that makes sense of it (a SKU before its holds,
# the stream record of the hold after the hold). Each step: events/ file, expected status (API
# functions) or None.
STORY: list[tuple[str, int | None]] = [
    ("stock_api/set_sku.json", 201),
    ("stock_api/get_sku.json", 200),
    ("stock_api/allocation.json", 200),
    ("stock_api/limits.json", 200),
    ("stock_api/settings.json", 200),
    ("stock_api/receipt.json", 201),
    ("stock_api/adjustment.json", 201),
    ("holds_api/place_hold.json", 201),
    ("holds_api/get_hold.json", 200),
    ("stream_consumer/hold_decrement.json", None),
    ("holds_api/confirm_hold.json", 200),
    ("holds_api/cancel_hold.json", 200),
    ("stock_api/pause.json", 200),
    ("stock_api/resume.json", 200),
    ("stock_api/reserve_release.json", 200),
    ("stock_api/ledger.json", 200),
    ("stock_api/reconciliation.json", 200),
    ("events_api/set_alerts.json", 200),
    ("events_api/get_alerts.json", 200),
    ("events_api/put_webhook.json", 201),
    ("events_api/get_webhook.json", 200),
    ("events_api/webhook_deliveries.json", 200),
    ("events_api/delete_webhook.json", 204),
    # A live session around a staged release: stage 2 released early by the host, stage 1 by the
    # state machine's task (its execution is recorded by moto, not run), the rest cancelled.
    ("sessions_api/put_session.json", 201),
    ("sessions_api/get_session.json", 200),
    ("sessions_api/start_session.json", 200),
    ("session_journal/AlertRaised.json", None),
    ("sessions_api/create_campaign.json", 201),
    ("sessions_api/get_campaign.json", 200),
    ("sessions_api/release_stage.json", 200),
    ("campaign_stage/stage_task.json", None),
    ("sessions_api/cancel_campaign.json", 200),
    ("sessions_api/end_session.json", 200),
    # The post-live review: built into each side's own bucket (moto's S3), then read back. The
    # builder waits REVIEW_SETTLE_WAIT_S on each side for the SKU's ledger to reconcile, which it
    # does not here (no stream poller), then builds it as unreconciled (see SETTLE_WAIT).
    ("review_builder/SessionEnded.json", None),
    ("reviews_api/get_review.json", 200),
    ("reviews_api/sku_history.json", 200),
    # StockChanged and ChannelChanged before any channel maps the SKU (no platform is called;
    # ChannelChanged's time is long past, so it does not wait), then the channel, an
    # order its platform pushes (signed with the credentials Backends stores), and a quota move to
    # a channel not set up (refused before any platform is called: the story calls no platform).
    ("platform_sync/StockChanged.json", None),
    ("platform_sync/ChannelChanged.json", None),
    ("channels_api/put_channel.json", 201),
    ("channels_api/get_channel.json", 200),
    ("platform_orders/douyin_order_created.json", 200),
    ("channels_api/quota_move.json", 404),
    ("event_publisher/hold_decrement.json", None),
    ("webhook_delivery/AlertRaised.json", None),
    ("webhook_delivery/CampaignCancelled.json", None),
    ("webhook_delivery/ChannelChanged.json", None),
    ("webhook_delivery/HoldExpired.json", None),
    ("webhook_delivery/ReserveReleased.json", None),
    ("webhook_delivery/Restocked.json", None),
    ("webhook_delivery/ReviewReady.json", None),
    ("webhook_delivery/SessionEnded.json", None),
    ("webhook_delivery/SessionStarted.json", None),
    ("webhook_delivery/SoldOut.json", None),
    ("webhook_delivery/StageReleased.json", None),
    ("webhook_delivery/StockChanged.json", None),
    ("webhook_delivery/StockLow.json", None),
    ("webhook_delivery/UnattributedChange.json", None),
    ("hold_sweeper/schedule.json", None),
    # The live console of session live-2027-01-15 (the console events' session, planned with the
    # same lineup): a token minted for it (each side's own, substituted for TOKEN_PLACEHOLDER in
    # the events after), the page, the WebSocket's authorizer, $connect and subscribe (its snapshot
    # posted to the management endpoint), the operator actions (no campaign in this session: no
    # staged release to release), the fan-out once the connection is gone (410: GONE_BEFORE), and
    # its $disconnect.
    ("sessions_api/put_session.json@live-2027-01-15", 201),
    ("console_api/mint_token.json", 201),
    ("console_api/page.json", 200),
    ("console_api/page_script.json", 200),
    ("console_api/page_style.json", 200),
    ("console_authorizer/connect.json", None),
    ("console_socket/connect.json", 200),
    ("console_socket/subscribe.json", 200),
    ("console_api/pause.json", 200),
    ("console_api/resume.json", 200),
    ("console_api/move_quota.json", 200),
    ("console_api/release_reserve.json", 200),
    ("console_api/release_next_stage.json", 409),
    ("console_fanout/StockChanged.json", None),
    ("console_fanout/StageReleased.json", None),
    ("console_fanout/AlertRaised.json", None),
    ("console_socket/disconnect.json", 200),
]
# The console token: minted by MINT on each side, put in place of the placeholder in later events.
MINT = "console_api/mint_token.json"
TOKEN_PLACEHOLDER = "REPLACE_WITH_A_CONSOLE_TOKEN_minted_by_post"
# Before this step the console's connection is gone (the tab was closed; its $disconnect comes
# later): the management endpoint answers 410 for it, and the fan-out must drop it. It goes before
# the first fan-out because the story's SKU has units in flight (no stream poller brings its ledger
# up to date), so an open connection would be pushed to every push interval (0.25 s) for the
# fan-out's SETTLE_FOLLOW_S (8 s): a count of messages that depends on the clock. The open
# connection's path is the subscribe step's snapshot.
GONE_BEFORE = ("console_fanout/StockChanged.json", "Bx1cKeN5IAMCIbw=")


def function_of(event_name: str) -> str:
    """The template function whose CodeUri folder names the events/ folder."""
    folder = event_name.split("/", 1)[0]
    for function in Template().functions({name: name for name in Template().tables()}):
        if function.code_uri.name == folder:
            return function.logical_id
    raise KeyError(f"no function's CodeUri is functions/{folder}/")


def event_file(event_name: str) -> str:
    """The events/ file of a step: `<file>@<session id>` is that file aimed at another session."""
    return event_name.partition("@")[0]


def load_event(event_name: str, token: str | None = None) -> dict[str, Any]:
    """A step's event; the session of `<file>@<session id>` in place of the file's, and `token` in
    place of TOKEN_PLACEHOLDER."""
    name, _, session_id = event_name.partition("@")
    text = (EVENTS / name).read_text()
    if session_id:
        text = text.replace("s-1111-warmup", session_id)
    if token is not None:
        text = text.replace(TOKEN_PLACEHOLDER, token)
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def minted_token(answer: Any) -> str | None:
    """The console token in the mint step's answer."""
    with contextlib.suppress(KeyError, TypeError, ValueError):
        return str(json.loads(answer["body"])["token"])
    return None


@dataclass
class Step:
    event: str
    function: str
    sam: Any
    in_process: Any
    sam_state: dict[str, list[dict[str, Any]]]
    in_process_state: dict[str, list[dict[str, Any]]]
    sam_s: float
    # What the step posted to the console's connections: (connection id, message).
    sam_posted: list[tuple[str, Any]] = field(default_factory=list)
    in_process_posted: list[tuple[str, Any]] = field(default_factory=list)
    # The console token each side minted (None before the mint step).
    sam_token: str | None = None
    in_process_token: str | None = None


@dataclass
class Timings:
    values: dict[str, float] = field(default_factory=dict)
    calls: list[float] = field(default_factory=list)

    def add(self, name: str, seconds: float) -> None:
        self.values[name] = self.values.get(name, 0.0) + seconds

    def lines(self) -> list[str]:
        found = [f"{name}: {seconds:.1f} s" for name, seconds in self.values.items()]
        if self.calls:
            found.append(
                f"start-lambda calls: {len(self.calls)}, median {statistics.median(self.calls):.2f} s, "
                f"max {max(self.calls):.2f} s, all {sum(self.calls):.1f} s"
            )
        return found


TIMINGS = Timings()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS.values:
        terminalreporter.section("sam local timings")
        for line in TIMINGS.lines():
            terminalreporter.write_line(line)


class Sides:
    """The two databases, and the in-process invoker that runs against the second."""

    def __init__(self, backends: sam.Backends, tmp: Path) -> None:
        self.backends = backends
        self.sam_credentials = backends.credentials_in_use
        self.local_credentials = Credentials.generate()
        backends.create_tables(self.local_credentials)
        self.saved = dict(os.environ)
        # The in-process functions reach the same DynamoDB Local (on the bridge gateway) with the other key,
        # and the same moto (the endpoint variables LocalEventBridge exported at its start).
        os.environ.update(
            {
                "AWS_ENDPOINT_URL_DYNAMODB": backends.host_endpoint,
                "AWS_DEFAULT_REGION": sam.REGION,
                **self.local_credentials.environment(),
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": "WARNING",
            }
        )
        # The console's management endpoint, as the SAM side's --env-vars gives it. The reviews go
        # to a bucket of this side's own in the same moto: the SAM side's answers must not be read
        # from objects this side wrote (one account, one bucket namespace).
        os.environ.update(backends.console_variables())
        self.review_bucket = f"{Template().buckets()['ReviewBucket']}-in-process"
        boto3.client("s3", endpoint_url=backends.host_variables()["AWS_ENDPOINT_URL_S3"]).create_bucket(
            Bucket=self.review_bucket
        )
        functions = Template().functions(backends.table_names)
        for function in functions:
            function.environment["POWERTOOLS_LOG_LEVEL"] = "WARNING"
            for name, value in backends.console_variables().items():
                if name in function.environment:
                    function.environment[name] = value
            if "REVIEW_BUCKET_NAME" in function.environment:
                function.environment["REVIEW_BUCKET_NAME"] = self.review_bucket
            for name, value in SETTLE_WAIT.items():
                if name in function.environment:
                    function.environment[name] = value
        self.invoker = Invoker(functions, workers=1, background_workers=1)
        self._clients: dict[str, Any] = {}
        self._readers = ThreadPoolExecutor(2 * len(backends.table_names), thread_name_prefix="state")

    def state(self, credentials: Credentials) -> dict[str, list[dict[str, Any]]]:
        """Every item of every table in the database these credentials open, sorted by key."""
        (found,) = self.states(credentials)
        return found

    def states(self, *credentials: Credentials) -> list[dict[str, list[dict[str, Any]]]]:
        """`state` of each database, every table of each read side by side (they are read after
        every step), by one client per database."""
        deserializer = TypeDeserializer()

        def items_of(dynamodb: Any, name: str) -> list[dict[str, Any]]:
            items = []
            for page in dynamodb.get_paginator("scan").paginate(TableName=name, ConsistentRead=True):
                items += [{k: deserializer.deserialize(v) for k, v in item.items()} for item in page["Items"]]
            return sorted(items, key=lambda item: (str(item["pk"]), str(item["sk"])))

        names = list(self.backends.table_names.values())
        reads = [(self._client(key), name) for key in credentials for name in names]
        found = list(self._readers.map(lambda read: items_of(*read), reads))
        return [
            dict(zip(names, found[i * len(names) : (i + 1) * len(names)], strict=True)) for i in range(len(credentials))
        ]

    def _client(self, credentials: Credentials) -> Any:
        key = credentials.access_key_id
        if key not in self._clients:
            self._clients[key] = client(self.backends.host_endpoint, credentials)
        return self._clients[key]

    def close(self) -> None:
        self._readers.shutdown()
        self.invoker.shutdown()
        os.environ.clear()
        os.environ.update(self.saved)


@pytest.fixture(scope="package")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sam.Backends]:
    _require()
    started = time.monotonic()
    built = sam.ensure_built()
    if built:
        TIMINGS.values["sam build"] = built
    state = tmp_path_factory.mktemp("sam")
    with sam.Backends(state_dir=state, persistent=False, log_level="WARNING", overrides=SETTLE_WAIT) as running:
        TIMINGS.values["DynamoDB Local + moto + tables"] = time.monotonic() - started - built
        started = time.monotonic()
        running.layer_images()
        TIMINGS.values["layer images (docker build where their content changed)"] = time.monotonic() - started
        yield running


@pytest.fixture(scope="package")
def sides(backends: sam.Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sides]:
    made = Sides(backends, tmp_path_factory.mktemp("sides"))
    yield made
    made.close()


@contextlib.contextmanager
def sam_process(backends: sam.Backends, log: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """A long-running `sam local ...`, its output in `log`."""
    with log.open("wb") as out, sam.sam_process(backends, out, *args) as process:
        yield process


def wait_for_port(process: subprocess.Popen[bytes], port: int, log: Path, timeout_s: float = READY_TIMEOUT_S) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if process.poll() is not None:
            pytest.fail(f"sam local exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        if port_in_use(port):
            return time.monotonic() - started
        time.sleep(0.5)
    pytest.fail(f"sam local did not listen on {port} within {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


def lambda_client(port: int) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name=sam.REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(read_timeout=120, connect_timeout=5, retries={"max_attempts": 0}),
    )


def invoke_through(lambda_api: Any, function: str, event: dict[str, Any]) -> Any:
    """One invocation through the Lambda Invoke API; a function error comes back as its payload."""
    response = lambda_api.invoke(FunctionName=function, Payload=json.dumps(event).encode())
    payload = json.loads(response["Payload"].read() or b"null")
    if "FunctionError" in response:
        return {"FunctionError": response["FunctionError"], **payload}
    return payload


@pytest.fixture(scope="package")
def story(sides: Sides, backends: sam.Backends, tmp_path_factory: pytest.TempPathFactory) -> list[Step]:
    """Every event through start-lambda (warm containers) and through the in-process invoker."""
    log = tmp_path_factory.mktemp("start-lambda") / "sam.log"
    port = free_port()
    steps = []
    with sam_process(backends, log, "start-lambda", "--port", str(port), "--warm-containers", "EAGER") as process:
        TIMINGS.values["start-lambda --warm-containers EAGER ready"] = wait_for_port(process, port, log)
        lambda_api = lambda_client(port)
        management = backends.management
        assert management is not None
        sam_token: str | None = None
        local_token: str | None = None
        for event_name, _status in STORY:
            function = function_of(event_name)
            if event_name == GONE_BEFORE[0]:
                management.gone.add(GONE_BEFORE[1])
            started = time.monotonic()
            try:
                answer = invoke_through(lambda_api, function, load_event(event_name, sam_token))
            except Exception as error:  # noqa: BLE001 - reported by this step's test, the story goes on
                answer = {"FunctionError": f"{type(error).__name__}: {error}", "log": log.read_text()[-3000:]}
            took = time.monotonic() - started
            TIMINGS.calls.append(took)
            sam_posted = management.taken(sides.sam_credentials.access_key_id)
            started = time.monotonic()
            try:
                local = sides.invoker.invoke(function, load_event(event_name, local_token))
            except Exception as error:  # noqa: BLE001 - as above
                local = {"FunctionError": f"{type(error).__name__}: {error}"}
            TIMINGS.add("in-process calls", time.monotonic() - started)
            started = time.monotonic()
            if event_name == MINT:
                sam_token, local_token = minted_token(answer), minted_token(local)
            sam_state, local_state = sides.states(sides.sam_credentials, sides.local_credentials)
            steps.append(
                Step(
                    event_name,
                    function,
                    answer,
                    local,
                    sam_state,
                    local_state,
                    took,
                    sam_posted,
                    management.taken(sides.local_credentials.access_key_id),
                    sam_token,
                    local_token,
                )
            )
            TIMINGS.add("state reads after each call", time.monotonic() - started)
        stopping = time.monotonic()
    TIMINGS.values["start-lambda stopped (its containers removed)"] = time.monotonic() - stopping
    # For reading a failure at leisure, without running the story again.
    (log.parent / "story.json").write_text(json.dumps([step.__dict__ for step in steps], default=str, indent=1))
    return steps
