"""Races on one hold, each run many times against DynamoDB Local through the gateway: two calls
released together at a barrier, then the hold, the counters and the ledger must tell one story.

- confirm against cancel: either the confirm lands first (confirmed, then refunded by the cancel)
  or the cancel does (released, and the confirm is refused); the units come back exactly once;
- confirm after the payment window, against the sweeper: confirmed or expired, never both;
- cancel twice at once: released once, the units back once, both callers told "released";
- allocation moves against holds: quotas move while orders take units from them; no pool below
  zero, held + sold within the stock, and the ledger replays to the counters.
"""

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from livestock_local.stack import LocalStack
from tests.support.api import Answer, Api
from tests.support.checks import settled_reconciliation

pytestmark = pytest.mark.integration

PAIRS = 30
EXPIRY_RACES = 20
ALLOCATION_ROUNDS = 10


Call = tuple[str, str, Any]  # method, path, body


def together(api: Api, *calls: Call) -> list[Answer]:
    """The calls at once: each thread waits at a barrier, then sends (and follows
    REQUEST_IN_PROGRESS as a client must)."""
    barrier = threading.Barrier(len(calls))

    def run(call: Call) -> Answer:
        barrier.wait()
        method, path, body = call
        return api.call_patiently(method, path, body)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def place(api: Api, sku_id: str, order_id: str, quantity: int = 2, **extra: Any) -> str:
    answer = api.call_patiently(
        "POST",
        "/holds",
        {"channel": "douyin", "order_id": order_id, "sku_id": sku_id, "quantity": quantity, **extra},
    )
    assert answer.status == 201, answer.body
    return str(answer.body["hold_id"])


def steps_per_hold(api: Api, sku_id: str) -> Counter[tuple[str, str, str]]:
    """(hold, op, bucket) of every ledger movement that names a hold: each happens once in a hold's life."""
    steps: Counter[tuple[str, str, str]] = Counter()
    cursor = None
    while True:
        answer = api.get(f"/skus/{sku_id}/ledger?limit=500" + (f"&cursor={cursor}" if cursor else ""))
        assert answer.status == 200, answer.body
        for movement in answer.body["movements"]:
            if str(movement.get("reference") or "").startswith("h_"):
                steps[(movement["reference"], movement["op"], movement["bucket"])] += 1
        cursor = answer.body["cursor"]
        if not cursor:
            return steps


def assert_whole(stack: LocalStack, api: Api, sku_id: str, stock: int) -> dict[str, Any]:
    reconciliation = settled_reconciliation(stack, api, sku_id)
    assert reconciliation["consistent"], reconciliation
    conservation = reconciliation["conservation"]
    assert conservation["on_hand"] == stock
    assert conservation["in_pools"] + conservation["held"] + conservation["sold"] == stock, conservation
    assert conservation["negative_shards"] == 0
    twice = {step: count for step, count in steps_per_hold(api, sku_id).items() if count > 1}
    assert twice == {}, f"ledger movements written twice: {twice}"
    return reconciliation


def test_confirm_against_cancel_of_one_hold(stack: LocalStack, api: Api, sku_id: str) -> None:
    stock = PAIRS * 2
    assert api.put(f"/skus/{sku_id}", {"name": "Tee", "on_hand": stock}).status == 201
    endings: Counter[str] = Counter()
    for n in range(PAIRS):
        hold_id = place(api, sku_id, f"cc-{n}")
        confirm, cancel = together(
            api, ("POST", f"/holds/{hold_id}/confirm", None), ("POST", f"/holds/{hold_id}/cancel", None)
        )
        assert cancel.status == 200, cancel.body
        final = api.get(f"/holds/{hold_id}").body["status"]
        if confirm.status == 200:
            # The confirm landed first (or was recorded while the hold settled): the cancel refunds it.
            assert final == "refunded", (confirm.body, cancel.body, final)
        elif confirm.status == 202:
            # The stream was behind: the confirm was recorded, to apply when the hold settles. The
            # cancel (which waits for settling) refunds it if it applied first, else releases it.
            assert confirm.body["status"] == "confirming", confirm.body
            assert final in ("refunded", "released"), (confirm.body, cancel.body, final)
        else:
            assert (confirm.status, confirm.code) == (409, "INVALID_STATE"), confirm.body
            assert final == "released", (confirm.body, cancel.body, final)
        endings[final] += 1
    reconciliation = assert_whole(stack, api, sku_id, stock)
    # Every hold ended closed: every unit is back in a pool, none sold, none held.
    assert reconciliation["conservation"]["in_pools"] == stock, (endings, reconciliation)


def settled_status(api: Api, hold_id: str, timeout_s: float = 60) -> str:
    """The status of a hold past its payment window once settled and confirmed or swept (held
    between the settling and the recorded confirm). The bound only catches a stopped consumer."""
    deadline = time.monotonic() + timeout_s
    while (status := api.get(f"/holds/{hold_id}").body["status"]) in ("pending", "abandoned", "held"):
        assert time.monotonic() < deadline, f"hold {hold_id} still {status}"
        time.sleep(0.1)
    return str(status)


def test_confirm_after_the_payment_window_against_the_sweeper(stack: LocalStack, api: Api, sku_id: str) -> None:
    stock = EXPIRY_RACES * 2
    assert api.put(f"/skus/{sku_id}", {"name": "Tee", "on_hand": stock}).status == 201
    holds = [place(api, sku_id, f"ex-{n}", pay_within_s=1) for n in range(EXPIRY_RACES)]
    endings: Counter[str] = Counter()
    sold = 0
    time.sleep(1.0)
    for number, hold_id in enumerate(holds):
        # Spread over the sweeper's period (0.5 s here), so that some confirms come before a sweep.
        time.sleep(0.05 * (number % 10))
        confirm = api.call_patiently("POST", f"/holds/{hold_id}/confirm")
        final = api.get(f"/holds/{hold_id}").body["status"]
        if confirm.status == 202:
            # The stream was behind (beside another worker's stack): the confirm was recorded and
            # applies when the hold settles, unless the sweeper expires it first.
            final = settled_status(api, hold_id)
            assert final in ("confirmed", "expired"), (confirm.body, final)
            sold += 2 if final == "confirmed" else 0
        elif confirm.status == 200:
            assert final == "confirmed", (confirm.body, final)
            sold += 2
        else:
            assert (confirm.status, confirm.code, final) == (409, "INVALID_STATE", "expired"), confirm.body
        endings[final] += 1
    # Whatever is still held when the window has long passed is the sweeper's: none may stay held.
    # The bound only catches a sweeper that stopped: beside another worker's stack a pass is slow.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(api.get(f"/holds/{h}").body["status"] == "held" for h in holds):
        time.sleep(0.2)
    reconciliation = assert_whole(stack, api, sku_id, stock)
    assert reconciliation["actual"].get("sold", 0) == sold, (endings, reconciliation)
    assert reconciliation["actual"].get("held", 0) == 0, reconciliation
    assert sum(endings.values()) == EXPIRY_RACES


def test_cancel_twice_at_once(stack: LocalStack, api: Api, sku_id: str) -> None:
    stock = PAIRS * 2
    assert api.put(f"/skus/{sku_id}", {"name": "Tee", "on_hand": stock}).status == 201
    for n in range(PAIRS):
        hold_id = place(api, sku_id, f"c2-{n}")
        first, second = together(
            api, ("POST", f"/holds/{hold_id}/cancel", None), ("POST", f"/holds/{hold_id}/cancel", None)
        )
        assert (first.status, second.status) == (200, 200), (first.body, second.body)
        assert first.body["status"] == second.body["status"] == "released", (first.body, second.body)
    reconciliation = assert_whole(stack, api, sku_id, stock)
    assert reconciliation["conservation"]["in_pools"] == stock, reconciliation


def test_allocation_moves_racing_holds(stack: LocalStack, api: Api, sku_id: str) -> None:
    stock = 400
    assert api.put(f"/skus/{sku_id}", {"name": "Mug", "on_hand": stock}).status == 201
    plans = [
        {"pools": {"channel:douyin": 120, "channel:kuaishou": 40}},
        {"pools": {"channel:douyin": 30, "channel:kuaishou": 130}},
        {"pools": {"channel:douyin": 0, "channel:kuaishou": 0}},
    ]
    moves: Counter[int] = Counter()
    held_units = 0
    for round_number in range(ALLOCATION_ROUNDS):
        orders: list[Call] = [
            (
                "POST",
                "/holds",
                {
                    "channel": ("douyin", "kuaishou", "taobao")[n % 3],
                    "order_id": f"al-{round_number}-{n}",
                    "sku_id": sku_id,
                    "quantity": 1,
                },
            )
            for n in range(6)
        ]
        move = plans[round_number % len(plans)]
        answers = together(api, ("PUT", f"/skus/{sku_id}/allocation", move), *orders)
        moves[answers[0].status] += 1
        assert answers[0].status in (200, 409), answers[0].body
        for answer in answers[1:]:
            assert answer.status in (201, 409), answer.body
            if answer.status == 201:
                held_units += 1
            else:
                assert answer.code == "SOLD_OUT", answer.body
        view = api.get(f"/skus/{sku_id}").body
        assert all(units >= 0 for units in view["pools"].values()), view
        assert view["held"] + view["sold"] <= stock, view
    reconciliation = assert_whole(stack, api, sku_id, stock)
    assert reconciliation["actual"]["held"] == held_units, reconciliation
    assert moves[200] >= 1, moves
