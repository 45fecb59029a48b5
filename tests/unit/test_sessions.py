"""Live sessions on moto: plan, start (lineup limits and alert tiers), end; per-buyer limits scoped
to one session across platforms; SessionStarted / SessionEnded out of the stream, once."""

from datetime import UTC, datetime
from typing import Any

import pytest

from livestock import keys, wiring
from livestock.logic.alert_settings import AlertSettings
from livestock.logic.sweeper import Sweeper
from livestock.models.exceptions import (
    Conflict,
    InvalidState,
    LimitExceeded,
    SessionNotFound,
    SkuInAnotherSession,
    SkuNotFound,
)
from livestock.models.input import HoldRequest, SetSkuRequest
from livestock.models.sessions import SessionRequest
from tests.unit.conftest import World
from tests.unit.events_support import EventWorld


@pytest.fixture
def ew(world: World) -> EventWorld:
    return EventWorld(world)


def sessions(ew: EventWorld) -> Any:
    alerts = AlertSettings(ew.states, ew.publisher.stock, ew.world.clock)
    return wiring.build_sessions(ew.world.services, alerts, ew.world.clock)


def plan(*lineup: dict[str, Any], title: str = "Warm-up") -> SessionRequest:
    return SessionRequest.model_validate(
        {
            "title": title,
            "channels": ["douyin", "kuaishou"],
            "starts_at": "2027-01-15T12:00:00+08:00",
            "ends_at": "2027-01-15T14:00:00+08:00",
            "lineup": list(lineup) or [{"sku_id": "tee", "per_buyer_limit": 2, "alert_tiers_pct": [50, 20]}],
        }
    )


def order(world: World, channel: str, order_id: str, buyer: str, quantity: int = 1) -> str:
    request = HoldRequest(channel=channel, order_id=order_id, sku_id="tee", quantity=quantity, buyer_id=buyer)
    return world.holds.place(request).status


def test_a_session_is_planned_replaced_while_planned_and_read(ew: EventWorld) -> None:
    ew.world.stock.set_sku("tee", SetSkuRequest(name="Tee", on_hand=100), "erp")
    service = sessions(ew)
    view, created = service.put("s1", plan(), "op")
    assert created and view.status == "planned" and view.version == 1
    assert view.starts_at == datetime(2027, 1, 15, 4, tzinfo=UTC).isoformat(timespec="milliseconds")
    again, created = service.put("s1", plan(), "op")
    assert not created and again.version == 1, "the same plan again changes nothing"
    renamed, _ = service.put("s1", plan(title="Warm-up 2"), "op")
    assert renamed.version == 2 and service.view("s1").title == "Warm-up 2"
    with pytest.raises(SkuNotFound):
        service.put("s2", plan({"sku_id": "nope"}), "op")
    with pytest.raises(SessionNotFound):
        service.view("s9")


def test_a_request_with_bad_times_or_duplicates_is_refused() -> None:
    good = plan().model_dump(mode="json")
    for bad in (
        {**good, "ends_at": good["starts_at"]},
        {**good, "starts_at": "2027-01-15T12:00:00"},  # no time zone
        # Not RFC 3339 (the document's date-time), though pydantic alone would read them.
        {**good, "starts_at": "2027-01-15 12:00:00+08:00"},
        {**good, "starts_at": "2027-01-15T12:00+08:00"},
        {**good, "starts_at": "1800000000"},
        {**good, "channels": ["douyin", "douyin"]},
        {**good, "lineup": [{"sku_id": "tee"}, {"sku_id": "tee"}]},
        {**good, "lineup": [{"sku_id": "tee", "per_buyer_limit": 2.0}]},
    ):
        with pytest.raises(ValueError):
            SessionRequest.model_validate(bad)


def test_start_applies_the_lineup_and_end_takes_it_off(ew: EventWorld) -> None:
    world = ew.world
    world.stock.set_sku("tee", SetSkuRequest(name="Tee", on_hand=100), "erp")
    service = sessions(ew)
    service.put("s1", plan(), "op")
    live = service.start("s1", "host")
    assert live.status == "live" and live.started_at is not None
    meta = world.stock.meta("tee")
    assert (meta.session_id, meta.session_per_buyer_limit) == ("s1", 2)
    assert ew.states.get("tee")[0].config is not None, "the lineup's alert tiers are set"
    assert service.start("s1", "host").version == live.version, "starting a live session again changes nothing"
    with pytest.raises(InvalidState):
        service.put("s1", plan(title="too late"), "op")
    service.put("s0", plan(), "op")
    with pytest.raises(InvalidState):
        service.end("s0", "host")
    ended = service.end("s1", "host")
    assert ended.status == "ended" and ended.ended_at is not None
    meta = world.stock.meta("tee")
    assert (meta.session_id, meta.session_per_buyer_limit) == (None, None)
    assert service.end("s1", "host").version == ended.version
    with pytest.raises(InvalidState):
        service.start("s1", "host")


def test_a_session_limit_holds_across_platforms_and_not_into_the_next_session(ew: EventWorld) -> None:
    world = ew.world
    world.stock.set_sku("tee", SetSkuRequest(name="Tee", on_hand=100), "erp")
    service = sessions(ew)
    service.put("s1", plan(), "op")
    service.put("s2", plan(), "op")
    service.start("s1", "host")
    assert order(world, "douyin", "d1", "amy") == "held"
    assert order(world, "kuaishou", "k1", "amy") == "held"
    with pytest.raises(LimitExceeded):
        order(world, "taobao", "t1", "amy")
    assert order(world, "taobao", "t2", "bob", 2) == "held", "another buyer has an allowance of their own"
    assert world.repository.buyer_units("tee", "amy", "s1") == 2
    service.end("s1", "host")
    assert order(world, "douyin", "d2", "amy") == "held", "no limit between sessions (the SKU sets none)"
    service.start("s2", "host")
    assert order(world, "douyin", "d3", "amy", 2) == "held", "the next session's allowance starts at zero"
    with pytest.raises(LimitExceeded):
        order(world, "wechat", "w1", "amy")
    assert world.repository.buyer_units("tee", "amy", "s2") == 2
    world.drain()
    hold = world.repository.get_hold(keys.hold_id_for("douyin", "d3", "tee"))
    assert (hold.session_id, hold.limit_session, hold.buyer_limit) == ("s2", "s2", 2)
    world.holds.cancel(hold.hold_id, "douyin")
    assert world.repository.buyer_units("tee", "amy", "s2") == 0, "a cancel gives the session's allowance back"


def test_a_sku_is_in_one_live_session_at_a_time(ew: EventWorld) -> None:
    world = ew.world
    world.stock.set_sku("tee", SetSkuRequest(name="Tee", on_hand=100), "erp")
    world.stock.set_sku("cap", SetSkuRequest(name="Cap", on_hand=100), "erp")
    service = sessions(ew)
    service.put("s1", plan({"sku_id": "tee", "per_buyer_limit": 1}), "op")
    service.put("s2", plan({"sku_id": "cap", "per_buyer_limit": 3}, {"sku_id": "tee", "per_buyer_limit": 5}), "op")
    service.start("s1", "host")
    with pytest.raises(SkuInAnotherSession):
        service.start("s2", "host")
    assert world.stock.meta("cap").session_id is None, "a refused start leaves no SKU claimed"
    assert service.view("s2").status == "planned"
    service.end("s1", "host")
    assert service.start("s2", "host").status == "live"
    assert world.stock.meta("tee").session_per_buyer_limit == 5


def test_two_sessions_starting_at_once_do_not_both_go_live_with_one_sku(
    ew: EventWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """s1 has claimed its SKUs but is not live yet when s2 starts and takes `tee` over (a SKU left
    naming a session that is not live is free: a start that failed midway). s1's start must then
    not go live as if it still had `tee`: it is refused, its other claims undone, and its retry
    finds `tee` in live s2."""
    world = ew.world
    world.stock.set_sku("tee", SetSkuRequest(name="Tee", on_hand=100), "erp")
    world.stock.set_sku("cap", SetSkuRequest(name="Cap", on_hand=100), "erp")
    service = sessions(ew)
    service.put("s1", plan({"sku_id": "cap", "per_buyer_limit": 1}, {"sku_id": "tee", "per_buyer_limit": 1}), "op")
    service.put("s2", plan({"sku_id": "tee", "per_buyer_limit": 5}), "op")
    go_live = service.sessions.transition

    def s2_starts_first(session: Any, *args: Any) -> bool:
        if session.session_id == "s1":
            monkeypatch.setattr(service.sessions, "transition", go_live)
            assert service.start("s2", "host").status == "live"
        return bool(go_live(session, *args))

    monkeypatch.setattr(service.sessions, "transition", s2_starts_first)
    with pytest.raises(Conflict):
        service.start("s1", "host")
    assert service.view("s1").status == "planned" and service.view("s2").status == "live"
    assert world.stock.meta("tee").session_id == "s2" and world.stock.meta("tee").session_per_buyer_limit == 5
    assert world.stock.meta("cap").session_id is None, "the refused start leaves no SKU claimed"
    with pytest.raises(SkuInAnotherSession):
        service.start("s1", "host")


def test_session_events_come_out_of_the_stream_once(ew: EventWorld) -> None:
    world = ew.world
    world.stock.set_sku("tee", SetSkuRequest(name="Tee", on_hand=100), "erp")
    service = sessions(ew)
    service.put("s1", plan(), "op")
    service.put("s1", plan(title="renamed"), "op")
    service.start("s1", "host")
    service.end("s1", "host")
    batch = ew.next_batch()
    ew.publisher.publish_batch(batch)
    ew.publisher.publish_batch(batch)
    session_events = [e for e in ew.delivered() if e["detail-type"].startswith("Session")]
    assert [e["detail-type"] for e in session_events] == ["SessionStarted", "SessionEnded"]
    started, ended = (e["detail"] for e in session_events)
    assert started["session_id"] == "s1" and started["title"] == "renamed" and started["actor"] == "host"
    assert started["lineup"] == [
        {"sku_id": "tee", "per_buyer_limit": 2, "alert_tiers_pct": [50, 20], "forecast_units": None}
    ]
    assert ended["ended_at"] >= ended["started_at"] and ended["event_id"] != started["event_id"]


def test_an_order_abandoned_before_the_stream_caught_up_keeps_its_allowance(ew: EventWorld) -> None:
    """Under load the stream may show a decrement after the sweeper abandoned its hold: the hold is
    revived (its caller was told "held"), so its allowance must still be counted meanwhile, or the
    buyer gets one more than the limit. The allowance comes back when the abandoned hold is cancelled."""
    world = ew.world
    world.stock.set_sku("tee", SetSkuRequest(name="Tee", on_hand=100), "erp")
    service = sessions(ew)
    service.put("s1", plan({"sku_id": "tee", "per_buyer_limit": 1}), "op")
    service.start("s1", "host")
    sweeper = Sweeper(world.stores.holds, world.holds, 30, world.clock)
    assert order(world, "douyin", "d1", "amy") == "held"
    assert order(world, "douyin", "d2", "bob") == "held"
    for order_id in ("d1", "d2"):
        world.repository.track_pending_hold(keys.hold_id_for("douyin", order_id, "tee"), 1, world.clock.now + 30)
    world.clock.now += 31
    assert sweeper.sweep().abandoned == 2
    with pytest.raises(LimitExceeded):
        order(world, "kuaishou", "k1", "amy")
    world.holds.cancel(keys.hold_id_for("douyin", "d2", "tee"), "douyin")
    assert world.repository.buyer_units("tee", "bob", "s1") == 0, "a cancelled abandoned hold gives it back"
    world.drain()
    assert world.holds.get(keys.hold_id_for("douyin", "d1", "tee")).status == "held"
    assert world.repository.buyer_units("tee", "amy", "s1") == 1
