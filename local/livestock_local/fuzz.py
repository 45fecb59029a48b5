"""Schemathesis against a running local stack and the checked-in openapi.json (issue 13, issue 16).

`python -m livestock_local.fuzz --seconds N` starts a stack (or takes `--url` of a running one),
seeds a few SKUs, and runs schemathesis with every phase (examples, coverage, fuzzing, stateful)
for about N seconds: three quarters of the time with the API key, a quarter without it. Then it
sends the malformed requests issue 16 names (multipart without a boundary on every route that takes
a body, TRACE on every path), with and without the key. Every answer is read back from
schemathesis's HAR report and held to the document:

- no answer >= 500;
- an operation's status is one it documents (a body that is not JSON: the documented 415); a method
  no operation has gets 405 with an Allow header (or 403, as API Gateway answers a method no route
  serves);
- every refusal is the one error body `{code, message, details}` as application/json (schemathesis
  also validates every body against its operation's schema);
- the seeded SKUs reconcile (`consistent: true`) before and after, and the figures of a seeded SKU
  that no accepted request touched are unchanged.

Schemathesis runs every check but `positive_data_acceptance`: JSON Schema cannot say that 3750.0 is
not an integer, nor that an adjustment of 0 or a cursor the API never gave out is refused, so a
422 for those is right and documented. `make chaos` runs it and writes the figures.
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
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

from livestock_local.stack import DEFAULT_API_KEY
from livestock_local.stack_process import scratch_state, start_stack
from livestock_local.template import ROOT

OPENAPI = ROOT / "openapi.json"
PHASES = "examples,coverage,fuzzing,stateful"
# Every check but positive_data_acceptance (see the module's docstring).
EXCLUDED_CHECKS = "positive_data_acceptance"
ERROR_KEYS = {"code", "message", "details"}
# SKUs seeded before the run: "0" and "a" are ids schemathesis generates often, the third it never does.
SEEDED_SKUS = ("0", "a", "fuzz-seeded-untouched")


@dataclass
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    statuses: set[int]


def operations(document: dict[str, Any]) -> list[Operation]:
    found = []
    for template, methods in document["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")
        for method, operation in methods.items():
            statuses = {int(status) for status in operation.get("responses", {})}
            found.append(Operation(method.upper(), template, pattern, statuses))
    return found


@dataclass
class Answer:
    """One request and its answer, as schemathesis's HAR report or a raw probe recorded it."""

    method: str
    path: str
    status: int
    content_type: str
    body: str
    request_body: str = ""
    allow: str | None = None


@dataclass
class FuzzResult:
    seconds: float = 0.0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    undocumented: list[str] = field(default_factory=list)
    wrong_shape: list[str] = field(default_factory=list)
    schemathesis_failures: list[str] = field(default_factory=list)
    schemathesis_errors: list[str] = field(default_factory=list)
    phases: dict[str, str] = field(default_factory=dict)
    operations_tested: int = 0
    test_cases: int = 0
    malformed: int = 0
    seeded: dict[str, dict[str, Any]] = field(default_factory=dict)
    seeded_changed: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.server_errors
            or self.undocumented
            or self.wrong_shape
            or self.schemathesis_failures
            or self.schemathesis_errors
            or self.seeded_changed
        )

    def figures(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds),
            "requests": self.requests,
            "operations": self.operations_tested,
            "test_cases": self.test_cases,
            "server_errors": len(self.server_errors),
            "undocumented": len(self.undocumented),
            "wrong_shape": len(self.wrong_shape),
            "schemathesis_failures": len(self.schemathesis_failures),
            "malformed": self.malformed,
            "phases": self.phases,
            "statuses": dict(sorted(self.statuses.items())),
            "seeded_skus": len(self.seeded),
            "seeded_changed": len(self.seeded_changed),
            "seeds": self.seeds,
        }


# --- schemathesis -------------------------------------------------------------------------------


def run_schemathesis(
    url: str,
    seconds: int,
    report_dir: Path,
    api_key: str | None,
    seed: int,
    workers: int = 2,
    max_examples: int | None = None,
) -> tuple[dict[str, Any], list[Answer]]:
    """`st run` with every phase for `seconds`, or once through with `max_examples` test cases per
    operation; its JSON report and every request it made."""
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        str(OPENAPI),
        "--url",
        url,
        "--phases",
        PHASES,
        "--checks",
        "all",
        "--exclude-checks",
        EXCLUDED_CHECKS,
        "--workers",
        str(workers),
        "--seed",
        str(seed),
        "--request-timeout",
        "30",
        # Schemathesis's default limit is 10 s; on this shared 2-core machine a loaded moment passes it.
        "--max-response-time",
        "30",
        "--report",
        "json,har",
        "--report-dir",
        str(report_dir),
        "--report-json-path",
        str(report_dir / "report.json"),
        "--report-har-path",
        str(report_dir / "requests.har"),
        "--output-truncate",
        "true",
        "--no-color",
    ]
    if api_key is not None:
        command += ["--header", f"x-api-key: {api_key}"]
    # A time budget makes fuzzing and stateful testing repeat until it is spent; a number of
    # examples runs each phase once through (the time is then only the subprocess's cap).
    command += ["--max-examples", str(max_examples)] if max_examples is not None else ["--max-time", str(seconds)]
    # In the report's folder: schemathesis keeps a cache (.schemathesis/) in its working directory.
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=max(seconds, 240) + 120, check=False, cwd=report_dir
    )
    report_path = report_dir / "report.json"
    if not report_path.exists():
        raise RuntimeError(f"schemathesis wrote no report:\n{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}")
    report: dict[str, Any] = json.loads(report_path.read_text())
    report["output"] = completed.stdout
    har = json.loads((report_dir / "requests.har").read_text())
    answers = []
    for entry in har["log"]["entries"]:
        response = entry["response"]
        headers = {h["name"].lower(): h["value"] for h in response["headers"]}
        answers.append(
            Answer(
                method=entry["request"]["method"],
                path=urlsplit(entry["request"]["url"]).path,
                status=int(response["status"]),
                content_type=headers.get("content-type", ""),
                body=response.get("content", {}).get("text", "") or "",
                request_body=(entry["request"].get("postData") or {}).get("text", "") or "",
                allow=headers.get("allow"),
            )
        )
    return report, answers


# --- malformed requests, sent as bytes -----------------------------------------------------------


def raw_request(url: str, request: bytes, timeout_s: float = 15) -> tuple[int, dict[str, str], str]:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout_s) as sock:
        sock.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError(f"closed without an answer after {received!r}")
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        while len(body) < int(headers.get("content-length", "0")):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(lines[0].split()[1]), headers, body.decode("utf-8", errors="replace")


def malformed_requests(url: str, api_key: str, document: dict[str, Any]) -> list[Answer]:
    """Multipart without a boundary on every operation that takes a body, TRACE on every path; each
    with and without the key."""
    answers = []
    for template, methods in document["paths"].items():
        path = re.sub(r"\{[^/]+?\}", "0", template)
        probes = [("TRACE", path, ["Content-Length: 0"], b"")]
        for method, operation in methods.items():
            if "requestBody" in operation:
                probes.append(
                    (method.upper(), path, ["Content-Type: multipart/form-data", "Content-Length: 3"], b"abc")
                )
        for method, target, headers, body in probes:
            for key in (api_key, None):
                lines = [f"{method} {target} HTTP/1.1", "Host: localhost", "Connection: close", *headers]
                if key is not None:
                    lines.append(f"x-api-key: {key}")
                request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
                status, answer_headers, text = raw_request(url, request)
                content_type = answer_headers.get("content-type", "")
                answers.append(Answer(method, target, status, content_type, text, allow=answer_headers.get("allow")))
    return answers


# --- judging the answers --------------------------------------------------------------------------


def judge(answers: list[Answer], document: dict[str, Any], result: FuzzResult) -> None:
    known = operations(document)
    for answer in answers:
        result.requests += 1
        result.statuses[answer.status] += 1
        label = f"{answer.method} {answer.path} -> {answer.status}"
        if answer.status >= 500:
            result.server_errors.append(f"{label}: {answer.body[:300]}")
        operation = next((o for o in known if o.method == answer.method and o.pattern.match(answer.path)), None)
        if operation is not None:
            documented = answer.status in operation.statuses
        else:
            # A method the path does not serve: 405 naming what it serves, or 403 as API Gateway
            # answers a known method no route serves.
            documented = (answer.status == 405 and answer.allow is not None) or answer.status == 403
        if not documented:
            result.undocumented.append(f"{label}: {answer.body[:300]}")
        if answer.status >= 400 and not _error_shaped(answer):
            result.wrong_shape.append(f"{label} ({answer.content_type}): {answer.body[:300]}")


def _error_shaped(answer: Answer) -> bool:
    if not answer.content_type.startswith("application/json"):
        return False
    try:
        body = json.loads(answer.body)
    except ValueError:
        return False
    return isinstance(body, dict) and set(body) == ERROR_KEYS and isinstance(body["code"], str)


# --- seeded SKUs ------------------------------------------------------------------------------------


def seed_skus(url: str, api_key: str) -> None:
    headers = {"x-api-key": api_key}
    for sku in SEEDED_SKUS:
        answer = requests.put(
            f"{url}/skus/{sku}", json={"name": "Fuzz seed", "on_hand": 50}, headers=headers, timeout=30
        )
        answer.raise_for_status()


def snapshot(url: str, api_key: str) -> dict[str, dict[str, Any]]:
    """Each seeded SKU's view (GET /skus/{id}) and reconciliation, once the stream has settled."""
    headers = {"x-api-key": api_key}
    figures: dict[str, dict[str, Any]] = {}
    for sku in SEEDED_SKUS:
        for _ in range(60):
            view = requests.get(f"{url}/skus/{sku}", headers=headers, timeout=30)
            reconciliation = requests.get(f"{url}/skus/{sku}/reconciliation", headers=headers, timeout=30)
            if view.status_code != 200 or reconciliation.status_code != 200:
                figures[sku] = {"view": view.status_code, "reconciliation": reconciliation.status_code}
                break
            body = reconciliation.json()
            figures[sku] = {"view": view.json(), "reconciliation": body}
            if body.get("consistent"):
                break
            time.sleep(0.5)
    return figures


def touched_by_accepted(answers: list[Answer], url: str, api_key: str) -> set[str]:
    """The seeded SKUs an accepted (2xx) write named: in its path, in its body, or through its hold."""
    touched: set[str] = set()
    headers = {"x-api-key": api_key}
    for answer in answers:
        if not 200 <= answer.status < 300 or answer.method == "GET":
            continue
        segments = [unquote(s) for s in answer.path.strip("/").split("/")]
        if segments[0] == "skus" and len(segments) > 1:
            touched.add(segments[1])
        elif segments[0] == "holds" and answer.method == "POST":
            with contextlib.suppress(ValueError, AttributeError):
                touched.add(str(json.loads(answer.request_body).get("sku_id")))
            if len(segments) > 1:
                hold = requests.get(f"{url}/holds/{answer.path.strip('/').split('/')[1]}", headers=headers, timeout=30)
                if hold.status_code == 200:
                    touched.add(str(hold.json().get("sku_id")))
    return touched & set(SEEDED_SKUS)


def compare_seeded(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]], touched: set[str], result: FuzzResult
) -> None:
    for sku in SEEDED_SKUS:
        first, last = before[sku], after[sku]
        consistent = isinstance(last.get("reconciliation"), dict) and last["reconciliation"].get("consistent") is True
        unchanged = _figures(first) == _figures(last)
        result.seeded[sku] = {"touched_by_accepted": sku in touched, "consistent": consistent, "unchanged": unchanged}
        if not consistent:
            result.seeded_changed.append(f"{sku}: reconciliation not consistent: {last}")
        if sku not in touched and not unchanged:
            result.seeded_changed.append(f"{sku}: changed by refused requests only: {first} -> {last}")


def _figures(snap: dict[str, Any]) -> Any:
    """The counters of a SKU view, without what moves by itself (timestamps)."""
    view = snap.get("view")
    if not isinstance(view, dict):
        return view
    return {k: v for k, v in view.items() if not k.endswith("_at")}


# --- the whole run ----------------------------------------------------------------------------------


def fuzz(
    url: str,
    api_key: str,
    seconds: int,
    seed: int | None = None,
    progress: bool = False,
    max_examples: int | None = None,
) -> FuzzResult:
    """Schemathesis for `seconds` in all, or once through with `max_examples` per operation when
    given, then the malformed requests and the seeded SKUs."""
    document = json.loads(OPENAPI.read_text())
    result = FuzzResult()
    began = time.monotonic()
    seed_skus(url, api_key)
    before = snapshot(url, api_key)
    all_answers: list[Answer] = []
    keyed = max(1, round(seconds * 0.75))
    runs = [("with the key", api_key, keyed), ("without the key", None, max(1, seconds - keyed))]
    base_seed = seed if seed is not None else uuid.uuid4().int % 2**31
    for index, (name, key, budget) in enumerate(runs):
        run_seed = base_seed + index
        result.seeds.append(run_seed)
        if progress:
            print(f"      schemathesis {name}: {PHASES} for {budget}s (seed {run_seed})", flush=True)
        with tempfile.TemporaryDirectory(prefix="livestock-fuzz-") as directory:
            report, answers = run_schemathesis(url, budget, Path(directory), key, run_seed, max_examples=max_examples)
        judge(answers, document, result)
        all_answers += answers
        result.test_cases += int(report["test_cases"]["generated"])
        result.operations_tested = max(result.operations_tested, int(report["operations"]["tested"]))
        for phase, outcome in report["phases"].items():
            status = str(outcome["status"])
            if result.phases.get(phase) in (None, "skip") or status == "failure":
                result.phases[phase] = status
        for failure in report["failures"]:
            result.schemathesis_failures.append(
                f"{name}: {failure['code']} {failure['title']} x{failure['count']} "
                f"in {', '.join(failure['operations'])}"
            )
        result.schemathesis_errors += [f"{name}: {error}" for error in report["errors"]]
        if progress:
            print(
                f"      {len(answers)} requests, {report['test_cases']['generated']} test cases, "
                f"phases {report['phases']}",
                flush=True,
            )
        if report["failures"] and progress:
            print(report["output"][-6000:], flush=True)
    malformed = malformed_requests(url, api_key, document)
    result.malformed = len(malformed)
    judge(malformed, document, result)
    if progress:
        print(f"      {len(malformed)} malformed requests (multipart without boundary, TRACE)", flush=True)
    after = snapshot(url, api_key)
    compare_seeded(before, after, touched_by_accepted(all_answers, url, api_key), result)
    result.seconds = time.monotonic() - began
    return result


def report_lines(result: FuzzResult) -> list[str]:
    lines = [json.dumps(result.figures(), indent=2), f"seeded SKUs: {json.dumps(result.seeded)}"]
    for title, items in (
        ("answers >= 500", result.server_errors),
        ("undocumented statuses", result.undocumented),
        ("bodies not in the error shape", result.wrong_shape),
        ("schemathesis failures", result.schemathesis_failures),
        ("schemathesis errors", result.schemathesis_errors),
        ("seeded SKUs changed", result.seeded_changed),
    ):
        if items:
            lines.append(f"{title} ({len(items)}):")
            lines += [f"  {item}" for item in items[:20]]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fuzz the local stack with schemathesis against openapi.json.")
    parser.add_argument("--seconds", type=int, default=120, help="schemathesis's time budget, both runs together")
    parser.add_argument("--url", default=None, help="a running stack (default: start one)")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    if args.url:
        result = fuzz(args.url, args.api_key or DEFAULT_API_KEY, args.seconds, args.seed, progress=True)
    else:
        result = fuzz_fresh_stack(args.seconds, args.seed, progress=True)
    print("\n".join(report_lines(result)))
    return 0 if result.ok else 1


def fuzz_fresh_stack(seconds: int, seed: int | None = None, progress: bool = False) -> FuzzResult:
    """A stack of its own (`make up`'s command, data in memory), fuzzed, then stopped."""
    with scratch_state() as state:
        running = start_stack(state, fresh=True)
        try:
            return fuzz(running.url, DEFAULT_API_KEY, seconds, seed, progress=progress)
        finally:
            os.killpg(running.pid, signal.SIGTERM)
            running.process.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
