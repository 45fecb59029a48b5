"""The post-live review end to end on the local stack: a session with holds, a limit refusal,
sold-out refusals, an expiry, a refund, a reserve release and a stage-like move (a quota pool held
back for the flash sale, given to shared through the allocation API: the campaigns' staged releases
land on another branch), ended; the review the SessionEnded rule builds must agree with the ledger
exactly, as JSON, as CSV (summed with the csv module) and as the HTML page rendered in headless
Chromium (every chart drawn, every summary figure equal to the ledger's). Rebuilding changes nothing."""

import csv
import io
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

import pytest

from livestock_local.stack import LocalStack
from livestock_local.webhook_receiver import receiving
from tests.conftest import STACK_ENVIRONMENT
from tests.support.api import Api
from tests.support.browser import chromium_page
from tests.support.checks import settled_reconciliation

pytestmark = pytest.mark.integration

CHANNELS = ["douyin", "kuaishou", "taobao"]
ORDER_FIGURES = ("held_units", "sold_units", "refunded_units", "expired_units", "cancelled_units")


def epoch(at: str) -> float:
    return datetime.fromisoformat(at).timestamp()


class Sale:
    def __init__(self, api: Api, sku_id: str) -> None:
        self.api = api
        self.sku_id = sku_id
        self.refused: Counter[tuple[str, str]] = Counter()
        self.n = 0

    def order(self, channel: str, quantity: int = 1, buyer: str | None = None, pay_within_s: int = 300) -> Any:
        self.n += 1
        body = {
            "channel": channel,
            "order_id": f"o-{self.n}",
            "sku_id": self.sku_id,
            "quantity": quantity,
            "buyer_id": buyer or f"buyer-{self.n}",
            "pay_within_s": pay_within_s,
        }
        answer = self.api.call_patiently("POST", "/holds", body)
        if answer.status != 201:
            assert answer.code in ("SOLD_OUT", "LIMIT_EXCEEDED"), answer.body
            self.refused[(channel, answer.code)] += 1
            return None
        return answer.body["hold_id"]

    def pay(self, hold_id: str) -> None:
        answer = self.api.confirm(hold_id)
        assert answer.status in (200, 202), answer.body


def ledger_of(api: Api, sku_id: str) -> list[dict[str, Any]]:
    movements: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = api.get(f"/skus/{sku_id}/ledger?limit=500" + (f"&cursor={cursor}" if cursor else "")).body
        movements += page["movements"]
        cursor = page["cursor"]
        if not cursor:
            return sorted(movements, key=lambda m: (m["at"], m["sequence"]))


def expected_from_ledger(api: Api, movements: list[dict[str, Any]], excluded: set[str]) -> dict[str, Counter[str]]:
    """Per channel, the order figures as the ledger has them, written apart from the review's code."""
    channel_of: dict[str, str] = {}
    figures: dict[str, Counter[str]] = defaultdict(Counter)
    for m in movements:
        if m["bucket"] not in ("held", "sold") or m["reference"] in excluded:
            continue
        hold_id = m["reference"]
        if hold_id not in channel_of:
            channel_of[hold_id] = api.get(f"/holds/{hold_id}").body["channel"]
        kind = {
            ("held", "hold"): "held_units",
            ("sold", "confirm"): "sold_units",
            ("sold", "refund"): "refunded_units",
            ("held", "expire"): "expired_units",
            ("held", "cancel"): "cancelled_units",
        }.get((m["bucket"], m["op"]))
        if kind and (m["delta"] > 0) == (kind in ("held_units", "sold_units")):
            figures[channel_of[hold_id]][kind] += m["quantity"]
    return figures


def first_sell_out(movements: list[dict[str, Any]], started_at: float, ended_at: float) -> str | None:
    pools: Counter[str] = Counter()
    for m in movements:
        if m["bucket"].startswith("pool:"):
            pools[m["bucket"]] += m["delta"]
        if not started_at <= epoch(m["at"]) <= ended_at:
            continue
        left = sum(v for b, v in pools.items() if b in ("pool:shared", "pool:reserve") or b.startswith("pool:channel:"))
        if left == 0:
            same_moment = [x for x in movements if x["at"] == m["at"] and x["bucket"].startswith("pool:")]
            if m is same_moment[-1]:
                return str(m["at"])
    return None


def wait_for_review(api: Api, session_id: str, timeout_s: float = 90) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = api.get(f"/sessions/{session_id}/review")
        if answer.status == 200 or time.monotonic() > deadline:
            return answer
        assert answer.code == "REVIEW_NOT_READY", answer.body
        time.sleep(0.5)


def test_the_review_agrees_with_the_ledger_as_json_csv_and_the_rendered_page(
    stack: LocalStack, api: Api, sku_id: str
) -> None:
    session_id = f"live-{uuid.uuid4().hex[:8]}"
    assert api.put(f"/skus/{sku_id}", {"name": "Oversized tee", "on_hand": 40}).status == 201
    plan = {"pools": {"channel:douyin": 10, "reserve": 6, "channel:flash": 8}}  # shared: 16
    assert api.put(f"/skus/{sku_id}/allocation", plan).status == 200
    sale = Sale(api, sku_id)
    before = sale.order("douyin")  # outside the session: not in its review
    sale.pay(before)
    lineup = [{"sku_id": sku_id, "per_buyer_limit": 2, "alert_tiers_pct": [50, 20], "forecast_units": 20}]
    session = {
        "title": "Friday flash live",
        "channels": CHANNELS,
        "starts_at": "2027-01-15T12:00:00Z",
        "ends_at": "2027-01-15T14:00:00Z",
        "lineup": lineup,
    }
    assert api.put(f"/sessions/{session_id}", session).status == 201
    with receiving() as receiver:
        webhook = f"wh-{uuid.uuid4().hex[:8]}"
        subscription = {"url": receiver.url, "secret": "s" * 32, "event_types": ["SessionEnded", "ReviewReady"]}
        assert api.put(f"/webhooks/{webhook}", subscription).status == 201
        try:
            assert api.post(f"/sessions/{session_id}/start").body["status"] == "live"
            time.sleep(float(STACK_ENVIRONMENT["META_CACHE_S"]) * 2)

            unpaid = sale.order("kuaishou", 1, pay_within_s=1)
            deadline = time.monotonic() + 30
            while api.get(f"/holds/{unpaid}").body["status"] != "expired":
                assert time.monotonic() < deadline, "the sweeper did not expire the unpaid hold"
                time.sleep(0.3)
            first = sale.order("douyin", 2, buyer="b1")
            sale.pay(first)
            assert sale.order("douyin", 1, buyer="b1") is None, "over the per-buyer limit"
            refunded = sale.order("kuaishou", 2)
            sale.pay(refunded)
            assert api.post(f"/holds/{refunded}/cancel").body["status"] == "refunded"
            assert api.post(f"/skus/{sku_id}/reserve/release", {"quantity": 6}).status == 200
            douyin_left = api.get(f"/skus/{sku_id}").body["pools"]["channel:douyin"]
            # The stage-like move: the flash quota (no platform sells it) goes to shared.
            moved = api.put(f"/skus/{sku_id}/allocation", {"pools": {"channel:douyin": douyin_left}})
            assert moved.status == 200, moved.body
            paid = 0
            for n in range(80):
                channel = CHANNELS[n % 3]
                hold_id = sale.order(channel, 1)
                if hold_id and n % 4 != 3:
                    sale.pay(hold_id)
                    paid += 1
                if sum(sale.refused[(c, "SOLD_OUT")] > 0 for c in CHANNELS) == 3 and n % 3 == 2:
                    break
            assert all(sale.refused[(c, "SOLD_OUT")] for c in CHANNELS), sale.refused

            settled_reconciliation(stack, api, sku_id)
            ended = api.post(f"/sessions/{session_id}/end")
            assert ended.status == 200 and ended.body["status"] == "ended"
            answer = wait_for_review(api, session_id)
            assert answer.status == 200, answer.body
            review: dict[str, Any] = answer.body
            ready = receiver.wait_for(1, "ReviewReady", timeout_s=30)
            session_ended = receiver.wait_for(1, "SessionEnded")[0].event

            movements = ledger_of(api, sku_id)
            view = api.get(f"/sessions/{session_id}").body
            started_at, ended_at = epoch(view["started_at"]), epoch(view["ended_at"])
            expected = expected_from_ledger(api, movements, {before})
            sku = review["skus"][0]
            platforms = {p["channel"]: p for p in sku["platforms"]}

            # --- JSON: every order figure per platform and in total, exactly the ledger's ---------
            for channel in CHANNELS:
                for figure in ORDER_FIGURES:
                    assert platforms[channel][figure] == expected[channel][figure], (channel, figure)
                assert platforms[channel]["refused_sold_out"] == sale.refused[(channel, "SOLD_OUT")]
                assert platforms[channel]["refused_over_limit"] == sale.refused[(channel, "LIMIT_EXCEEDED")]
            for figure in ORDER_FIGURES:
                assert sku[figure] == sum(expected[c][figure] for c in CHANNELS) == review["totals"][figure]
            assert sku["expired_units"] == 1 and sku["refunded_units"] == 2 and sku["refused_over_limit"] == 1
            assert sku["opening_sellable"] == 9 + 16 + 8 and sku["opening_reserve"] == 6
            assert platforms["douyin"]["opening_sellable"] == 25 and platforms["taobao"]["opening_sellable"] == 16
            assert sku["reserve_used"] == 6 and len(sku["reserve_releases"]) == 1
            flash_moves = [q for q in sku["quota_moves"] if q["from_pools"] == ["channel:flash"]]
            assert [(q["to_pools"], q["units"]) for q in flash_moves] == [(["shared"], 8)]
            assert sku["made_available"] == 33 + 6 and sku["sold_units"] == 2 + 2 + paid
            assert sku["sold_out_at"] == first_sell_out(movements, started_at, ended_at) is not None
            # started_at as the API shows it is rounded to the millisecond.
            assert abs(sku["time_to_sell_out_s"] - (epoch(sku["sold_out_at"]) - started_at)) <= 0.002
            assert sku["forecast_units"] == 20 and sku["actual_units"] == sku["sold_units"] - 2
            assert sku["forecast_miss_units"] == sku["actual_units"] - 20
            assert sku["oversold"] == 0 and sku["reconciliation"]["consistent"]
            assert review["totals"]["oversold"] == 0 and review["totals"]["reconciled"]
            assert any(a["severity"] == "critical" for a in sku["alerts"]), "the sold-out alert was journaled"
            assert review["summary"][0].startswith("Oversized tee sold out in ")

            # --- CSV: a row per SKU x platform, summing to the ledger's totals ---------------------
            text = api.get(f"/sessions/{session_id}/review?format=csv").body
            rows = list(csv.DictReader(io.StringIO(text)))
            assert sorted(r["platform"] for r in rows) == sorted(CHANNELS)
            for figure in ORDER_FIGURES:
                assert sum(int(r[figure]) for r in rows) == sum(expected[c][figure] for c in CHANNELS), figure
            assert sum(int(r["refused_sold_out"]) for r in rows) == sum(
                n for (_, code), n in sale.refused.items() if code == "SOLD_OUT"
            )

            # --- HTML: rendered by Chromium, every chart drawn, the figures the ledger's -----------
            html = api.get(f"/sessions/{session_id}/review?format=html").body
            with chromium_page() as (page, requested):
                page.set_content(html, wait_until="load")
                charts = page.eval_on_selector_all(
                    "figure.chart",
                    """els => els.map(el => {
                        const svg = el.querySelector('svg');
                        const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
                        const lines = ['held-line', 'sold-line'].filter(id => el.querySelector('#' + id))
                            .map(id => el.querySelector('#' + id + ' path').getTotalLength());
                        const bars = [...el.querySelectorAll('g[id^="actual-"] path')].map(p => p.getBBox().width);
                        return {kind: el.dataset.chart, width: box.width, height: box.height, lines, bars,
                                markers: [...el.querySelectorAll('g[id^="marker-"]')].map(g => g.id)};
                    })""",
                )
                figures = page.eval_on_selector_all(
                    "section.sku td[data-figure]",
                    """els => els.map(e => [e.closest('table').className, e.dataset.figure,
                                           e.closest('tr').dataset.platform || '', e.textContent.trim()])""",
                )
                summary = page.inner_text("#summary")
                assert requested == [], f"the page fetched {requested}"
            assert sorted(c["kind"] for c in charts) == ["forecast", "sales"]
            for chart in charts:
                assert chart["width"] > 300 and chart["height"] > 100, chart
            sales = next(c for c in charts if c["kind"] == "sales")
            assert len(sales["lines"]) == 2 and all(length > 50 for length in sales["lines"]), sales
            assert {"marker-reserve", "marker-quota", "marker-sold_out", "marker-critical"} <= set(sales["markers"])
            forecast = next(c for c in charts if c["kind"] == "forecast")
            assert forecast["bars"] and all(width > 0 for width in forecast["bars"]), forecast
            shown = {(table, figure, platform): int(value) for table, figure, platform, value in figures}
            for figure in ORDER_FIGURES[:4]:
                assert shown[("sku-figures", figure, "")] == sum(expected[c][figure] for c in CHANNELS), figure
                for channel in CHANNELS:
                    assert shown[("platforms", figure, channel)] == expected[channel][figure], (figure, channel)
            assert shown[("sku-figures", "reserve_used", "")] == 6 and shown[("sku-figures", "oversold", "")] == 0
            for line in review["summary"]:
                assert line in summary
            sold = sum(expected[c]["sold_units"] for c in CHANNELS)
            assert f"{sold} of 39 units sold" in summary

            # --- history, and a rebuild that changes nothing ------------------------------------
            history = api.get(f"/skus/{sku_id}/history").body
            assert [h["session_id"] for h in history["sessions"]] == [session_id]
            assert history["sessions"][0]["sold_units"] == sold
            assert history["sessions"][0]["time_to_sell_out_s"] == sku["time_to_sell_out_s"]
            assert stack.invoker is not None
            rebuilt = stack.invoker.invoke("ReviewBuilderFunction", session_ended)
            assert rebuilt["digest"] == review["digest"]
            assert api.get(f"/sessions/{session_id}/review").body == review
            assert api.get(f"/sessions/{session_id}/review?format=html").body == html
            stack.eventbridge.wait_idle(30)
            assert len(receiver.of_type("ReviewReady")) == 1, "the same review's event is delivered once"
            assert ready[0].event["detail"]["digest"] == review["digest"]
            assert ready[0].event["detail"]["locations"]["api_html"] == f"/sessions/{session_id}/review?format=html"
        finally:
            assert api.call("DELETE", f"/webhooks/{webhook}").status == 204


def test_a_review_before_the_end_is_not_ready_and_unknown_ids_are_not_found(api: Api, sku_id: str) -> None:
    session_id = f"live-{uuid.uuid4().hex[:8]}"
    assert api.get(f"/sessions/{session_id}/review").code == "SESSION_NOT_FOUND"
    assert api.get(f"/skus/{sku_id}/history").code == "SKU_NOT_FOUND"
    assert api.put(f"/skus/{sku_id}", {"name": "Mug", "on_hand": 5}).status == 201
    assert api.get(f"/skus/{sku_id}/history").body == {"sku_id": sku_id, "sessions": []}
    plan = {
        "title": "Later",
        "channels": ["douyin"],
        "starts_at": "2027-01-15T12:00:00Z",
        "ends_at": "2027-01-15T14:00:00Z",
        "lineup": [{"sku_id": sku_id}],
    }
    assert api.put(f"/sessions/{session_id}", plan).status == 201
    refused = api.get(f"/sessions/{session_id}/review?format=csv")
    assert refused.status == 409 and refused.code == "REVIEW_NOT_READY", refused.body
    assert api.get(f"/sessions/{session_id}/review?format=pdf").status == 422
