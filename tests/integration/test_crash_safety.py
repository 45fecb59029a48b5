"""A crash between the two writes of a hold, or after them, loses and double-counts nothing.

The failure is injected into the real service (in this test process) against DynamoDB Local;
the local stack's stream consumer and sweeper settle what the crash left behind.
"""

import dataclasses
import random
import time

import pytest

from livestock import wiring
from livestock.dal.skus import Decrement, SkuStore
from livestock.keys import hold_id_for
from livestock.logic.holds import HoldService
from livestock.models.input import HoldRequest
from livestock.settings import get_settings
from livestock_local.stack import LocalStack
from tests.support.api import Api
from tests.support.checks import settled_reconciliation

pytestmark = pytest.mark.integration


class Crash(Exception):
    """The function instance dies here."""


class CrashBeforeDecrement(SkuStore):
    def decrement_shard(self, *args: object, **kwargs: object) -> Decrement:
        raise Crash


class CrashAfterDecrement(SkuStore):
    def decrement_shard(self, *args: object, **kwargs: object) -> Decrement:
        super().decrement_shard(*args, **kwargs)  # type: ignore[arg-type]
        raise Crash


def crashing_service(kind: type[SkuStore]) -> HoldService:
    settings = get_settings().model_copy(update={"meta_cache_s": 0.0})
    stores = dataclasses.replace(wiring.stores(settings), skus=kind(settings.inventory_table_name))
    return wiring.build(settings, stores, rng=random.Random(3)).holds


def order(sku_id: str, order_id: str) -> HoldRequest:
    return HoldRequest(channel="douyin", order_id=order_id, sku_id=sku_id, quantity=2)


def body_of(sku_id: str, order_id: str) -> dict[str, object]:
    return {"channel": "douyin", "order_id": order_id, "sku_id": sku_id, "quantity": 2}


def test_crash_between_hold_record_and_decrement(stack: LocalStack, api: Api, sku_id: str) -> None:
    api.put(f"/skus/{sku_id}", {"name": "Tee", "on_hand": 10})
    with pytest.raises(Crash):
        crashing_service(CrashBeforeDecrement).place(order(sku_id, "c-1"))
    assert api.get(f"/skus/{sku_id}").body["pools"] == {"shared": 10}, "the crash took nothing"
    # The replay waits while the first attempt might still be in flight; once the settle window
    # has passed the sweeper marks the half-done hold abandoned and the replay drives it again.
    replay = api.call_patiently("POST", "/holds", body_of(sku_id, "c-1"))
    assert replay.status == 201, replay.body
    again = api.call_patiently("POST", "/holds", body_of(sku_id, "c-1"))
    assert (again.status, again.body) == (201, replay.body)
    reconciliation = settled_reconciliation(stack, api, sku_id)
    assert reconciliation["consistent"], reconciliation
    assert reconciliation["actual"]["held"] == 2
    assert reconciliation["actual"]["pool:shared"] == 8


def test_crash_after_decrement_before_settlement(stack: LocalStack, api: Api, sku_id: str) -> None:
    api.put(f"/skus/{sku_id}", {"name": "Tee", "on_hand": 10})
    with pytest.raises(Crash):
        crashing_service(CrashAfterDecrement).place(order(sku_id, "c-2"))
    # The stream shows the decrement, so the consumer settles the hold as held: the replay
    # gets "held", and the units are counted once.
    replay = api.call_patiently("POST", "/holds", body_of(sku_id, "c-2"))
    assert replay.status == 201, replay.body
    assert replay.body["pool"] == "shared"
    # The sweeper has its chance too: one sweep at a clock past the settle window, not a real wait.
    settings = get_settings()
    wiring.build(settings, clock=lambda: time.time() + settings.settle_window_s + 1.5).sweeper.sweep()
    reconciliation = settled_reconciliation(stack, api, sku_id)
    assert reconciliation["consistent"], reconciliation
    assert reconciliation["actual"]["held"] == 2
    assert reconciliation["actual"]["pool:shared"] == 8
    assert api.get(f"/holds/{replay.body['hold_id']}").body["status"] == "held"


def test_a_decrement_no_live_hold_owns_is_given_back(stack: LocalStack, api: Api, sku_id: str) -> None:
    """A write that lands for a hold already refused (a retried request whose first try
    succeeded after all) is returned by the stream consumer."""
    api.put(f"/skus/{sku_id}", {"name": "Tee", "on_hand": 1})
    refused = api.post("/holds", {**body_of(sku_id, "c-3"), "quantity": 5})
    assert refused.code == "SOLD_OUT"
    refused_hold = wiring.services().stores.holds.get_hold(hold_id_for("douyin", "c-3", sku_id))
    assert refused_hold is not None
    assert refused_hold.status == "rejected"
    taken, _, _ = wiring.services().stores.skus.decrement_shard(
        sku_id, "shared", 0, 1, f"{refused_hold.hold_id}#1", "channel:douyin"
    )
    assert taken
    reconciliation = settled_reconciliation(stack, api, sku_id)
    assert reconciliation["consistent"], reconciliation
    assert reconciliation["actual"]["pool:shared"] == 1
    ops = [m["op"] for m in api.get(f"/skus/{sku_id}/ledger").body["movements"]]
    assert "compensate" in ops
