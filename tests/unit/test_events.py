"""The event publisher on moto: idempotent publication, PutEvents chunking and partial failures,
tier state transitions as conditional writes."""

from typing import Any

import pytest

from livestock import keys
from livestock.dal.expressions import Update
from livestock.events.models import StockFigures
from livestock.events.publisher import LEFT_ENTRY_WAIT_S, EventSink, PublishFailed
from livestock.logic import alerts
from livestock.logic.alert_settings import AlertSettings
from livestock.models.event_io import AlertsRequest
from livestock.models.input import HoldRequest, SetSkuRequest
from tests.unit.conftest import World
from tests.unit.events_support import EventWorld


@pytest.fixture
def ew(world: World) -> EventWorld:
    return EventWorld(world)


def hold(world: World, order: str, quantity: int = 1) -> str:
    request = HoldRequest(channel="douyin", order_id=order, sku_id="tee", quantity=quantity)
    return world.holds.place(request).hold_id


def types(entries: list[dict[str, Any]]) -> list[str]:
    return [str(e["DetailType"]) for e in entries]


def test_a_replayed_batch_publishes_nothing_twice(ew: EventWorld) -> None:
    world = ew.world
    world.stock.set_sku("tee", SetSkuRequest(name="Tee", on_hand=10), "erp")
    AlertSettings(ew.states, ew.publisher.stock, world.clock).set("tee", AlertsRequest(tiers_pct=[50]))
    ew.publisher.publish_batch(ew.next_batch())
    world.stock.receive("tee", 10, "po-1", "erp")
    for n in range(16):
        world.clock.now += 1
        hold(world, f"o{n}")
    batch = ew.next_batch()
    first = ew.publisher.publish_batch(batch)
    published = types(ew.recorder.published)
    assert published.count("Restocked") == 1
    assert published.count("StockLow") == 1  # 20 units, 4 left: the 50% tier of the opening 10 crossed once
    assert first > 0

    before = len(ew.recorder.published)
    assert ew.publisher.publish_batch(batch) == 0, "the same records again"
    assert ew.publisher.publish_batch(batch[: len(batch) // 2]) == 0, "a bisected retry"
    assert len(ew.recorder.published) == before

    delivered = ew.delivered()
    ids = [event["detail"]["event_id"] for event in delivered]
    assert len(ids) == len(set(ids)) == before
    sequences = [e["detail"]["sequence"] for e in delivered if e["detail-type"] == "StockChanged"]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)


def sell_out_with_put_events_throttled(ew: EventWorld) -> list[Any]:
    """The batch that sells `tee` out, whose publication fails: PutEvents refuses every entry."""
    world = ew.world
    world.stock.set_sku("tee", SetSkuRequest(name="Tee", on_hand=3), "erp")
    ew.publisher.publish_batch(ew.next_batch())
    for n in range(3):
        hold(world, f"o{n}")
    batch = ew.next_batch()
    ew.recorder.throttled = True
    with pytest.raises(PublishFailed):
        ew.publisher.publish_batch(batch)
    ew.recorder.throttled = False
    return batch


def test_a_batch_retried_after_put_events_failed_sends_the_events_its_figures_raised(ew: EventWorld) -> None:
    """The failed attempt wrote the SKU's new figures with their events in the outbox. Lambda's
    retry finds the figures written and raises nothing new: it must still send those events, at
    once (a sold-out SKU's figures may never change again to carry them later)."""
    batch = sell_out_with_put_events_throttled(ew)
    before = len(ew.recorder.calls)
    assert ew.publisher.publish_batch(batch) > 0
    assert "SoldOut" in types([e for call in ew.recorder.calls[before:] for e in call])
    assert ew.states.get("tee")[2] == {}, "nothing left in the outbox"
    assert ew.publisher.publish_batch(batch) == 0, "and nothing twice"


def test_events_a_dead_publisher_left_are_sent_by_the_next_after_a_wait(
    ew: EventWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publisher that died between writing the figures and PutEvents (a timeout, a crash: it
    could not mark its events as left) leaves young outbox entries. The retry waits for their
    publisher to confirm them, then sends them itself."""
    monkeypatch.setattr(ew.states, "mark_left", lambda sku_id, pending: None)
    batch = sell_out_with_put_events_throttled(ew)
    waits: list[float] = []
    ew.publisher.sleep = waits.append
    before = len(ew.recorder.calls)
    assert ew.publisher.publish_batch(batch) > 0
    assert "SoldOut" in types([e for call in ew.recorder.calls[before:] for e in call])
    assert ew.states.get("tee")[2] == {}
    assert sum(waits) == pytest.approx(LEFT_ENTRY_WAIT_S), "after waiting for a live publisher to confirm them"


def test_a_record_event_published_again_after_a_crash_keeps_its_time(
    ew: EventWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attempt crashed after PutEvents took a Restocked and before it was marked published;
    the retry, a minute later, publishes it again under the same id. It must be the same event,
    time included: the session journal and the console feed key events by time and id, so a new
    time would list the restock twice in the review."""
    world = ew.world
    world.stock.set_sku("tee", SetSkuRequest(name="Tee", on_hand=10), "erp")
    ew.publisher.publish_batch(ew.next_batch())
    world.stock.receive("tee", 5, "po-1", "erp")
    batch = ew.next_batch()

    def crash(event_ids: list[str]) -> None:
        raise ConnectionError("the invocation died")

    monkeypatch.setattr(ew.states, "mark_published", crash)
    with pytest.raises(ConnectionError):
        ew.publisher.publish_batch(batch)
    monkeypatch.undo()
    world.clock.now += 60
    ew.publisher.publish_batch(batch)
    restocks = [e for e in ew.delivered() if e["detail-type"] == "Restocked"]
    assert len(restocks) == 2, "published twice (a consumer dedupes by id)"
    assert restocks[0]["detail"] == restocks[1]["detail"]


def test_a_put_events_partial_failure_retries_only_the_failed_entries(ew: EventWorld) -> None:
    sink = EventSink("livestock-events", lambda: ew.recorder, sleep=lambda _: None)  # type: ignore[arg-type, return-value]
    entries = [sink.entry("Restocked", {"event_id": f"e{n}", "n": n}) for n in range(23)]
    ew.recorder.refuse_once = {2, 7}
    sink.publish(entries)
    sizes = [len(call) for call in ew.recorder.calls]
    assert sizes == [10, 2, 10, 3], "chunks of 10; the retry carries only the two refused"
    assert [e["Detail"] for e in ew.recorder.calls[1]] == [entries[2]["Detail"], entries[7]["Detail"]]
    assert sorted(e["detail"]["n"] for e in ew.delivered()) == list(range(23)), "each delivered once"


def test_entries_still_refused_after_every_attempt_fail_the_batch(ew: EventWorld) -> None:
    class Refusing:
        def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
            return {"FailedEntryCount": len(Entries), "Entries": [{"ErrorCode": "InternalFailure"} for _ in Entries]}

    sink = EventSink("bus", Refusing, attempts=3, sleep=lambda _: None)  # type: ignore[arg-type]
    with pytest.raises(PublishFailed):
        sink.publish([sink.entry("Restocked", {"event_id": "e"})])


def test_two_concurrent_batches_cannot_both_fire_a_tier(ew: EventWorld) -> None:
    world = ew.world
    world.stock.set_sku("tee", SetSkuRequest(name="Tee", on_hand=10), "erp")
    AlertSettings(ew.states, ew.publisher.stock, world.clock).set("tee", AlertsRequest(tiers_pct=[50]))
    state, rev, _ = ew.states.get("tee")
    low = StockFigures(on_hand=10, sellable=4, pools={"shared": 4}, channels={}, paused=False)
    mine, events = alerts.observe(state, low, world.clock.now, 60)
    theirs, _ = alerts.observe(state, low, world.clock.now, 60)
    assert "StockLow" in [e.detail_type for e in events]
    assert ew.states.replace(mine, rev, {})
    assert not ew.states.replace(theirs, rev, {}), "the second writer read the same revision and loses"
    again, later = alerts.observe(ew.states.get("tee")[0], low, world.clock.now, 60)
    assert later == [] and again.fired_tiers == [50]


def test_a_direct_write_to_a_counter_raises_one_unattributed_change(ew: EventWorld) -> None:
    world = ew.world
    world.stock.set_sku("tee", SetSkuRequest(name="Tee", on_hand=10), "erp")
    hold(world, "a", 2)
    ew.publisher.publish_batch(ew.next_batch())
    assert "UnattributedChange" not in types(ew.recorder.published), "LiveStock's own writes are attributed"
    world.stores.skus.update_if(Update(keys.shard_pk("tee", "shared", 0), keys.STOCK_SK).set(available=1_000_000))
    batch = ew.next_batch()
    ew.publisher.publish_batch(batch)
    ew.publisher.publish_batch(batch)
    raised = [e for e in ew.delivered() if e["detail-type"] == "UnattributedChange"]
    assert len(raised) == 1
    detail = raised[0]["detail"]
    assert (detail["bucket"], detail["before"], detail["after"], detail["severity"]) == (
        "pool:shared",
        8,
        1_000_000,
        "critical",
    )
