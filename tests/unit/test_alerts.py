"""Tier arithmetic, re-arming, sold-out scopes and the sell-out ETA: pure functions."""

from collections.abc import Sequence

from livestock.events.models import SoldOut, StockFigures, StockLow
from livestock.logic import alerts


def figures(sellable: int, channels: dict[str, int] | None = None) -> StockFigures:
    return StockFigures(
        on_hand=1000, sellable=sellable, pools={"shared": sellable}, channels=channels or {}, paused=False
    )


def configured(sellable: int = 1000) -> alerts.SkuEventState:
    state, _ = alerts.observe(alerts.SkuEventState(sku_id="tee"), figures(sellable), 0.0, 60)
    return alerts.configure(state, [50, 20, 5], 1000, "opening", sellable, 0.0)


def fired(events: Sequence[object]) -> list[tuple[str, int | str | None]]:
    out: list[tuple[str, int | str | None]] = []
    for event in events:
        if isinstance(event, StockLow):
            out.append(("StockLow", event.tier_pct))
        elif isinstance(event, SoldOut):
            out.append(("SoldOut", event.channel or "sku"))
    return out


def test_a_tier_fires_once_at_or_below_and_re_arms_above() -> None:
    state = configured()
    state, events = alerts.observe(state, figures(501), 1.0, 60)
    assert fired(events) == []
    state, events = alerts.observe(state, figures(500), 2.0, 60)
    assert fired(events) == [("StockLow", 50)], "at the threshold: 50% of 1000"
    state, events = alerts.observe(state, figures(450), 3.0, 60)
    assert fired(events) == [], "once"
    state, events = alerts.observe(state, figures(501), 4.0, 60)
    assert fired(events) == [] and state.fired_tiers == []
    state, events = alerts.observe(state, figures(0), 5.0, 60)
    assert fired(events) == [("StockLow", 50), ("StockLow", 20), ("StockLow", 5), ("SoldOut", "sku")]
    state, events = alerts.observe(state, figures(0), 6.0, 60)
    assert events == [], "the same figures raise nothing"


def test_a_tier_already_crossed_when_set_does_not_fire_on_the_setting() -> None:
    state, _ = alerts.observe(alerts.SkuEventState(sku_id="tee"), figures(100), 0.0, 60)
    state = alerts.configure(state, [50, 5], 1000, "units", 100, 0.0)
    assert state.fired_tiers == [50]
    _, events = alerts.observe(state, figures(40), 1.0, 60)
    assert fired(events) == [("StockLow", 5)]


def test_sold_out_per_channel_and_per_sku() -> None:
    state, _ = alerts.observe(alerts.SkuEventState(sku_id="tee"), figures(10, {"douyin": 10}), 0.0, 60)
    state, events = alerts.observe(state, figures(3, {"douyin": 0}), 1.0, 60)
    assert fired(events) == [("SoldOut", "douyin")]
    raised = [e for e in events if e.detail_type == "AlertRaised"]
    assert len(raised) == 1 and raised[0].model_dump()["severity"] == "warn"
    state, events = alerts.observe(state, figures(0, {"douyin": 0}), 2.0, 60)
    assert fired(events) == [("SoldOut", "sku")]


def test_the_eta_comes_from_the_units_taken_in_the_window() -> None:
    state, _ = alerts.observe(alerts.SkuEventState(sku_id="tee"), figures(1000), 0.0, 60)
    state, _ = alerts.observe(state, figures(940), 60.0, 60)  # 60 units in a minute
    eta = alerts.eta_of(state, 200, 60.0, 60)
    assert eta.velocity_per_min == 60.0
    assert eta.sold_out_in_s == 200.0
    assert eta.text == "at this rate, sold out in 3 min 20 s"
    state, _ = alerts.observe(state, figures(930), 200.0, 60)  # the first two samples left the window
    assert alerts.eta_of(state, 930, 200.0, 60).velocity_per_min == 0.0
    assert alerts.eta_of(state, 930, 200.0, 60).text == "no units taken in the last 1 min 0 s"


def test_durations_read_like_a_sentence() -> None:
    assert alerts.format_duration(45) == "45 s"
    assert alerts.format_duration(200) == "3 min 20 s"
    assert alerts.format_duration(3900) == "1 h 5 min"
