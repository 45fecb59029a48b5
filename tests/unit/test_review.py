"""The post-live review's figures on a made-up ledger whose answers are known by hand, and its
CSV and HTML renderings; the refusal counters and the journal on moto."""

import csv
import io
import random
from collections import Counter
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from livestock import keys
from livestock.dal.channels import ChannelRepository
from livestock.dal.journal import JournalStore
from livestock.dal.reviews import ReviewObjects
from livestock.logic import review_render
from livestock.logic.review import SessionFacts, SkuInputs, compose, iso, oversold_units, sku_summary
from livestock.logic.reviews import ReviewService
from livestock.models.domain import Hold, HoldStatus
from livestock.models.input import HoldRequest, SetSkuRequest
from livestock.models.output import Reconciliation
from livestock.models.review import JournalEntry, Review
from livestock.models.sessions import LineupEntry, Session, SessionStatus
from livestock_local import iam
from livestock_local.template import Template
from tests.unit.conftest import INVENTORY, LEDGER, World
from tests.unit.events_support import EVENTS, EventWorld

START = 1_800_000_000.0
SESSION = "live-1"


class Ledger:
    def __init__(self) -> None:
        self.movements: list[dict[str, Any]] = []
        self.holds: dict[str, Hold] = {}

    def move(self, at: float, op: str, bucket: str, delta: int, reference: str | None = None) -> None:
        n = len(self.movements)
        self.movements.append(
            {
                "sku_id": "tee",
                "at": iso(START + at),
                "sequence": f"{n:08d}",
                "op": op,
                "bucket": bucket,
                "delta": delta,
                "quantity": abs(delta),
                "before": 0,
                "after": 0,
                "reference": reference,
                "actor": "test",
            }
        )

    def hold(self, hold_id: str, channel: str, quantity: int, at: float, pool: str, session: str = SESSION) -> None:
        self.holds[hold_id] = Hold(
            hold_id=hold_id,
            sku_id="tee",
            channel=channel,
            order_id=hold_id,
            quantity=quantity,
            status=HoldStatus.HELD,
            request_hash="x",
            pay_within_s=60,
            created_at=START + at,
            session_id=session,
        )
        self.move(at, "hold", f"pool:{pool}", -quantity, f"{hold_id}#1")
        self.move(at, "hold", "held", quantity, hold_id)

    def confirm(self, hold_id: str, at: float) -> None:
        quantity = self.holds[hold_id].quantity
        self.move(at, "confirm", "held", -quantity, hold_id)
        self.move(at, "confirm", "sold", quantity, hold_id)

    def give_back(self, hold_id: str, op: str, at: float, pool: str) -> None:
        quantity = self.holds[hold_id].quantity
        self.move(at, op, "sold" if op == "refund" else "held", -quantity, hold_id)
        self.move(at, op, f"pool:{pool}", quantity, hold_id)


def live_sale() -> Ledger:
    """100 units: douyin quota 30, reserve 10, a 20-unit flash-sale campaign, 40 shared."""
    ledger = Ledger()
    ledger.move(-100, "receive", "pool:shared", 100)
    ledger.move(-90, "allocate", "pool:shared", -60)
    ledger.move(-90, "allocate", "pool:channel:douyin", 30)
    ledger.move(-90, "allocate", "pool:reserve", 10)
    ledger.move(-90, "allocate", "pool:campaign:flash", 20)
    ledger.hold("h-before", "douyin", 1, -50, "channel:douyin", session="earlier")  # not this session's
    ledger.give_back("h-before", "cancel", -40, "channel:douyin")
    ledger.hold("h1", "douyin", 5, 10, "channel:douyin")
    ledger.confirm("h1", 20)
    ledger.hold("h2", "kuaishou", 3, 70, "shared")
    ledger.hold("h3", "douyin", 2, 80, "channel:douyin")
    ledger.confirm("h3", 90)
    ledger.move(120, "stage-release", "pool:campaign:flash", -20, "flash#1")
    ledger.move(120, "stage-release", "pool:shared", 20, "flash#1")
    ledger.move(130, "release-reserve", "pool:reserve", -10)
    ledger.move(130, "release-reserve", "pool:shared", 10)
    ledger.move(140, "allocate", "pool:channel:douyin", -5)
    ledger.move(140, "allocate", "pool:channel:kuaishou", 5)
    ledger.hold("h4", "taobao", 67, 150, "shared")  # shared is empty now: taobao sells shared only
    ledger.confirm("h4", 160)
    ledger.give_back("h2", "expire", 200, "shared")
    ledger.hold("h7", "taobao", 3, 205, "shared")
    ledger.confirm("h7", 215)
    ledger.give_back("h3", "refund", 300, "channel:douyin")
    ledger.hold("h5", "douyin", 20, 400, "channel:douyin")
    ledger.hold("h6", "kuaishou", 5, 410, "channel:kuaishou")  # the last units: sold out
    return ledger


def facts() -> SessionFacts:
    return SessionFacts(
        session_id=SESSION,
        title="Friday live",
        channels=["douyin", "kuaishou", "taobao"],
        lineup=[LineupEntry(sku_id="tee", forecast_units=50)],
        started_at=START,
        ended_at=START + 600,
    )


def inputs(ledger: Ledger, **overrides: Any) -> SkuInputs:
    given: dict[str, Any] = {
        "sku_id": "tee",
        "name": "T-shirt",
        "auto_release_reserve": True,
        "movements": ledger.movements,
        "holds": ledger.holds,
        "journal": [
            JournalEntry(
                at=iso(START + 151),
                detail_type="AlertRaised",
                event_id="a1",
                severity="warn",
                message="tee is at 20%",
                detail={},
            ),
            JournalEntry(at=iso(START - 5), detail_type="AlertRaised", event_id="a0", severity="info", detail={}),
        ],
        "refusals": Counter({("taobao", "SOLD_OUT"): 4, ("douyin", "LIMIT_EXCEEDED"): 2}),
        "reconciliation": Reconciliation(
            sku_id="tee", consistent=True, expected={}, actual={}, differences={}, conservation={}, unattributed={}
        ),
        "forecast_units": 50,
    }
    return SkuInputs(**(given | overrides))


def test_every_figure_of_a_live_with_holds_expiries_refunds_reserve_stage_and_quota_move() -> None:
    review = compose(facts(), [inputs(live_sale())])
    sku = review.skus[0]
    assert (sku.opening_sellable, sku.opening_reserve, sku.opening_campaign) == (70, 10, 20)
    assert (sku.held_units, sku.sold_units, sku.refunded_units, sku.expired_units) == (105, 77, 2, 3)
    assert sku.still_held_units == 25 and sku.cancelled_units == 0, "h-before belongs to another session"
    assert sku.unpaid_rate == 0.0286
    assert (sku.refused_sold_out, sku.refused_over_limit) == (4, 2)
    assert sku.made_available == 100 and sku.sell_through == 0.75, "(77 sold - 2 refunded) / 100"
    assert sku.reserve_used == 10 and [r.at for r in sku.reserve_releases] == [iso(START + 130)]
    assert sku.staged_units == 20 and sku.stages[0].from_pools == ["campaign:flash"]
    assert sku.stages[0].to_pools == ["shared"] and sku.stages[0].at == iso(START + 120)
    assert [(q.from_pools, q.to_pools, q.units) for q in sku.quota_moves] == [
        (["channel:douyin"], ["channel:kuaishou"], 5)
    ]
    assert sku.sold_out_at == iso(START + 410) and sku.time_to_sell_out_s == 410
    assert sku.sell_outs == [iso(START + 410)]
    assert sku.peak_units_per_min == 67, "minute 2 took h4's 67 units"
    assert [m.held_units for m in sku.minutes][:3] == [5, 5, 67] and len(sku.minutes) == 10
    assert [a.event_id for a in sku.alerts] == ["a1"], "an alert before the start is not this live's"
    assert (sku.actual_units, sku.forecast_miss_units, sku.forecast_miss_pct) == (75, 25, 50.0)
    assert sku.oversold == 0
    platforms = {p.channel: p for p in sku.platforms}
    assert {c: (p.held_units, p.sold_units) for c, p in platforms.items()} == {
        "douyin": (27, 7),
        "kuaishou": (8, 0),
        "taobao": (70, 70),
    }
    assert platforms["kuaishou"].expired_units == 3 and platforms["douyin"].refunded_units == 2
    assert platforms["taobao"].refused_sold_out == 4 and platforms["douyin"].refused_over_limit == 2
    # taobao sells shared only: shared ran dry at 150 s, came back with h2's expiry, ran dry again.
    assert platforms["taobao"].time_to_sell_out_s == 150
    assert platforms["douyin"].opening_sellable == 70 and platforms["taobao"].opening_sellable == 40
    assert review.summary[0] == (
        "T-shirt sold out in 6 min 50 s on all platforms: 77 of 100 units sold, 2 refunded (75% sell-through); "
        "50% above forecast (75 vs 50); 3% of held units were never paid (3 units)."
    )
    assert review.totals.oversold == 0 and review.totals.reconciled
    assert "Still awaiting payment when this review was built (held, not counted as sold): T-shirt 25 units." in (
        review.summary
    )


def test_a_refund_sold_again_a_cancelled_campaign_and_a_moved_quota_count_as_what_they_are() -> None:
    """A refunded unit goes back on sale: sold again, it counts once in sell-through (20 sold, 10 of
    them refunded, of 30 made available is a third, not two thirds). A campaign cancelled mid-live
    gives supply, not a stage; a move between two pools (quota moves, the console) is a quota move."""
    ledger = Ledger()
    ledger.move(-100, "receive", "pool:shared", 30)
    ledger.move(-90, "campaign-fund", "pool:shared", -20, "flash")
    ledger.move(-90, "campaign-fund", "pool:campaign:flash", 20, "flash")
    ledger.hold("h1", "douyin", 10, 10, "shared")
    ledger.confirm("h1", 20)
    ledger.give_back("h1", "refund", 30, "shared")
    ledger.hold("h2", "douyin", 10, 40, "shared")
    ledger.confirm("h2", 50)
    ledger.move(60, "stage-release", "pool:campaign:flash", -5, "flash#1")
    ledger.move(60, "stage-release", "pool:shared", 5, "flash#1")
    ledger.move(70, "move", "pool:shared", -2, "mv-1")
    ledger.move(70, "move", "pool:channel:kuaishou", 2, "mv-1")
    ledger.move(300, "campaign-cancel", "pool:campaign:flash", -15, "flash")
    ledger.move(300, "campaign-cancel", "pool:shared", 15, "flash")
    sku = compose(facts(), [inputs(ledger)]).skus[0]
    assert (sku.sold_units, sku.refunded_units, sku.made_available) == (20, 10, 30)
    assert sku.sell_through == 0.3333
    assert sku.staged_units == 5 and [s.units for s in sku.stages] == [5]
    assert [(q.from_pools, q.to_pools, q.units) for q in sku.quota_moves] == [(["shared"], ["channel:kuaishou"], 2)]
    assert "20 of 30 units sold, 10 refunded (33% sell-through)" in sku_summary(sku)


def test_a_reserve_release_whose_legs_are_stamped_apart_is_not_a_sell_out() -> None:
    """The automatic reserve release's legs (out of reserve, into shared) are written a millisecond
    apart: between them the SKU is not sold out, and its time to sell-out is not that moment."""
    ledger = Ledger()
    ledger.move(-100, "receive", "pool:shared", 12)
    ledger.move(-90, "allocate", "pool:shared", -2)
    ledger.move(-90, "allocate", "pool:reserve", 2)
    ledger.hold("h1", "douyin", 10, 30, "shared")
    ledger.move(31.000, "release-reserve", "pool:reserve", -2)
    ledger.move(31.001, "release-reserve", "pool:shared", 2)
    sku = compose(facts(), [inputs(ledger)]).skus[0]
    assert (sku.sold_out_at, sku.sell_outs) == (None, [])
    ledger.hold("h2", "douyin", 2, 40, "shared")
    sku = compose(facts(), [inputs(ledger)]).skus[0]
    assert sku.sold_out_at == iso(START + 40)


def test_a_platform_with_nothing_to_sell_in_the_live_did_not_sell_out() -> None:
    ledger = Ledger()
    ledger.move(-100, "receive", "pool:shared", 10)
    ledger.move(-90, "allocate", "pool:shared", -10)
    ledger.move(-90, "allocate", "pool:channel:douyin", 10)  # kuaishou has no quota and shared is empty
    ledger.hold("h1", "douyin", 4, 30, "channel:douyin")
    review = compose(facts(), [inputs(ledger, refusals=Counter({("kuaishou", "SOLD_OUT"): 3}))])
    platforms = {p.channel: p for p in review.skus[0].platforms}
    assert platforms["kuaishou"].sold_out_at is None and platforms["douyin"].sold_out_at is None


def test_a_pool_that_went_below_zero_is_reported_oversold() -> None:
    ledger = live_sale()
    ledger.move(500, "unattributed", "pool:shared", -4)
    sku = compose(facts(), [inputs(ledger)]).skus[0]
    assert sku.oversold == 4
    assert "Oversold: 4 units" in compose(facts(), [inputs(ledger)]).summary[-1]


def test_the_csv_has_a_row_per_sku_and_platform_and_sums_to_the_totals() -> None:
    review = compose(facts(), [inputs(live_sale())])
    rows = list(csv.DictReader(io.StringIO(review_render.to_csv(review))))
    assert [(r["sku_id"], r["platform"]) for r in rows] == [("tee", "douyin"), ("tee", "kuaishou"), ("tee", "taobao")]
    for column in review_render.CSV_ADDITIVE:
        assert sum(int(r[column]) for r in rows) == getattr(review.totals, column), column
    assert {r["sku_stages_released_at"] for r in rows} == {iso(START + 120)}


def test_a_name_a_spreadsheet_would_run_as_a_formula_is_written_as_text() -> None:
    review = compose(facts(), [inputs(live_sale(), name='=HYPERLINK("http://x","c")')])
    rows = list(csv.DictReader(io.StringIO(review_render.to_csv(review))))
    assert {row["sku_name"] for row in rows} == {'\'=HYPERLINK("http://x","c")'}
    assert {row["sku_forecast_miss_units"] for row in rows} == {"25"}


def test_the_page_is_self_contained_has_every_chart_and_renders_the_same_twice() -> None:
    review = compose(facts(), [inputs(live_sale())])
    page = review_render.to_html(review)
    assert page.count("<svg") == 2, "the forecast chart and one sales curve per SKU"
    # Namespace names (xmlns, rdf:resource) are names, not fetches; nothing is loaded from anywhere.
    for fetch in ('src="', 'href="http', "<link", "<script", "@import", "url(http", "<iframe"):
        assert fetch not in page, fetch
    for gid in ("held-line", "sold-line", "marker-stage", "marker-reserve", "marker-sold_out", "marker-alert"):
        assert f'id="{gid}' in page, gid
    assert review.summary[0] in page
    assert review_render.to_html(compose(facts(), [inputs(live_sale())])) == page


def test_the_digest_changes_with_the_figures_only() -> None:
    first, again = compose(facts(), [inputs(live_sale())]), compose(facts(), [inputs(live_sale())])
    assert first.digest == again.digest and len(first.digest) == 64
    ledger = live_sale()
    ledger.confirm("h6", 700)
    assert compose(facts(), [inputs(ledger)]).digest != first.digest


def test_refusals_of_a_sku_in_a_session_are_counted_once_per_order(world: World) -> None:
    world.stock.set_sku("tee", SetSkuRequest(name="Tee", on_hand=2), "erp")
    world.stock.set_sku("mug", SetSkuRequest(name="Mug", on_hand=0), "erp")
    runner = world.stock.runner
    from livestock.dal.skus import StockChange  # noqa: PLC0415
    from livestock.models.domain import SkuPatch  # noqa: PLC0415

    for sku in ("tee",):
        runner.run(
            sku,
            lambda meta: StockChange.of(
                meta, "session-start", "op", patch=SkuPatch(session_id=SESSION, session_per_buyer_limit=1)
            ),
        )

    def place(order_id: str, channel: str, buyer: str, sku: str = "tee") -> str:
        request = HoldRequest(channel=channel, order_id=order_id, sku_id=sku, quantity=1, buyer_id=buyer)
        try:
            return world.holds.place(request).status
        except Exception as error:  # noqa: BLE001 - the refusal's code is what is checked
            return str(getattr(error, "code", error))

    assert place("o1", "douyin", "b1") == "held"
    assert place("o2", "douyin", "b1") == "LIMIT_EXCEEDED"
    assert place("o2", "douyin", "b1") == "LIMIT_EXCEEDED", "a replay answers the stored refusal"
    assert place("o3", "taobao", "b2") == "held"
    assert place("o4", "taobao", "b3") == "SOLD_OUT"
    assert place("o5", "kuaishou", "b4") == "SOLD_OUT"
    assert place("m1", "kuaishou", "b4", sku="mug") == "SOLD_OUT", "outside a session: not counted"
    totals = world.stores.refusals.totals(SESSION, "tee")
    assert totals == Counter({("douyin", "LIMIT_EXCEEDED"): 1, ("taobao", "SOLD_OUT"): 1, ("kuaishou", "SOLD_OUT"): 1})
    assert world.stores.refusals.totals(SESSION, "mug") == Counter()


def test_the_journal_keeps_an_event_once_and_reads_a_time_range(world: World) -> None:
    ew = EventWorld(world)
    journal = JournalStore(ew.states.store.table, world.client)
    entry = JournalEntry(at=iso(START + 10), detail_type="StageReleased", event_id="e1", detail={"units": 5})
    assert journal.record("tee", entry, START + 10)
    assert not journal.record("tee", entry, START + 10), "a redelivered event is kept once"
    later = entry.model_copy(update={"at": iso(START + 900), "event_id": "e2"})
    journal.record("tee", later, START + 900)
    assert [e.event_id for e in journal.entries("tee", iso(START), iso(START + 600))] == ["e1"]
    assert journal.entries("tee", iso(START), iso(START + 600))[0].detail == {"units": 5}
    assert keys.journal_pk("tee") == "JOURNAL#tee"


@pytest.mark.parametrize("rng_seed", [1, 2])
def test_refusal_counts_spread_over_keys_sum_exactly(world: World, rng_seed: int) -> None:
    store = world.stores.refusals
    rng = random.Random(rng_seed)
    for _ in range(50):
        store.count(SESSION, "tee", "douyin", "SOLD_OUT", rng)
    assert store.totals(SESSION, "tee") == Counter({("douyin", "SOLD_OUT"): 50})


@pytest.fixture
def ew(world: World) -> EventWorld:
    return EventWorld(world)


def test_the_platform_sync_section_reads_the_session_window_of_each_channel_mapping_a_lineup_sku(
    ew: EventWorld,
) -> None:
    channels = ChannelRepository(EVENTS, ew.world.client)
    ids = {"product_id": "1", "sku_id": "2"}
    for channel_id, sku_map in (("dy", {"tee": ids}), ("ks", {"tee": ids, "mug": ids}), ("other", {"mug": ids})):
        settings = {"platform": "douyin", "mode": "quota", "sku_map": sku_map, "endpoint": "x", "credentials_ref": "r"}
        channels.put_channel(channel_id, settings, START)
    for n, (at, lag) in enumerate([(10, 0.2), (20, 0.4), (30, 0.9), (-5, 7.0), (2000, 9.0)]):
        channels.log([("dy", "tee", f"op{n}", {"delta": -1, "lag_s": lag, "at": START + at})])
    channels.count("ks", "tee", rate_limited=3)
    service = ReviewService.__new__(ReviewService)
    service.channels = channels
    rows = service._sync(facts())
    assert [(r.channel_id, r.sku_id) for r in rows] == [("dy", "tee"), ("ks", "tee")], "only the lineup's SKUs"
    dy, ks = rows
    assert (dy.calls_acknowledged, dy.lag_p50_s, dy.lag_p99_s, dy.lag_max_s) == (3, 0.4, 0.9, 0.9), "in the window"
    assert (ks.calls_acknowledged, ks.lag_p99_s, ks.rate_limited_total) == (0, None, 3)
    review = compose(facts(), [inputs(live_sale())], rows)
    assert "Platform sync: 3 stock changes acknowledged; lag p99 at worst 0.90 s (dy, tee)." in review.summary
    page = review_render.to_html(review)
    assert page.count('data-channel="') == 2 and 'data-table="sync"' in page
    assert compose(facts(), [inputs(live_sale())]).digest != review.digest


def test_the_builders_role_allows_the_reads_of_the_sync_section(ew: EventWorld) -> None:
    """The platform sync section reads each mapped SKU's sync state (a GetItem on the events table):
    played against ReviewBuilderFunction's policy in template.yaml, as on AWS, where a missing grant
    failed every build of a live that sold on a synced platform."""
    tables = {"InventoryTable": INVENTORY, "LedgerTable": LEDGER, "EventsTable": EVENTS, "ConsoleTable": "console"}
    (builder,) = [f for f in Template().functions(tables) if f.logical_id == "ReviewBuilderFunction"]
    channels = ChannelRepository(EVENTS, ew.world.client)
    sku_map = {"tee": {"product_id": "1", "sku_id": "2"}}
    channels.put_channel("dy", {"platform": "douyin", "mode": "quota", "sku_map": sku_map}, START)
    channels.count("dy", "tee", rate_limited=2)
    service = ReviewService.__new__(ReviewService)
    service.channels = channels
    with iam.acting_as(builder.logical_id, builder.grants):
        rows = service._sync(facts())
    assert [(r.channel_id, r.rate_limited_total) for r in rows] == [("dy", 2)]


def test_a_build_waits_once_for_the_whole_lineup_to_reconcile_not_once_a_sku() -> None:
    """Six SKUs still selling after the end never reconcile while the build waits: it waits its
    20 s once for all of them, then reports them as they stand, within the function's 120 s (a
    wait a SKU would time the build out on every retry, and the session would get no review)."""
    lineup = [LineupEntry(sku_id=f"sku-{n}") for n in range(6)]
    session = Session(
        session_id=SESSION,
        title="Friday live",
        channels=["douyin"],
        starts_at=START,
        ends_at=START + 600,
        lineup=lineup,
        status=SessionStatus.ENDED,
        started_at=START,
        ended_at=START + 600,
        created_at=START - 3600,
        updated_at=START + 600,
    )
    now = [START + 700]

    def unreconciled(sku_id: str) -> Reconciliation:
        gap = {"held": 1}
        return Reconciliation(
            sku_id=sku_id,
            consistent=False,
            expected=gap,
            actual={},
            differences=gap,
            conservation={},
            unattributed={},
        )

    def wait(seconds: float) -> None:
        now[0] += seconds

    service = ReviewService.__new__(ReviewService)
    service.sessions = SimpleNamespace(get_session=lambda session_id: session)  # type: ignore[assignment]
    service.skus = SimpleNamespace(  # type: ignore[assignment]
        get_meta=lambda sku_id, consistent: SimpleNamespace(name=sku_id, auto_release_reserve=True)
    )
    service.reconciler = SimpleNamespace(reconcile=unreconciled)  # type: ignore[assignment]
    service.ledger = SimpleNamespace(all_movements=lambda sku_id: [])  # type: ignore[assignment]
    service.holds = SimpleNamespace(get_holds=lambda hold_ids: {})  # type: ignore[assignment]
    service.journal = SimpleNamespace(entries=lambda sku_id, since, until: [])  # type: ignore[assignment]
    service.refusals = SimpleNamespace(totals=lambda session_id, sku_id: Counter())  # type: ignore[assignment]
    stored: dict[str, str] = {}

    def put(session_id: str, extension: str, body: str, digest: str, only_if_absent: bool = False) -> bool:
        stored[extension] = body
        return True

    service.objects = SimpleNamespace(get=lambda session_id, extension: stored.get(extension), put=put)  # type: ignore[assignment]
    service.history = SimpleNamespace(put=lambda sku_id, ended_at, entry: None)  # type: ignore[assignment]
    service.sink, service.channels, service.settle_wait_s = None, None, 20.0
    service.clock, service.sleep = lambda: now[0], wait
    review = service.build(SESSION)
    assert now[0] - (START + 700) == pytest.approx(20.0, abs=0.5)
    assert [sku.sku_id for sku in review.skus] == [item.sku_id for item in lineup]
    assert not review.totals.reconciled and set(stored) == {"json", "csv", "html"}


def test_two_builds_at_once_store_and_announce_one_review(world: World) -> None:
    """A duplicate SessionEnded: two builds find no review, compose one each from slightly different
    moments, and store. The JSON is written only if absent (S3's conditional write, on moto here):
    the second build keeps the first's review, CSV and HTML included, and announces that one."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="reviews")
    service = ReviewService.__new__(ReviewService)
    service.objects = ReviewObjects("reviews", lambda: s3)
    first = compose(facts(), [inputs(live_sale())])
    second = compose(facts(), [inputs(live_sale(), name="T-shirt, a moment later")])
    assert first.digest != second.digest
    assert service._store(first) == first
    assert service._store(second) == first

    def read(extension: str) -> str:
        return s3.get_object(Bucket="reviews", Key=keys.review_object(SESSION, extension))["Body"].read().decode()

    assert Review.model_validate_json(read("json")) == first
    assert read("csv") == review_render.to_csv(first) and read("html") == review_render.to_html(first)


def test_oversold_replays_each_shard_in_its_stream_order_not_by_its_writers_clocks() -> None:
    def move(sequence: int, at: float, delta: int, item: str = "0000beef") -> dict[str, Any]:
        return {"bucket": "pool:shared", "sequence": f"{sequence:040d}.{item}.0", "at": iso(START + at), "delta": delta}

    # The receipt was written first (stream order) by a writer whose clock read later than the
    # hold's writer: by time the take comes first, by the stream it does not.
    honest = [move(1, 0.003, +1), move(2, 0.002, -1)]
    assert oversold_units(honest) == 0
    assert oversold_units([move(1, 0, +1), move(2, 1, -2), move(3, 2, -1, item="0000cafe")]) == 2
