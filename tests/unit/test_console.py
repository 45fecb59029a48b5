"""The live console on moto: tokens (hashed, expiring), what a connection may see, the fan-out's
coalescing and its 410 handling, the operator actions' authorisation; and the console functions
on their sample events from events/."""

import json
from collections.abc import Iterator
from typing import Any

import pytest

from livestock import wiring
from livestock.dal.registry import RegistryRevision
from livestock.logic.quota_move import QuotaMover
from livestock.logic.sessions import SessionService
from livestock.models.console import FeedItem, QuotaMoveRequest, TokenRequest
from livestock.models.exceptions import ConsoleForbidden, ConsoleUnauthorized, NoStagedRelease, SessionNotFound
from livestock.models.input import AllocationRequest, HoldRequest, SetSkuRequest
from livestock.models.sessions import SessionRequest
from livestock.settings import ConsoleSettings
from livestock_local.lambda_runtime import LocalLambda
from livestock_local.template import ROOT, Template
from tests.unit.conftest import INVENTORY, LEDGER, World

CONSOLE = "livestock-ConsoleTable"
EVENTS = "livestock-EventsTable"
INTERVAL = 0.25


class FakePoster:
    """The management API: what each connection was sent; connections in `gone` answer 410."""

    def __init__(self) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = {}
        self.gone: set[str] = set()

    def post(self, connection_id: str, data: bytes) -> bool:
        if connection_id in self.gone:
            return False
        self.sent.setdefault(connection_id, []).append(json.loads(data))
        return True


class Console:
    def __init__(self, world: World) -> None:
        world.client.create_table(**Template().create_table_request("ConsoleTable", CONSOLE))
        world.client.create_table(**Template().create_table_request("EventsTable", EVENTS))
        self.world = world
        self.poster = FakePoster()

        self.on_sleep: list[Any] = []

        def sleep(seconds: float) -> None:
            world.clock.now += seconds
            for action in self.on_sleep:
                action()

        self.services = wiring.build_console(
            ConsoleSettings(console_table_name=CONSOLE, events_table_name=EVENTS, console_push_interval_s=INTERVAL),
            world.services,
            poster=self.poster,
            client=world.client,
            clock=world.clock,
            sleep=sleep,
        )
        self.sessions = SessionService(world.stores.sessions, world.services.stock.runner, no_alerts, world.clock)

    def session(self, session_id: str, skus: list[str], channels: tuple[str, ...] = ("douyin", "kuaishou")) -> None:
        for sku in skus:
            self.world.stock.set_sku(sku, SetSkuRequest(name=f"Tee {sku}", on_hand=100), "test")
        request = SessionRequest.model_validate(
            {
                "title": f"Live {session_id}",
                "channels": list(channels),
                "starts_at": "2027-01-15T12:00:00Z",
                "ends_at": "2027-01-15T14:00:00Z",
                "lineup": [{"sku_id": sku} for sku in skus],
            },
            strict=False,
        )
        self.sessions.put(session_id, request, "test")

    def token(self, session_id: str, operate: bool = True, ttl_s: int = 3600) -> str:
        request = TokenRequest(session_id=session_id, operate=operate, ttl_s=ttl_s)
        return self.services.tokens.mint(request, "host", "https://x/live/console", "wss://y/live").token

    def connect(self, connection_id: str, token: str) -> None:
        stored = self.services.socket.authorize(token)
        self.services.socket.connect(connection_id, stored.session_id, stored.operate, stored.expires_at)

    def subscribe(self, connection_id: str, **message: Any) -> bool:
        return self.services.socket.subscribe(connection_id, json.dumps({"action": "subscribe", **message}))

    def stock_changed(self, sku_id: str, sequence: int, registry_revision: int | None = None) -> int:
        detail = {
            "version": 1,
            "event_id": f"{sku_id}:StockChanged:{sequence}",
            "occurred_at": self.world.clock.now,
            "registry_revision": registry_revision,
            "sku_id": sku_id,
            "sequence": sequence,
            "figures": {"on_hand": 100, "sellable": 100, "pools": {"shared": 100}, "channels": {}, "paused": False},
        }
        return self.services.fanout.handle("StockChanged", detail)


def no_alerts(sku_id: str, tiers_pct: list[int]) -> object:
    """Sessions set alert tiers in the events table, which these tests do not have."""
    return None


@pytest.fixture
def console(world: World) -> Console:
    return Console(world)


def test_a_token_is_stored_only_as_its_hash_and_stops_working_when_it_expires(console: Console) -> None:
    console.session("s1", ["a"])
    token = console.token("s1", ttl_s=60)
    stored = json.dumps(console.world.client.scan(TableName=CONSOLE)["Items"])
    assert token not in stored
    assert console.services.tokens.verify(token).session_id == "s1"
    console.world.clock.now += 61
    with pytest.raises(ConsoleUnauthorized, match="expired"):
        console.services.tokens.verify(token)
    for wrong in (None, "", "x" * 43, "x" * 5000):
        with pytest.raises(ConsoleUnauthorized):
            console.services.tokens.verify(wrong)
    with pytest.raises(SessionNotFound):
        console.token("no-such-session")


def test_subscribe_sends_the_sessions_skus_and_refuses_another_session(console: Console) -> None:
    console.session("s1", ["a", "b"])
    console.session("s2", ["c"])
    console.connect("conn-1", console.token("s1", operate=False))
    assert console.subscribe("conn-1")
    snapshot = console.poster.sent["conn-1"][-1]
    assert snapshot["type"] == "snapshot"
    assert [p["sku_id"] for p in snapshot["skus"]] == ["a", "b"]
    assert snapshot["skus"][0]["channels"] == {"douyin": 100, "kuaishou": 100}
    assert snapshot["session"] == {
        "session_id": "s1",
        "title": "Live s1",
        "status": "planned",
        "channels": ["douyin", "kuaishou"],
        "operate": False,
        "token_expires_at": pytest.approx(console.world.clock.now + 3600),
    }
    assert not console.subscribe("conn-1", session_id="s2")
    assert console.poster.sent["conn-1"][-1] == {
        "type": "error",
        "code": "FORBIDDEN",
        "message": "the token is for another session",
    }
    assert not console.subscribe("conn-1", sku_ids=["c"])
    assert console.poster.sent["conn-1"][-1]["code"] == "FORBIDDEN"
    assert not console.services.socket.subscribe("conn-1", '{"action": "subscribe", "extra": 1}')
    assert console.poster.sent["conn-1"][-1]["code"] == "VALIDATION_ERROR"


def test_an_open_console_hears_its_session_only_until_its_token_expires(console: Console) -> None:
    """The authorizer checks the token at $connect only: a page kept open (or one sending subscribe
    again to renew its place) must not go on receiving the live after its token expired."""
    console.session("s1", ["a"])
    console.connect("short", console.token("s1", ttl_s=60))
    console.connect("long", console.token("s1", ttl_s=3600))
    assert console.subscribe("short") and console.subscribe("long")
    console.world.clock.now += 61
    console.poster.sent.clear()
    assert console.stock_changed("a", 1) == 1
    assert set(console.poster.sent) == {"long"}
    assert not console.subscribe("short")
    assert console.poster.sent["short"][-1]["code"] == "UNAUTHORIZED"
    assert console.services.socket.store.get_connection("short") is None


def test_a_burst_of_events_makes_one_message_per_slot_and_only_for_the_sessions_watching(console: Console) -> None:
    console.session("s1", ["a", "b"])
    console.session("s2", ["c"])
    for connection, session in (("one", "s1"), ("two", "s1"), ("other", "s2")):
        console.connect(connection, console.token(session))
        assert console.subscribe(connection)
    console.poster.sent.clear()
    # A slot's sender waits for the slot's end; a call in the same slot marks and leaves.
    sent = [console.stock_changed("a", 1)]
    console.world.clock.now -= INTERVAL  # the burst's other events arrive within that slot
    sent += [console.stock_changed(sku, n) for n, sku in enumerate(["a", "b", "a", "b", "a"], start=2)]
    assert sent == [2, 0, 0, 0, 0, 0]
    assert set(console.poster.sent) == {"one", "two"}
    first = console.poster.sent["one"]
    assert len(first) == 1 and first[0]["type"] == "update"
    assert [p["sku_id"] for p in first[0]["skus"]] == ["a"]
    # What arrived while the first push was being sent goes in the next slot's push, once.
    console.world.clock.now += INTERVAL
    assert console.stock_changed("a", 7) == 2
    assert [[p["sku_id"] for p in m["skus"]] for m in console.poster.sent["one"]] == [["a"], ["a", "b"]]
    assert "other" not in console.poster.sent
    first_slot, second_slot = (m["slot"] for m in console.poster.sent["one"])
    assert second_slot == first_slot + 1, "each update names the slot it was sent for"


def test_the_fan_out_reads_who_watches_once_per_registry_revision(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A subscribe bumps the revision before its snapshot: the next event, stamped with it, finds
    the new console; events of an older revision are served from the fan-out's copy."""
    console.session("s1", ["a"])
    reads: list[str] = []
    watches = console.services.store.watches

    def counted(sku_id: str) -> dict[str, float]:
        reads.append(sku_id)
        return watches(sku_id)

    monkeypatch.setattr(console.services.fanout._watches, "load", counted)
    registry = RegistryRevision(EVENTS, console.world.client)
    before = registry.current()
    for sequence in (1, 2):
        console.world.clock.now += INTERVAL
        assert console.stock_changed("a", sequence, before) == 0
    assert reads == ["a"], "nobody watches yet, and the second event did not ask again"
    console.connect("conn-1", console.token("s1"))
    assert console.subscribe("conn-1")
    assert registry.current() == before + 1
    console.world.clock.now += INTERVAL
    assert console.stock_changed("a", 3, before + 1) == 1, "the new console gets the next change"
    console.world.clock.now += INTERVAL
    assert console.stock_changed("a", 4, before + 1) == 1
    assert reads == ["a", "a"]


def test_a_sku_still_settling_is_pushed_again_until_held_is_counted(console: Console) -> None:
    console.session("s1", ["a"])
    console.connect("c", console.token("s1"))
    assert console.subscribe("c")
    console.world.holds.place(HoldRequest(channel="douyin", order_id="o1", sku_id="a", quantity=3))
    sleeps: list[int] = []

    def stream_settles_after_the_first_push() -> None:
        sleeps.append(1)
        if len(sleeps) == 2:
            console.world.drain()

    console.on_sleep.append(stream_settles_after_the_first_push)
    assert console.stock_changed("a", 1) == 2
    pushed = [(p["sellable"], p["held"], p["in_flight"]) for m in console.poster.sent["c"][1:] for p in m["skus"]]
    assert pushed == [(97, 0, 3), (97, 3, 0)]


def test_a_connection_that_answers_410_is_dropped(console: Console) -> None:
    console.session("s1", ["a"])
    console.connect("gone", console.token("s1"))
    console.connect("here", console.token("s1"))
    assert console.subscribe("gone") and console.subscribe("here")
    console.poster.gone.add("gone")
    assert console.stock_changed("a", 1) == 1
    assert console.services.store.get_connection("gone") is None
    assert console.services.store.session_connections("s1", console.world.clock.now) == ["here"]


def test_alerts_set_the_tier_and_feed_and_a_stage_release_its_countdown(console: Console) -> None:
    console.session("s1", ["a"])
    console.connect("c", console.token("s1"))
    assert console.subscribe("c")
    now = console.world.clock.now
    alert = json.loads((ROOT / "events/console_fanout/AlertRaised.json").read_text())["detail"]
    console.services.fanout.handle("AlertRaised", {**alert, "sku_id": "a", "occurred_at": now})
    console.world.clock.now += 1
    stage = {
        "version": 1,
        "event_id": "st-1",
        "occurred_at": now + 1,
        "sku_id": "a",
        "campaign_id": "flash-a",
        "session_id": "s1",
        "stage": 2,
        "quantity": 300,
        "target_pool": "shared",
        "scheduled_at": now,
        "released_at": now + 1,
        "actor": "system:campaign",
        "stages_released": 2,
        "stages_total": 3,
        "pending_units": 400,
        "next_stage_at": now + 300,
    }
    console.services.fanout.handle("StageReleased", stage)
    panels = [p for m in console.poster.sent["c"][1:] for p in m["skus"]]
    alerts = [a for m in console.poster.sent["c"][1:] for a in m["alerts"]]
    assert panels[-1]["tier"]["severity"] == alert["severity"] and panels[-1]["tier"]["tier_pct"] == alert["tier_pct"]
    assert panels[-1]["stage"]["next_stage_at"] == now + 300
    assert [a["detail_type"] for a in alerts] == ["AlertRaised", "StageReleased"]
    assert alerts[1]["message"] == "Stage 2 released (300 units)"
    # A later console sees the feed in its snapshot.
    console.connect("late", console.token("s1"))
    assert console.subscribe("late")
    assert [a["event_id"] for a in console.poster.sent["late"][0]["alerts"]] == [alert["event_id"], "st-1"]


def test_alerts_taken_for_a_push_that_failed_go_out_with_the_next(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another event's alert waits in the session's marks (its call lost the slot). This event's
    push takes both and fails (the management API throttled). Lambda retries this event only; the
    other alert must still reach the console, not stay taken by the push that failed."""
    console.session("s1", ["a"])
    console.connect("c", console.token("s1"))
    assert console.subscribe("c")
    now = console.world.clock.now
    waiting = FeedItem(
        event_id="low-a", detail_type="StockLow", severity="warn", message="a is low", sku_id="a", occurred_at=now
    )
    console.services.store.mark_pending("s1", {"a"}, [waiting])
    alert = json.loads((ROOT / "events/console_fanout/AlertRaised.json").read_text())["detail"]
    alert = {**alert, "sku_id": "a", "occurred_at": now}
    post = console.poster.post

    def throttled(connection_id: str, data: bytes) -> bool:
        raise ConnectionError("the management API throttled the post")

    monkeypatch.setattr(console.poster, "post", throttled)
    with pytest.raises(ConnectionError):
        console.services.fanout.handle("AlertRaised", alert)
    monkeypatch.setattr(console.poster, "post", post)
    console.world.clock.now += 1
    console.services.fanout.handle("AlertRaised", alert)  # Lambda's retry of this event
    pushed = [a["event_id"] for m in console.poster.sent["c"][1:] for a in m["alerts"]]
    assert sorted(pushed) == sorted(["low-a", alert["event_id"]])


def test_a_stage_release_without_a_model_is_still_validated(console: Console) -> None:
    with pytest.raises(ValueError, match="event_id"):
        console.services.fanout.handle("StageReleased", {"occurred_at": 1.0, "sku_id": "a"})


def test_operator_actions_need_an_operate_token_for_the_skus_session(console: Console) -> None:
    console.session("s1", ["a"])
    console.session("s2", ["b"])
    console.world.stock.allocate("a", AllocationRequest(pools={"channel:douyin": 40, "reserve": 10}), "test")
    actions = console.services.actions
    operate, watch, other = console.token("s1"), console.token("s1", operate=False), console.token("s2")
    with pytest.raises(ConsoleForbidden, match="operator"):
        actions.set_paused(watch, "s1", "a", True)
    with pytest.raises(ConsoleForbidden, match="another session"):
        actions.set_paused(other, "s1", "a", True)
    with pytest.raises(ConsoleForbidden, match="lineup"):
        actions.set_paused(operate, "s1", "b", True)
    with pytest.raises(ConsoleUnauthorized):
        actions.set_paused(None, "s1", "a", True)
    assert actions.set_paused(operate, "s1", "a", True).paused
    assert not actions.set_paused(operate, "s1", "a", False).paused
    moved = actions.move_quota(
        operate, "s1", "a", QuotaMoveRequest(from_channel="douyin", to_channel="kuaishou", quantity=15)
    )
    assert (moved.pools["channel:douyin"], moved.pools["channel:kuaishou"], moved.pools["shared"]) == (25, 15, 50)
    back = actions.move_quota(
        operate, "s1", "a", QuotaMoveRequest(from_channel="kuaishou", to_channel="shared", quantity=15)
    )
    assert (back.pools["channel:kuaishou"], back.pools["shared"]) == (0, 65)
    assert actions.release_reserve(operate, "s1", "a", 4)["released"] == 4
    with pytest.raises(NoStagedRelease):
        actions.next_stage(operate, "s1", "a")


def test_a_consoles_quota_move_stays_within_its_lives_platforms(console: Console) -> None:
    """A Douyin and Kuaishou live's console moves units between those two and shared, not out of
    (or into) the quota of a platform the live does not sell on."""
    console.session("s1", ["a"])
    console.world.stock.allocate("a", AllocationRequest(pools={"channel:taobao": 30}), "test")
    actions, operate = console.services.actions, console.token("s1")
    for giver, taker in (("taobao", "douyin"), ("shared", "wechat")):
        with pytest.raises(ConsoleForbidden, match="does not sell"):
            actions.move_quota(operate, "s1", "a", QuotaMoveRequest(from_channel=giver, to_channel=taker, quantity=5))
    assert console.world.stock.view("a").pools["channel:taobao"] == 30
    moved = actions.move_quota(
        operate, "s1", "a", QuotaMoveRequest(from_channel="shared", to_channel="douyin", quantity=5)
    )
    assert moved.pools["channel:douyin"] == 5


def test_a_token_acts_only_on_its_own_live_not_after_it_nor_on_a_sku_another_live_has(console: Console) -> None:
    """Tokens last hours. Session s1 ends; s2 goes live with the same SKU: s1's operate token must
    not pause it, and s2's planned rival s3 may not act on it either."""
    console.session("s1", ["a"])
    console.session("s2", ["a"])
    console.session("s3", ["a"])
    actions = console.services.actions
    first, second, third = console.token("s1"), console.token("s2"), console.token("s3")
    console.sessions.start("s1", "host")
    assert actions.set_paused(first, "s1", "a", True).paused
    assert not actions.set_paused(first, "s1", "a", False).paused
    console.sessions.end("s1", "host")
    with pytest.raises(ConsoleForbidden, match="ended"):
        actions.set_paused(first, "s1", "a", True)
    console.sessions.start("s2", "host")
    with pytest.raises(ConsoleForbidden, match="another session"):
        actions.release_reserve(third, "s3", "a", 1)
    assert actions.set_paused(second, "s2", "a", True).paused


def test_a_consoles_moving_action_sent_again_with_its_key_moves_once(console: Console) -> None:
    """A press whose answer was lost is sent again by the page with the same idempotency key."""
    console.session("s1", ["a"])
    console.world.stock.allocate("a", AllocationRequest(pools={"channel:douyin": 40, "reserve": 10}), "test")
    actions, operate = console.services.actions, console.token("s1")
    move = QuotaMoveRequest(from_channel="douyin", to_channel="kuaishou", quantity=15)
    for _ in range(2):
        moved = actions.move_quota(operate, "s1", "a", move, key="press-1")
        assert (moved.pools["channel:douyin"], moved.pools["channel:kuaishou"]) == (25, 15)
        released = actions.release_reserve(operate, "s1", "a", 4, key="press-2")
        assert released["released"] == 4
    assert console.world.stock.view("a").pools["reserve"] == 6
    assert actions.release_reserve(operate, "s1", "a", 4, key="press-3")["released"] == 4, "a new press"
    assert console.world.stock.view("a").pools["reserve"] == 2


# --- the functions on their sample events ------------------------------------------------------


@pytest.fixture
def functions(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, LocalLambda]]:
    world.client.create_table(**Template().create_table_request("ConsoleTable", CONSOLE))
    world.client.create_table(**Template().create_table_request("EventsTable", EVENTS))
    monkeypatch.setenv("INVENTORY_TABLE_NAME", INVENTORY)
    monkeypatch.setenv("LEDGER_TABLE_NAME", LEDGER)
    monkeypatch.setenv("CONSOLE_TABLE_NAME", CONSOLE)
    monkeypatch.setenv("EVENTS_TABLE_NAME", EVENTS)
    monkeypatch.setenv("CONSOLE_PUSH_INTERVAL_S", "0.05")
    wiring.reset()
    tables = {"InventoryTable": INVENTORY, "LedgerTable": LEDGER, "EventsTable": EVENTS, "ConsoleTable": CONSOLE}
    loaded = {f.logical_id: f for f in Template().functions(tables) if f.logical_id.startswith("Console")}
    monkeypatch.setenv("CONSOLE_MANAGEMENT_ENDPOINT", "https://w1x2y3z4.execute-api.us-east-1.amazonaws.com/live")
    yield {name: LocalLambda(f, play_iam=True) for name, f in loaded.items()}
    wiring.reset()


def sample(name: str, token: str | None = None) -> dict[str, Any]:
    text = (ROOT / "events" / name).read_text()
    if token is not None:
        text = text.replace("REPLACE_WITH_A_CONSOLE_TOKEN_minted_by_post", token)
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def test_the_console_functions_on_their_sample_events(functions: dict[str, LocalLambda], world: World) -> None:
    world.stock.set_sku("tee-black-m", SetSkuRequest(name="Black tee M", on_hand=500), "test")
    world.stock.allocate("tee-black-m", AllocationRequest(pools={"channel:douyin": 200}), "test")
    sessions = SessionService(world.stores.sessions, world.services.stock.runner, no_alerts, world.clock)
    request = json.loads((ROOT / "events/sessions_api/put_session.json").read_text())["body"]
    plan = SessionRequest.model_validate_json(request, strict=False)
    sessions.put("live-2027-01-15", plan.model_copy(update={"lineup": plan.lineup[:1]}), "test")
    api = functions["ConsoleApiFunction"]
    minted = api.invoke(sample("console_api/mint_token.json"))
    assert minted["statusCode"] == 201, minted
    token = json.loads(minted["body"])["token"]
    assert (
        json.loads(minted["body"])["console_url"]
        == f"https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/live/console#token={token}"
    )
    page = api.invoke(sample("console_api/page.json"))
    assert page["statusCode"] == 200 and "<title>LiveStock console</title>" in page["body"]
    headers = {k.lower(): v for k, v in (page.get("multiValueHeaders") or page.get("headers") or {}).items()}
    assert "text/html" in str(headers["content-type"]) and "default-src 'self'" in str(
        headers["content-security-policy"]
    )
    refused = api.invoke(sample("console_api/pause.json"))
    assert (refused["statusCode"], json.loads(refused["body"])["code"]) == (401, "UNAUTHORIZED")
    # No token is refused before the body is read, as an authorizer's missing identity source is.
    unreadable = {**sample("console_api/move_quota.json"), "body": '{"from": 1}'}
    unreadable["headers"] = {k: v for k, v in unreadable["headers"].items() if k != "authorization"}
    unreadable["multiValueHeaders"] = {k: v for k, v in unreadable["multiValueHeaders"].items() if k != "authorization"}
    refused = api.invoke(unreadable)
    assert (refused["statusCode"], json.loads(refused["body"])["details"]) == (401, {})
    assert api.invoke({**sample("console_api/move_quota.json", token), "body": '{"from": 1}'})["statusCode"] == 422
    paused = api.invoke(sample("console_api/pause.json", token))
    assert paused["statusCode"] == 200 and json.loads(paused["body"])["paused"] is True
    moved = api.invoke(sample("console_api/move_quota.json", token))
    assert json.loads(moved["body"])["pools"]["channel:kuaishou"] == 100, moved
    # The function moves through the quota mover, which lowers a giving quota platform first
    # (tests/unit/test_platform_sync.py); with no channel registered here, the units move at once.
    assert isinstance(wiring.console_services().actions.quota_mover, QuotaMover)

    allowed = functions["ConsoleAuthorizerFunction"].invoke(sample("console_authorizer/connect.json", token))
    assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert allowed["context"]["session_id"] == "live-2027-01-15" and allowed["context"]["operate"] is True
    with pytest.raises(PermissionError, match=r"^Unauthorized$"):
        functions["ConsoleAuthorizerFunction"].invoke(sample("console_authorizer/connect.json", "x" * 43))

    socket = functions["ConsoleSocketFunction"]
    assert socket.invoke(sample("console_socket/connect.json"))["statusCode"] == 200
    assert socket.invoke(sample("console_socket/subscribe.json"))["statusCode"] == 200
    fanout = functions["ConsoleFanoutFunction"]
    for name in ("StockChanged", "AlertRaised", "StageReleased"):
        assert fanout.invoke(sample(f"console_fanout/{name}.json"))["sent"] in (0, 1)
    assert socket.invoke(sample("console_socket/disconnect.json"))["statusCode"] == 200
    assert wiring.console_services().store.get_connection("Bx1cKeN5IAMCIbw=") is None
