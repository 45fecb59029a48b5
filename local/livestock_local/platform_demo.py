"""The seed's sale through the fake platforms: buyers order on Douyin, Kuaishou, Taobao, WeChat
Channels and the merchant's own (webhook) shop, each of which accepts an order only while its own
displayed stock covers it and then pushes the signed order message to LiveStock. Run twice:

- quota mode: every unit ring-fenced to one platform, each shown its pool: platform-side oversell
  (orders a platform accepted that LiveStock refused) must be 0;
- shared mode: every platform shown floor(ratio x sellable) - buffer of one shared pool: the
  platform-side oversell it causes, beside the bound README states (v x L x (platforms - 1)).

Prints per platform: orders accepted, refused after acceptance, sync calls, calls rate-limited,
sync lag p50/p99, and whether the platform's display ended at the exact value.
"""

import json
import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from livestock_local.load import Client

WEIGHTS = {"douyin": 0.35, "kuaishou": 0.25, "taobao": 0.2, "wechat": 0.12, "webhook": 0.08}
QUOTA_SHARES = {"douyin": 0.35, "kuaishou": 0.25, "taobao": 0.2, "wechat": 0.12, "webhook": 0.08}


@dataclass
class Fakes:
    card: dict[str, dict[str, str]]
    session: requests.Session = field(default_factory=requests.Session)
    local: threading.local = field(default_factory=threading.local)

    def _session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        session: requests.Session = self.local.session
        return session

    def control(self, platform: str, action: str, body: dict[str, Any] | None = None) -> Any:
        response = self._session().post(
            f"{self.card[platform]['endpoint']}/_fake/{action}", json=body or {}, timeout=60
        )
        response.raise_for_status()
        return response.json()


def load_card(state_dir: Path, timeout_s: float = 120.0) -> dict[str, dict[str, Any]]:
    """Where the stack's fake platforms listen: written just after the gateway opens its port."""
    path = state_dir / "fake-platforms.json"
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"no {path}: is the stack running with LIVESTOCK_FAKE_PLATFORMS=1?")
        time.sleep(0.5)
    card: dict[str, dict[str, Any]] = json.loads(path.read_text())
    return card


def _ids(run: str, platform: str) -> tuple[str, str]:
    """A platform's product and SKU ids for a run (numeric, as Kuaishou's are)."""
    base = {"quota": 1000, "shared": 2000}[run] + list(WEIGHTS).index(platform)
    return str(base), str(base * 10 + 1)


def setup_run(client: Client, fakes: Fakes, run: str, sku_id: str, units: int, ratio: float, buffer: int) -> None:
    client.ok("PUT", f"/skus/{sku_id}", {"name": "Oversized cotton T-shirt", "on_hand": units})
    for platform in WEIGHTS:
        channel = f"{platform}-{run}"
        product, sku = _ids(run, platform)
        fakes.control(platform, "list", {"product_id": product, "sku_id": sku, "stock": 0, "channel": channel})
        body: dict[str, Any] = {
            "platform": platform,
            "mode": run,
            "endpoint": fakes.card[platform]["endpoint"],
            "credentials_ref": fakes.card[platform]["credentials_ref"],
            "sku_map": {sku_id: {"product_id": product, "sku_id": sku}},
            "qps": float(fakes.card[platform].get("qps", 10)),
        }
        if run == "shared":
            body |= {"ratio": ratio, "buffer": buffer}
        client.ok("PUT", f"/channels/{channel}", body)
    if run == "quota":
        pools = {f"channel:{p}-quota": int(units * share) for p, share in QUOTA_SHARES.items()}
        client.ok("PUT", f"/skus/{sku_id}/allocation", {"pools": pools})
    else:
        client.ok("POST", f"/skus/{sku_id}/adjustments", {"quantity": 1, "reason": "wake sync", "reference": "w1"})
        client.ok("POST", f"/skus/{sku_id}/adjustments", {"quantity": -1, "reason": "wake sync", "reference": "w2"})


def wait_until_settled(client: Client, run: str, sku_id: str, timeout_s: float = 120) -> dict[str, Any]:
    """Until every channel's latest value is acknowledged and no change is pending."""
    deadline = time.monotonic() + timeout_s
    views: dict[str, Any] = {}
    while time.monotonic() < deadline:
        views = {p: client.ok("GET", f"/channels/{p}-{run}") for p in WEIGHTS}
        states = [next(s for s in v["sync"] if s["sku_id"] == sku_id) for v in views.values()]
        if all(s["last_acknowledged"] is not None and not s["pending"] for s in states):
            time.sleep(2)
            again = {p: client.ok("GET", f"/channels/{p}-{run}") for p in WEIGHTS}
            if all(
                next(s for s in again[p]["sync"] if s["sku_id"] == sku_id)["calls"]
                == next(s for s in views[p]["sync"] if s["sku_id"] == sku_id)["calls"]
                for p in WEIGHTS
            ):
                return again
        time.sleep(0.5)
    return views


def buy(fakes: Fakes, run: str, orders: int, concurrency: int, seed: int) -> tuple[Counter[str], Counter[str], float]:
    accepted: Counter[str] = Counter()
    turned_away: Counter[str] = Counter()
    lock = threading.Lock()
    names, weights = list(WEIGHTS), list(WEIGHTS.values())

    def order(n: int) -> None:
        rng = random.Random(seed * 100_003 + n)
        platform = rng.choices(names, weights)[0]
        product, sku = _ids(run, platform)
        quantity = 1 if rng.random() < 0.8 else 2
        answer = fakes.control(platform, "order", {"product_id": product, "sku_id": sku, "quantity": quantity})
        with lock:
            (accepted if answer["accepted"] else turned_away)[platform] += 1

    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(order, range(orders)))
    return accepted, turned_away, time.monotonic() - started


def report(
    client: Client, fakes: Fakes, run: str, sku_id: str, accepted: Counter[str], elapsed: float
) -> dict[str, Any]:
    views = wait_until_settled(client, run, sku_id)
    rows = {}
    print(
        f"\n{'platform':9} {'accepted':>9} {'oversell':>9} {'calls':>6} {'limited':>8} {'lag p50':>8} "
        f"{'lag p99':>8} {'shown':>6} {'displayed':>9}"
    )
    for platform in WEIGHTS:
        state = next(s for s in views[platform]["sync"] if s["sku_id"] == sku_id)
        stats = fakes.control(platform, "stats")
        product, sku = _ids(run, platform)
        displayed = stats["displayed"][f"{product}/{sku}"]
        rows[platform] = {
            "accepted": accepted[platform],
            "oversell": state["orders_refused"],
            "calls": state["calls"],
            "rate_limited": state["rate_limited"],
            "lag_p50_s": state["lag_p50_s"],
            "lag_p99_s": state["lag_p99_s"],
            "shown": state["shown"],
            "displayed": displayed,
            # A refused order stays off the platform's display until the merchant cancels it there.
            "exact": displayed == max(0, state["shown"] - state["units_refused"]),
        }
        print(
            f"{platform:9} {accepted[platform]:9d} {state['orders_refused']:9d} {state['calls']:6d} "
            f"{state['rate_limited']:8d} {_s(state['lag_p50_s']):>8} {_s(state['lag_p99_s']):>8} "
            f"{state['shown']:6d} {displayed:9d}"
        )
    print(f"  ({sum(accepted.values())} orders accepted by the platforms in {elapsed:.1f} s)")
    return rows


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def platform_sale(client: Client, state_dir: Path, units: int, orders: int, concurrency: int, seed: int) -> int:
    fakes = Fakes(load_card(state_dir))
    tag = uuid.uuid4().hex[:6]
    print(f"\n=== Through the platforms: {orders} buyer orders per mode on {', '.join(WEIGHTS)} ===")

    quota_sku = f"tee-q-{tag}"
    print(f"\nQuota mode: {units} units of {quota_sku}, ring-fenced {QUOTA_SHARES}; each platform shown its pool")
    setup_run(client, fakes, "quota", quota_sku, units, 1.0, 0)
    wait_until_settled(client, "quota", quota_sku)
    accepted, _, elapsed = buy(fakes, "quota", orders, concurrency, seed)
    quota = report(client, fakes, "quota", quota_sku, accepted, elapsed)

    shared_sku = f"tee-s-{tag}"
    ratio, buffer = 1.0, 0
    print(
        f"\nShared mode: {units} units of {shared_sku} in one shared pool; each platform shown "
        f"floor({ratio} x sellable) - {buffer}"
    )
    setup_run(client, fakes, "shared", shared_sku, units, ratio, buffer)
    wait_until_settled(client, "shared", shared_sku)
    accepted, _, elapsed = buy(fakes, "shared", orders, concurrency, seed + 1)
    shared = report(client, fakes, "shared", shared_sku, accepted, elapsed)

    quota_oversell = sum(r["oversell"] for r in quota.values())
    shared_oversell = sum(r["oversell"] for r in shared.values())
    sold_s = elapsed
    velocity = min(units, sum(accepted.values())) / sold_s if sold_s else 0.0
    lag = max((r["lag_p99_s"] or 0.0) for r in shared.values())
    bound = velocity * lag * (len(WEIGHTS) - 1)
    print(
        f"\nPlatform-side oversell (orders accepted by a platform, then refused by LiveStock): "
        f"quota mode {quota_oversell}, shared mode {shared_oversell}"
    )
    print(
        f"Shared-mode bound (README): v x L x (platforms - 1) = {velocity:.0f} units/s x {lag:.2f} s x "
        f"{len(WEIGHTS) - 1} = {bound:.0f} orders"
    )
    exact = all(r["exact"] for r in (*quota.values(), *shared.values()))
    print("Every platform's display ended at the exact value LiveStock shows it: " + ("yes" if exact else "NO"))
    return 0 if quota_oversell == 0 and exact else 1
