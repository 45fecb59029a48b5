"""Platform sync and inbound orders on moto, against the fake platforms over HTTP: what each
platform is shown, deltas that leave the platform's own orders alone, coalescing and stale events,
rate limits, a platform down and back, a lost answer read back, a quota move, and the inbound
pushes (bad signature, replay). Concurrency is the integration tests' and the benchmark's."""

import dataclasses
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest

from livestock import keys
from livestock.dal.channels import ChannelRepository
from livestock.dal.registry import RegistryRevision
from livestock.events.models import StockChanged, StockFigures
from livestock.logic.platform_sync import SyncSettings
from livestock.logic.quota_move import QuotaMover
from livestock.models.channels import ChannelRequest, QuotaMoveRequest
from livestock.models.domain import HoldStatus
from livestock.models.exceptions import CredentialsUnavailable, IdempotencyMismatch, RequestInProgress
from livestock.models.input import AllocationRequest, SetSkuRequest
from livestock.models.sync_exceptions import BadPushSignature, PlatformUnavailable, SyncFailed
from livestock.platforms.adapters import PlatformCredentials, Transport, adapter_for, http_transport
from livestock.platforms.credentials import ParameterCredentials
from livestock.platforms.endpoints import OFFICIAL_HOSTS, EndpointRefused
from livestock.settings import EventSettings
from livestock.wiring import SyncServices, build_sync
from livestock_local.fake_platforms import FakePlatform, max_in_window
from livestock_local.template import Template
from tests.unit.conftest import World
from tests.unit.events_support import EVENTS

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

SKU = "tshirt-1"
IDS = {"douyin": ("3539", "1768"), "kuaishou": ("501", "601"), "taobao": ("7001", "8001")}


class Credentials:
    def __init__(self, fakes: dict[str, FakePlatform]) -> None:
        self.fakes = fakes

    def get(self, ref: str) -> PlatformCredentials:
        return self.fakes[ref.rsplit("/", 1)[1]].credentials


class RecordingBus:
    """EventBridge's PutEvents, keeping what was published (ChannelChanged)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries += Entries
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(n)} for n in range(len(Entries))]}

    def published(self, detail_type: str) -> list[dict[str, Any]]:
        """As the rule's target receives them."""
        return [
            {"detail-type": e["DetailType"], "detail": json.loads(e["Detail"])}
            for e in self.entries
            if e["DetailType"] == detail_type
        ]


class Rig:
    def __init__(self, world: World) -> None:
        self.world = world
        self.bus = RecordingBus()
        world.client.create_table(**Template().create_table_request("EventsTable", EVENTS))
        self.fakes = {name: FakePlatform(name, qps=1000) for name in IDS}
        self.endpoints = {name: fake.serve() for name, fake in self.fakes.items()}
        for name, (product, sku) in IDS.items():
            self.fakes[name].list_sku(product, sku, 0)
        self.transport: Transport = http_transport
        self.sync_services = self.build()
        self.sequence = 0
        world.stock.set_sku(SKU, SetSkuRequest(name="T-shirt", on_hand=100), "erp")
        world.stock.allocate(SKU, AllocationRequest(pools={"channel:douyin": 30, "channel:kuaishou": 20}), "op")
        for name, mode in (("douyin", "quota"), ("kuaishou", "quota"), ("taobao", "shared")):
            product, sku = IDS[name]
            self.sync_services.channels.put(
                name,
                ChannelRequest(
                    platform=name,  # type: ignore[arg-type]
                    mode=mode,  # type: ignore[arg-type]
                    ratio=0.5 if mode == "shared" else None,
                    buffer=2 if mode == "shared" else None,
                    endpoint=self.endpoints[name],
                    credentials_ref=f"secretsmanager:livestock/fake/{name}",
                    sku_map={SKU: {"product_id": product, "sku_id": sku}},  # type: ignore[dict-item]
                    qps=1000,
                ),
            )

    def build(self) -> SyncServices:
        settings = EventSettings(
            events_table_name=EVENTS, sync_attempts=3, sync_backoff_s=0.01, sync_inflight_window_s=0.05
        )
        return build_sync(
            settings,
            self.world.services,
            self.world.client,
            Credentials(self.fakes),
            lambda platform, endpoint, creds: adapter_for(platform, endpoint, creds, self.transport),
            sleep=lambda s: None,
            snapshot_items=25,
            bus=lambda: cast("EventBridgeClient", self.bus),
        )

    def changed(
        self, sequence: int | None = None, registry_revision: int | None = None, remaining_ms: int | None = None
    ) -> dict[str, str]:
        self.sequence = sequence if sequence is not None else self.sequence + 1
        detail = StockChanged(
            event_id=f"StockChanged:{SKU}:{self.sequence}",
            sku_id=SKU,
            occurred_at=1.0,
            registry_revision=registry_revision,
            sequence=self.sequence,
            figures=StockFigures(on_hand=0, sellable=0, pools={}, channels={}, paused=False),
        )
        return self.sync_services.sync.on_stock_changed({"detail": detail.model_dump()}, remaining_ms)

    def shown(self, name: str) -> int:
        return self.fakes[name].displayed(*IDS[name])

    def order(self, name: str, quantity: int = 1) -> Any:
        """A buyer orders on the platform; its push reaches the inbound route; the stream settles."""
        order = self.fakes[name].place_order(*IDS[name], quantity)
        assert order is not None
        self.push(name, order, "created")
        self.world.drain()
        return order

    def push(self, name: str, order: Any, kind: str, msg_id: str | None = None) -> dict[str, str]:
        url, headers, body = self.fakes[name].push_message(order, kind, msg_id)
        query = dict(part.split("=", 1) for part in url.partition("?")[2].split("&") if "=" in part)
        return self.sync_services.inbound.receive(name, headers, query, body)[1]

    def channel(self, name: str) -> dict[str, Any]:
        """The channel's settings as the sync reads them."""
        channel = self.sync_services.sync.channels.get_channel(name)
        assert channel is not None
        return channel

    def state(self, name: str) -> dict[str, Any]:
        return self.sync_services.sync.channels.state(name, SKU)

    def stop(self) -> None:
        for fake in self.fakes.values():
            fake.stop()


@pytest.fixture
def rig(world: World) -> Iterator[Rig]:
    built = Rig(world)
    yield built
    built.stop()


def test_each_platform_is_shown_what_its_mode_defines(rig: Rig) -> None:
    assert rig.changed() == {"douyin": "applied", "kuaishou": "applied", "taobao": "applied"}
    assert rig.shown("douyin") == 30  # its quota pool
    assert rig.shown("kuaishou") == 20
    assert rig.shown("taobao") == 48  # floor(0.5 x 100 sellable) - 2
    view = rig.sync_services.channels.get("douyin")
    assert view.sync[0].last_acknowledged == 30
    assert view.sync[0].calls == 1
    # The lag's first part (the event's delivery, the round before) is within the lag.
    assert view.sync[0].queued_p99_s is not None and view.sync[0].lag_p99_s is not None
    assert 0 < view.sync[0].queued_p99_s <= view.sync[0].lag_p99_s


def add_wechat(rig: Rig) -> FakePlatform:
    """A channel saved after the first three, with a quota of its own."""
    fake = rig.fakes["wechat"] = FakePlatform("wechat", qps=1000)
    endpoint = fake.serve()
    fake.list_sku("91", "911", 0)
    pools = {"channel:douyin": 30, "channel:kuaishou": 20, "channel:wechat": 10}
    rig.world.stock.allocate(SKU, AllocationRequest(pools=pools), "op")
    rig.sync_services.channels.put(
        "wechat",
        ChannelRequest(
            platform="wechat",
            mode="quota",
            endpoint=endpoint,
            credentials_ref="secretsmanager:livestock/fake/wechat",
            sku_map={SKU: {"product_id": "91", "sku_id": "911"}},  # type: ignore[dict-item]
            qps=1000,
        ),
    )
    return fake


def test_saving_a_channel_publishes_channel_changed(rig: Rig) -> None:
    (first, *_) = rig.bus.published("ChannelChanged")
    assert first["detail"]["channel_id"] == "douyin" and first["detail"]["sku_ids"] == [SKU]
    add_wechat(rig)
    (changed,) = [e for e in rig.bus.published("ChannelChanged") if e["detail"]["channel_id"] == "wechat"]
    assert changed["detail"]["event_id"] == "ChannelChanged:wechat:1"
    assert changed["detail"]["channel_version"] == 1


def test_a_channel_saved_is_set_at_once_where_a_stale_copy_of_the_channels_missed_it(rig: Rig) -> None:
    """A StockChanged published before the save (its registry revision older) and handled after it,
    by an instance whose copy of the channels predates the save, misses the new channel; its
    ChannelChanged waits out that copy's age, then sets the platform."""
    sync = rig.sync_services.sync
    sync.settings = SyncSettings(attempts=3, backoff_s=0.01, channels_cache_s=60.0)
    before = RegistryRevision(EVENTS, rig.world.client).current()
    rig.changed(registry_revision=before)  # this instance's copy of the channels: douyin, kuaishou, taobao
    fake = add_wechat(rig)
    assert "wechat" not in rig.changed(registry_revision=before)
    assert fake.displayed("91", "911") == 0
    waits: list[float] = []
    sync.sleep = waits.append
    (changed,) = [e for e in rig.bus.published("ChannelChanged") if e["detail"]["channel_id"] == "wechat"]
    assert sync.on_channel_changed(changed) == {SKU: "applied"}
    assert fake.displayed("91", "911") == 10
    assert 59.0 < waits[0] <= 60.0, "it waited until no copy of the channels could predate the save"
    assert "wechat" in rig.changed(), "the copy was read again"


def test_a_stock_change_after_the_save_finds_the_new_channel_however_young_the_copy(rig: Rig) -> None:
    """Its registry revision is newer than the copy's: the channels are read again (dal/registry.py)."""
    sync = rig.sync_services.sync
    sync.settings = SyncSettings(attempts=3, backoff_s=0.01, channels_cache_s=60.0)
    registry = RegistryRevision(EVENTS, rig.world.client)
    assert "wechat" not in rig.changed(registry_revision=registry.current())
    fake = add_wechat(rig)
    assert rig.changed(registry_revision=registry.current())["wechat"] == "applied"
    assert fake.displayed("91", "911") == 10


def test_the_sweep_sets_a_channel_whose_channel_changed_was_lost(rig: Rig) -> None:
    fake = add_wechat(rig)
    outcomes = rig.sync_services.sync.resync()
    assert outcomes[f"wechat/{SKU}"] == "applied"
    assert fake.displayed("91", "911") == 10
    assert f"wechat/{SKU}" not in rig.sync_services.sync.resync(), "synced once, nothing left to do"


def test_a_platforms_own_orders_need_no_call(rig: Rig) -> None:
    rig.changed()
    calls = rig.fakes["douyin"].stats.calls
    rig.order("douyin", 2)
    assert rig.shown("douyin") == 28
    assert rig.changed()["douyin"] == "unchanged"
    assert rig.fakes["douyin"].stats.calls == calls
    assert rig.shown("douyin") == 28
    # Kuaishou's pool is untouched; the shared-mode platform sees sellable fall by 2.
    assert rig.shown("kuaishou") == 20
    assert rig.shown("taobao") == 47  # floor(0.5 x 98) - 2


def test_stock_that_comes_back_is_added_by_delta(rig: Rig) -> None:
    rig.changed()
    order = rig.order("kuaishou", 3)
    rig.push("kuaishou", order, "cancelled")
    rig.fakes["kuaishou"].cancel_order(order)  # the platform gives its units back too
    rig.world.drain()
    rig.changed()
    assert rig.shown("kuaishou") == 20
    assert rig.state("kuaishou")["received"] == 0


def test_a_stale_or_repeated_event_is_coalesced(rig: Rig) -> None:
    rig.changed(5)
    calls = rig.fakes["douyin"].stats.calls
    assert rig.changed(3) == {"douyin": "coalesced", "kuaishou": "coalesced", "taobao": "coalesced"}
    assert rig.changed(5)["douyin"] == "coalesced"
    assert rig.fakes["douyin"].stats.calls == calls


@pytest.mark.parametrize("qps", [10, 20, 50])
def test_the_app_quota_is_one_for_every_instance_even_when_their_copies_go_stale(rig: Rig, qps: int) -> None:
    """Two function instances take slots of one channel in turn: each tries the value it wrote
    last, finds it stale, reads the stored one. However the calls fall, no window of one second
    holds more than `qps` of them, and a steady stream still gets qps - burst a second."""
    now = [1000.0]
    calls: list[float] = []
    first, second = rig.build().sync, rig.build().sync
    for sync in (first, second):
        sync.clock = lambda: now[0]
        sync.sleep = lambda seconds: now.__setitem__(0, now[0] + seconds)
    for n in range(5 * qps):
        (first if n % 2 == 0 else second).wait_for_slot({"channel_id": "douyin", "qps": qps})
        calls.append(now[0])
    burst = max(1, qps // 10)
    assert calls[:burst] == pytest.approx([1000.0] * burst)  # a burst without waiting
    assert max_in_window([round(t, 9) for t in calls], 1.0) == qps  # 1e-9: float sums
    assert calls[-1] - calls[0] == pytest.approx((5 * qps - burst) / (qps - burst))


def test_a_change_asked_after_the_snapshot_was_read_keeps_its_lag_from_then(rig: Rig) -> None:
    """A StockChanged asked while a round is between its snapshot and its write: the write takes
    the first-seen time off, so the round carries the snapshot's time to the next round, and that
    change's lag is counted from there, not from the next round's start."""
    sync = rig.sync_services.sync
    channel = rig.channel("taobao")
    read = sync.snapshots.read
    read_at: list[float] = []

    def read_then_a_change_arrives(sku_id: str) -> Any:
        read_at.append(time.time())
        snapshot = read(sku_id)
        if len(read_at) == 1:
            rig.world.stock.receive(SKU, 10, "late", "erp")
            assert sync.channels.ask("taobao", SKU, 2, time.time())[0]
        return snapshot

    sync.snapshots.read = read_then_a_change_arrives  # type: ignore[method-assign]
    assert sync.sync(channel, SKU, 1, time.time()) == "applied"
    assert len(read_at) == 2, "the newer sequence made a second round"
    second = max(sync.channels.logs("taobao", SKU), key=lambda log: float(log["at"]))
    since = float(second["at"]) - float(second["lag_s"])
    assert since <= read_at[0] + 0.05, (since, read_at)


def test_rate_limited_calls_back_off_and_land(rig: Rig) -> None:
    fake = rig.fakes["kuaishou"]
    fake.limit_next = 1
    rig.changed()
    assert rig.shown("kuaishou") == 20
    assert fake.stats.rate_limited == 1
    assert rig.state("kuaishou")["rate_limited"] == 1


def test_a_platform_down_catches_up_to_the_exact_value(rig: Rig) -> None:
    rig.changed()
    rig.fakes["douyin"].down = True
    rig.world.stock.allocate(SKU, AllocationRequest(pools={"channel:douyin": 40, "channel:kuaishou": 20}), "op")
    with pytest.raises(SyncFailed):
        rig.changed()
    assert rig.state("douyin")["outbox"]["delta"] == 10
    rig.world.stock.allocate(SKU, AllocationRequest(pools={"channel:douyin": 35, "channel:kuaishou": 20}), "op")
    rig.fakes["douyin"].down = False
    rig.changed()
    assert rig.shown("douyin") == 35
    assert rig.fakes["douyin"].stats.duplicates_applied == 0
    assert rig.state("douyin").get("outbox") is None


def test_a_lost_answer_on_a_delta_only_platform_is_read_back_not_resent(rig: Rig) -> None:
    rig.changed()
    lost = {"n": 0}

    def applies_then_times_out(method: str, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Any:
        answer = http_transport(method, url, body, headers, timeout)
        if "stock/update" in url and lost["n"] == 0:
            lost["n"] += 1
            raise TimeoutError
        return answer

    rig.transport = applies_then_times_out
    rig.sync_services = rig.build()
    rig.world.stock.allocate(SKU, AllocationRequest(pools={"channel:douyin": 30, "channel:kuaishou": 25}), "op")
    rig.changed()
    assert lost["n"] == 1
    assert rig.shown("kuaishou") == 25  # applied once, not twice
    assert rig.state("kuaishou")["sent"] == 25


def test_an_order_counted_while_a_full_set_is_read_back_is_read_again(rig: Rig) -> None:
    """Douyin's decrease is a full set, so sync reads the platform back once the in-flight window
    has passed and takes sent = displayed + received. A buyer bought 2 on Douyin before that read,
    and the order's message is counted just before the write: the display already lacks the 2 that
    `received` read a moment earlier did not have. Taking the two together would leave `sent` 2 short,
    and the next round would show Douyin 2 more units than its pool has left."""
    rig.changed()
    rig.world.stock.allocate(SKU, AllocationRequest(pools={"channel:douyin": 25, "channel:kuaishou": 20}), "op")
    rig.changed()
    assert rig.shown("douyin") == 25 and rig.state("douyin").get("reconcile_after") is not None
    order = rig.fakes["douyin"].place_order(*IDS["douyin"], 2)
    assert order is not None
    client = rig.sync_services.sync.channels.client
    counted: list[dict[str, str]] = []

    def message_arrives_before_the_write(params: dict[str, Any], **_: Any) -> None:
        names = set(params.get("ExpressionAttributeNames", {}).values())
        if not counted and {"sent", "reconcile_after"} <= names:
            counted.append(rig.push("douyin", order, "created"))

    client.meta.events.register("before-parameter-build.dynamodb.UpdateItem", message_arrives_before_the_write)
    try:
        time.sleep(0.06)  # the in-flight window (0.05 s here)
        rig.changed()
    finally:
        client.meta.events.unregister("before-parameter-build.dynamodb.UpdateItem", message_arrives_before_the_write)
    assert counted, "the read-back ran"
    rig.world.drain()
    rig.changed()
    assert rig.world.stock.view(SKU).pools["channel:douyin"] == 23
    assert rig.shown("douyin") == 23
    state = rig.state("douyin")
    assert state["sent"] - state["received"] == 23 and state.get("reconcile_after") is None


MOVE_10 = QuotaMoveRequest(from_channel="douyin", to_channel="kuaishou", quantity=10, reference="mv-1")


def mover_while_another_holds_the_gainers_lease(rig: Rig) -> tuple[QuotaMover, ChannelRepository]:
    """A mover on a clock that its waits advance (1 s to acknowledge), with Kuaishou's lease held
    by another invocation for a minute: the mover's rounds on it are no-ops."""
    now = [0.0]

    def wait(seconds: float) -> None:
        now[0] += seconds

    mover = dataclasses.replace(rig.sync_services.quota, clock=lambda: now[0], sleep=wait, ack_timeout_s=1.0)
    channels = rig.sync_services.sync.channels
    assert channels.take_lease("kuaishou", SKU, "another-invocation", time.time(), 60.0) is not None
    return mover, channels


def test_quota_move_lowers_the_loser_first_then_moves_then_raises(rig: Rig) -> None:
    rig.changed()
    view = rig.sync_services.quota.move(SKU, MOVE_10, "op")
    assert {"lower", "drain", "move"} <= set(view.phases)
    rig.changed()
    assert rig.shown("douyin") == 20
    assert rig.shown("kuaishou") == 30
    history = [value for _, _, _, value in rig.fakes["douyin"].history]
    assert history[-2:] == [20, 20] or history[-1] == 20
    assert max(history[history.index(20) :]) == 20  # lowered first, never raised again
    pools = rig.world.stock.view(SKU).pools
    assert pools["channel:douyin"] == 20 and pools["channel:kuaishou"] == 30


def test_a_quota_move_retried_with_its_reference_moves_once(rig: Rig) -> None:
    """The client's answer was lost (the move can take ~15 s behind API Gateway's 29 s) and it sends
    the move again with the same reference: nothing more moves, the loser is not lowered again,
    and the reference used for another move is refused."""
    rig.changed()
    first = rig.sync_services.quota.move(SKU, MOVE_10, "op")
    calls = rig.fakes["douyin"].stats.calls
    again = rig.sync_services.quota.move(SKU, MOVE_10, "op")
    assert {"lower", "drain", "move"} <= set(first.phases) and again.phases == {}
    assert rig.fakes["douyin"].stats.calls == calls, "no second lower phase"
    pools = rig.world.stock.view(SKU).pools
    assert (pools["channel:douyin"], pools["channel:kuaishou"]) == (20, 30)
    with pytest.raises(IdempotencyMismatch):
        rig.sync_services.quota.move(SKU, MOVE_10.model_copy(update={"quantity": 5}), "op")


def test_the_gainer_is_raised_within_the_move(rig: Rig) -> None:
    rig.changed()
    view = rig.sync_services.quota.move(SKU, MOVE_10, "op")
    assert {"lower", "drain", "move", "raise"} <= set(view.phases)
    assert rig.shown("kuaishou") == 30  # before any StockChanged of the move is handled


def test_a_raise_the_lease_holder_has_not_sent_is_not_reported_done(rig: Rig) -> None:
    """While another invocation holds the gainer's lease, the mover's rounds are no-ops and the
    gainer's state (no outbox, its withholding shown) looks in step: only the move's mark, never
    carried to `raise_shown_rev`, says the new figure was not sent. The move answers without the raise;
    the next StockChanged raises it."""
    rig.changed()
    mover, channels = mover_while_another_holds_the_gainers_lease(rig)
    view = mover.move(SKU, MOVE_10, "op")
    assert {"lower", "drain", "move"} <= set(view.phases)
    assert "raise" not in view.phases
    assert rig.shown("kuaishou") == 20
    channels.drop_lease("kuaishou", SKU, "another-invocation")
    assert rig.changed()["kuaishou"] == "applied"
    assert rig.shown("kuaishou") == 30


def test_a_raise_is_proven_by_a_round_that_read_the_move_not_by_totals(rig: Rig) -> None:
    """The gainer's quota was cut and not yet synced (its lease held elsewhere): it still shows 20,
    more than the 15 it has after the move. Its `sent` total is above the new target, yet no round
    has shown a figure read after the move, so the raise is not reported."""
    rig.changed()
    mover, channels = mover_while_another_holds_the_gainers_lease(rig)
    rig.world.stock.allocate(SKU, AllocationRequest(pools={"channel:douyin": 30, "channel:kuaishou": 5}), "op")
    view = mover.move(SKU, MOVE_10, "op")
    assert "raise" not in view.phases
    assert rig.shown("kuaishou") == 20
    channels.drop_lease("kuaishou", SKU, "another-invocation")
    rig.changed()
    assert rig.shown("kuaishou") == 15


def test_a_gainer_down_during_the_raise_leaves_the_move_done_and_the_raise_to_the_events(rig: Rig) -> None:
    rig.changed()
    rig.fakes["kuaishou"].down = True
    view = rig.sync_services.quota.move(SKU, MOVE_10, "op")
    assert {"lower", "drain", "move"} <= set(view.phases) and "raise" not in view.phases
    assert rig.world.stock.view(SKU).pools["channel:kuaishou"] == 30
    rig.fakes["kuaishou"].down = False
    rig.changed()
    assert rig.shown("kuaishou") == 30


def test_a_gainer_whose_credentials_cannot_be_read_leaves_the_move_answered_as_made(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The units are the gainer's once the ledger moved them: a gainer whose secret cannot be read
    now does not turn the answer into an error for a move that was made (a retry would find it
    done and answer 200 anyway); the sync events raise the platform once the secret is readable."""
    rig.changed()
    source = rig.sync_services.inbound.credentials
    readable = source.get

    def kuaishou_unreadable(ref: str) -> PlatformCredentials:
        if ref.endswith("/kuaishou"):
            raise CredentialsUnavailable("the channel's credentials cannot be read", {"credentials_ref": ref})
        return readable(ref)

    monkeypatch.setattr(source, "get", kuaishou_unreadable)
    view = rig.sync_services.quota.move(SKU, MOVE_10, "op")
    assert {"lower", "drain", "move"} <= set(view.phases) and "raise" not in view.phases
    assert rig.world.stock.view(SKU).pools["channel:kuaishou"] == 30
    monkeypatch.setattr(source, "get", readable)
    rig.changed()
    assert rig.shown("kuaishou") == 30


def moto_calls_take_turns(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto is not thread-safe (a read while another thread writes the item fails; two transactions
    on one item interleave), so its calls take turns, each whole as DynamoDB makes a write to an
    item. The interleavings under test come from the tests' barriers, between calls."""
    one_at_a_time = threading.Lock()
    call = client._make_api_call

    def in_turn(*args: Any) -> Any:
        with one_at_a_time:
            return call(*args)

    monkeypatch.setattr(client, "_make_api_call", in_turn)


def test_two_moves_from_one_platform_at_once_each_withhold_their_own_units(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two operators move units away from Douyin at the same moment (the channels route and the
    console). Each move's first look at the sync state waits for the other's, so both have
    withheld before either proves its lower figure: a withholding read and written back as a
    figure would lose one of them (the platform shown too much, that move timed out)."""
    rig.changed()
    mover = dataclasses.replace(rig.sync_services.quota, ack_timeout_s=3.0)
    channels = mover.channels
    both_looked = threading.Barrier(2)
    looked: set[int] = set()
    read_state = channels.state

    def state(channel_id: str, sku_id: str) -> dict[str, Any]:
        found = read_state(channel_id, sku_id)
        if threading.get_ident() not in looked:
            looked.add(threading.get_ident())
            both_looked.wait(timeout=5)
        return found

    monkeypatch.setattr(channels, "state", state)
    moto_calls_take_turns(rig.world.client, monkeypatch)
    with ThreadPoolExecutor(2) as operators:
        to_kuaishou = operators.submit(mover.move, SKU, MOVE_10, "op")
        to_shared = operators.submit(mover.move_pools, SKU, "douyin", "shared", 5, "console:host")
        assert {"lower", "drain", "move"} <= set(to_kuaishou.result(timeout=30).phases)
        assert {"lower", "drain", "move"} == set(to_shared.result(timeout=30))
    monkeypatch.undo()
    assert int(rig.state("douyin").get("withheld", 0)) == 0, "both withholdings ended"
    pools = rig.world.stock.view(SKU).pools
    assert (pools["channel:douyin"], pools["channel:kuaishou"], pools["shared"]) == (15, 30, 55)
    history = [value for _, _, _, value in rig.fakes["douyin"].history]
    assert history[-1] == 15 and max(history[history.index(15) :]) == 15, "lowered for both, never raised again"


def test_two_moves_into_one_platform_at_once_each_see_it_raised(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """Douyin and WeChat each give Kuaishou units at the same moment; both marks are on Kuaishou's
    state before either move waits for its raise. A round that read the later mark read both moves:
    each move reports the raise, rather than one waiting out its budget for a mark overwritten."""
    add_wechat(rig)
    rig.changed()
    mover = dataclasses.replace(rig.sync_services.quota, ack_timeout_s=3.0)
    both_marked = threading.Barrier(2)
    mark_raise = mover.channels.mark_raise

    def marked(*args: Any) -> Any:
        mark = mark_raise(*args)
        both_marked.wait(timeout=5)
        return mark

    monkeypatch.setattr(mover.channels, "mark_raise", marked)
    moto_calls_take_turns(rig.world.client, monkeypatch)
    from_wechat = QuotaMoveRequest(from_channel="wechat", to_channel="kuaishou", quantity=5, reference="mv-2")
    with ThreadPoolExecutor(2) as operators:
        moves = [operators.submit(mover.move, SKU, request, "op") for request in (MOVE_10, from_wechat)]
        assert all("raise" in done.result(timeout=30).phases for done in moves)
    monkeypatch.undo()
    assert rig.shown("kuaishou") == 35 and rig.world.stock.view(SKU).pools["channel:kuaishou"] == 35


def test_a_loser_down_during_the_lower_answers_platform_unavailable_and_moves_nothing(rig: Rig) -> None:
    rig.changed()
    rig.fakes["douyin"].down = True
    with pytest.raises(PlatformUnavailable) as refused:
        rig.sync_services.quota.move(SKU, MOVE_10, "op")
    assert refused.value.status == 502 and refused.value.details["channel_id"] == "douyin"
    pools = rig.world.stock.view(SKU).pools
    assert pools["channel:douyin"] == 30 and pools["channel:kuaishou"] == 20
    assert int(rig.state("douyin").get("withheld", 0)) == 0, "the withholding is undone"
    rig.fakes["douyin"].down = False
    rig.changed()
    assert rig.shown("douyin") == 30


def test_the_consoles_move_lowers_a_giving_quota_platform_first(rig: Rig) -> None:
    rig.changed()
    quota = rig.sync_services.quota
    phases = quota.move_pools(SKU, "douyin", "shared", 10, "console:host")
    assert set(phases) == {"lower", "drain", "move"}
    history = [value for _, _, _, value in rig.fakes["douyin"].history]
    assert history[-1] == 20 and max(history[history.index(20) :]) == 20, "lowered before the move, never raised"
    phases = quota.move_pools(SKU, "shared", "kuaishou", 5, "console:host")
    assert set(phases) == {"move"}, "no platform shows shared alone: nothing to lower"
    assert rig.shown("kuaishou") == 20, "raised by the move's events, not within the call"
    rig.changed()
    assert rig.shown("kuaishou") == 25
    # Taobao sells in shared mode: its pool is shown by no platform on its own.
    assert set(quota.move_pools(SKU, "shared", "taobao", 5, "console:host")) == {"move"}
    pools = rig.world.stock.view(SKU).pools
    assert (pools["channel:douyin"], pools["channel:kuaishou"], pools["channel:taobao"]) == (20, 25, 5)


def test_bad_signature_changes_nothing(rig: Rig) -> None:
    rig.changed()
    fake = rig.fakes["douyin"]
    order = fake.place_order(*IDS["douyin"], 1)
    assert order is not None
    _, headers, body = fake.push_message(order, "created")
    with pytest.raises(BadPushSignature):
        rig.sync_services.inbound.receive("douyin", {**headers, "event-sign": "0" * 32}, {}, body)
    with pytest.raises(BadPushSignature):
        rig.sync_services.inbound.receive("douyin", headers, {}, body.replace(b'"tag": "100"', b'"tag": "101"'))
    hold_id = keys.hold_id_for("douyin", order.order_id, SKU)
    assert rig.world.holds.holds.get_hold(hold_id) is None
    assert rig.state("douyin").get("received") is None
    assert rig.world.stock.view(SKU).pools["channel:douyin"] == 30


@pytest.mark.parametrize(
    ("platform", "endpoint"),
    [
        ("douyin", "https://attacker.example"),  # would be sent the shop's access token
        ("douyin", "http://openapi-fxg.jinritemai.com"),  # the platform's host, in clear
        ("wechat", "https://api.weixin.qq.com.attacker.example"),
        ("taobao", "https://user@eco.taobao.com"),
        ("webhook", "https://169.254.169.254"),  # the merchant's own shop: public hosts only
        ("webhook", f"http://127.0.0.1:{9001}"),
        ("webhook", "https://127.1/"),  # 127.0.0.1 to a resolver
        ("webhook", "https://localhost./"),
        ("douyin", "https://openapi-fxg.jinritemai.com\\@attacker.example"),  # urllib's host: attacker.example
        ("douyin", "https://openapi-fxg.jinritemai.com:8443"),
    ],
)
def test_a_channel_endpoint_off_its_platforms_api_is_refused(
    rig: Rig, platform: str, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever holds the API key sets both a channel's endpoint and its credentials reference: an
    endpoint of their choosing would be sent the shop's platform credentials. Outside the local
    stack a marketplace channel calls its platform's API host only, over HTTPS."""
    channels = rig.sync_services.channels
    monkeypatch.setattr(channels, "allow_loopback_endpoints", False)
    body = {
        "platform": platform,
        "mode": "quota",
        "endpoint": endpoint,
        "credentials_ref": "secretsmanager:livestock/fake/douyin",
        "sku_map": {SKU: {"product_id": "1", "sku_id": "2"}},
    }
    with pytest.raises(EndpointRefused) as refused:
        channels.put("evil", ChannelRequest.model_validate(body))
    assert refused.value.details["errors"][0]["location"] == ["body", "endpoint"]
    assert channels.repository.get_channel("evil") is None
    host = "shop.example.com" if platform == "webhook" else sorted(OFFICIAL_HOSTS[platform])[0]
    assert channels.put("fine", ChannelRequest.model_validate({**body, "endpoint": f"https://{host}/"}))[1]


def test_a_channel_stored_with_an_endpoint_the_api_would_refuse_is_sent_nothing(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A channel written before endpoints were checked, or around the API: the sync does not send
    its credentials there either (here the fake platforms' loopback endpoints, as on AWS)."""
    monkeypatch.setattr(rig.sync_services.sync, "allow_loopback_endpoints", False)
    with pytest.raises(SyncFailed, match="endpoint refused") as failed:
        rig.changed()
    assert all(name in str(failed.value) for name in IDS), "each channel's round failed on its own"
    assert all(fake.stats.calls == 0 for fake in rig.fakes.values())


@pytest.mark.parametrize("quantity", [0, 20_000])
def test_a_verified_order_livestock_cannot_hold_is_refused_and_acknowledged(rig: Rig, quantity: int) -> None:
    """A platform that sold 0 units, or more than one order may take, sent a message that verifies:
    it is acknowledged (no redelivery loop, never a 500) and recorded as a refused order line, a
    platform-side oversell; no hold is placed and the pool keeps its units."""
    rig.changed()
    order = rig.fakes["douyin"].place_order(*IDS["douyin"], 1)
    assert order is not None
    odd = dataclasses.replace(order, quantity=quantity)
    assert list(rig.push("douyin", odd, "created").values()) == ["refused:VALIDATION_ERROR"]
    assert rig.world.holds.holds.get_hold(keys.hold_id_for("douyin", order.order_id, SKU)) is None
    line = rig.sync_services.inbound.channels.order_line("douyin", order.order_id, SKU)
    assert line is not None and line["status"] == "refused"
    assert rig.state("douyin")["orders_refused"] == 1
    rig.world.drain()
    assert rig.world.stock.view(SKU).pools["channel:douyin"] == 30


def test_a_verified_message_whose_ids_no_key_can_hold_is_acknowledged_not_refused_as_a_bad_signature(
    rig: Rig,
) -> None:
    """An order id longer than any platform's: the push verifies, so a 401 would only make the
    platform send it again for ever (and, in Douyin's batches, drop the batch's other orders)."""
    rig.changed()
    order = rig.fakes["douyin"].place_order(*IDS["douyin"], 1)
    assert order is not None
    odd = dataclasses.replace(order, order_id="9" * 300)
    assert rig.push("douyin", odd, "created") == {}
    assert rig.sync_services.inbound.channels.order_line("douyin", odd.order_id, SKU) is None
    assert rig.state("douyin").get("received") is None


@pytest.mark.parametrize("name", ["douyin", "kuaishou", "taobao"])
def test_a_channel_whose_secret_lacks_its_keys_verifies_no_push(
    rig: Rig, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty key would verify a push signed with an empty key: a forgery. Such a channel answers
    CREDENTIALS_UNAVAILABLE (the platform retries once the secret is fixed) and changes nothing."""
    rig.changed()
    order = rig.fakes[name].place_order(*IDS[name], 1)
    assert order is not None
    monkeypatch.setattr(rig.sync_services.inbound.credentials, "get", lambda ref: PlatformCredentials())
    with pytest.raises(CredentialsUnavailable):
        rig.push(name, order, "created")
    assert rig.world.holds.holds.get_hold(keys.hold_id_for(name, order.order_id, SKU)) is None
    assert rig.state(name).get("received") is None


@pytest.mark.parametrize("name", list(IDS))
def test_a_replayed_order_message_changes_nothing(rig: Rig, name: str) -> None:
    rig.changed()
    order = rig.order(name, 2)
    before = (rig.world.stock.view(SKU).model_dump(), rig.state(name)["received"])
    assert list(rig.push(name, order, "created").values()) == ["held"]  # the same message again
    assert list(rig.push(name, order, "created", msg_id="another-id").values()) == ["held"]  # resent anew
    rig.world.drain()
    assert (rig.world.stock.view(SKU).model_dump(), rig.state(name)["received"]) == before


def test_paid_and_cancelled_messages_confirm_and_release(rig: Rig) -> None:
    rig.changed()
    order = rig.order("douyin", 2)
    assert list(rig.push("douyin", order, "paid").values()) == ["confirmed"]
    assert rig.world.stock.view(SKU).sold == 2
    other = rig.order("douyin", 1)
    assert list(rig.push("douyin", other, "cancelled").values()) == ["cancelled"]
    assert list(rig.push("douyin", other, "cancelled").values()) == ["cancelled"]  # replay: nothing more
    rig.world.drain()
    assert rig.state("douyin")["received"] == 2
    assert rig.world.stock.view(SKU).pools["channel:douyin"] == 28


def test_an_order_message_whose_count_failed_is_counted_on_redelivery(rig: Rig) -> None:
    """The first delivery of a created message fails at the write that counts it towards
    `received` (the function timed out, DynamoDB throttled); the platform delivers it again. The
    count is in the line's own transaction, so the redelivery, finding no line, counts it once:
    a line written without its count would make every redelivery skip it for good."""
    rig.changed()
    order = rig.fakes["douyin"].place_order(*IDS["douyin"], 2)
    assert order is not None
    client = rig.sync_services.inbound.channels.client
    state_pk = json.dumps(keys.sync_state_key("douyin", SKU)[0])
    failed: list[str] = []

    def the_count_fails_once(params: dict[str, Any], **_: Any) -> None:
        if not failed and state_pk in json.dumps(params, default=str):
            failed.append("count")
            raise ConnectionError("the write that counts the order did not get through")

    events = ("before-parameter-build.dynamodb.UpdateItem", "before-parameter-build.dynamodb.TransactWriteItems")
    for event in events:
        client.meta.events.register(event, the_count_fails_once)
    try:
        with pytest.raises(ConnectionError):
            rig.push("douyin", order, "created")
    finally:
        for event in events:
            client.meta.events.unregister(event, the_count_fails_once)
    assert failed == ["count"]
    assert list(rig.push("douyin", order, "created").values()) == ["held"]
    rig.world.drain()
    assert rig.state("douyin")["received"] == 2


def test_a_cancel_that_meets_the_paid_message_still_takes_its_units_off_received(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The platform sends paid and cancelled for one order at once: the cancel reads the line as
    created, the paid message moves it to paid, and the cancel's move from created is refused.
    It reads the line again and moves it from paid: received comes back to 0, not 2 for good
    (which would show Douyin 2 units short after the next read-back, or 2 too many in shared mode)."""
    rig.changed()
    order = rig.order("douyin", 2)
    assert rig.state("douyin")["received"] == 2
    channels = rig.sync_services.inbound.channels
    read_line = channels.order_line
    paid: list[dict[str, str]] = []

    def paid_lands_after_the_read(channel_id: str, order_id: str, sku_id: str) -> dict[str, Any] | None:
        line = read_line(channel_id, order_id, sku_id)
        if not paid:
            paid.append(rig.push("douyin", order, "paid"))
        return line

    monkeypatch.setattr(channels, "order_line", paid_lands_after_the_read)
    assert list(rig.push("douyin", order, "cancelled").values()) == ["cancelled"]
    monkeypatch.undo()
    assert [list(outcome.values()) for outcome in paid] == [["confirmed"]]
    line = channels.order_line("douyin", order.order_id, SKU)
    assert line is not None and line["status"] == "cancelled"
    rig.world.drain()
    assert rig.state("douyin")["received"] == 0
    view = rig.world.stock.view(SKU)
    assert (view.held, view.sold, view.pools["shared"]) == (0, 0, 52), "confirmed, then refunded to shared"


def test_a_cancel_that_overtakes_the_created_message_keeps_it_from_placing_a_hold(rig: Rig) -> None:
    """Platforms do not promise order: the buyer's cancel reaches us before the order's created
    message. The cancel leaves a cancelled line; the created message then places no hold (one would
    keep 2 units from every other buyer until its payment window ran out) and counts nothing."""
    rig.changed()
    order = rig.fakes["douyin"].place_order(*IDS["douyin"], 2)
    assert order is not None
    rig.fakes["douyin"].cancel_order(order)
    assert list(rig.push("douyin", order, "cancelled").values()) == ["cancelled:before-created"]
    assert list(rig.push("douyin", order, "created").values()) == ["cancelled:no-hold"]
    rig.world.drain()
    view = rig.world.stock.view(SKU)
    assert (view.held, view.pools["channel:douyin"]) == (0, 30)
    assert int(rig.state("douyin").get("received", 0)) == 0
    rig.changed()
    assert rig.shown("douyin") == 30


def test_a_paid_message_that_overtakes_the_created_message_is_held_and_sold(rig: Rig) -> None:
    """The payment reaches us before the order's created message. Acknowledged and dropped, the hold
    the created message then placed would expire unpaid and its units be sold again while the
    platform ships the paid order: the paid message places the hold and confirms it."""
    rig.changed()
    order = rig.fakes["douyin"].place_order(*IDS["douyin"], 2)
    assert order is not None
    assert list(rig.push("douyin", order, "paid").values()) == ["confirmed"]
    rig.world.drain()
    assert list(rig.push("douyin", order, "created").values()) == ["held"]  # the same hold, once
    rig.world.drain()
    view = rig.world.stock.view(SKU)
    assert (view.sold, view.held, view.pools["channel:douyin"]) == (2, 0, 28)
    assert rig.state("douyin")["received"] == 2 and rig.state("douyin")["orders"] == 1
    line = rig.sync_services.inbound.channels.order_line("douyin", order.order_id, SKU)
    assert line is not None and line["status"] == "paid"


def test_a_payment_for_a_hold_that_expired_first_is_counted_as_platform_side_oversell(rig: Rig) -> None:
    """The platform took the payment after LiveStock let the hold expire (its units may be sold
    again): the merchant must see it, as a refused order the platform accepted."""
    rig.changed()
    order = rig.order("douyin", 1)
    hold = rig.world.holds.holds.get_hold(keys.hold_id_for("douyin", order.order_id, SKU))
    assert hold is not None
    assert rig.world.holds.return_units(hold, HoldStatus.EXPIRED, "expire", "system:sweeper")
    assert list(rig.push("douyin", order, "paid").values()) == ["not-confirmed:INVALID_STATE"]
    assert list(rig.push("douyin", order, "paid").values()) == ["not-confirmed:INVALID_STATE"]  # counted once
    state = rig.state("douyin")
    assert (state["orders_refused"], state["units_refused"]) == (1, 1)


def test_a_cancel_that_comes_while_the_hold_is_placed_releases_it(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cancel is handled between the created message's line and its hold: it finds no hold to
    release. The created message sees the line cancelled once its hold is placed and releases it,
    once the hold has settled: here the stream has not run yet, so the push is answered with an
    error and the platform delivers it again."""
    rig.changed()
    order = rig.fakes["douyin"].place_order(*IDS["douyin"], 2)
    assert order is not None
    holds = rig.sync_services.inbound.holds
    place = holds.place
    cancels: list[dict[str, str]] = []

    def cancel_first(request: Any) -> Any:
        cancels.append(rig.push("douyin", order, "cancelled"))
        return place(request)

    monkeypatch.setattr(holds, "place", cancel_first)
    with pytest.raises(RequestInProgress):
        rig.push("douyin", order, "created")
    monkeypatch.undo()
    assert rig.world.stock.view(SKU).pools["channel:douyin"] == 28, "the hold took its units"
    rig.world.drain()
    assert list(rig.push("douyin", order, "created").values()) == ["cancelled"]
    assert [list(outcome.values()) for outcome in cancels] == [["cancelled:no-hold"]]
    rig.world.drain()
    view = rig.world.stock.view(SKU)
    assert (view.held, view.pools["channel:douyin"]) == (0, 30)
    assert rig.state("douyin")["received"] == 0


def test_credentials_are_read_from_secrets_manager_with_powertools(world: World) -> None:
    creds = PlatformCredentials(app_key="k", app_secret="s" * 32, access_token="t")
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="livestock/douyin", SecretString=creds.model_dump_json()
    )
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/livestock/kuaishou", Value=json.dumps({"app_key": "kk"}), Type="SecureString"
    )
    source = ParameterCredentials(max_age_s=60)
    assert source.get("secretsmanager:livestock/douyin") == creds
    assert source.get("ssm:/livestock/kuaishou").app_key == "kk"
    assert "s" * 32 not in repr(creds)


def test_an_order_not_yet_settled_needs_no_call_either(rig: Rig) -> None:
    """The decrement counts the units as taken by the channel in the same write: a hold the stream
    has not settled yet moves neither what the platform should show nor what it was told."""
    rig.changed()
    calls = rig.fakes["douyin"].stats.calls
    order = rig.fakes["douyin"].place_order(*IDS["douyin"], 2)
    assert order is not None
    rig.push("douyin", order, "created")  # held on our side, not drained
    assert rig.changed()["douyin"] == "unchanged"
    assert rig.fakes["douyin"].stats.calls == calls
    assert rig.shown("douyin") == 28


def test_a_holder_goes_straight_on_when_a_newer_change_is_asked_during_its_round(rig: Rig) -> None:
    """While changes keep coming, a round's last write (the acknowledgement) answers the newer
    sequence: the holder starts the next round without trying to let go or reading the state,
    takes no separate renewal before a first call (the outbox's write is it), and its log records
    are written before it returns."""
    sync = rig.sync_services.sync
    channel = rig.channel("taobao")
    writes: dict[str, int] = {"release_lease": 0, "state": 0, "renew": 0}
    for name in writes:
        original = getattr(sync.channels, name)

        def counted(*args: Any, _name: str = name, _original: Any = original) -> Any:
            writes[_name] += 1
            return _original(*args)

        setattr(sync.channels, name, counted)
    read = sync.snapshots.read
    rounds: list[int] = []

    def a_change_arrives_during_the_first_three_rounds(sku_id: str) -> Any:
        snapshot = read(sku_id)
        rounds.append(len(rounds) + 1)
        if len(rounds) <= 3:
            rig.world.stock.receive(SKU, 10, f"late-{len(rounds)}", "erp")
            assert sync.channels.ask("taobao", SKU, len(rounds) + 1, time.time())[0]
        return snapshot

    sync.snapshots.read = a_change_arrives_during_the_first_three_rounds  # type: ignore[method-assign]
    assert sync.sync(channel, SKU, 1, time.time()) == "applied"
    assert rounds == [1, 2, 3, 4]
    assert writes == {"release_lease": 1, "state": 0, "renew": 0}
    assert rig.shown("taobao") == 63  # floor(0.5 x 130 sellable) - 2: the 30 received counted
    assert len(sync.channels.logs("taobao", SKU)) == 4
    assert rig.state("taobao").get("lease_owner") is None


class Killed(BaseException):
    """The function's process ending mid-call (what no `except Exception` catches)."""


def test_a_holder_killed_after_its_outbox_write_leaves_the_change_to_be_read_back(rig: Rig) -> None:
    """The outbox's write also marks the change as possibly sent: a holder killed before its call
    landed leaves the next one to read the delta-only platform back (not applied) and send it once."""
    rig.changed()
    kuaishou_calls: list[str] = []

    def dies_before_the_first_stock_call(
        method: str, url: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> Any:
        if "/open/item/" in url:
            kuaishou_calls.append(url.rsplit("/open/", 1)[1])
            if kuaishou_calls == ["item/sku/stock/update"]:
                raise Killed
        return http_transport(method, url, body, headers, timeout)

    rig.transport = dies_before_the_first_stock_call
    rig.sync_services = rig.build()
    rig.world.stock.allocate(SKU, AllocationRequest(pools={"channel:douyin": 30, "channel:kuaishou": 25}), "op")
    with pytest.raises(Killed):
        rig.changed()
    left = rig.state("kuaishou")
    assert left["outbox"]["delta"] == 5 and left["attempted_op"] == left["outbox"]["op_id"]
    rig.changed()
    assert kuaishou_calls == ["item/sku/stock/update", "item/get", "item/sku/stock/update"]  # looked, then sent
    assert rig.shown("kuaishou") == 25
    assert rig.fakes["kuaishou"].stats.duplicates_applied == 0
    assert rig.state("kuaishou")["sent"] == 25


def test_a_holder_near_its_timeout_hands_over_and_the_sweep_takes_what_it_left(rig: Rig) -> None:
    """Changes that keep coming would keep a holder going past its invocation's timeout (killed
    with the lease held). Past `follow_until` it starts no further round: it lets go with the
    newer change still asked, which the next ask, or else the minute's sweep, takes over."""
    sync = rig.sync_services.sync
    channel = rig.channel("taobao")
    read = sync.snapshots.read

    def a_change_arrives_during_each_round(sku_id: str) -> Any:
        snapshot = read(sku_id)
        rig.world.stock.receive(SKU, 10, f"late-{uuid.uuid4().hex}", "erp")
        wanted = int(sync.channels.state("taobao", SKU).get("wanted", 0))
        assert sync.channels.ask("taobao", SKU, wanted + 1, time.time())[0]
        return snapshot

    sync.snapshots.read = a_change_arrives_during_each_round  # type: ignore[method-assign]
    assert sync.sync(channel, SKU, 1, time.time(), follow_until=time.time() - 1) == "applied"
    left = rig.state("taobao")
    assert left.get("lease_owner") is None
    assert int(left["wanted"]) == 2 and int(left["sequence"]) == 1, "one round, the newer change left asked"
    assert rig.shown("taobao") == 48  # floor(0.5 x 100) - 2: what the one round read
    sync.snapshots.read = read  # type: ignore[method-assign]
    assert sync.resync()["taobao/" + SKU] == "applied"
    assert rig.shown("taobao") == 53  # floor(0.5 x 110) - 2
    assert int(rig.state("taobao")["sequence"]) == 2


def test_stock_changes_and_the_sweep_follow_until_the_remaining_time_less_the_margin(rig: Rig) -> None:
    sync = rig.sync_services.sync
    sync.clock = lambda: 1000.0
    seen: list[float | None] = []

    def recorded(
        channel: dict[str, Any], sku_id: str, sequence: int, seen_at: float, follow_until: float | None = None
    ) -> str:
        seen.append(follow_until)
        return "unchanged"

    sync.sync = recorded  # type: ignore[method-assign,assignment]
    rig.changed()
    rig.changed(remaining_ms=60_000)
    assert seen == [None] * 3 + [1000.0 + 60 - sync.settings.handover_margin_s] * 3
    seen.clear()
    sync.resync(remaining_ms=60_000)  # never synced (the recorder syncs nothing): all three are due
    assert seen == [1000.0 + 60 - sync.settings.handover_margin_s] * 3
    seen.clear()
    margin_ms = int(sync.settings.handover_margin_s * 1000)
    assert sync.resync(remaining_ms=margin_ms - 1) == {} and seen == [], "too near the timeout to start one"


def test_a_holder_whose_lease_was_taken_over_stops_quietly(rig: Rig) -> None:
    """A holder that finds, at its round's write, that another owns the lease (it ran out) leaves
    the syncing to that owner: no failure, no further round."""
    sync = rig.sync_services.sync
    channel = rig.channel("douyin")
    read = sync.snapshots.read
    rounds: list[str] = []

    def another_takes_the_lease(sku_id: str) -> Any:
        rounds.append(sku_id)
        sync.channels.take_lease("douyin", SKU, "another", time.time() + 60, 30)  # as if ours ran out
        return read(sku_id)

    rig.changed()
    sync.snapshots.read = another_takes_the_lease  # type: ignore[method-assign]
    assert sync.sync(channel, SKU, 0, time.time()) == "coalesced"  # nothing to send: an unchanged round
    rig.world.stock.allocate(SKU, AllocationRequest(pools={"channel:douyin": 35, "channel:kuaishou": 20}), "op")
    calls = rig.fakes["douyin"].stats.calls
    sync.channels.drop_lease("douyin", SKU, "another")
    assert sync.sync(channel, SKU, 0, time.time()) == "coalesced"  # a change to send: nothing sent
    assert rounds == [SKU, SKU]
    assert rig.fakes["douyin"].stats.calls == calls
    assert rig.state("douyin")["lease_owner"] == "another"
