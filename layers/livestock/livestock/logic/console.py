"""The live console: tokens, the WebSocket's connect/subscribe/disconnect, the fan-out of bus
events to the consoles watching, and the page's operator actions.

Coalescing. Time is cut in slots of `push_interval_s`. An event for a watched SKU adds the SKU (and
its alert, if any) to the session's pending set, then tries to claim the slot that ends next with a
conditional write. The one caller that wins waits for the slot's end, takes the pending set in one
write and sends one message per connection with every SKU in it, read fresh; the others are done,
as what they marked is taken by that sender (their mark was written before the slot ended). So a
connection gets at most one message per slot, and no change waits longer than one slot.
"""

import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from livestock import keys
from livestock.dal.console import ConsoleStore
from livestock.dal.registry import RegistryRevision
from livestock.events.models import DETAIL_TYPES, AlertRaised
from livestock.logic.quota_move import QuotaMover, pool_of
from livestock.logic.registry_copy import RegistryCopy
from livestock.logic.stock import StockService
from livestock.models.console import (
    CONNECTION_TTL_S,
    FEED_LENGTH,
    Connection,
    ConsoleToken,
    FeedItem,
    Push,
    PushError,
    QuotaMoveRequest,
    SessionCard,
    SkuPanel,
    SubscribeMessage,
    Tier,
    TokenIssued,
    TokenRequest,
)
from livestock.models.domain import SHARED
from livestock.models.exceptions import (
    ConsoleForbidden,
    ConsoleUnauthorized,
    NoStagedRelease,
    SessionNotFound,
    SkuNotFound,
)
from livestock.models.output import SkuView
from livestock.models.sessions import Session, SessionStatus, iso
from livestock.observability import logger

# What the fan-out rule routes here (template.yaml, ConsoleFanoutFunction).
CONSOLE_EVENT_TYPES = ("StockChanged", "StockLow", "SoldOut", "StageReleased", "AlertRaised")
# A push is sent this long after its slot's end, for clocks of two function instances that differ.
SLOT_MARGIN_S = 0.02
# Held and sold are counted by the stream after the pools move (and publish no event of their own):
# a sender keeps pushing a SKU with units in flight, one slot at a time, for at most this long.
SETTLE_FOLLOW_S = 8.0
FEED_TTL_S = 24 * 3600
POST_THREADS = 16


class Poster(Protocol):
    def post(self, connection_id: str, data: bytes) -> bool:
        """Sends one message; False when the connection is gone (410)."""
        ...


SessionReader = Callable[[str], Session | None]
# (session, SKU, actor, the page's idempotency key or None) -> the released stage's campaign.
StageReleaser = Callable[[str, str, str, str | None], dict[str, Any]]


class ConsoleTokens:
    def __init__(self, store: ConsoleStore, sessions: SessionReader, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.sessions = sessions
        self.clock = clock

    def mint(self, request: TokenRequest, actor: str, page_url: str, websocket_url: str) -> TokenIssued:
        if self.sessions(request.session_id) is None:
            raise SessionNotFound(f"no session {request.session_id}", {"session_id": request.session_id})
        now = self.clock()
        token = secrets.token_urlsafe(32)
        stored = ConsoleToken(
            session_id=request.session_id,
            operate=request.operate,
            expires_at=now + request.ttl_s,
            created_at=now,
            actor=actor,
        )
        self.store.put_token(token, stored)
        return TokenIssued(
            token=token,
            session_id=request.session_id,
            operate=request.operate,
            expires_at=iso(stored.expires_at) or "",
            console_url=f"{page_url}#token={token}",
            websocket_url=websocket_url,
        )

    def verify(self, token: str | None) -> ConsoleToken:
        """The stored token, if it exists and has not expired (TTL deletes late: checked here)."""
        if not token:
            raise ConsoleUnauthorized("a console token is required")
        stored = self.store.get_token(token) if len(token) <= 128 else None
        if stored is None:
            raise ConsoleUnauthorized("the console token is not valid")
        if stored.expires_at <= self.clock():
            raise ConsoleUnauthorized("the console token has expired", {"expired_at": iso(stored.expires_at)})
        return stored


@dataclass
class Panels:
    """Builds what the page shows of a SKU: the stock read now, with the tier and stage the
    fan-out recorded."""

    stock: StockService
    store: ConsoleStore
    clock: Callable[[], float] = time.time

    def build(self, session: Session, sku_ids: list[str]) -> list[SkuPanel]:
        extras = self.store.panels(session.session_id)
        panels = []
        for sku_id in sku_ids:
            try:
                view = self.stock.view(sku_id)
            except SkuNotFound:
                continue
            panels.append(self.panel(view, session.channels, extras.get(sku_id, {})))
        return panels

    def panel(self, view: SkuView, channels: list[str], extras: dict[str, Any]) -> SkuPanel:
        shared = view.pools.get("shared", 0)
        return SkuPanel(
            sku_id=view.sku_id,
            name=view.name,
            on_hand=view.on_hand,
            sellable=view.sellable,
            reserve=view.pools.get("reserve", 0),
            channels={
                channel: 0 if view.paused else view.pools.get(keys.channel_pool(channel), 0) + shared
                for channel in channels
            },
            pools=view.pools,
            held=view.held,
            sold=view.sold,
            in_flight=view.in_flight,
            paused=view.paused,
            tier=Tier.model_validate(extras["tier"]) if "tier" in extras else None,
            stage=extras.get("stage"),
            read_at=self.clock(),
        )


@dataclass
class ConsoleSocket:
    """The WebSocket routes: $connect (after the authorizer), subscribe, $disconnect."""

    store: ConsoleStore
    tokens: ConsoleTokens
    sessions: SessionReader
    panels: Panels
    poster: Poster
    registry: RegistryRevision
    clock: Callable[[], float] = time.time

    def authorize(self, token: str | None) -> ConsoleToken:
        return self.tokens.verify(token)

    def connect(self, connection_id: str, session_id: str, operate: bool, token_expires_at: float) -> None:
        now = self.clock()
        self.store.put_connection(
            Connection(
                connection_id=connection_id,
                session_id=session_id,
                operate=operate,
                connected_at=now,
                token_expires_at=token_expires_at,
            ),
            now + CONNECTION_TTL_S,
        )

    def disconnect(self, connection_id: str) -> None:
        self.store.drop_connection(connection_id)

    def subscribe(self, connection_id: str, body: str | None) -> bool:
        """Registers the connection for its session's SKUs and sends it the snapshot (or an
        error message). A connection sees only the session its token was minted for."""
        connection = self.store.get_connection(connection_id)
        if connection is None:
            return self._refuse(connection_id, "NOT_CONNECTED", "the connection is not known; reconnect")
        try:
            message = SubscribeMessage.model_validate_json(body or "")
        except ValidationError as error:
            return self._refuse(connection_id, "VALIDATION_ERROR", f"not a subscribe message: {error.errors()[:3]}")
        if message.session_id is not None and message.session_id != connection.session_id:
            return self._refuse(connection_id, "FORBIDDEN", "the token is for another session")
        now = self.clock()
        if connection.token_expires_at <= now:
            self.store.drop_connection(connection_id)
            return self._refuse(connection_id, "UNAUTHORIZED", "the console token has expired; open a new console link")
        session = self.sessions(connection.session_id)
        if session is None:
            return self._refuse(connection_id, "SESSION_NOT_FOUND", f"no session {connection.session_id}")
        lineup = session.sku_ids
        wanted = lineup if message.sku_ids is None else [sku for sku in message.sku_ids if sku in lineup]
        if message.sku_ids is not None and len(wanted) != len(set(message.sku_ids)):
            return self._refuse(connection_id, "FORBIDDEN", "only SKUs of the session's lineup can be watched")
        # The connection hears its session until its token expires, however often it subscribes again.
        self.store.subscribe(connection, wanted, min(now + CONNECTION_TTL_S, connection.token_expires_at))
        # Before the snapshot is read: a change it misses publishes the new revision, whose
        # fan-out reads the new watches (dal/registry.py).
        self.registry.bump()
        push = Push(
            type="snapshot",
            skus=self.panels.build(session, wanted),
            alerts=list(reversed(self.store.feed(session.session_id, FEED_LENGTH))),
            session=SessionCard(
                session_id=session.session_id,
                title=session.title,
                status=session.status.value,
                channels=session.channels,
                operate=connection.operate,
                token_expires_at=connection.token_expires_at,
            ),
            sent_at=self.clock(),
        )
        if not self.poster.post(connection_id, push.model_dump_json().encode()):
            self.store.drop_connection(connection_id)
            return False
        return True

    def _refuse(self, connection_id: str, code: str, message: str) -> bool:
        self.poster.post(connection_id, PushError(code=code, message=message).model_dump_json().encode())
        return False


class BusEvent(BaseModel):
    """The envelope the rule delivers (only what the fan-out reads of it)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    source: Literal["livestock.inventory"]
    detail_type: str = Field(alias="detail-type", max_length=128)
    detail: dict[str, Any]


class LooseDetail(BaseModel):
    """A detail-type this build has no model of (StageReleased before the campaigns land): the
    fields the console reads, the rest kept as published."""

    model_config = ConfigDict(extra="allow", frozen=True)

    event_id: str
    occurred_at: float
    sku_id: str | None = None
    session_id: str | None = None


def stage_message(detail: dict[str, Any]) -> str:
    quantity = detail.get("quantity") or detail.get("released")
    stage = detail.get("stage") or detail.get("stage_index")
    parts = ["Stage"]
    if stage is not None:
        parts.append(str(stage))
    parts.append("released")
    if quantity is not None:
        parts.append(f"({quantity} units)")
    return " ".join(parts)


@dataclass
class ConsoleFanout:
    """The bus events' fan-out to the consoles, one push per slot (see the module's docstring)."""

    store: ConsoleStore
    sessions: SessionReader
    panels: Panels
    poster: Poster
    push_interval_s: float
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    # Which sessions watch each SKU, as of a registry revision: no read per event (logic/registry_copy.py).
    _watches: RegistryCopy[str, dict[str, float]] = field(init=False)

    def __post_init__(self) -> None:
        self._watches = RegistryCopy(self.store.watches)

    def handle(self, detail_type: str, raw: dict[str, Any]) -> int:
        """One bus event: recorded for the sessions watching its SKU, then pushed if this call
        wins the slot. Returns the messages sent."""
        detail = self._validated(detail_type, raw)
        sku_id = detail.get("sku_id")
        now = self.clock()
        if sku_id is not None:
            watches = self._watches.get(str(sku_id), detail.get("registry_revision"))
            sessions = [session_id for session_id, expires_at in watches.items() if expires_at > now]
        elif detail.get("session_id") is not None:
            sessions = [str(detail["session_id"])]
        else:
            sessions = []
        for session_id in sessions:
            self._record(session_id, detail_type, detail, now)
        # The slot is read after the marks are written: a slot that ends before them was never claimed for them.
        slot = int(self.clock() / self.push_interval_s) + 1
        sent = 0
        for session_id in sessions:
            if self.store.claim_slot(session_id, slot):
                sent += self._send_from(session_id, slot)
        return sent

    def _send_from(self, session_id: str, slot: int) -> int:
        """Sends the slot's push, then follows SKUs still settling slot by slot while this call
        keeps winning the slots (another sender that wins one takes the follow-up over)."""
        sent = 0
        until = self.clock() + SETTLE_FOLLOW_S
        while True:
            self.sleep(max(0.0, slot * self.push_interval_s + SLOT_MARGIN_S - self.clock()))
            pushed, settling = self.push(session_id, slot)
            sent += pushed
            if not settling or self.clock() > until:
                return sent
            self.store.mark_pending(session_id, settling, [])
            slot = int(self.clock() / self.push_interval_s) + 1
            if not self.store.claim_slot(session_id, slot):
                return sent

    def _validated(self, detail_type: str, raw: dict[str, Any]) -> dict[str, Any]:
        model = DETAIL_TYPES.get(detail_type)
        if model is not None:
            return model.model_validate(raw).model_dump(mode="json")
        return LooseDetail.model_validate(raw).model_dump(mode="json")

    def _record(self, session_id: str, detail_type: str, detail: dict[str, Any], now: float) -> None:
        sku_id = detail.get("sku_id")
        alerts: list[FeedItem] = []
        if detail_type == AlertRaised.detail_type:
            tier = Tier(
                alert=detail["alert"],
                tier_pct=detail.get("tier_pct"),
                severity=detail["severity"],
                occurred_at=detail["occurred_at"],
            )
            if sku_id is not None:
                self.store.set_panel(session_id, sku_id, now + FEED_TTL_S, tier=tier.model_dump())
            alerts.append(
                FeedItem(
                    event_id=detail["event_id"],
                    detail_type=detail_type,
                    severity=detail["severity"],
                    message=detail["message"],
                    sku_id=sku_id,
                    occurred_at=detail["occurred_at"],
                )
            )
        elif detail_type == "StageReleased":
            if sku_id is not None:
                self.store.set_panel(session_id, sku_id, now + FEED_TTL_S, stage=detail)
            alerts.append(
                FeedItem(
                    event_id=detail["event_id"],
                    detail_type=detail_type,
                    severity="info",
                    message=stage_message(detail),
                    sku_id=sku_id,
                    occurred_at=detail["occurred_at"],
                )
            )
        for alert in alerts:
            self.store.add_feed(session_id, alert, now + FEED_TTL_S)
        self.store.mark_pending(session_id, {sku_id} if sku_id else set(), alerts)

    def push(self, session_id: str, slot: int) -> tuple[int, set[str]]:
        """Sends what waits for the session to each of its connections; drops those gone (410).
        Returns the messages sent and the SKUs sent with units still in flight."""
        dirty, alerts = self.store.take_pending(session_id)
        if not dirty and not alerts:
            return 0, set()
        try:
            return self._push(session_id, slot, dirty, alerts)
        except Exception:
            # Taken from the marks, not sent: back for the next push (this event's retry, or the
            # next event's), or other events' alerts would never reach the open consoles.
            self.store.mark_pending(session_id, dirty, alerts)
            raise

    def _push(self, session_id: str, slot: int, dirty: set[str], alerts: list[FeedItem]) -> tuple[int, set[str]]:
        session = self.sessions(session_id)
        if session is None:
            return 0, set()
        panels = self.panels.build(session, sorted(dirty))
        settling = {panel.sku_id for panel in panels if panel.in_flight}
        connections = self.store.session_connections(session_id, self.clock())
        if not connections:
            return 0, set()
        push = Push(type="update", skus=panels, alerts=alerts, sent_at=self.clock(), slot=slot)
        data = push.model_dump_json().encode()
        with ThreadPoolExecutor(min(POST_THREADS, len(connections))) as pool:
            delivered = list(pool.map(lambda connection_id: self.poster.post(connection_id, data), connections))
        for connection_id, ok in zip(connections, delivered, strict=True):
            if not ok:
                logger.info("console connection gone", connection_id=connection_id)
                self.store.drop_connection(connection_id)
        return sum(delivered), settling


class ConsoleActions:
    """The page's operator actions, authorised by an `operate` console token for the SKU's session."""

    def __init__(
        self,
        tokens: ConsoleTokens,
        sessions: SessionReader,
        stock: StockService,
        release_next_stage: StageReleaser | None = None,
        quota_mover: QuotaMover | None = None,
    ) -> None:
        self.tokens = tokens
        self.sessions = sessions
        self.stock = stock
        # The campaigns' "release the next stage now"; none in a build without staged releases.
        self.release_next_stage = release_next_stage
        self.quota_mover = quota_mover

    def authorise(self, token: str | None, session_id: str, sku_id: str) -> str:
        """The actor the ledger records, once the token is found to cover this SKU of this session."""
        return self._authorised(token, session_id, sku_id)[0]

    def _authorised(self, token: str | None, session_id: str, sku_id: str) -> tuple[str, Session]:
        stored = self.tokens.verify(token)
        if stored.session_id != session_id:
            raise ConsoleForbidden("the console token is for another session", {"session_id": session_id})
        if not stored.operate:
            raise ConsoleForbidden("the console token does not authorise operator actions")
        session = self.sessions(session_id)
        if session is None:
            raise SessionNotFound(f"no session {session_id}", {"session_id": session_id})
        if sku_id not in session.sku_ids:
            raise ConsoleForbidden("the SKU is not in the session's lineup", {"sku_id": sku_id})
        # A token outlives its live (hours): once the session ended, or while another session has
        # the SKU, it must not act on a live that is not its own.
        if session.status == SessionStatus.ENDED:
            raise ConsoleForbidden("the session has ended: its console only observes", {"session_id": session_id})
        claimed_by = self.stock.meta(sku_id).session_id
        if claimed_by not in (None, session_id):
            raise ConsoleForbidden("the SKU is in another session", {"sku_id": sku_id, "session_id": claimed_by})
        return f"console:{stored.actor}", session

    def set_paused(self, token: str | None, session_id: str, sku_id: str, paused: bool) -> SkuView:
        return self.stock.set_paused(sku_id, paused, self.authorise(token, session_id, sku_id))

    # The moving actions take the page's idempotency key (one per confirmed action, kept until it
    # gets an answer): a retry after a lost answer moves nothing more.

    def release_reserve(
        self, token: str | None, session_id: str, sku_id: str, quantity: int | None, key: str | None = None
    ) -> dict[str, Any]:
        return self.stock.release_reserve(sku_id, quantity, self.authorise(token, session_id, sku_id), key)

    def move_quota(
        self, token: str | None, session_id: str, sku_id: str, request: QuotaMoveRequest, key: str | None = None
    ) -> SkuView:
        """A platform that gives units is lowered before they move (QuotaMover.move_pools), so it
        never accepts an order for units that are no longer its own; without a mover (a build with
        no platform sync) the units move in the ledger at once. Only the live's own platforms (and
        shared) give or take: a console for a Douyin live does not drain a platform it does not sell on."""
        actor, session = self._authorised(token, session_id, sku_id)
        outside = sorted({request.from_channel, request.to_channel} - {SHARED, *session.channels})
        if outside:
            raise ConsoleForbidden(
                "the live does not sell on that platform", {"channels": outside, "session_channels": session.channels}
            )
        if self.quota_mover is None:
            self.stock.allocation.move(
                sku_id, pool_of(request.from_channel), pool_of(request.to_channel), request.quantity, actor, key
            )
        else:
            self.quota_mover.move_pools(sku_id, request.from_channel, request.to_channel, request.quantity, actor, key)
        return self.stock.view(sku_id)

    def next_stage(self, token: str | None, session_id: str, sku_id: str, key: str | None = None) -> dict[str, Any]:
        actor = self.authorise(token, session_id, sku_id)
        if self.release_next_stage is None:
            raise NoStagedRelease("no staged release is planned for this SKU", {"sku_id": sku_id})
        return self.release_next_stage(session_id, sku_id, actor, key)
