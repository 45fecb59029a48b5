"""`make demo`: the seed article's live sale, on the local stack, through HTTP.

5,000 units of one T-shirt (15% kept in reserve) go live on Douyin, Kuaishou and Taobao at once,
in a live session; 64 concurrent buyers place 8,000 orders; each buyer may hold at most 3 units; a
fifth of the holds are never paid and the sweeper expires them; the reserve is released when main
stock runs out. The session then ends, and its post-live review (built from the ledger when
SessionEnded reaches the review function) is fetched as JSON, CSV and HTML and saved under
.state/reviews/<session>/.
The sale's console URL is printed before it starts (open it to watch the sale; --watch-delay
waits for you, --linger keeps the stack up after it).
"""

import argparse
import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from livestock_local.dynamodb_local import free_port, port_in_use
from livestock_local.load import Client
from livestock_local.stack import DEFAULT_API_KEY, STATE_DIR, running_stack

CHANNELS = {"douyin": 0.45, "kuaishou": 0.30, "taobao": 0.25}
PAY_WINDOW_S = 10


@dataclass
class Tally:
    orders: Counter[str] = field(default_factory=Counter)
    held_units: Counter[str] = field(default_factory=Counter)
    paid_units: Counter[str] = field(default_factory=Counter)
    unpaid_holds: Counter[str] = field(default_factory=Counter)
    refusals: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    errors: Counter[str] = field(default_factory=Counter)
    unpaid_ids: list[tuple[str, str]] = field(default_factory=list)
    paid_too_late: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def start_stack() -> tuple[subprocess.Popen[bytes], str, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "livestock_local.stack", "--fresh", "--port", str(port), "--sweep-period", "1"],
        env={**os.environ, "LIVESTOCK_API_KEY": DEFAULT_API_KEY, "LIVESTOCK_FAKE_PLATFORMS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Generous: on a loaded machine the stack's workers take a while to spawn.
    deadline = time.monotonic() + 240
    while not port_in_use(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.terminate()
            process.wait(timeout=30)
            raise SystemExit("the local stack did not start; run `make up` to see why")
        time.sleep(0.2)
    return process, f"http://127.0.0.1:{port}", DEFAULT_API_KEY


def progress(tally: Tally, total: int, started: float, done: threading.Event) -> None:
    while not done.wait(2.0):
        with tally.lock:
            placed = sum(tally.orders.values())
            held = sum(tally.held_units.values())
            refused = sum(sum(c.values()) for c in tally.refusals.values())
        elapsed = time.monotonic() - started
        print(
            f"  {placed:5d}/{total} orders  {held:5d} units held  {refused:5d} refused  "
            f"{placed / elapsed:6.0f} orders/s",
            flush=True,
        )


def run_sale(client: Client, sku_id: str, orders: int, buyers: int, concurrency: int, seed: int) -> Tally:
    tally = Tally()
    names, weights = list(CHANNELS), list(CHANNELS.values())

    def buyer_order(n: int) -> None:
        rng = random.Random(seed * 100_003 + n)
        channel = rng.choices(names, weights)[0]
        buyer = f"buyer-{rng.randrange(buyers)}"
        quantity = 1 if rng.random() < 0.8 else 2
        pays = rng.random() >= 0.2
        status, payload = client.call(
            "POST",
            "/holds",
            {
                "channel": channel,
                "order_id": f"{sku_id}-{n}",
                "sku_id": sku_id,
                "quantity": quantity,
                "buyer_id": buyer,
                "pay_within_s": 3,
            },
        )
        with tally.lock:
            tally.orders[channel] += 1
            if status == 201:
                tally.held_units[channel] += quantity
            elif status in (409, 429):
                tally.refusals[channel][payload["code"]] += 1
            else:
                tally.errors[f"{status} {payload.get('code')}"] += 1
        if status != 201:
            return
        if pays:
            paid_status, paid = client.call("POST", f"/holds/{payload['hold_id']}/confirm")
            with tally.lock:
                if paid_status in (200, 202):  # 202: recorded, applied when the hold settles
                    tally.paid_units[channel] += quantity
                elif paid.get("code") == "INVALID_STATE" and paid["details"].get("status") == "expired":
                    # The machine was slower than the payment window: the sweeper was right to expire.
                    tally.paid_too_late[channel] += 1
                else:
                    tally.errors[f"confirm {paid_status} {paid.get('code')}"] += 1
        else:
            with tally.lock:
                tally.unpaid_holds[channel] += 1
                tally.unpaid_ids.append((channel, payload["hold_id"]))

    started = time.monotonic()
    done = threading.Event()
    reporter = threading.Thread(target=progress, args=(tally, orders, started, done), daemon=True)
    reporter.start()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(buyer_order, range(orders)))
    done.set()
    reporter.join()
    print(f"  {orders} orders in {time.monotonic() - started:.1f}s", flush=True)
    return tally


def wait_for_expiry(client: Client, tally: Tally, timeout_s: float = 60) -> Counter[str]:
    """Unpaid holds are released by the sweeper, not by the demo."""
    deadline = time.monotonic() + timeout_s
    expired: Counter[str] = Counter()
    pending = list(tally.unpaid_ids)
    while pending and time.monotonic() < deadline:
        still = []
        for channel, hold_id in pending:
            status = client.ok("GET", f"/holds/{hold_id}")["status"]
            if status == "expired":
                expired[channel] += 1
            else:
                still.append((channel, hold_id))
        pending = still
        if pending:
            time.sleep(1)
    return expired


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=5000)
    parser.add_argument("--orders", type=int, default=8000)
    parser.add_argument("--buyers", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--only", choices=("api", "platforms"), help="run one sale: orders on our API, or through the fake platforms"
    )
    parser.add_argument(
        "--watch-delay",
        type=float,
        default=10.0 if sys.stdout.isatty() else 0.0,
        help="seconds between printing the console URL and starting the sale (time to open it)",
    )
    parser.add_argument(
        "--linger", type=float, default=0.0, help="seconds to keep the stack up after the sale (console stays live)"
    )
    args = parser.parse_args(argv)
    # A SIGTERM (make killed, a CI timeout) unwinds like Ctrl-C, so the stack started here stops too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))

    lock = running_stack()
    started_here = None
    if lock:
        url, api_key = lock["url"], os.environ.get("LIVESTOCK_API_KEY", DEFAULT_API_KEY)
        print(f"Using the local stack already running at {url}")
    else:
        print("Starting the local stack (DynamoDB Local + gateway + stream consumer + sweeper)...")
        started_here, url, api_key = start_stack()
    try:
        client = Client(url, api_key, actor="demo")
        status = 0 if args.only == "platforms" else sale(client, args)
        if args.only != "api":
            from livestock_local.platform_demo import platform_sale  # noqa: PLC0415 - it imports this module

            status |= platform_sale(client, STATE_DIR, args.units, args.orders, args.concurrency, args.seed)
        if args.linger > 0:
            print(f"\nThe stack stays up for {args.linger:.0f} s (Ctrl-C ends it): the console stays live.", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                time.sleep(args.linger)
        return status
    finally:
        if started_here:
            started_here.terminate()
            started_here.wait(timeout=30)
            print("Stopped the local stack this demo started.")


def watch_stages(client: Client, campaign_id: str, done: threading.Event) -> None:
    """Prints each stage as the state machine releases it, during the sale."""
    seen: set[int] = set()
    while not done.is_set():
        campaign = client.ok("GET", f"/campaigns/{campaign_id}")
        for stage in campaign["stages"]:
            if stage["status"] == "released" and stage["n"] not in seen:
                seen.add(stage["n"])
                due = datetime.fromisoformat(stage["at"]).timestamp()
                late = datetime.fromisoformat(stage["released_at"]).timestamp() - due
                print(
                    f"  stage {stage['n']} released: {stage['quantity']} units into {campaign['target_pool']} "
                    f"({late:.2f} s after its time; {campaign['pending_units']} still held back)",
                    flush=True,
                )
        if len(seen) == len(campaign["stages"]) or campaign["status"] != "active":
            return
        done.wait(0.2)


def console_url(client: Client, session_id: str) -> str:
    """An operator's console link for the live session (its token is good for 4 hours)."""
    minted = client.ok("POST", "/console/tokens", {"session_id": session_id, "operate": True, "ttl_s": 4 * 3600})
    return str(minted["console_url"])


def sale(client: Client, args: argparse.Namespace) -> int:
    sku_id = f"tee-{uuid.uuid4().hex[:8]}"
    reserve = args.units * 15 // 100
    client.ok("PUT", f"/skus/{sku_id}", {"name": "Oversized cotton T-shirt", "on_hand": args.units})
    allocation = {
        "channel:douyin": args.units * 35 // 100,
        "channel:kuaishou": args.units * 25 // 100,
        "reserve": reserve,
    }
    client.ok("PUT", f"/skus/{sku_id}/allocation", {"pools": allocation})
    client.ok("PUT", f"/skus/{sku_id}/limits", {"per_buyer": 3})
    session_id = f"live-{sku_id}"
    forecast = args.units * 70 // 100
    client.ok(
        "PUT",
        f"/sessions/{session_id}",
        {
            "title": "Double-11 warm-up live",
            "channels": list(CHANNELS),
            "starts_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "ends_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 7200)),
            "lineup": [
                {"sku_id": sku_id, "per_buyer_limit": 3, "alert_tiers_pct": [50, 20, 5], "forecast_units": forecast}
            ],
        },
    )
    client.ok("POST", f"/sessions/{session_id}/start")
    time.sleep(1)  # the hot path's cached settings take the session's limit within a second
    print(f"\nLive session {session_id} started (forecast: {forecast} units sold)")
    url = console_url(client, session_id)
    print(f"\nLive console (open it in a browser, a phone works too):\n  {url}\n", flush=True)
    if args.watch_delay > 0:
        print(f"The sale starts in {args.watch_delay:.0f} s...", flush=True)
        time.sleep(args.watch_delay)
    print(
        f"\nLive sale of {sku_id}: {args.units} units ({reserve} in reserve), quotas {allocation}, "
        f"shared {args.units - sum(allocation.values())}; limit 3 per buyer"
    )
    print(
        f"{args.orders} orders from {args.concurrency} concurrent clients on {', '.join(CHANNELS)}; "
        f"a fifth of the holds are never paid ({PAY_WINDOW_S} s payment window)\n"
    )
    campaign_id = f"flash-{sku_id}"
    stage_units = args.units * 3 // 100
    first = int(time.time()) + 2
    stages = [{"at": datetime.fromtimestamp(first + 3 * n, UTC).isoformat(), "quantity": stage_units} for n in range(3)]
    client.ok(
        "POST",
        f"/sessions/{session_id}/campaigns",
        {"campaign_id": campaign_id, "sku_id": sku_id, "target_pool": "shared", "stages": stages},
    )
    print(
        f"Live session {session_id} started; flash-sale campaign {campaign_id}: {3 * stage_units} units held back, "
        f"released {stage_units} at a time 2, 5 and 8 s from now (Step Functions, statemachine/campaign.asl.json)\n"
    )
    done = threading.Event()
    watcher = threading.Thread(target=watch_stages, args=(client, campaign_id, done), daemon=True)
    watcher.start()
    tally = run_sale(client, sku_id, args.orders, args.buyers, args.concurrency, args.seed)
    watcher.join(timeout=15)
    done.set()
    print("Waiting for the sweeper to expire the unpaid holds...", flush=True)
    expired = wait_for_expiry(client, tally)
    reconciliation: dict[str, Any] = {}
    for _ in range(60):
        reconciliation = client.ok("GET", f"/skus/{sku_id}/reconciliation")
        if reconciliation["consistent"]:
            break
        time.sleep(1)
    view = client.ok("GET", f"/skus/{sku_id}")
    sold = reconciliation["actual"].get("sold", 0)
    held = reconciliation["actual"].get("held", 0)
    oversold = max(0, sold + held - view["on_hand"])
    reserve_left = view["pools"].get("reserve", 0)

    print(f"\n{'platform':10} {'orders':>7} {'held':>6} {'sold':>6} {'sold out':>9} {'limit':>6} {'expired':>8}")
    for channel in CHANNELS:
        refusals = tally.refusals[channel]
        print(
            f"{channel:10} {tally.orders[channel]:7d} {tally.held_units[channel]:6d} "
            f"{tally.paid_units[channel]:6d} {refusals['SOLD_OUT']:9d} {refusals['LIMIT_EXCEEDED']:6d} "
            f"{expired[channel]:8d}"
        )
    print(
        f"{'total':10} {sum(tally.orders.values()):7d} {sum(tally.held_units.values()):6d} "
        f"{sum(tally.paid_units.values()):6d} "
        f"{sum(r['SOLD_OUT'] for r in tally.refusals.values()):9d} "
        f"{sum(r['LIMIT_EXCEEDED'] for r in tally.refusals.values()):6d} {sum(expired.values()):8d}"
    )
    print(
        "\n(held = units placed on hold; sold = units paid; sold out / limit = refused orders;"
        " expired = unpaid holds released by the sweeper)"
    )
    print(f"\nReserve used: {reserve - reserve_left} of {reserve} units (released when main stock ran out)")
    print(f"Units sold: {sold} of {view['on_hand']}; still held: {held}; left unsold: {view['on_hand'] - sold - held}")
    campaign = client.ok("GET", f"/campaigns/flash-{sku_id}")
    released = [stage["n"] for stage in campaign["stages"] if stage["status"] == "released"]
    print(
        f"Staged release: stages {released} of {len(campaign['stages'])} released, {campaign['released_units']} units"
    )
    print(f"Oversold: {oversold}")
    print(
        "Reconciliation (ledger replay vs counters): "
        + ("consistent" if reconciliation["consistent"] else "INCONSISTENT")
    )
    if tally.paid_too_late:
        print(f"Payments that arrived after their window (expired by the sweeper): {sum(tally.paid_too_late.values())}")
    if tally.errors:
        print(f"Unexpected answers: {dict(tally.errors)}")
    reviewed = review(client, session_id)
    return 0 if oversold == 0 and reconciliation["consistent"] and not tally.errors and reviewed else 1


def review(client: Client, session_id: str, timeout_s: float = 180) -> bool:
    """Ends the session, waits for its review and saves it in the three formats."""
    client.ok("POST", f"/sessions/{session_id}/end")
    print(f"\nSession {session_id} ended; waiting for its review...", flush=True)
    path = f"/sessions/{session_id}/review"
    deadline = time.monotonic() + timeout_s
    while True:
        status, body = client.call("GET", path)
        if status == 200:
            break
        if time.monotonic() > deadline or body.get("code") != "REVIEW_NOT_READY":
            print(f"The review did not arrive: {status} {body}")
            return False
        time.sleep(1)
    folder = Path(STATE_DIR) / "reviews" / session_id
    folder.mkdir(parents=True, exist_ok=True)
    saved = {}
    for fmt in ("json", "csv", "html"):
        text = client.text(f"{path}?format={fmt}")
        target = folder / f"review.{fmt}"
        target.write_text(text)
        saved[fmt] = target
    print("\nPost-live review (from the ledger):")
    for line in body["summary"]:
        print(f"  {line}")
    print(f"\nReview API: GET {path} (JSON), {path}?format=csv, {path}?format=html")
    for fmt, target in saved.items():
        print(f"  {fmt.upper():4} {target}")
    return bool(body["totals"]["oversold"] == 0 and body["totals"]["reconciled"])


if __name__ == "__main__":
    sys.exit(main())
