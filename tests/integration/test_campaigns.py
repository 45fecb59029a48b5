"""Staged releases through HTTP on the local stack: the campaign state machine (the very
statemachine/campaign.asl.json, run by moto's interpreter with real waits) releases each stage at
its time; a cancel returns the unreleased units to shared exactly once, even racing a release."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from livestock_local.stack import LocalStack
from tests.support.api import Api
from tests.support.checks import settled_reconciliation

pytestmark = pytest.mark.integration


def at(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def session(api: Api, sku_id: str) -> str:
    session_id = f"s-{uuid.uuid4().hex[:8]}"
    body = {
        "title": "Flash sale",
        "channels": ["douyin", "kuaishou"],
        "starts_at": at(time.time()),
        "ends_at": at(time.time() + 3600),
        "lineup": [{"sku_id": sku_id}],
    }
    assert api.put(f"/sessions/{session_id}", body).status == 201
    assert api.post(f"/sessions/{session_id}/start").status == 200
    return session_id


def sellable(api: Api, sku_id: str) -> int:
    return int(api.get(f"/skus/{sku_id}").body["sellable"])


def wait_until(epoch: float) -> None:
    time.sleep(max(0.0, epoch - time.time()))


def test_three_stages_release_on_time_and_a_cancel_returns_the_rest_once(
    stack: LocalStack, api: Api, sku_id: str
) -> None:
    assert api.put(f"/skus/{sku_id}", {"name": "Flash tee", "on_hand": 1000}).status == 201
    session_id = session(api, sku_id)
    start = float(int(time.time()) + 1)
    due = [start + 3, start + 6, start + 9]
    campaign_id = f"c-{uuid.uuid4().hex[:8]}"
    body = {
        "campaign_id": campaign_id,
        "sku_id": sku_id,
        "target_pool": "shared",
        "stages": [{"at": at(t), "quantity": q} for t, q in zip(due, (300, 300, 400), strict=True)],
    }
    created = api.post(f"/sessions/{session_id}/campaigns", body)
    assert created.status == 201, created.body
    assert created.body["started_by"] == "execution"
    assert api.post(f"/sessions/{session_id}/campaigns", body).status == 200, "a retry answers the campaign"
    view = api.get(f"/skus/{sku_id}").body
    assert view["pools"][f"campaign:{campaign_id}"] == 1000 and view["sellable"] == 0

    figures: list[tuple[float, int]] = []

    def watch_until(deadline: float) -> None:
        while time.time() < deadline:
            figures.append((time.time(), sellable(api, sku_id)))
            time.sleep(0.05)

    watch_until(due[0] + 1.0)
    before_first = [units for t, units in figures if t < due[0]]
    assert before_first and set(before_first) == {0}, "nothing is sellable before the first stage"
    first_300 = next((t for t, units in figures if units == 300), None)
    assert first_300 is not None, [(round(t - due[0], 2), units) for t, units in figures[-30:]]
    assert due[0] <= first_300 <= due[0] + 1.0, f"stage 1 sellable {first_300 - due[0]:.2f} s after its time"
    watch_until(due[1] + 1.0)
    second = next(t for t, units in figures if units == 600)
    assert due[1] <= second <= due[1] + 1.0, f"stage 2 sellable {second - due[1]:.2f} s after its time"

    wait_until(due[1] + 1.5)  # between the second and the third stage
    cancelled = api.post(f"/campaigns/{campaign_id}/cancel")
    assert cancelled.status == 200, cancelled.body
    assert cancelled.body["status"] == "cancelled" and cancelled.body["returned_units"] == 400
    assert [s["status"] for s in cancelled.body["stages"]] == ["released", "released", "cancelled"]
    again = api.post(f"/campaigns/{campaign_id}/cancel")
    assert again.status == 200 and again.body["returned_units"] == 400, "a second cancel returns nothing more"
    wait_until(due[2] + 1.0)
    view = api.get(f"/skus/{sku_id}").body
    assert view["sellable"] == 1000 and view["pools"][f"campaign:{campaign_id}"] == 0
    assert api.get(f"/campaigns/{campaign_id}").body["released_units"] == 600

    reconciliation = settled_reconciliation(stack, api, sku_id)
    assert reconciliation["consistent"], reconciliation
    moves = [m for m in ledger(api, sku_id) if m["op"] in ("campaign-fund", "stage-release", "campaign-cancel")]
    pool = f"pool:campaign:{campaign_id}"
    assert [(m["op"], m["delta"]) for m in moves if m["bucket"] == pool] == [
        ("campaign-fund", 1000),
        ("stage-release", -300),
        ("stage-release", -300),
        ("campaign-cancel", -400),
    ]
    into_shared = [(m["op"], m["delta"]) for m in moves if m["bucket"] == "pool:shared"]
    assert into_shared == [
        ("campaign-fund", -1000),
        ("stage-release", 300),
        ("stage-release", 300),
        ("campaign-cancel", 400),
    ]
    execution = stack.stepfunctions.wait_for_execution(
        stack.stepfunctions.state_machines["CampaignStateMachine"].replace(":stateMachine:", ":execution:")
        + f":{campaign_id}",
        timeout_s=10,
    )
    assert execution["status"] != "RUNNING", "the cancel stopped the execution"


def ledger(api: Api, sku_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = api.get(f"/skus/{sku_id}/ledger?limit=500" + (f"&cursor={cursor}" if cursor else "")).body
        found += page["movements"]
        cursor = page["cursor"]
        if not cursor:
            return sorted(found, key=lambda m: m["sequence"])


CAMPAIGNS = 16
STAGE_UNITS = 50


def test_a_cancel_racing_a_stage_release_never_loses_or_duplicates_a_unit(
    stack: LocalStack, api: Api, sku_id: str
) -> None:
    """Each campaign's first stage is due at the same second; at that second its cancel and the
    host's release-now race the state machine's own release. Whatever wins, the units released plus
    the units returned are the campaign's total, and the SKU reconciles."""
    total = CAMPAIGNS * 2 * STAGE_UNITS
    assert api.put(f"/skus/{sku_id}", {"name": "Race tee", "on_hand": total}).status == 201
    session_id = session(api, sku_id)
    boundary = float(int(time.time()) + 4)
    ids = [f"race-{uuid.uuid4().hex[:8]}" for _ in range(CAMPAIGNS)]
    for campaign_id in ids:
        body = {
            "campaign_id": campaign_id,
            "sku_id": sku_id,
            "stages": [
                {"at": at(boundary), "quantity": STAGE_UNITS},
                {"at": at(boundary + 120), "quantity": STAGE_UNITS},
            ],
        }
        assert api.post(f"/sessions/{session_id}/campaigns", body).status == 201
    assert sellable(api, sku_id) == 0

    def race(n: int) -> tuple[int, int]:
        campaign_id = ids[n // 2]
        # Half the racers cancel a little before the boundary, half a little after it.
        wait_until(boundary + (n % 5 - 2) * 0.02)
        if n % 2:
            answer = api.post(f"/campaigns/{campaign_id}/stages/1/release")
        else:
            answer = api.post(f"/campaigns/{campaign_id}/cancel")
        return answer.status, 0

    with ThreadPoolExecutor(2 * CAMPAIGNS) as pool:
        statuses = [status for status, _ in pool.map(race, range(2 * CAMPAIGNS))]
    assert set(statuses) <= {200, 409}, statuses
    time.sleep(1.5)  # the state machine's own releases at the boundary have run
    released = returned = 0
    for campaign_id in ids:
        campaign = api.get(f"/campaigns/{campaign_id}").body
        assert campaign["status"] == "cancelled", campaign
        assert campaign["released_units"] + campaign["returned_units"] == 2 * STAGE_UNITS, campaign
        released += campaign["released_units"]
        returned += campaign["returned_units"]
    view = api.get(f"/skus/{sku_id}").body
    assert view["sellable"] == total == released + returned
    assert all(units == 0 for pool, units in view["pools"].items() if pool.startswith("campaign:"))
    reconciliation = settled_reconciliation(stack, api, sku_id)
    assert reconciliation["consistent"], reconciliation
    for campaign_id in ids:
        bucket = f"pool:campaign:{campaign_id}"
        assert sum(m["delta"] for m in ledger(api, sku_id) if m["bucket"] == bucket) == 0
