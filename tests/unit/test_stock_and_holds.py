"""The domain services on moto, one call at a time (moto oversells under concurrency; the
concurrency tests run on DynamoDB Local)."""

from typing import Any

import pytest
from botocore.exceptions import ClientError

from livestock import keys
from livestock.dal.expressions import TransactionRefused, Update
from livestock.logic.sweeper import Sweeper
from livestock.models.domain import Hold, HoldStatus, SkuPatch
from livestock.models.exceptions import (
    IdempotencyMismatch,
    InsufficientFreeStock,
    InvalidState,
    LimitExceeded,
    Paused,
    SkuNotFound,
    SoldOut,
    VersionConflict,
)
from livestock.models.input import AllocationRequest, HoldRequest, SetSkuRequest
from tests.unit.conftest import World


def create(world: World, sku: str = "tee", on_hand: int = 10) -> None:
    world.stock.set_sku(sku, SetSkuRequest(name="Tee", on_hand=on_hand), "erp")


def hold(world: World, order: str, quantity: int = 1, channel: str = "douyin", **extra: object) -> str:
    request = HoldRequest.model_validate(
        {"channel": channel, "order_id": order, "sku_id": "tee", "quantity": quantity, **extra}
    )
    return world.holds.place(request).hold_id


def consistent(world: World, sku: str = "tee") -> dict[str, int]:
    world.drain()
    result = world.services.reconciler.reconcile(sku)
    assert result.consistent, result
    return result.actual


def test_creating_and_setting_on_hand(world: World) -> None:
    view, created = world.stock.set_sku("tee", SetSkuRequest(name="Tee", on_hand=10), "erp")
    assert created and view.pools == {"shared": 10} and view.version == 1
    view, created = world.stock.set_sku("tee", SetSkuRequest(name="Tee", on_hand=15, expected_version=1), "erp")
    assert not created and view.on_hand == 15 and view.version == 2
    with pytest.raises(VersionConflict):
        world.stock.set_sku("tee", SetSkuRequest(name="Tee", on_hand=20, expected_version=1), "erp")
    assert consistent(world)["on_hand"] == 15


def test_a_decrease_never_takes_held_or_ring_fenced_units(world: World) -> None:
    create(world, on_hand=10)
    world.stock.allocate("tee", AllocationRequest(pools={"channel:douyin": 4}), "op")
    hold(world, "o1", 3, channel="kuaishou")
    with pytest.raises(InsufficientFreeStock) as refused:
        world.stock.set_sku("tee", SetSkuRequest(name="Tee", on_hand=6), "erp")
    assert refused.value.details == {"requested": 4, "free": 3}
    view, _ = world.stock.set_sku("tee", SetSkuRequest(name="Tee", on_hand=7), "erp")
    assert view.pools == {"shared": 0, "channel:douyin": 4}
    consistent(world)


def test_receipts_are_idempotent_by_reference(world: World) -> None:
    create(world)
    first = world.stock.receive("tee", 5, "po-1", "erp")
    assert world.stock.receive("tee", 5, "po-1", "erp") == first
    with pytest.raises(IdempotencyMismatch):
        world.stock.receive("tee", 6, "po-1", "erp")
    assert world.stock.view("tee").on_hand == 15
    consistent(world)


def test_adjustments_never_go_below_zero(world: World) -> None:
    create(world, on_hand=3)
    with pytest.raises(InsufficientFreeStock):
        world.stock.adjust("tee", -4, "damaged", "adj-1", "op")
    world.stock.adjust("tee", -3, "damaged", "adj-2", "op")
    assert world.stock.view("tee").on_hand == 0
    consistent(world)


def test_a_hold_takes_its_channel_quota_first_then_shared(world: World) -> None:
    create(world, on_hand=10)
    world.stock.allocate("tee", AllocationRequest(pools={"channel:douyin": 2}), "op")
    assert world.holds.place(HoldRequest(channel="douyin", order_id="a", sku_id="tee", quantity=2)).pool == (
        "channel:douyin"
    )
    assert world.holds.place(HoldRequest(channel="douyin", order_id="b", sku_id="tee", quantity=1)).pool == "shared"
    assert world.holds.place(HoldRequest(channel="taobao", order_id="c", sku_id="tee", quantity=1)).pool == "shared"
    consistent(world)


def test_replays_get_the_first_answer_and_a_different_body_is_refused(world: World) -> None:
    create(world, on_hand=1)
    first = world.holds.place(HoldRequest(channel="douyin", order_id="a", sku_id="tee", quantity=1))
    world.drain()
    assert world.holds.place(HoldRequest(channel="douyin", order_id="a", sku_id="tee", quantity=1)) == first
    with pytest.raises(IdempotencyMismatch):
        hold(world, "a", 2)
    with pytest.raises(SoldOut):
        hold(world, "b")
    with pytest.raises(SoldOut):
        hold(world, "b")
    assert consistent(world)["held"] == 1


def test_unknown_sku(world: World) -> None:
    with pytest.raises(SkuNotFound):
        world.holds.place(HoldRequest(channel="douyin", order_id="a", sku_id="nope", quantity=1))


def test_pause_refuses_new_holds_but_confirm_and_cancel_still_work(world: World) -> None:
    create(world)
    first, second = hold(world, "a"), hold(world, "b")
    world.drain()
    world.stock.set_paused("tee", True, "op")
    with pytest.raises(Paused):
        hold(world, "c")
    assert world.holds.confirm(first, "pay").status == "confirmed"
    assert world.holds.cancel(second, "op").status == "released"
    world.stock.set_paused("tee", False, "op")
    hold(world, "d")
    consistent(world)


def test_the_hold_lifecycle_and_illegal_transitions(world: World) -> None:
    create(world, on_hand=5)
    paid, cancelled = hold(world, "a", 2), hold(world, "b", 1)
    world.drain()
    assert world.holds.confirm(paid, "pay").status == "confirmed"
    assert world.holds.confirm(paid, "pay").status == "confirmed"
    assert world.holds.cancel(cancelled, "op").status == "released"
    assert world.holds.cancel(cancelled, "op").status == "released"
    with pytest.raises(InvalidState):
        world.holds.confirm(cancelled, "pay")
    assert world.holds.cancel(paid, "op").status == "refunded"
    world.drain()
    view = world.stock.view("tee")
    assert view.pools == {"shared": 5} and view.held == 0 and view.sold == 0
    consistent(world)


def test_buyer_limits_count_across_channels_and_come_back_on_cancel(world: World) -> None:
    create(world, on_hand=20)
    world.stock.set_settings("tee", SkuPatch(per_buyer_limit=3), "limits", "op")
    first = hold(world, "a", 2, buyer_id="ann")
    hold(world, "b", 1, channel="kuaishou", buyer_id="ann")
    with pytest.raises(LimitExceeded):
        hold(world, "c", 1, buyer_id="ann")
    world.drain()
    world.holds.cancel(first, "op")
    hold(world, "d", 2, buyer_id="ann")
    assert world.repository.buyer_units("tee", "ann") == 3
    consistent(world)


def test_a_buyers_first_order_above_the_limit_is_refused_and_charges_nothing(world: World) -> None:
    """The buyer has no allowance counted yet: an order for more than the whole limit must still be
    refused (a scalper's single order of 500 against a limit of 2), and count nothing."""
    create(world, on_hand=20)
    world.stock.set_settings("tee", SkuPatch(per_buyer_limit=2), "limits", "op")
    with pytest.raises(LimitExceeded):
        hold(world, "a", 3, buyer_id="ann")
    assert world.repository.buyer_units("tee", "ann") == 0
    hold(world, "b", 2, buyer_id="ann")
    world.drain()
    assert world.stock.view("tee").held == 2
    consistent(world)


def test_unpaid_holds_expire_and_give_units_and_allowance_back(world: World) -> None:
    create(world, on_hand=2)
    world.stock.set_settings("tee", SkuPatch(per_buyer_limit=2), "limits", "op")
    hold(world, "a", 2, buyer_id="ann", pay_within_s=60)
    world.drain()
    sweeper = Sweeper(world.stores.holds, world.holds, 30, world.clock)
    assert sweeper.sweep().expired == 0
    world.clock.now += 61
    assert sweeper.sweep().expired == 1
    assert world.repository.buyer_units("tee", "ann") == 0
    world.drain()
    assert world.stock.view("tee").pools == {"shared": 2}
    hold(world, "b", 2, buyer_id="ann")
    consistent(world)


def test_a_sweeper_walking_part_of_its_list_each_sweep_still_expires_every_hold_in_time(world: World) -> None:
    """With pass_s, each sweep walks only the partitions not walked for pass_s: fewer queries per
    sweep, and every hold (whatever partition it is listed in) is expired within pass_s of the
    sweep after its deadline, once."""
    create(world, on_hand=12)
    placed = [hold(world, f"p{n}", pay_within_s=1) for n in range(12)]
    world.drain()
    assert len({keys.open_holds_pk(h) for h in placed}) > 8, "the holds are listed in many partitions"
    sweeper = Sweeper(world.stores.holds, world.holds, 30, world.clock, pass_s=2.0)
    first = sweeper.sweep()
    assert (sweeper.walked_last_sweep, first.expired) == (keys.INDEX_SPREAD, 0), "a new sweeper walks all"
    expired, walked = 0, []
    for _ in range(6):  # a sweep every half second, as the local stack runs them; due after 1 s
        world.clock.now += 0.5
        result = sweeper.sweep()
        expired += result.expired
        walked.append(sweeper.walked_last_sweep)
        assert result.skipped == 0
    assert expired == 12, "every hold expired within a pass of its deadline"
    assert max(walked) < keys.INDEX_SPREAD and sum(walked[:4]) == keys.INDEX_SPREAD, walked
    assert sweeper.sweep().expired == 0, "and none twice"
    assert world.stock.view("tee").pools == {"shared": 12}
    consistent(world)


def test_a_flow_of_due_holds_larger_than_a_sweeps_budget_reaches_every_partition(world: World) -> None:
    """More unpaid holds fall due every minute than one sweep closes (a big drop): each sweep goes
    on where the last stopped, so the holds of the last partitions are not left held (their units
    off sale, their buyers' allowances charged) for as long as the flow lasts."""
    create(world, on_hand=200)
    sweeper = Sweeper(world.stores.holds, world.holds, 30, world.clock, limit=2)
    placed: dict[str, int] = {}
    for wave in range(10):  # 4 due a sweep against a budget of 2, for 10 sweeps
        placed |= {hold(world, f"w{wave}-{n}", pay_within_s=1): wave for n in range(4)}
        world.drain()
        world.clock.now += 2
        sweeper.sweep()
    first_wave = [h for h, wave in placed.items() if wave == 0]
    still_held = [h for h in first_wave if world.holds.get(h).status == HoldStatus.HELD]
    assert still_held == [], "the first wave's holds, whatever their partition, expired while the flow went on"


def test_a_hold_the_sweeper_cannot_close_does_not_stop_the_others(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(world, on_hand=4)
    placed = [hold(world, f"o{n}", pay_within_s=1) for n in range(4)]
    world.drain()
    world.clock.now += 2
    return_units = world.holds.return_units

    def throttled_once(held: Hold, *args: object) -> bool:
        if held.hold_id == placed[0] and not throttled:
            throttled.append(held.hold_id)
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "TransactWriteItems")
        return return_units(held, *args)  # type: ignore[arg-type]

    throttled: list[str] = []
    monkeypatch.setattr(world.holds, "return_units", throttled_once)
    sweeper = Sweeper(world.stores.holds, world.holds, 30, world.clock)
    first = sweeper.sweep()
    assert (first.expired, first.not_closed) == (3, 1)
    assert sweeper.sweep().expired == 1, "the next sweep closes it"
    assert world.stock.view("tee").pools == {"shared": 4}


def test_a_payment_recorded_while_the_hold_settled_is_not_expired_by_a_sweep_before_it_applies(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream lagged past the payment window: the confirm was recorded on the pending hold
    (202 confirming), the hold settled as held after its deadline, and a sweep came between that
    settle and the confirm it triggers. The paid order's units must not go back on sale."""
    create(world, on_hand=2)
    hold_id = hold(world, "paid", 2, pay_within_s=1)
    pending = world.stores.holds.get_hold(hold_id)
    assert pending is not None and pending.status == HoldStatus.PENDING
    assert world.stores.holds.request_confirm(pending, "payments")
    settlement = world.services.settlement
    confirm_later = settlement._confirm_if_requested
    monkeypatch.setattr(settlement, "_confirm_if_requested", lambda hold_id: None)
    world.drain()
    world.clock.now += 5
    assert Sweeper(world.stores.holds, world.holds, 30, world.clock).sweep().expired == 0
    confirm_later(hold_id)
    assert world.holds.get(hold_id).status == HoldStatus.CONFIRMED
    world.drain()
    assert world.stock.view("tee").sold == 2
    consistent(world)


def test_a_paid_hold_whose_settlement_confirm_never_landed_is_confirmed_by_the_sweeper(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never expired (its payment was recorded), it must not stay held for ever either: the record
    whose settlement would have confirmed it was dead-lettered."""
    create(world, on_hand=2)
    hold_id = hold(world, "paid", 2, pay_within_s=1)
    pending = world.stores.holds.get_hold(hold_id)
    assert pending is not None and world.stores.holds.request_confirm(pending, "payments")
    monkeypatch.setattr(world.services.settlement, "_confirm_if_requested", lambda hold_id: None)
    world.drain()
    world.clock.now += 5
    result = Sweeper(world.stores.holds, world.holds, 30, world.clock).sweep()
    assert (result.confirmed, result.expired) == (1, 0)
    assert world.holds.get(hold_id).status == HoldStatus.CONFIRMED
    assert Sweeper(world.stores.holds, world.holds, 30, world.clock).sweep().skipped == 0, "off the list"
    world.drain()
    assert world.stock.view("tee").sold == 2
    consistent(world)


def test_reserve_is_released_automatically_when_main_stock_runs_out(world: World) -> None:
    create(world, on_hand=10)
    world.stock.allocate("tee", AllocationRequest(pools={"reserve": 4}), "op")
    for n in range(6):
        hold(world, f"o{n}")
    assert world.stock.view("tee").pools == {"shared": 0, "reserve": 4}
    hold(world, "o6", 2)
    assert world.stock.view("tee").pools == {"shared": 2, "reserve": 0}
    consistent(world)


def test_reserve_is_released_when_main_stock_runs_out_even_if_no_order_finds_it_out(world: World) -> None:
    """The last main units sell exactly: no order is left over to find no stock (every platform
    now shows 0, the reserve is never shown), so the stream releases the reserve when the decrement
    that emptied main stock settles, and the platforms are shown it."""
    create(world, on_hand=10)
    world.stock.allocate("tee", AllocationRequest(pools={"reserve": 4}), "op")
    for n in range(6):
        hold(world, f"o{n}")
    assert world.stock.view("tee").pools == {"shared": 0, "reserve": 4}
    world.drain()
    view = world.stock.view("tee")
    assert (view.pools, view.sellable) == ({"shared": 4, "reserve": 0}, 4)
    consistent(world)


def test_reserve_stays_when_auto_release_is_off(world: World) -> None:
    create(world, on_hand=3)
    world.stock.allocate("tee", AllocationRequest(pools={"reserve": 2}), "op")
    world.stock.set_settings("tee", SkuPatch(auto_release_reserve=False), "settings", "op")
    hold(world, "o1")
    with pytest.raises(SoldOut):
        hold(world, "o2")
    assert world.stock.release_reserve("tee", 1, "op", "rr-1")["released"] == 1
    assert world.stock.release_reserve("tee", 1, "op", "rr-1")["released"] == 1
    assert world.stock.view("tee").pools == {"shared": 1, "reserve": 1}
    consistent(world)


def test_allocation_moves_are_refused_beyond_the_unsold_stock(world: World) -> None:
    create(world, on_hand=10)
    hold(world, "o1", 4)
    with pytest.raises(InsufficientFreeStock):
        world.stock.allocate("tee", AllocationRequest(pools={"channel:douyin": 5, "reserve": 2}), "op")
    view = world.stock.allocate("tee", AllocationRequest(pools={"channel:douyin": 4, "reserve": 2}), "op")
    assert view.pools == {"shared": 0, "channel:douyin": 4, "reserve": 2}
    view = world.stock.allocate("tee", AllocationRequest(pools={"reserve": 1}), "op")
    assert view.pools == {"shared": 5, "channel:douyin": 0, "reserve": 1}
    consistent(world)


def test_resharding_grows_and_shrinks_without_losing_a_unit(world: World) -> None:
    create(world, on_hand=50)
    view = world.stock.allocate("tee", AllocationRequest(pools={"reserve": 10}, shards={"shared": 8}), "op")
    assert view.shards == {"shared": 8, "reserve": 1}
    shards = world.repository.read_shards(world.stock.meta("tee"))
    assert sorted(s.available for s in shards if s.pool == "shared") == [5] * 8
    for n in range(7):
        hold(world, f"o{n}", 2)
    view = world.stock.allocate("tee", AllocationRequest(pools={"reserve": 10}, shards={"shared": 3}), "op")
    meta = world.stock.meta("tee")
    assert meta.shards["shared"] == 3
    assert meta.retiring == {}
    assert view.pools == {"shared": 26, "reserve": 10}
    assert len([s for s in world.repository.read_shards(meta) if s.pool == "shared"]) == 3
    consistent(world)


def test_shards_that_come_back_after_a_shrink_take_the_skus_pause_flag(world: World) -> None:
    """Shrunk while paused, resumed, grown again: the shard items that come back were retired
    paused; they must sell like the others, not refuse their units as paused."""
    create(world, on_hand=8)
    world.stock.allocate("tee", AllocationRequest(pools={}, shards={"shared": 4}), "op")
    world.stock.set_paused("tee", True, "op")
    world.stock.allocate("tee", AllocationRequest(pools={}, shards={"shared": 2}), "op")
    world.stock.set_paused("tee", False, "op")
    world.stock.allocate("tee", AllocationRequest(pools={}, shards={"shared": 4}), "op")
    for n in range(8):
        hold(world, f"o{n}")
    assert world.stock.view("tee").pools == {"shared": 0}, "every unit sold, from every shard"
    consistent(world)


def test_a_retried_adjustment_that_planned_before_its_first_committed_answers_as_the_first(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ERP retried a write-off while its first request was committing: the retry's look for a
    record came too early, and its plan finds the units the first request took gone. It must answer
    as the first request (applied), not 409 INSUFFICIENT_FREE_STOCK for a change that was made."""
    create(world, on_hand=10)
    first = world.stock.adjust("tee", -8, "damaged", "wo-1", "erp")
    look = world.stores.skus.get_operation
    looks = [0]

    def too_early(*args: Any) -> Any:
        looks[0] += 1
        return None if looks[0] == 1 else look(*args)

    monkeypatch.setattr(world.stores.skus, "get_operation", too_early)
    assert world.stock.adjust("tee", -8, "damaged", "wo-1", "erp") == first
    monkeypatch.undo()
    assert world.stock.view("tee").on_hand == 2
    consistent(world)


def test_a_hold_abandoned_before_the_stream_caught_up_is_revived_or_cancelled(world: World) -> None:
    """The sweeper may abandon a pending hold whose decrement the stream has not shown yet."""
    create(world, on_hand=5)
    sweeper = Sweeper(world.stores.holds, world.holds, 30, world.clock)
    revived, cancelled = hold(world, "a", 2), hold(world, "b", 1)
    # The consumer has seen the two hold records but not yet their decrements.
    for hold_id in (revived, cancelled):
        world.repository.track_pending_hold(hold_id, 1, world.clock.now + 30)
    world.clock.now += 31
    assert sweeper.sweep().abandoned == 2
    assert world.holds.cancel(cancelled, "op").status == "released"
    world.drain()
    assert world.holds.get(revived).status == "held", "its decrement revived it"
    assert world.holds.confirm(revived, "pay").status == "confirmed"
    assert world.stock.view("tee").pools == {"shared": 3}, "the cancelled one's units came back"
    actual = consistent(world)
    assert actual["sold"] == 2


def test_held_and_sold_counters_survive_redelivery_and_reconciliation_sees_a_corrupted_one(world: World) -> None:
    create(world, on_hand=5)
    paid, kept = hold(world, "a", 2), hold(world, "b", 1)
    world.drain()
    world.holds.confirm(paid, "pay")
    world.drain()
    # Redeliver every record the stream ever carried: counters and ledger stay exact.
    world.drain.last_seen.clear()
    world.drain()
    consistent(world)
    assert world.stock.view("tee").held == 1
    assert world.stock.view("tee").sold == 2
    assert world.holds.get(kept).status == "held"
    # Someone adds a unit to a counter behind the ledger's back: reconciliation says so.
    world.stores.holds.update_if(Update(keys.hold_counter_pk("tee", kept), keys.COUNT_SK).add(held=1))
    result = world.services.reconciler.reconcile("tee")
    assert not result.consistent
    assert result.differences == {"held": 1}


@pytest.mark.parametrize("units", [1_000_000, 3])
def test_a_direct_write_to_a_shard_is_recorded_unattributed_and_settles_nothing(world: World, units: int) -> None:
    """The probe's bypass: a shard's `available` set behind every operation's back (here even
    dressed up as a hold's decrement). The ledger records the movement as unattributed, nothing
    is settled or given back against it, and reconciliation refuses to call the SKU consistent."""
    create(world, on_hand=10)
    held = hold(world, "a", 2)
    consistent(world)
    world.stores.skus.update_if(
        Update(keys.shard_pk("tee", "shared", 0), keys.STOCK_SK).set(
            available=units, last_op="hold", last_ref=f"{held}#1", last_actor="channel:douyin"
        )
    )
    world.drain()
    movements = world.stores.ledger.all_movements("tee")
    rogue = [m for m in movements if m["op"] == keys.UNATTRIBUTED_OP]
    assert len(rogue) == 1
    assert (rogue[0]["before"], rogue[0]["after"], rogue[0].get("actor")) == (8, units, None)
    assert world.holds.get(held).status == "held"
    assert not any(m["op"] == "compensate" for m in movements)
    result = world.services.reconciler.reconcile("tee")
    assert not result.consistent
    assert result.unattributed == {"movements": 1, "units": abs(units - 8)}
    assert result.differences == {}


def test_every_write_livestock_makes_to_a_counter_is_attributed(world: World) -> None:
    create(world, on_hand=10)
    world.stock.receive("tee", 5, "po-1", "erp")
    hold(world, "a", 2)
    world.stock.allocate("tee", AllocationRequest(pools={"channel:douyin": 4}, shards={"shared": 3}), "op")
    world.stock.set_paused("tee", True, "op")
    world.stock.set_paused("tee", False, "op")
    consistent(world)
    assert all(m["op"] != keys.UNATTRIBUTED_OP for m in world.stores.ledger.all_movements("tee"))
    assert world.services.reconciler.reconcile("tee").unattributed == {"movements": 0, "units": 0}


def test_a_confirm_while_the_hold_is_settling_is_accepted_and_applied_when_it_settles(world: World) -> None:
    """After a restart the stream may be seconds behind: a platform confirming an order we accepted
    is answered 'confirming' (202), never a conflict, and the hold is confirmed once it settles."""
    create(world, on_hand=5)
    held = hold(world, "a", 2)
    assert world.holds.get(held).status == "pending"
    assert world.holds.confirm(held, "pay").status == "confirming"
    assert world.holds.confirm(held, "pay").status == "confirming", "a retried confirm is answered alike"
    world.drain()
    assert world.holds.get(held).status == "confirmed"
    assert world.holds.confirm(held, "pay").status == "confirmed"
    assert world.stock.view("tee").sold == 2
    consistent(world)


def test_a_requested_confirm_that_met_a_conflict_is_applied_when_its_record_comes_back(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settling and applying a confirm recorded meanwhile are two writes: if the second meets a
    conflict, the record fails (it is not taken for a refusal) and its redelivery applies it."""
    create(world, on_hand=5)
    held = hold(world, "a", 2)
    assert world.holds.confirm(held, "pay").status == "confirming"
    settlement = world.services.settlement
    delivered: list[Any] = []
    settle = settlement.settle

    def recording(change: Any) -> None:
        delivered.append(change)
        settle(change)

    monkeypatch.setattr(settlement, "settle", recording)
    transition = world.stores.holds.transition_hold
    conflicts = [TransactionRefused(frozenset())]

    def conflicting(*args: Any, **kwargs: Any) -> bool:
        if conflicts:
            raise conflicts.pop()
        return transition(*args, **kwargs)

    monkeypatch.setattr(world.stores.holds, "transition_hold", conflicting)
    with pytest.raises(TransactionRefused):
        world.drain()
    assert world.holds.get(held).status == "held", "settled, and the confirm met a conflict"
    settle(delivered[-1])  # the failed record, delivered again
    assert world.holds.get(held).status == "confirmed"
    assert world.stock.view("tee").sold == 2
