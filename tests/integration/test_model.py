"""A stateful model test: random operations on pools and holds, run against DynamoDB Local and
against a plain in-memory model; they must agree after every step, and the ledger must replay."""

import random
import uuid

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from livestock import wiring
from livestock.models.exceptions import InsufficientFreeStock, InvalidState, SoldOut
from livestock.models.input import AllocationRequest, HoldRequest, SetSkuRequest
from livestock.settings import get_settings
from livestock_local.stack import LocalStack

pytestmark = pytest.mark.integration

CHANNELS = ("douyin", "kuaishou")


class Model:
    def __init__(self, on_hand: int) -> None:
        self.on_hand = on_hand
        self.pools = {"shared": on_hand}
        self.holds: dict[str, tuple[str, int, str]] = {}  # hold id -> (pool, quantity, status)

    def place(self, channel: str, quantity: int) -> str | None:
        own = f"channel:{channel}"
        for attempt in range(2):
            for pool in (own, "shared"):
                if self.pools.get(pool, 0) >= quantity:
                    self.pools[pool] -= quantity
                    return pool
            if attempt == 0 and self.pools.get("reserve", 0) > 0:
                self.pools["shared"] += self.pools["reserve"]
                self.pools["reserve"] = 0
        return None


class InventoryMachine(RuleBasedStateMachine):
    holds = Bundle("holds")

    def __init__(self) -> None:
        super().__init__()
        config = get_settings().model_copy(
            update={"sold_out_shield_s": 0.0, "replay_wait_s": 10.0, "meta_cache_s": 0.0}
        )
        self.services = wiring.build(config, rng=random.Random(1))
        self.stock = self.services.stock
        self.service = self.services.holds
        self.sku_id = f"model-{uuid.uuid4().hex[:10]}"
        self.orders = 0

    @initialize(on_hand=st.integers(5, 40))
    def create(self, on_hand: int) -> None:
        self.stock.set_sku(self.sku_id, SetSkuRequest(name="Model tee", on_hand=on_hand), "model")
        self.model = Model(on_hand)

    @rule(target=holds, channel=st.sampled_from(CHANNELS), quantity=st.integers(1, 4))
    def place(self, channel: str, quantity: int) -> str:
        self.orders += 1
        request = HoldRequest(channel=channel, order_id=f"m-{self.orders}", sku_id=self.sku_id, quantity=quantity)
        expected = self.model.place(channel, quantity)
        try:
            view = self.service.place(request)
        except SoldOut:
            assert expected is None
            return ""
        assert expected is not None
        assert view.pool == expected
        self.model.holds[view.hold_id] = (expected, quantity, "held")
        return view.hold_id

    @rule(hold_id=holds)
    def confirm(self, hold_id: str) -> None:
        if not hold_id:
            return
        pool, quantity, status = self.model.holds[hold_id]
        try:
            self.service.confirm(hold_id, "model")
        except InvalidState:
            assert status not in ("held", "confirmed")
            return
        assert status in ("held", "confirmed")
        self.model.holds[hold_id] = (pool, quantity, "confirmed")

    @rule(hold_id=holds)
    def cancel(self, hold_id: str) -> None:
        if not hold_id:
            return
        pool, quantity, status = self.model.holds[hold_id]
        self.service.cancel(hold_id, "model")
        if status == "held":
            self.model.pools[pool] += quantity
            self.model.holds[hold_id] = (pool, quantity, "released")
        elif status == "confirmed":
            self.model.pools["shared"] += quantity
            self.model.holds[hold_id] = (pool, quantity, "refunded")

    @rule(quantity=st.integers(1, 10))
    def receive(self, quantity: int) -> None:
        self.stock.receive(self.sku_id, quantity, f"r-{uuid.uuid4().hex[:8]}", "model")
        self.model.pools["shared"] += quantity
        self.model.on_hand += quantity

    @rule(quantity=st.integers(1, 10))
    def adjust_down(self, quantity: int) -> None:
        try:
            self.stock.adjust(self.sku_id, -quantity, "count", f"a-{uuid.uuid4().hex[:8]}", "model")
        except InsufficientFreeStock:
            assert self.model.pools["shared"] < quantity
            return
        self.model.pools["shared"] -= quantity
        self.model.on_hand -= quantity

    @rule(douyin=st.integers(0, 15), reserve=st.integers(0, 10))
    def allocate(self, douyin: int, reserve: int) -> None:
        unsold = sum(self.model.pools.values())
        try:
            self.stock.allocate(
                self.sku_id, AllocationRequest(pools={"channel:douyin": douyin, "reserve": reserve}), "model"
            )
        except InsufficientFreeStock:
            assert douyin + reserve > unsold
            return
        self.model.pools.update({"channel:douyin": douyin, "reserve": reserve, "shared": unsold - douyin - reserve})

    @rule()
    def release_reserve(self) -> None:
        self.stock.release_reserve(self.sku_id, None, "model")
        self.model.pools["shared"] += self.model.pools.get("reserve", 0)
        self.model.pools["reserve"] = 0

    @invariant()
    def pools_agree(self) -> None:
        if not hasattr(self, "model"):
            return
        shards = self.services.stores.skus.read_shards(self.stock.meta(self.sku_id))
        assert all(s.available >= 0 for s in shards)
        pools = {s.pool: s.available for s in shards if s.available}
        assert pools == {p: v for p, v in self.model.pools.items() if v}

    def teardown(self) -> None:
        if not hasattr(self, "model"):
            return
        STACK[0].wait_for_streams(60)
        result = self.services.reconciler.reconcile(self.sku_id)
        assert result.consistent, result
        held = sum(q for _, q, s in self.model.holds.values() if s == "held")
        sold = sum(q for _, q, s in self.model.holds.values() if s == "confirmed")
        assert (result.actual.get("held", 0), result.actual.get("sold", 0)) == (held, sold)
        assert result.actual["on_hand"] == self.model.on_hand


STACK: list[LocalStack] = []


def test_pools_and_holds_follow_the_model(stack: LocalStack) -> None:
    STACK[:] = [stack]
    InventoryMachine.TestCase.settings = settings(
        max_examples=5,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    InventoryMachine.TestCase().runTest()
