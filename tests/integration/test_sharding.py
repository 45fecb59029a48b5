"""Hot SKUs: pools split over shard items, resharded mid-burst, drained to the last unit."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from livestock_local.stack import LocalStack
from tests.support.api import Api
from tests.support.checks import settled_reconciliation

pytestmark = pytest.mark.integration


def test_multi_unit_orders_against_nearly_empty_shards_strand_nothing(stack: LocalStack, api: Api, sku_id: str) -> None:
    assert api.put(f"/skus/{sku_id}", {"name": "Hot tee", "on_hand": 42}).status == 201
    view = api.put(f"/skus/{sku_id}/allocation", {"pools": {}, "shards": {"shared": 8}}).body
    assert view["shards"] == {"shared": 8}
    # 42 units over 8 shards is 5 or 6 a shard: three-unit orders soon meet shards of 1 or 2.
    orders = [{"channel": "douyin", "order_id": f"m-{n}", "sku_id": sku_id, "quantity": 3} for n in range(30)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda body: api.call_patiently("POST", "/holds", body), orders))
    statuses = Counter((a.status, a.code) for a in answers)
    assert statuses == {(201, None): 14, (409, "SOLD_OUT"): 16}, statuses
    assert api.get(f"/skus/{sku_id}").body["sellable"] == 0, "no unit stranded"
    reconciliation = settled_reconciliation(stack, api, sku_id)
    assert reconciliation["consistent"], reconciliation
    assert reconciliation["actual"]["held"] == 42


def test_resharding_during_a_burst_loses_and_duplicates_nothing(stack: LocalStack, api: Api, sku_id: str) -> None:
    stock = 900
    assert api.put(f"/skus/{sku_id}", {"name": "Hot tee", "on_hand": stock}).status == 201
    accepted = Counter[str]()
    lock = threading.Lock()

    def buyer(n: int) -> None:
        for k in range(10):
            quantity = 1 + (n + k) % 3
            answer = api.call_patiently(
                "POST", "/holds", {"channel": "douyin", "order_id": f"{n}-{k}", "sku_id": sku_id, "quantity": quantity}
            )
            assert answer.status in (201, 409), answer.body
            if answer.status == 201:
                with lock:
                    accepted["units"] += quantity

    def operator() -> None:
        for shards in (8, 3, 16, 5):
            answer = api.put(f"/skus/{sku_id}/allocation", {"pools": {"reserve": 50}, "shards": {"shared": shards}})
            assert answer.status == 200, answer.body

    with ThreadPoolExecutor(65) as pool:
        futures = [pool.submit(buyer, n) for n in range(64)] + [pool.submit(operator)]
        for future in futures:
            future.result()

    reconciliation = settled_reconciliation(stack, api, sku_id)
    assert reconciliation["consistent"], reconciliation
    actual = reconciliation["actual"]
    assert actual["held"] == accepted["units"]
    assert actual["held"] + sum(v for b, v in actual.items() if b.startswith("pool:")) == stock
    assert api.get(f"/skus/{sku_id}").body["shards"]["shared"] == 5
