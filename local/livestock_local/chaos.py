"""`make chaos`: the probes of issue 16, repeated against real local stacks, with figures.

Each probe is a function the tests call with small counts (`make test`) and `make chaos` calls with
the full ones, printing progress and writing the figures into RELIABILITY.md:

- bypass: made-up credentials writing a shard straight into DynamoDB Local (changes: must be 0);
- stop: SIGTERM / Ctrl-C to the stack or its whole group (stopped within 10 s, lock removed);
- restart: kill -9 of the whole group, then an immediate restart on the same data;
- replay: orders answered 201 before a kill -9, replayed during the restart's catch-up;
- catch-up: a restarted stream poller with a long stream history behind its checkpoint;
- abuse: incomplete connections and unauthenticated 10 MB bodies, with a normal client timed;
- fuzz: schemathesis with every phase against openapi.json, with and without the key, plus
  multipart without a boundary and TRACE (`livestock_local.fuzz`);
- burst: kill -9 in the middle of a 64-client sale, of the whole group, of the stream consumer
  alone and of the sweeper alone (`livestock_local.burst`).
"""

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from livestock_local.burst import KILL_TARGETS, BurstResult, burst_kill_probe
from livestock_local.dynamodb_local import DynamoDBLocal, client, free_port
from livestock_local.fuzz import fuzz_fresh_stack, report_lines
from livestock_local.stack import DEFAULT_API_KEY, lock_file
from livestock_local.stack_process import descendants, scratch_state, start_stack
from livestock_local.streams import StreamPoller
from livestock_local.template import ROOT

RELIABILITY = ROOT / "RELIABILITY.md"
STOP_LIMIT_S = 10.0


def alive(pid: int) -> bool:
    """Running (a zombie has stopped running, whatever os.kill says)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def process_figures(pid: int) -> tuple[float, int]:
    """Resident memory (MB) and threads of one process."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return rss_kb / 1024, threads


# --- stop ---------------------------------------------------------------------------------------


@dataclass
class StopResult:
    how: str
    seconds: float
    returncode: int | None
    lock_removed: bool
    left_running: int

    @property
    def ok(self) -> bool:
        return self.seconds <= STOP_LIMIT_S and self.lock_removed and self.left_running == 0


def stop_probe(state_dir: Path, signum: int, whole_group: bool) -> StopResult:
    running = start_stack(state_dir, fresh=True)
    children = descendants(running.pid)
    began = time.monotonic()
    if whole_group:
        os.killpg(running.pid, signum)
    else:
        os.kill(running.pid, signum)
    try:
        running.process.wait(timeout=STOP_LIMIT_S + 5)
    except subprocess.TimeoutExpired:
        os.killpg(running.pid, signal.SIGKILL)
        running.process.wait()
    seconds = time.monotonic() - began
    # The children's own exits (a worker's last write) may take a moment after the parent's.
    settle = time.monotonic() + 2
    while any(alive(child) for child in children) and time.monotonic() < settle:
        time.sleep(0.05)
    left = [child for child in children if alive(child)]
    for child in left:
        with contextlib.suppress(OSError):
            os.kill(child, signal.SIGKILL)
    how = f"{signal.Signals(signum).name} to the {'group' if whole_group else 'stack'}"
    return StopResult(how, seconds, running.process.returncode, not lock_file(state_dir).exists(), len(left))


# --- kill -9 and restart --------------------------------------------------------------------------


@dataclass
class RestartResult:
    restarted: bool
    seconds: float
    replays: int
    replays_different: int
    message: str


def kill9_restart_probe(state_dir: Path, orders: int = 5) -> RestartResult:
    """Orders answered 201, the whole group killed with SIGKILL and left unreaped (a zombie, as an
    orphan stays here), a restart at once on the same data and port, the orders replayed."""
    first = start_stack(state_dir)
    session = requests.Session()
    headers = {"x-api-key": DEFAULT_API_KEY}
    sku_id = f"chaos-{uuid.uuid4().hex[:8]}"
    session.put(f"{first.url}/skus/{sku_id}", json={"name": "Tee", "on_hand": 1000}, headers=headers, timeout=30)
    answered: list[tuple[dict[str, Any], int, Any]] = []
    for number in range(orders):
        order = {"channel": "douyin", "order_id": f"o-{number}", "sku_id": sku_id, "quantity": 1}
        response = session.post(f"{first.url}/holds", json=order, headers=headers, timeout=30)
        answered.append((order, response.status_code, response.json()))
    os.killpg(first.pid, signal.SIGKILL)
    began = time.monotonic()
    try:
        second = start_stack(state_dir, port=first.port)
    except RuntimeError as error:
        first.process.wait()
        return RestartResult(False, time.monotonic() - began, 0, 0, str(error).splitlines()[-1])
    seconds = time.monotonic() - began
    different = 0
    try:
        for order, status, body in answered:
            replay = _patient(session, f"{second.url}/holds", order, headers)
            if (replay.status_code, replay.json()) != (status, body):
                different += 1
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.process.wait(timeout=STOP_LIMIT_S + 5)
        first.process.wait()
    message = next((line for line in second.output if "stale lock" in line), "")
    return RestartResult(True, seconds, len(answered), different, message)


def _patient(session: requests.Session, url: str, order: dict[str, Any], headers: dict[str, str]) -> requests.Response:
    """The API's contract for REQUEST_IN_PROGRESS: wait retry_after_s, then ask again."""
    response = session.post(url, json=order, headers=headers, timeout=30)
    for _ in range(30):
        body = response.json()
        if not (isinstance(body, dict) and body.get("code") == "REQUEST_IN_PROGRESS"):
            break
        time.sleep(float(body["details"].get("retry_after_s", 1)))
        response = session.post(url, json=order, headers=headers, timeout=30)
    return response


# --- bypass ---------------------------------------------------------------------------------------


def bypass_attempt(endpoint: str, table: str, key: dict[str, Any], key_id: str = "AKIAPROBE") -> bool:
    """Made-up credentials set `available` to 1,000,000 on one item. True if the write landed."""
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key="made-up",  # noqa: S106 - the probe's invented secret
        config=Config(retries={"max_attempts": 1}),
    )
    try:
        dynamodb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET available = :a",
            ExpressionAttributeValues={":a": {"N": "1000000"}},
        )
    except ClientError:
        return False
    return True


# --- catch-up after a restart, with a long stream history ------------------------------------------


class CountingConsumer:
    """A consumer that only counts: it times the poller, not any real consumer's work."""

    def __init__(self) -> None:
        self.records = 0
        self._lock = threading.Lock()

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.records += len(event["Records"])
        return {"batchItemFailures": []}


def streamed_table(database: DynamoDBLocal) -> str:
    name = f"history-{uuid.uuid4().hex[:8]}"
    dynamodb: Any = client(database.endpoint, database.credentials)
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return name


def write_history(database: DynamoDBLocal, table: str, records: int, progress: bool = False) -> None:
    """`records` stream records: one insert each, 25 to a BatchWriteItem."""
    dynamodb: Any = client(database.endpoint, database.credentials)
    for start in range(0, records, 25):
        items = [
            {"PutRequest": {"Item": {"pk": {"S": f"item-{number}"}, "n": {"N": str(number)}}}}
            for number in range(start, min(records, start + 25))
        ]
        pending: dict[str, Any] = {table: items}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        if progress and start and start % 10_000 == 0:
            print(f"    history: {start:,}/{records:,} records", flush=True)


def poller(database: DynamoDBLocal, table: str, consumer: CountingConsumer, checkpoint: Path) -> StreamPoller:
    return StreamPoller(
        client(database.endpoint, database.credentials),
        client(database.endpoint, database.credentials, "dynamodbstreams"),
        table,
        consumer,
        batch_size=100,
        parallelization=1,
        checkpoint_path=checkpoint,
    )


def run_until_idle(stream: StreamPoller, consumer: CountingConsumer, expected: int, timeout_s: float) -> float:
    """Seconds from start until the poller has delivered `expected` records and found no more."""
    began = time.monotonic()
    stream.start()
    deadline = began + timeout_s
    while time.monotonic() < deadline:
        if consumer.records >= expected and stream.idle.is_set():
            return time.monotonic() - began
        time.sleep(0.01)
    raise TimeoutError(f"delivered {consumer.records} of {expected} records in {timeout_s}s")


@dataclass
class CatchUpResult:
    history: int
    first_pass_s: float
    catch_up_s: float
    redelivered: int


def catch_up_probe(history: int, progress: bool = False) -> CatchUpResult:
    database = DynamoDBLocal(free_port())
    database.start()
    try:
        table = streamed_table(database)
        write_history(database, table, history, progress)
        with tempfile.TemporaryDirectory() as scratch:
            checkpoint = Path(scratch) / "checkpoint.json"
            first = CountingConsumer()
            before = poller(database, table, first, checkpoint)
            first_pass_s = run_until_idle(before, first, history, timeout_s=max(60.0, history / 100))
            before.stop()
            again = CountingConsumer()
            after = poller(database, table, again, checkpoint)
            catch_up_s = run_until_idle(after, again, 0, timeout_s=60)
            after.stop()
        return CatchUpResult(history, first_pass_s, catch_up_s, again.records)
    finally:
        database.stop()


# --- abuse of the gateway -------------------------------------------------------------------------


@dataclass
class AbuseResult:
    incomplete: int
    bodies: int
    before: tuple[float, int]
    during: tuple[float, int]
    after: tuple[float, int]
    normal_client_s: float
    normal_status: int
    baseline_s: float
    load_average: float


def _incomplete(url_port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", url_port), timeout=5)
    sock.sendall(b"POST /holds HTTP/1.1\r\nHost: x\r\nx-api-key: ")
    return sock


def _unauthenticated_body(port: int, size: int) -> None:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = f"POST /holds HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
        sock.sendall(head.encode())
        chunk = b"x" * 65536
        for _ in range(size // len(chunk)):
            sock.sendall(chunk)
        sock.recv(4096)


def abuse_probe(
    url: str,
    pid: int,
    sku_path: str,
    api_key: str = DEFAULT_API_KEY,
    incomplete: int = 200,
    bodies: int = 16,
    body_bytes: int = 10 * 1024 * 1024,
) -> AbuseResult:
    """`incomplete` connections that never finish their headers and `bodies` unauthenticated
    10 MB bodies, all at once; then a normal client's call is timed."""
    port = int(url.rsplit(":", 1)[1])
    began = time.monotonic()
    requests.get(f"{url}{sku_path}", headers={"x-api-key": api_key}, timeout=10)
    baseline_s = time.monotonic() - began
    before = process_figures(pid)
    held = [_incomplete(port) for _ in range(incomplete)]
    senders = [threading.Thread(target=_unauthenticated_body, args=(port, body_bytes)) for _ in range(bodies)]
    for sender in senders:
        sender.start()
    time.sleep(0.5)
    began = time.monotonic()
    answer = requests.get(f"{url}{sku_path}", headers={"x-api-key": api_key}, timeout=10)
    normal_s = time.monotonic() - began
    during = process_figures(pid)
    for sender in senders:
        sender.join(timeout=30)
    during = max(during, process_figures(pid))
    for sock in held:
        sock.close()
    time.sleep(0.5)
    return AbuseResult(
        incomplete,
        bodies,
        before,
        during,
        process_figures(pid),
        normal_s,
        answer.status_code,
        baseline_s,
        os.getloadavg()[0],
    )


# --- make chaos -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Repeat the probes of issue 16 and write the figures.")
    parser.add_argument("--runs", type=int, default=10, help="stops and restarts to try")
    parser.add_argument("--history", type=int, default=100_000, help="stream records behind the checkpoint")
    parser.add_argument("--no-write", action="store_true", help="print the figures only")
    parser.add_argument("--only-abuse", action="store_true", help="run the abuse probe alone and print its figures")
    parser.add_argument("--fuzz-seconds", type=int, default=120, help="schemathesis's time budget")
    parser.add_argument(
        "--only-fuzz", action="store_true", help="run the fuzz probe alone and write its row of the figures"
    )
    parser.add_argument("--burst-runs", type=int, default=3, help="kill -9 mid-burst runs per target")
    parser.add_argument(
        "--only-burst", action="store_true", help="run the kill -9 mid-burst probe alone and write its rows"
    )
    parser.add_argument(
        "--burst-targets",
        default=",".join(KILL_TARGETS),
        help=f"with --only-burst: what to kill, of {','.join(KILL_TARGETS)} (only their rows are rewritten)",
    )
    args = parser.parse_args(argv)
    if args.only_burst:
        targets = tuple(t for t in args.burst_targets.split(",") if t)
        if not targets or set(targets) - set(KILL_TARGETS):
            parser.error(f"--burst-targets takes {','.join(KILL_TARGETS)}")
        bursts = burst_runs(args.burst_runs, targets)
        if not args.no_write:
            for target in targets:
                write_rows(f"{BURST_ROW_START}: {BURST_WHAT[target]}", burst_rows({target: bursts[target]}))
            print(f"wrote the burst figures into {RELIABILITY.relative_to(ROOT)}")
        return 0 if all(run.ok for runs in bursts.values() for run in runs) else 1
    if args.only_abuse:
        print(json.dumps(_abuse_figures(), indent=2))
        return 0
    if args.only_fuzz:
        print(f"[fuzz] schemathesis, every phase, {args.fuzz_seconds}s, with and without the key", flush=True)
        fuzzed = fuzz_fresh_stack(args.fuzz_seconds, progress=True)
        fuzz_figures = {**fuzzed.figures(), "date": time.strftime("%Y-%m-%d")}
        print("\n".join(report_lines(fuzzed)))
        if not args.no_write:
            write_fuzz_row(fuzz_figures)
            print(f"wrote the fuzz figures into {RELIABILITY.relative_to(ROOT)}")
        return 0 if fuzzed.ok else 1
    figures: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "runs": args.runs}

    print("[1/7] bypass: made-up credentials against a running stack's DynamoDB Local", flush=True)
    with scratch_state() as state:
        running = start_stack(state, fresh=True)
        try:
            lock = json.loads(lock_file(state).read_text())
            endpoint = str(lock["dynamodb"])
            keys = [{"pk": {"S": f"POOL#probe#shared#{n}"}, "sk": {"S": "STOCK"}} for n in range(8)]
            landed = sum(
                bypass_attempt(endpoint, "livestock-InventoryTable", key, key_id)
                for key in keys
                for key_id in ("AKIAPROBE", "local", "testing")
            )
        finally:
            os.killpg(running.pid, signal.SIGTERM)
            running.process.wait(timeout=30)
    figures["bypass"] = {"attempts": len(keys) * 3, "changed": landed}
    print(f"      {landed} of {len(keys) * 3} writes landed", flush=True)

    print(f"[2/7] stop: {args.runs} stops by SIGTERM / Ctrl-C to the stack or its group", flush=True)
    ways = [(signal.SIGTERM, False), (signal.SIGTERM, True), (signal.SIGINT, False), (signal.SIGINT, True)]
    stops = []
    for run in range(args.runs):
        signum, group = ways[run % len(ways)]
        with scratch_state() as state:
            result = stop_probe(state, signum, group)
        stops.append(result)
        print(f"      {run + 1}/{args.runs} {result.how}: {result.seconds:.2f}s, ok={result.ok}", flush=True)
    figures["stop"] = {
        "ok": sum(s.ok for s in stops),
        "runs": len(stops),
        "slowest_s": round(max(s.seconds for s in stops), 2),
    }

    print(f"[3/7] restart: {args.runs} kill -9 of the whole group, restarted at once, orders replayed", flush=True)
    restarts = []
    with scratch_state() as state:
        for run in range(args.runs):
            restart = kill9_restart_probe(state)
            restarts.append(restart)
            print(
                f"      {run + 1}/{args.runs} restarted={restart.restarted} in {restart.seconds:.1f}s, "
                f"{restart.replays_different}/{restart.replays} replays differed  {restart.message}",
                flush=True,
            )
    figures["restart"] = {
        "ok": sum(r.restarted for r in restarts),
        "runs": len(restarts),
        "slowest_s": round(max(r.seconds for r in restarts), 2),
        "replays": sum(r.replays for r in restarts),
        "replays_different": sum(r.replays_different for r in restarts),
    }

    print(f"[4/7] catch-up: a restarted stream poller with {args.history:,} records of history", flush=True)
    catch_up = catch_up_probe(args.history, progress=True)
    figures["catch_up"] = {
        "history": catch_up.history,
        "first_pass_s": round(catch_up.first_pass_s, 1),
        "catch_up_s": round(catch_up.catch_up_s, 3),
        "redelivered": catch_up.redelivered,
    }
    print(f"      caught up in {catch_up.catch_up_s:.3f}s, {catch_up.redelivered} records delivered again", flush=True)

    print("[5/7] abuse: 200 incomplete connections + 16 unauthenticated 10 MB bodies", flush=True)
    figures["abuse"] = _abuse_figures()
    print(f"      {figures['abuse']}", flush=True)

    print(f"[6/7] fuzz: schemathesis, every phase, {args.fuzz_seconds}s, with and without the key", flush=True)
    fuzzed = fuzz_fresh_stack(args.fuzz_seconds, progress=True)
    figures["fuzz"] = {**fuzzed.figures(), "date": figures["date"]}
    print("\n".join(report_lines(fuzzed)), flush=True)

    print(f"[7/7] kill -9 mid-burst: {args.burst_runs} runs each of the group, the consumer, the sweeper", flush=True)
    bursts = burst_runs(args.burst_runs)
    figures["burst"] = {target: [vars(run) for run in runs] for target, runs in bursts.items()}

    print(json.dumps(figures, indent=2))
    if not args.no_write:
        write_figures(figures)
        write_rows(BURST_ROW_START, burst_rows(bursts))
        print(f"wrote the figures into {RELIABILITY.relative_to(ROOT)}")
    failed = (
        figures["bypass"]["changed"]
        or figures["stop"]["ok"] != figures["stop"]["runs"]
        or figures["restart"]["ok"] != figures["restart"]["runs"]
        or figures["restart"]["replays_different"]
        or catch_up.catch_up_s >= 2.0
        or figures["abuse"]["normal_client_s"] >= 1.0 + 2 * figures["abuse"]["baseline_s"]
        or not fuzzed.ok
        or not all(run.ok for runs in bursts.values() for run in runs)
    )
    return 1 if failed else 0


def _abuse_figures() -> dict[str, Any]:
    with scratch_state() as state:
        running = start_stack(state, fresh=True)
        try:
            sku_path = f"/skus/abuse-{uuid.uuid4().hex[:6]}"
            requests.put(
                f"{running.url}{sku_path}",
                json={"name": "Tee", "on_hand": 5},
                headers={"x-api-key": DEFAULT_API_KEY},
                timeout=30,
            )
            result = abuse_probe(running.url, running.pid, sku_path)
        finally:
            os.killpg(running.pid, signal.SIGTERM)
            running.process.wait(timeout=30)
    return {
        "incomplete_connections": result.incomplete,
        "unauthenticated_10mb_bodies": result.bodies,
        "rss_mb": [round(result.before[0]), round(result.during[0]), round(result.after[0])],
        "threads": [result.before[1], result.during[1], result.after[1]],
        "normal_client_s": round(result.normal_client_s, 3),
        "normal_status": result.normal_status,
        "baseline_s": round(result.baseline_s, 3),
        "load_average": round(result.load_average, 1),
    }


FIGURES_START = "<!-- chaos figures: written by `make chaos` -->"
FIGURES_END = "<!-- end of chaos figures -->"


def write_figures(figures: dict[str, Any]) -> None:
    stop, restart, catch_up, abuse = figures["stop"], figures["restart"], figures["catch_up"], figures["abuse"]
    table = "\n".join(
        [
            FIGURES_START,
            f"Measured {figures['date']} with `make chaos` on this 2-core machine (shared).",
            "",
            "| probe | figure |",
            "| --- | --- |",
            f"| bypass attempts (made-up keys writing shards) | {figures['bypass']['changed']} changed "
            f"of {figures['bypass']['attempts']} |",
            f"| stops within 10 s (SIGTERM/SIGINT, stack or group) | {stop['ok']} of {stop['runs']} "
            f"(slowest {stop['slowest_s']} s) |",
            f"| restarts straight after kill -9 of the group | {restart['ok']} of {restart['runs']} "
            f"(slowest {restart['slowest_s']} s to ready) |",
            f"| replays answered differently after the restart | {restart['replays_different']} "
            f"of {restart['replays']} |",
            f"| stream catch-up after a restart | {catch_up['catch_up_s']} s with {catch_up['history']:,} "
            f"records of history ({catch_up['redelivered']} delivered again; first pass "
            f"{catch_up['first_pass_s']} s) |",
            f"| {abuse['incomplete_connections']} incomplete connections + "
            f"{abuse['unauthenticated_10mb_bodies']} unauthenticated 10 MB bodies | RSS {abuse['rss_mb'][0]} → "
            f"{abuse['rss_mb'][1]} → {abuse['rss_mb'][2]} MB, threads {abuse['threads'][0]} → "
            f"{abuse['threads'][1]} → {abuse['threads'][2]} (before → during → after); a normal client "
            f"answered {abuse['normal_status']} in {abuse['normal_client_s']} s (the same call before the abuse: "
            f"{abuse['baseline_s']} s; load average {abuse['load_average']} on 2 cores) |",
            fuzz_row(figures["fuzz"]),
            FIGURES_END,
        ]
    )
    text = RELIABILITY.read_text()
    start, end = text.index(FIGURES_START), text.index(FIGURES_END) + len(FIGURES_END)
    RELIABILITY.write_text(text[:start] + table + text[end:])


FUZZ_ROW_START = "| schemathesis against openapi.json"


def fuzz_row(fuzz: dict[str, Any]) -> str:
    phases = ", ".join(f"{phase} {status}" for phase, status in fuzz["phases"].items())
    statuses = ", ".join(f"{status}: {count}" for status, count in fuzz["statuses"].items())
    return (
        f"{FUZZ_ROW_START} (every phase; with and without the key; multipart without a boundary and TRACE) | "
        f"{fuzz['server_errors']} answers >= 500 and {fuzz['undocumented']} undocumented statuses in "
        f"{fuzz['requests']:,} requests ({fuzz['test_cases']:,} test cases on {fuzz['operations']} operations "
        f"and {fuzz['malformed']} malformed requests, {fuzz['seconds']} s, {fuzz['date']}, seeds "
        f"{'/'.join(str(seed) for seed in fuzz['seeds'])}); {fuzz['wrong_shape']} refusals outside the error "
        f"shape; {fuzz['schemathesis_failures']} schemathesis check failures; phases: {phases}; statuses: "
        f"{statuses}; seeded SKUs changed by refused requests or inconsistent: {fuzz['seeded_changed']} "
        f"of {fuzz['seeded_skus']} |"
    )


def write_fuzz_row(fuzz: dict[str, Any]) -> None:
    """The fuzz row alone (`--only-fuzz`), in place of the one the table has, or added to it."""
    write_rows(FUZZ_ROW_START, [fuzz_row(fuzz)])


def write_rows(prefix: str, new_rows: list[str]) -> None:
    """Rows starting with `prefix` replaced by `new_rows` (added at the end of the table if none)."""
    text = RELIABILITY.read_text()
    start, end = text.index(FIGURES_START), text.index(FIGURES_END)
    rows = [line for line in text[start:end].splitlines() if not line.startswith(prefix)]
    table = "\n".join([*rows, *new_rows]) + "\n"
    RELIABILITY.write_text(text[:start] + table + text[end:])


# --- kill -9 mid-burst ----------------------------------------------------------------------------

BURST_ROW_START = "| kill -9 mid-burst"
BURST_WHAT = {
    "group": "the whole process group, restarted at once on the same data",
    "consumer": "the stream consumer's process alone",
    "sweeper": "the sweeper's execution environment alone",
}


def burst_runs(runs: int, targets: tuple[str, ...] = KILL_TARGETS) -> dict[str, list[BurstResult]]:
    results: dict[str, list[BurstResult]] = {}
    for target in targets:
        for run in range(runs):
            with scratch_state() as state:
                result = burst_kill_probe(state, target, progress=lambda line: print(f"      {line}", flush=True))
            results.setdefault(target, []).append(result)
            print(
                f"      {target} {run + 1}/{runs}: ok={result.ok} oversold={result.oversold} lost={result.lost} "
                f"duplicated={result.duplicated} skipped={result.skipped} "
                f"replays disagreeing={result.replays_disagreeing}/{result.replays} "
                f"holds disagreeing={result.holds_disagreeing} overdue={result.overdue_held} "
                f"cut off={result.timed_out_orders} "
                f"ready={result.ready_s}s answered={result.replays_answered_s}s settled={result.settled_s}s "
                f"load={result.load_average}",
                flush=True,
            )
            if not result.ok:
                print("      " + "\n      ".join(result.examples), flush=True)
    return results


def burst_rows(results: dict[str, list[BurstResult]]) -> list[str]:
    rows = []
    for target, runs in results.items():
        first = runs[0]
        loads = [run.load_average for run in runs]
        rows.append(
            f"{BURST_ROW_START}: {BURST_WHAT[target]} ({first.units:,} units, {first.units_ordered:,} units' worth "
            f"ordered by 64 clients, killed after {first.killed_after} of {first.orders} orders answered) | "
            f"{len(runs)} runs ({time.strftime('%Y-%m-%d')}): units oversold {sum(r.oversold for r in runs)}, "
            f"units lost {sum(r.lost for r in runs)}, movements duplicated {sum(r.duplicated for r in runs)}, "
            f"skipped {sum(r.skipped for r in runs)}, ledger against counters off by "
            f"{sum(r.ledger_vs_counters for r in runs)}; clients cut off {sum(r.timed_out_orders for r in runs)}, "
            f"replays disagreeing {sum(r.replays_disagreeing for r in runs)} of {sum(r.replays for r in runs)}, "
            f"holds disagreeing with their answer {sum(r.holds_disagreeing for r in runs)}, "
            f"holds left past their payment window {sum(r.overdue_held for r in runs)}; "
            + (
                f"back in {max(r.ready_s for r in runs)} s at worst (stack ready), "
                if target == "group"
                else f"a new process in {max(r.ready_s for r in runs)} s at worst, "
            )
            + f"every cut-off client answered within {max(r.replays_answered_s for r in runs)} s of the kill, "
            f"reconciliation consistent {max(r.settled_s for r in runs)} s after the last answer at worst; "
            f"load average {min(loads)} to {max(loads)} on 2 cores |"
        )
    return rows


if __name__ == "__main__":
    sys.exit(main())
