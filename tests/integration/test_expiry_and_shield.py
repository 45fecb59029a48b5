"""Unpaid holds expire through the sweeper; the sold-out shield refuses without writing."""

import dataclasses
import random
import time

import pytest

from livestock import wiring
from livestock.dal.holds import HoldStore
from livestock.dal.skus import Decrement, SkuStore
from livestock.models.domain import Hold
from livestock.models.exceptions import SoldOut
from livestock.models.input import HoldRequest
from livestock.settings import get_settings
from livestock_local.stack import LocalStack
from tests.support.api import Api
from tests.support.checks import settled_reconciliation

pytestmark = [pytest.mark.integration, pytest.mark.timing]


def test_unpaid_holds_expire_and_come_back(stack: LocalStack, api: Api, sku_id: str) -> None:
    api.put(f"/skus/{sku_id}", {"name": "Tee", "on_hand": 3})
    api.put(f"/skus/{sku_id}/limits", {"per_buyer": 3})
    body = {"channel": "kuaishou", "order_id": "e-1", "sku_id": sku_id, "quantity": 3, "buyer_id": "b-1"}
    hold = api.call_patiently("POST", "/holds", {**body, "pay_within_s": 1})
    assert hold.status == 201
    deadline = time.monotonic() + 20
    while api.get(f"/holds/{hold.body['hold_id']}").body["status"] != "expired":
        assert time.monotonic() < deadline, "the sweeper expired the hold"
        time.sleep(0.2)
    assert api.post(f"/holds/{hold.body['hold_id']}/confirm").code == "INVALID_STATE"
    again = api.call_patiently("POST", "/holds", {**body, "order_id": "e-2"})
    assert again.status == 201, "units and the buyer's allowance came back"
    reconciliation = settled_reconciliation(stack, api, sku_id)
    assert reconciliation["consistent"], reconciliation
    assert reconciliation["actual"]["held"] == 3


class CountingRepository:
    writes = 0


class CountingHolds(HoldStore):
    def put_pending_hold(self, hold: Hold) -> Hold | None:
        CountingRepository.writes += 1
        return super().put_pending_hold(hold)


class CountingSkus(SkuStore):
    def decrement_shard(self, *args: object, **kwargs: object) -> Decrement:
        CountingRepository.writes += 1
        return super().decrement_shard(*args, **kwargs)  # type: ignore[arg-type]


class Clock:
    """The shield's clock, moved by the test instead of waiting."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_the_shield_refuses_without_writing_and_clears_on_cancel_and_restock(
    stack: LocalStack, api: Api, sku_id: str
) -> None:
    settings = get_settings().model_copy(update={"sold_out_shield_s": 30.0, "meta_cache_s": 0.0})
    table = settings.inventory_table_name
    stores = dataclasses.replace(wiring.stores(settings), holds=CountingHolds(table), skus=CountingSkus(table))
    holds = wiring.build(settings, stores, rng=random.Random(5)).holds
    clock = Clock()
    holds.shield.clock = clock
    api.put(f"/skus/{sku_id}", {"name": "Tee", "on_hand": 1})
    first = holds.place(HoldRequest(channel="douyin", order_id="s-0", sku_id=sku_id, quantity=1))
    with pytest.raises(SoldOut):
        holds.place(HoldRequest(channel="douyin", order_id="s-1", sku_id=sku_id, quantity=1))
    writes = CountingRepository.writes
    for n in range(50):
        with pytest.raises(SoldOut):
            holds.place(HoldRequest(channel="douyin", order_id=f"s-2-{n}", sku_id=sku_id, quantity=1))
    assert CountingRepository.writes == writes, "after sell-out, refusals cost no write"
    # A replay of the order that was held still gets its answer, shield or not.
    stack.wait_for_streams(30)
    assert holds.place(HoldRequest(channel="douyin", order_id="s-0", sku_id=sku_id, quantity=1)) == first

    # A cancel by this instance clears the mark at once.
    holds.cancel(first.hold_id, "test")
    assert holds.place(HoldRequest(channel="douyin", order_id="s-3", sku_id=sku_id, quantity=1)).status == "held"
    with pytest.raises(SoldOut):
        holds.place(HoldRequest(channel="douyin", order_id="s-4", sku_id=sku_id, quantity=1))

    # A restock made elsewhere is seen once the mark's time is up (the staleness bound).
    holds.shield.ttl_s = 0.5
    holds.shield.mark(sku_id, "douyin")
    assert api.post(f"/skus/{sku_id}/receipts", {"quantity": 2, "reference": "restock-1"}).status == 201
    clock.now += 0.6
    assert holds.place(HoldRequest(channel="douyin", order_id="s-5", sku_id=sku_id, quantity=2)).status == "held"


def test_reserve_release_clears_the_mark(api: Api, sku_id: str) -> None:
    settings = get_settings().model_copy(update={"sold_out_shield_s": 0.5, "meta_cache_s": 0.0})
    holds = wiring.build(settings, rng=random.Random(6)).holds
    clock = Clock()
    holds.shield.clock = clock
    api.put(f"/skus/{sku_id}", {"name": "Tee", "on_hand": 3})
    api.put(f"/skus/{sku_id}/allocation", {"pools": {"reserve": 2}})
    api.put(f"/skus/{sku_id}/settings", {"auto_release_reserve": False})
    holds.place(HoldRequest(channel="douyin", order_id="r-0", sku_id=sku_id, quantity=1))
    with pytest.raises(SoldOut):
        holds.place(HoldRequest(channel="douyin", order_id="r-1", sku_id=sku_id, quantity=1))
    assert holds.shield.is_sold_out(sku_id, "douyin")
    assert api.post(f"/skus/{sku_id}/reserve/release", {}).body["released"] == 2
    clock.now += 0.6
    assert holds.place(HoldRequest(channel="douyin", order_id="r-2", sku_id=sku_id, quantity=2)).status == "held"
