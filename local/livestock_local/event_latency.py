"""Event latency on the local stack: from the decrement that crosses an alert tier to the signed
webhook POST that tells it, during a 64-client burst that sells a SKU out: by default at the seed's
pace (8,000 orders in 5 minutes), `--rate 0` for a flood.

Tiers every 1% (99 StockLow events) plus the SoldOut give 100 crossings per run. A crossing's time
is bounded from below by the creation of the hold that took the crossing unit: every hold is
created just before its decrement, so the n-th decrement comes no earlier than the n-th hold
creation (server-side time, from each answer's expires_at less its payment window). The latency
reported is therefore an upper bound: receipt time minus that creation time.

Three runs by default, one stack: 300 crossings, so that the p99 is not simply the second-worst
event of one run (the first run also carries the freshly started stack's first calls).

    python -m livestock_local.event_latency [--units 1000] [--clients 64] [--runs 3] [--rate 26.7]
"""

import argparse
import json
import statistics
import sys
import time
from typing import Any

from livestock_local.dynamodb_local import free_port
from livestock_local.load import SEED_RATE, Client, OneUnitOrders, burst, pace_text, percentile, run_facts
from livestock_local.stack import LocalStack
from livestock_local.template import ROOT
from livestock_local.webhook_receiver import Receiver, receiving

API_KEY = "bench-key"
RESULTS = ROOT / "bench-results" / "event_latency.json"


def one_run(
    stack: LocalStack, receiver: Receiver, run: int, units: int, clients: int, rate: float
) -> tuple[list[float], list[float]]:
    client = Client(stack.url, API_KEY)
    sku_id = f"bench-{run}-{int(time.time())}"
    assert client.call("PUT", f"/skus/{sku_id}", {"name": "Bench tee", "on_hand": units})[0] == 201
    status, _ = client.call("PUT", f"/skus/{sku_id}/alerts", {"tiers_pct": list(range(99, 0, -1))})
    assert status == 200
    order = OneUnitOrders(client, sku_id)
    created = order.created

    burst(order, units + units // 10, clients, rate)
    deadline = time.monotonic() + 60
    mine: list[Any] = []
    while time.monotonic() < deadline:
        mine = [r for r in receiver.received if r.event["detail"]["sku_id"] == sku_id]
        if any(r.event["detail-type"] == "SoldOut" for r in mine):
            break
        time.sleep(0.1)
    stack.eventbridge.wait_idle(60)
    mine = [r for r in receiver.received if r.event["detail"]["sku_id"] == sku_id]
    ids = [r.headers["X-LiveStock-Event-Id"] for r in mine]
    if len(ids) != len(set(ids)) or len(mine) != 100:
        raise SystemExit(f"expected 100 distinct alerts, got {len(mine)} ({len(set(ids))} distinct)")
    ordered = sorted(created)
    latencies, delivery = [], []
    for received in mine:
        remaining = received.event["detail"]["threshold"] if received.event["detail-type"] == "StockLow" else 0
        latencies.append(received.at - ordered[units - remaining - 1])
        delivery.append(received.at - received.event["detail"]["occurred_at"])
    return latencies, delivery


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--rate", type=float, default=SEED_RATE, help="orders started per second (0: a flood); default the seed's pace"
    )
    args = parser.parse_args(argv)
    stack = LocalStack(port=free_port(), api_key=API_KEY, sweep_period_s=5.0)
    stack.start()
    latencies: list[float] = []
    # From the publisher seeing the crossing to the webhook receiving it: the part after the stream.
    delivery: list[float] = []
    started = time.time()
    try:
        with receiving() as receiver:
            status, _ = Client(stack.url, API_KEY).call(
                "PUT",
                "/webhooks/bench",
                {"url": receiver.url, "secret": "bench-secret-0123456789", "event_types": ["StockLow", "SoldOut"]},
            )
            assert status == 201
            for run in range(args.runs):
                total, after_stream = one_run(stack, receiver, run, args.units, args.clients, args.rate)
                latencies += total
                delivery += after_stream
    finally:
        stack.stop()
    summary = {
        **run_facts(started, ROOT),
        "units": args.units,
        "clients": args.clients,
        "pace": pace_text(args.rate),
        "runs": args.runs,
        "events": len(latencies),
        "p50_s": round(statistics.median(latencies), 3),
        "p99_s": round(percentile(latencies, 99), 3),
        "max_s": round(max(latencies), 3),
        "min_s": round(min(latencies), 3),
        "publisher_to_webhook_p50_s": round(statistics.median(delivery), 3),
        "publisher_to_webhook_p99_s": round(percentile(delivery, 99), 3),
    }
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0 if summary["p99_s"] < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
