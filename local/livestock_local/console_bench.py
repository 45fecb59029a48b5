"""Console push latency on the local stack: from a decrement to the console page's DOM showing it,
in headless Chromium, during a burst of holds; and, with 50 more consoles connected (WebSocket
clients), the messages each connection gets per second against the coalescing bound.

A decrement's time is bounded from below by the creation of the hold that took the unit (server
time: the answer's expires_at less its payment window). With one unit per order, once k holds
exist at least k units are gone; the k-th decrement is shown when the page first renders a
sellable count of at most start - k. The latency reported is that render time less the k-th
creation time: an upper bound, as in livestock_local.event_latency.

The coalescing bound is one update per connection per slot of CONSOLE_PUSH_INTERVAL_S (each update
names its slot): checked per slot, and as the most updates in any second of slots. Arrival times
are reported too: a sliding second of arrivals can hold one more, as delivery jitter moves
updates of neighbouring slots together.

    python -m livestock_local.console_bench [--units 1000] [--orders 1100] [--clients 64] [--consoles 50]
        [--rate 26.7]   # orders started per second: the seed's pace by default, 0 for a flood
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from typing import Any

from playwright.sync_api import sync_playwright
from websockets.asyncio.client import connect

from livestock_local import browser
from livestock_local.dynamodb_local import free_port
from livestock_local.load import SEED_RATE, Client, OneUnitOrders, burst, pace_text, percentile, run_facts
from livestock_local.stack import LocalStack
from livestock_local.template import ROOT

API_KEY = "bench-key"
RESULTS = ROOT / "bench-results" / "console.json"


class Consoles:
    """N WebSocket consoles in one event loop, each recording when its updates arrive."""

    def __init__(self, url: str, token: str, count: int) -> None:
        self.url = f"{url}/?token={token}"
        self.count = count
        self.arrivals: list[list[float]] = [[] for _ in range(count)]
        self.slots: list[list[int]] = [[] for _ in range(count)]
        self.delivery_s: list[float] = []  # arrival less sent_at: the management API and the socket
        self.snapshots = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self, timeout_s: float = 120) -> None:
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise SystemExit("the consoles did not all subscribe")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    async def _run(self) -> None:
        sockets = []
        for _ in range(self.count):
            socket = await connect(self.url, open_timeout=60, max_size=None)
            await socket.send(json.dumps({"action": "subscribe"}))
            sockets.append(socket)
        readers = [asyncio.create_task(self._read(n, socket)) for n, socket in enumerate(sockets)]
        while self.snapshots < self.count:
            await asyncio.sleep(0.05)
        self._ready.set()
        while not self._stop.is_set():
            await asyncio.sleep(0.1)
        for socket in sockets:
            await socket.close()
        for reader in readers:
            reader.cancel()

    async def _read(self, number: int, socket: Any) -> None:
        async for raw in socket:
            message = json.loads(raw)
            if message["type"] == "snapshot":
                self.snapshots += 1
            elif message["type"] == "update":
                arrived = time.time()
                self.arrivals[number].append(arrived)
                self.slots[number].append(int(message["slot"]))
                self.delivery_s.append(arrived - float(message["sent_at"]))


def per_second(arrivals: list[float]) -> tuple[int, float]:
    """The most messages in any one-second window, and the mean rate over the span received."""
    most, start = 0, 0
    for end, at in enumerate(arrivals):
        while arrivals[start] <= at - 1.0:
            start += 1
        most = max(most, end - start + 1)
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 1.0
    return most, len(arrivals) / max(span, 1.0)


def per_slot(slots: list[int], slots_per_second: int) -> tuple[int, int]:
    """The most updates in one slot, and in any `slots_per_second` consecutive slots."""
    counts = Counter(slots)
    if not counts:
        return 0, 0
    return max(counts.values()), max(sum(counts.get(first + n, 0) for n in range(slots_per_second)) for first in counts)


def run(stack: LocalStack, units: int, orders: int, clients: int, consoles: int, rate: float) -> dict[str, Any]:
    client = Client(stack.url, API_KEY)
    sku_id = f"bench-{uuid.uuid4().hex[:6]}"
    session_id = f"bench-{uuid.uuid4().hex[:6]}"
    assert client.call("PUT", f"/skus/{sku_id}", {"name": "Bench tee", "on_hand": units})[0] == 201
    status, _ = client.call(
        "PUT",
        f"/sessions/{session_id}",
        {
            "title": "Console bench",
            "channels": ["douyin", "kuaishou", "taobao"],
            "starts_at": "2027-01-15T12:00:00Z",
            "ends_at": "2027-01-15T14:00:00Z",
            "lineup": [{"sku_id": sku_id, "alert_tiers_pct": [50, 20, 5]}],
        },
    )
    assert status == 201
    assert client.call("POST", f"/sessions/{session_id}/start")[0] == 200
    status, minted = client.call("POST", "/console/tokens", {"session_id": session_id})
    assert status == 201, minted
    listeners = Consoles(minted["websocket_url"], minted["token"], consoles)
    listeners.start()
    order = OneUnitOrders(client, sku_id)
    created = order.created

    with sync_playwright() as playwright:
        chromium = browser.launch(playwright)
        page = chromium.new_page()
        page.goto(minted["console_url"])
        sellable = f'article[data-sku="{sku_id}"] [data-field="sellable"]'
        page.wait_for_selector(f'{sellable}:text-is("{units}")', timeout=60_000)
        burst_started = time.time()
        burst(order, orders, clients, rate)
        burst_s = time.time() - burst_started
        page.wait_for_selector(f'{sellable}:text-is("{units - len(created)}")', timeout=120_000)
        renders: list[dict[str, Any]] = page.evaluate("window.__livestock.renders")
        chromium.close()
    time.sleep(1.0)
    listeners.stop()
    shown = sorted((r["t"] / 1000, r["sellable"]) for r in renders if r["sku"] == sku_id)
    ordered = sorted(created)
    latencies = []
    for k, made in enumerate(ordered, start=1):
        first = next((at for at, sellable in shown if sellable <= units - k and at >= made - 5), None)
        if first is not None:
            latencies.append(first - made)
    rates = [per_second(a) for a in listeners.arrivals if a]
    bound = round(
        1 / float(stack.functions["ConsoleFanoutFunction"].environment.get("CONSOLE_PUSH_INTERVAL_S", "0.25"))
    )
    slotted = [per_slot(slots, bound) for slots in listeners.slots if slots]
    delivery = sorted(listeners.delivery_s)
    return {
        "units": units,
        "orders": orders,
        "held": len(created),
        "clients": clients,
        "pace": pace_text(rate),
        "burst_s": round(burst_s, 2),
        "decrements_measured": len(latencies),
        "dom_renders": len(shown),
        "latency_p50_s": round(statistics.median(latencies), 3),
        "latency_p99_s": round(percentile(latencies, 99), 3),
        "latency_max_s": round(max(latencies), 3),
        "consoles": consoles,
        "consoles_receiving": len(rates),
        "bound_messages_per_s": bound,
        "max_updates_in_one_slot": max(most for most, _ in slotted) if slotted else 0,
        "max_updates_in_any_second_of_slots": max(second for _, second in slotted) if slotted else 0,
        "connections_over_bound": sum(1 for most, second in slotted if most > 1 or second > bound),
        "max_arrivals_in_any_sliding_1s": max(most for most, _ in rates) if rates else 0,
        "delivery_p50_s": round(statistics.median(delivery), 3) if delivery else None,
        "delivery_p99_s": round(percentile(delivery, 99), 3) if delivery else None,
        "mean_messages_per_s_per_connection": round(statistics.mean(rate for _, rate in rates), 2) if rates else 0,
        "messages_per_connection": round(statistics.mean(len(a) for a in listeners.arrivals), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--orders", type=int, default=1100)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--consoles", type=int, default=50)
    parser.add_argument(
        "--rate", type=float, default=SEED_RATE, help="orders started per second (0: a flood); default the seed's pace"
    )
    args = parser.parse_args(argv)
    if not browser.available():
        print(f"{browser.CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 2
    stack = LocalStack(port=free_port(), api_key=API_KEY, sweep_period_s=5.0)
    stack.start()
    started = time.time()
    load_before = os.getloadavg()[0]
    try:
        figures = run(stack, args.units, args.orders, args.clients, args.consoles, args.rate)
    finally:
        stack.stop()
    summary = {
        **run_facts(started, ROOT),
        "load_average_1m_at_start": round(load_before, 2),
        **figures,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0 if summary["connections_over_bound"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
