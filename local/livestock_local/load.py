"""What the latency benchmarks share: an API client per thread, percentiles, and the burst itself.

The seed's burst is 8,000 orders in 5 minutes (27 a second). A burst here is `count` orders from
`clients` concurrent clients, either paced (orders start at `rate` a second, as buyers' orders
arrive) or a flood (`rate` 0: every client orders again as soon as it is answered, which on a
2-core machine measures how long work waits for a core as much as the design).
"""

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

SEED_ORDERS = 8000
SEED_SECONDS = 300
SEED_RATE = SEED_ORDERS / SEED_SECONDS


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


class Client:
    """The API over one keep-alive session per thread, following its REQUEST_IN_PROGRESS contract
    ("ask again after retry_after_s"). `actor` is sent as X-Actor (the ledger's who)."""

    def __init__(self, url: str, api_key: str, actor: str | None = None) -> None:
        self.url = url
        self.api_key = api_key
        self.headers = {"x-api-key": api_key, "content-type": "application/json"}
        if actor:
            self.headers["x-actor"] = actor
        self.local = threading.local()

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
        for _ in range(30):
            response = session.request(method, self.url + path, json=body, headers=self.headers, timeout=60)
            payload = response.json() if response.content else None
            if (
                response.status_code == 409
                and isinstance(payload, dict)
                and payload.get("code") == "REQUEST_IN_PROGRESS"
            ):
                time.sleep(float(payload["details"].get("retry_after_s", 1)))
                continue
            break
        return response.status_code, payload

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, payload = self.call(method, path, body)
        if status >= 300:
            raise RuntimeError(f"{method} {path} -> {status} {payload}")
        return payload

    def text(self, path: str) -> str:
        response = requests.get(self.url + path, headers={"x-api-key": self.api_key}, timeout=60)
        response.raise_for_status()
        return response.text


def burst(
    order: Callable[[int], Any], count: int, clients: int, rate: float, progress_every_s: float = 10.0
) -> list[Any]:
    """`order(n)` for n in range(count) on `clients` threads; paced at `rate` starts a second when
    `rate` > 0 (an order late for its slot starts at once: the pace is a ceiling, not a quota).
    Says how far it got every `progress_every_s` on stderr (the benchmarks print JSON on stdout)."""
    started = time.monotonic()
    answered = [0]
    lock = threading.Lock()
    done = threading.Event()

    def paced(n: int) -> Any:
        if rate > 0:
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        try:
            return order(n)
        finally:
            with lock:
                answered[0] += 1

    def report() -> None:
        while not done.wait(progress_every_s):
            elapsed = time.monotonic() - started
            print(
                f"  {answered[0]:,}/{count:,} orders answered in {elapsed:.0f} s ({answered[0] / elapsed:.0f}/s)",
                file=sys.stderr,
                flush=True,
            )

    reporter = threading.Thread(target=report, name="burst-progress", daemon=True)
    reporter.start()
    try:
        with ThreadPoolExecutor(clients) as pool:
            return list(pool.map(paced, range(count)))
    finally:
        done.set()


def pace_text(rate: float) -> str:
    if rate <= 0:
        return "flood (each client orders again as soon as it is answered)"
    return f"{rate:.1f} orders/s ({rate / SEED_RATE:.1f}x the seed's 8,000 in 5 minutes)"


class OneUnitOrders:
    """One-unit holds on a SKU, each recording when its hold was created (server time: the answer's
    expires_at less the payment window), the lower bound of its decrement's time."""

    PAY_WITHIN_S = 900

    def __init__(self, client: Client, sku_id: str) -> None:
        self.client = client
        self.sku_id = sku_id
        self.created: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, n: int) -> None:
        body = {
            "channel": "douyin",
            "order_id": f"o{n}",
            "sku_id": self.sku_id,
            "quantity": 1,
            "pay_within_s": self.PAY_WITHIN_S,
        }
        status, answer = self.client.call("POST", "/holds", body)
        if status == 201:
            with self._lock:
                self.created.append(datetime.fromisoformat(answer["expires_at"]).timestamp() - self.PAY_WITHIN_S)


def run_facts(started: float, root: Path) -> dict[str, Any]:
    """When and on what code a benchmark ran, and how busy the shared machine was at its end."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], check=False, capture_output=True, text=True, cwd=root
    ).stdout
    return {
        "measured_at": datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        "code": commit.strip(),
        # The machine is shared: how busy it was says how much of the figure is waiting for a core.
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "cores": os.cpu_count(),
    }
