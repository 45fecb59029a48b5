"""Campaigns on moto: funding, stage releases and cancels as guarded transactions (once each, in any
order), the launcher's choice of execution or one-time schedule, and their events out of the stream."""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from livestock import wiring
from livestock.dal.campaigns import CampaignLauncher, Started
from livestock.logic.sessions import SessionService
from livestock.models.campaigns import Campaign, CampaignRequest
from livestock.models.exceptions import (
    FieldRefused,
    IdempotencyMismatch,
    InsufficientFreeStock,
    InvalidState,
    NoStagedRelease,
)
from livestock.models.input import AllocationRequest, SetSkuRequest
from livestock.models.sessions import SessionRequest
from livestock.settings import CampaignSettings
from tests.unit.conftest import World
from tests.unit.events_support import EventWorld


@dataclass
class FakeLauncher(CampaignLauncher):
    started: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)

    def start(self, campaign: Campaign, now: float) -> Started:
        self.started.append(campaign.campaign_id)
        return Started(f"arn:execution:{campaign.campaign_id}", None)

    def stop(self, campaign: Campaign) -> None:
        self.stopped.append(campaign.campaign_id)


@pytest.fixture
def ew(world: World) -> EventWorld:
    return EventWorld(world)


PLAN = {
    "title": "Live",
    "channels": ["douyin"],
    "starts_at": "2027-01-15T12:00:00Z",
    "ends_at": "2027-01-15T14:00:00Z",
    "lineup": [{"sku_id": "tee"}],
}


def service(world: World) -> tuple[Any, FakeLauncher]:
    launcher = FakeLauncher(
        CampaignSettings(
            state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:M",
            scheduler_role_arn="arn:aws:iam::1:role/R",
            schedule_group="default",
            schedule_after_s=300,
            schedule_lead_s=60,
        )
    )
    world.stock.set_sku("tee", SetSkuRequest(name="Tee", on_hand=1000), "erp")
    sessions = SessionService(world.stores.sessions, world.services.stock.runner, lambda *_: None, world.clock)
    sessions.put("s1", SessionRequest.model_validate(PLAN), "op")
    return wiring.build_campaigns(world.services, launcher, world.clock), launcher


def request(campaign_id: str = "c1", quantities: tuple[int, ...] = (300, 300, 400)) -> CampaignRequest:
    base = 1_800_000_100
    return CampaignRequest.model_validate(
        {
            "campaign_id": campaign_id,
            "sku_id": "tee",
            "stages": [
                {"at": datetime.fromtimestamp(base + 3 * n, UTC).isoformat(), "quantity": q}
                for n, q in enumerate(quantities)
            ],
        }
    )


def test_stages_release_once_and_a_cancel_returns_the_rest_once(world: World) -> None:
    campaigns, launcher = service(world)
    _, created = campaigns.create("s1", request(), "host")
    assert created and launcher.started == ["c1"]
    assert world.stock.view("tee").sellable == 0 and world.stock.view("tee").pools["campaign:c1"] == 1000
    _, created = campaigns.create("s1", request(), "host")
    assert not created and launcher.started == ["c1"], "a retry neither funds nor starts again"
    with pytest.raises(IdempotencyMismatch):
        campaigns.create("s1", request(quantities=(1,)), "host")
    assert campaigns.run_stage("c1", 1, "system:campaign")["outcome"] == "released"
    assert campaigns.run_stage("c1", 1, "system:campaign")["outcome"] == "already-released"
    campaigns.release_stage("c1", 2, "host")  # the host's early release
    assert campaigns.run_stage("c1", 2, "system:campaign")["outcome"] == "already-released"
    assert world.stock.view("tee").sellable == 600
    cancelled = campaigns.cancel("c1", "host")
    assert (cancelled.status, cancelled.returned_units, cancelled.pending_units) == ("cancelled", 400, 0)
    assert campaigns.cancel("c1", "host").returned_units == 400
    assert campaigns.run_stage("c1", 3, "system:campaign")["outcome"] == "cancelled"
    with pytest.raises(InvalidState):
        campaigns.release_stage("c1", 3, "host")
    view = world.stock.view("tee")
    assert view.sellable == 1000 and view.pools["campaign:c1"] == 0
    world.drain()
    assert world.services.reconciler.reconcile("tee").consistent


def test_the_hosts_next_stage_now_releases_the_earliest_pending_stage_of_the_session(world: World) -> None:
    campaigns, _ = service(world)
    with pytest.raises(NoStagedRelease):
        campaigns.release_next("s1", "tee", "host")
    campaigns.create("s1", request(quantities=(100, 200)), "host")
    first = campaigns.release_next("s1", "tee", "host")
    assert [s["status"] for s in first["stages"]] == ["released", "pending"]
    assert world.stock.view("tee").sellable == 700 + 100
    with pytest.raises(NoStagedRelease):
        campaigns.release_next("another-session", "tee", "host")
    campaigns.release_next("s1", "tee", "host")
    assert world.stock.view("tee").sellable == 1000
    with pytest.raises(NoStagedRelease):
        campaigns.release_next("s1", "tee", "host")


def test_the_hosts_next_stage_sent_again_with_its_key_releases_nothing_more(world: World) -> None:
    """The host's press released stage 1, but the answer was lost; the page sends the same press
    again (same idempotency key): it answers stage 1's campaign and stage 2 stays for its time. A
    new press (a new key) releases stage 2."""
    campaigns, _ = service(world)
    campaigns.create("s1", request(quantities=(100, 200)), "host")
    first = campaigns.release_next("s1", "tee", "host", key="press-1")
    again = campaigns.release_next("s1", "tee", "host", key="press-1")
    assert [s["status"] for s in first["stages"]] == [s["status"] for s in again["stages"]] == ["released", "pending"]
    assert world.stock.view("tee").sellable == 700 + 100
    second = campaigns.release_next("s1", "tee", "host", key="press-2")
    assert [s["status"] for s in second["stages"]] == ["released", "released"]
    assert world.stock.view("tee").sellable == 1000


def test_ending_the_live_cancels_its_campaigns_and_a_stage_after_the_end_releases_nothing(world: World) -> None:
    """The live ends with stages still to come: ending it cancels its campaigns (the held-back
    units back to shared, the releases stopped), so no flash-sale stage goes on sale after the live.
    A stage of a campaign the end missed (one ended by a build without campaigns) returns its
    units at its time instead of releasing them."""
    campaigns, launcher = service(world)
    ending = SessionService(
        world.stores.sessions, world.services.stock.runner, lambda *_: None, world.clock, campaigns.cancel_for_session
    )
    ending.start("s1", "host")
    campaigns.create("s1", request(quantities=(100, 200)), "host")
    assert campaigns.run_stage("c1", 1, "system:campaign")["outcome"] == "released"
    ending.end("s1", "host")
    assert campaigns.view("c1").status == "cancelled" and launcher.stopped == ["c1"]
    assert campaigns.run_stage("c1", 2, "system:campaign")["outcome"] == "cancelled"
    assert world.stock.view("tee").pools["campaign:c1"] == 0 and world.stock.view("tee").sellable == 1000

    blind = SessionService(world.stores.sessions, world.services.stock.runner, lambda *_: None, world.clock)
    blind.put("s2", SessionRequest.model_validate({**PLAN, "lineup": [{"sku_id": "tee"}]}), "op")
    blind.start("s2", "host")
    campaigns.create("s2", request("c2", quantities=(100, 200)), "host")
    blind.end("s2", "host")
    assert campaigns.run_stage("c2", 1, "system:campaign")["outcome"] == "session-ended"
    assert campaigns.view("c2").status == "cancelled"
    assert campaigns.run_stage("c2", 2, "system:campaign")["outcome"] == "cancelled"
    view = world.stock.view("tee")
    assert view.pools["campaign:c2"] == 0 and view.sellable == 1000
    world.drain()
    assert world.services.reconciler.reconcile("tee").consistent


def test_a_campaign_sells_a_sku_of_its_sessions_lineup_only(world: World) -> None:
    """A campaign takes shared units out of sale: for a SKU outside the lineup it would take them
    from whatever live sells that SKU."""
    campaigns, launcher = service(world)
    world.stock.set_sku("mug", SetSkuRequest(name="Mug", on_hand=500), "erp")
    with pytest.raises(InvalidState, match="lineup"):
        campaigns.create("s1", request().model_copy(update={"sku_id": "mug"}), "host")
    assert world.stock.view("mug").sellable == 500 and launcher.started == []


def test_a_stage_far_outside_its_sessions_window_is_refused_and_takes_nothing(world: World) -> None:
    """A mistyped year (or day) would make every stage due at once, or never during the live."""
    campaigns, launcher = service(world)
    good = request()
    year_off = good.stages[1].model_copy(update={"at": good.stages[1].at.replace(year=2026)})
    typo = good.model_copy(update={"stages": [good.stages[0], year_off, good.stages[2]]})
    with pytest.raises(FieldRefused) as refused:
        campaigns.create("s1", typo, "host")
    assert refused.value.code == "VALIDATION_ERROR" and refused.value.status == 422
    assert [e["location"] for e in refused.value.details["errors"]] == [["body", "stages", "1", "at"]]
    assert world.stock.view("tee").pools == {"shared": 1000} and launcher.started == []
    campaigns.create("s1", good, "host")  # 4 h before the planned start: a live may start early


def test_a_campaign_needs_free_shared_stock_and_allocation_leaves_its_pool_alone(world: World) -> None:
    campaigns, _ = service(world)
    with pytest.raises(InsufficientFreeStock):
        campaigns.create("s1", request(quantities=(900, 200)), "host")
    campaigns.create("s1", request(quantities=(500,)), "host")
    world.stock.allocate("tee", AllocationRequest(pools={"channel:douyin": 200}), "op")
    view = world.stock.view("tee")
    assert view.pools == {"shared": 300, "campaign:c1": 500, "channel:douyin": 200}
    assert view.sellable == 500


def test_stage_and_cancel_events_come_out_of_the_stream_once(ew: EventWorld) -> None:
    campaigns, _ = service(ew.world)
    campaigns.create("s1", request(), "host")
    campaigns.run_stage("c1", 1, "system:campaign")
    campaigns.cancel("c1", "host")
    batch = ew.next_batch()
    ew.publisher.publish_batch(batch)
    ew.publisher.publish_batch(batch)
    found = [e for e in ew.delivered() if e["detail-type"] in ("StageReleased", "CampaignCancelled")]
    assert [e["detail-type"] for e in found] == ["StageReleased", "CampaignCancelled"]
    released, cancelled = (e["detail"] for e in found)
    assert (released["stage"], released["quantity"], released["pending_units"]) == (1, 300, 700)
    assert (cancelled["returned_units"], cancelled["stages_released"], cancelled["stages_cancelled"]) == (700, 1, 2)


def test_a_campaign_id_of_any_allowed_length_names_a_schedule_scheduler_takes() -> None:
    """Scheduler names are at most 64 characters of [0-9a-zA-Z-_.]; a campaign id may have 64 of
    its own. Two long ids that share their start still name two schedules."""
    short, long_a, long_b = "flash-tee", "a" * 50 + "-first-wave", "a" * 50 + "-other-wave"
    assert CampaignLauncher.schedule_name(short) == "livestock-campaign-flash-tee"
    names = [CampaignLauncher.schedule_name(i) for i in (long_a, long_b, "x" * 64)]
    assert all(len(n) <= 64 and re.fullmatch(r"[0-9a-zA-Z\-_.]+", n) for n in names), names
    assert len(set(names)) == 3
    assert CampaignLauncher.schedule_name(long_a) == names[0], "the same id, the same name (a retried start)"
