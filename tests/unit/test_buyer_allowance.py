"""A buyer's allowance is charged once per hold and given back in the write that closes the hold,
so neither a crash nor a replay leaves a buyer refused for units they do not hold."""

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from livestock import keys
from livestock.dal.expressions import Store, Update
from livestock.logic.sweeper import ABANDONED_GRACE_S, Sweeper
from livestock.models.domain import SkuPatch
from livestock.models.exceptions import Conflict, Paused, SoldOut
from livestock.models.input import HoldRequest, SetSkuRequest
from tests.unit.conftest import World

WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})


class Crash(Exception):
    """The process dies here."""


@contextlib.contextmanager
def dies_after_writing(world: World, status: str) -> Iterator[None]:
    """Every write after the one that records a hold's `status` fails before it is sent, as if the
    process had died right after that write."""
    state = {"sending": False, "written": False}

    def before(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name not in WRITES:
            return
        if state["written"]:
            raise Crash(model.name)
        state["sending"] = f'"{status}"' in params["body"].decode()

    def after(model: Any, parsed: dict[str, Any], **_: Any) -> None:
        if model.name in WRITES and state["sending"] and "Error" not in parsed:
            state["written"] = True

    events = world.client.meta.events
    events.register("before-call.dynamodb", before)
    events.register("after-call.dynamodb", after)
    try:
        yield
    finally:
        events.unregister("before-call.dynamodb", before)
        events.unregister("after-call.dynamodb", after)
    assert state["written"], f"nothing recorded {status!r}"


def order_hold(order_id: str) -> str:
    return keys.hold_id_for("douyin", order_id, "tee")


def limited_sku(world: World, on_hand: int, per_buyer: int) -> None:
    world.stock.set_sku("tee", SetSkuRequest(name="Tee", on_hand=on_hand), "erp")
    world.stock.set_settings("tee", SkuPatch(per_buyer_limit=per_buyer), "limits", "op")


def order(order_id: str, quantity: int, buyer_id: str = "ann") -> HoldRequest:
    return HoldRequest(channel="douyin", order_id=order_id, sku_id="tee", quantity=quantity, buyer_id=buyer_id)


def test_a_crash_right_after_a_cancel_leaves_no_units_charged_to_the_buyer(world: World) -> None:
    limited_sku(world, on_hand=5, per_buyer=2)
    held = world.holds.place(order("a", 2)).hold_id
    world.drain()
    with dies_after_writing(world, "released"), contextlib.suppress(Crash):
        world.holds.cancel(held, "op")
    assert world.holds.get(held).status == "released"
    assert world.repository.buyer_units("tee", "ann") == 0
    assert world.holds.place(order("b", 2)).status == "held", "the allowance is whole again"


def test_a_crash_right_after_a_refusal_leaves_no_units_charged_to_the_buyer(world: World) -> None:
    limited_sku(world, on_hand=1, per_buyer=3)
    with dies_after_writing(world, "rejected"), pytest.raises((SoldOut, Crash)):
        # Charged 2 of ann's 3, then refused: one unit is left.
        world.holds.place(order("a", 2))
    assert world.repository.buyer_units("tee", "ann") == 0


def abandoned_after_the_charge(world: World, error: Exception) -> None:
    """Ann's order "a" (2 units) fails with `error` after the charge, before the decrement; the
    sweeper then abandons the pending hold."""
    decrement = world.stores.skus.decrement_shard

    def fails(*_: Any, **__: Any) -> Any:
        raise error

    world.stores.skus.decrement_shard = fails  # type: ignore[method-assign]
    with pytest.raises(type(error)):
        world.holds.place(order("a", 2))
    world.stores.skus.decrement_shard = decrement  # type: ignore[method-assign]
    world.drain()
    world.clock.now += 31
    assert Sweeper(world.stores.holds, world.holds, 30, world.clock).sweep().abandoned == 1


def test_an_abandoned_hold_driven_again_by_its_replay_is_charged_once(world: World) -> None:
    """The first attempt dies after the charge and before the decrement; the sweeper abandons the
    hold; the order's retry drives it again under the same charge instead of adding a second."""
    limited_sku(world, on_hand=5, per_buyer=2)
    abandoned_after_the_charge(world, Crash("before the decrement"))
    replayed = world.holds.place(order("a", 2))
    assert replayed.status == "held"
    assert world.repository.buyer_units("tee", "ann") == 2
    world.drain()
    world.holds.cancel(replayed.hold_id, "op")
    assert world.repository.buyer_units("tee", "ann") == 0


def test_an_abandoned_hold_nothing_comes_for_is_released_and_its_charge_given_back(world: World) -> None:
    """No late decrement, no replay, no cancel: once the grace has passed the sweeper releases the
    hold, and the buyer may order again (the charge used to stay for good)."""
    limited_sku(world, on_hand=5, per_buyer=2)
    abandoned_after_the_charge(world, Crash("before the decrement"))
    assert world.repository.buyer_units("tee", "ann") == 2
    sweeper = Sweeper(world.stores.holds, world.holds, 30, world.clock)
    world.clock.now += ABANDONED_GRACE_S - 60
    assert sweeper.sweep().released == 0, "still in its grace: a replay may come"
    world.clock.now += 61
    assert sweeper.sweep().released == 1
    assert world.holds.get(order_hold("a")).status == "released"
    assert world.repository.buyer_units("tee", "ann") == 0
    assert world.holds.place(order("b", 2)).status == "held"
    world.drain()
    assert world.stock.view("tee").pools == {"shared": 3}


def test_a_close_whose_charge_is_already_given_back_still_closes(world: World) -> None:
    """A missing charge refuses only the allowance's part of the close: the hold must not stay open."""
    limited_sku(world, on_hand=5, per_buyer=2)
    held = world.holds.place(order("a", 2))
    world.drain()
    hold = world.stores.holds.get_hold(held.hold_id)
    assert hold is not None
    refund = world.stores.limits.allowance_refund(hold)
    assert refund is not None
    assert world.stores.limits.update_if(refund), "given back by another way"
    assert world.holds.cancel(held.hold_id, "op").status == "released"
    assert world.repository.buyer_units("tee", "ann") == 0, "given back once, not twice"
    assert world.stock.view("tee").pools == {"shared": 5}


def test_a_replay_refused_for_a_pause_gives_back_the_first_attempts_charge(world: World) -> None:
    limited_sku(world, on_hand=5, per_buyer=2)
    abandoned_after_the_charge(world, Crash("before the decrement"))
    world.stock.set_paused("tee", True, "op")
    with pytest.raises(Paused):
        world.holds.place(order("a", 2))
    assert world.holds.get(order_hold("a")).status == "rejected"
    assert world.repository.buyer_units("tee", "ann") == 0


def test_an_error_that_stores_no_refusal_gives_the_charge_back_and_leaves_the_hold_pending(world: World) -> None:
    """A consolidation that met a change too fast, say: no answer is stored, the platform may never
    retry the order, so the buyer is not left charged for it."""
    limited_sku(world, on_hand=5, per_buyer=2)
    decrement = world.stores.skus.decrement_shard

    def too_fast(*_: Any, **__: Any) -> Any:
        raise Conflict("the SKU is changing too fast")

    world.stores.skus.decrement_shard = too_fast  # type: ignore[method-assign]
    with pytest.raises(Conflict):
        world.holds.place(order("a", 2))
    world.stores.skus.decrement_shard = decrement  # type: ignore[method-assign]
    assert world.holds.get(order_hold("a")).status == "pending"
    assert world.repository.buyer_units("tee", "ann") == 0
    world.drain()
    world.clock.now += 31
    Sweeper(world.stores.holds, world.holds, 30, world.clock).sweep()
    assert world.holds.place(order("a", 2)).status == "held", "its retry is charged anew"
    assert world.repository.buyer_units("tee", "ann") == 2


def test_a_charge_that_meets_a_close_in_flight_is_tried_again() -> None:
    """The allowance item is written by close transactions too: a charge meeting one gets
    TransactionConflict, which botocore does not retry."""
    conflict = ClientError({"Error": {"Code": "TransactionConflictException", "Message": "x"}}, "UpdateItem")
    calls: list[dict[str, Any]] = []

    class Client:
        def update_item(self, **request: Any) -> dict[str, Any]:
            calls.append(request)
            if len(calls) == 1:
                raise conflict
            return {}

    store = Store("t", Client())  # type: ignore[arg-type]
    assert store.update_or_stored(Update("a", "b").add(units=1)) is None
    assert len(calls) == 2
