"""The registry revision: registrations bump it, the publisher stamps it on events, and consumers
read their copies again only for an event newer than the copy (dal/registry.py,
logic/registry_copy.py). On moto: a stale copy would deliver to a deleted webhook or miss a new one."""

import json
from typing import Any

import pytest

from livestock.dal.registry import RegistryRevision
from livestock.dal.webhooks import WebhookRepository
from livestock.logic.registry_copy import RegistryCopy
from livestock.logic.webhooks import WebhookService
from livestock.models.event_io import WebhookRequest
from livestock.models.input import HoldRequest, SetSkuRequest
from livestock.settings import EventSettings
from tests.unit.conftest import World
from tests.unit.events_support import EVENTS, EventWorld


def test_a_copy_is_read_again_only_for_a_newer_revision_or_an_unstamped_event() -> None:
    reads: list[str] = []

    def load(key: str) -> str:
        reads.append(key)
        return f"{key}@{len(reads)}"

    copy = RegistryCopy(load, max_keys=2)
    assert copy.get("a", 3) == "a@1"
    assert copy.get("a", 3) == "a@1" and copy.get("a", 2) == "a@1", "as new or older: the copy"
    assert copy.get("a", 4) == "a@2", "newer: read again"
    assert copy.get("a", None) == "a@3", "no revision: a fresh read..."
    assert copy.get("a", 4) == "a@2", "...that leaves the copy as it was"
    copy.get("b", 1)
    copy.get("c", 1)  # past max_keys: the copy starts over
    assert copy.get("a", 4) == "a@6"
    assert reads == ["a", "a", "a", "b", "c", "a"]


class Poster:
    def __init__(self) -> None:
        self.urls: list[str] = []

    def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
        self.urls.append(url)
        return 200


class CountingRepository(WebhookRepository):
    reads = 0

    def webhooks(self) -> Any:
        self.reads += 1
        return super().webhooks()


def bus_event(event_id: str, revision: int | None) -> dict[str, Any]:
    detail = {"event_id": event_id, "sku_id": "tee", "registry_revision": revision}
    return {"detail-type": "SoldOut", "source": "livestock.inventory", "detail": detail}


def webhook(url: str) -> WebhookRequest:
    return WebhookRequest.model_validate({"url": url, "secret": "s" * 24, "event_types": ["SoldOut"]})


def test_the_deliverer_reads_the_webhooks_once_per_revision_and_never_misses_one(ew: EventWorld) -> None:
    client = ew.world.client
    settings = EventSettings(events_table_name=EVENTS, webhook_attempts=1)
    registry = RegistryRevision(EVENTS, client)
    repository = CountingRepository(EVENTS, client)
    poster = Poster()
    api = WebhookService(WebhookRepository(EVENTS, client), registry, settings)
    deliverer = WebhookService(repository, registry, settings, poster, clock=ew.world.clock)

    api.put("w1", webhook("https://one.example/hook"))
    revision = registry.current()
    assert revision == 1
    for n in range(5):
        deliverer.deliver(bus_event(f"e{n}", revision))
    assert repository.reads == 1, "one read for five events of the same revision"
    assert poster.urls == ["https://one.example/hook"] * 5

    api.put("w2", webhook("https://two.example/hook"))
    api.delete("w1")
    assert registry.current() == revision + 2
    deliverer.deliver(bus_event("late", revision))  # published before the changes: the copy is right for it
    assert poster.urls[-1] == "https://one.example/hook"
    deliverer.deliver(bus_event("after", registry.current()))
    assert poster.urls[-1] == "https://two.example/hook" and len(poster.urls) == 7, "w2 gets it, w1 is gone"
    assert repository.reads == 2


def test_the_publisher_stamps_the_revision_it_read_after_the_change(ew: EventWorld) -> None:
    world = ew.world
    registry = RegistryRevision(EVENTS, world.client)
    world.stock.set_sku("tee", SetSkuRequest(name="Tee", on_hand=10), "erp")
    ew.publisher.publish_batch(ew.next_batch())
    registry.bump()
    registry.bump()  # a webhook saved between the SKU's creation and the order
    world.holds.place(HoldRequest(channel="douyin", order_id="o1", sku_id="tee", quantity=1))
    ew.publisher.publish_batch(ew.next_batch())
    details = [json.loads(str(entry["Detail"])) for entry in ew.recorder.published]
    assert [d["registry_revision"] for d in details] == [0, 2]


@pytest.fixture
def ew(world: World) -> EventWorld:
    return EventWorld(world)
