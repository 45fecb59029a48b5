"""From the inventory table's stream to the bus.

Publication is idempotent, so a replayed batch publishes nothing twice:
- events of one stream record (Restocked, HoldExpired, ReserveReleased) have an id made of the
  record's item key and sequence number, and are claimed with a conditional write before they
  are published;
- events of a SKU's figures (StockChanged, StockLow, SoldOut, AlertRaised) come out of one
  conditional write of the SKU's event state (sequence, figures, tiers, sold-out flags): a replay
  sees the figures already written and raises nothing, and of two concurrent batches only one
  write wins, so a tier cannot fire twice. The events are written into the same item (an outbox)
  and taken off it once PutEvents accepted them.

Every event carries the registry revision read after its change, with the SKU's event state in one
BatchGetItem (`registry_revision`, dal/registry.py): the consumers' copies of the webhooks, the
consoles' watches and the channels are read again only for an event newer than the copy.
"""

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from livestock import keys
from livestock.dal.event_state import EventStateRepository, PendingEvent
from livestock.dal.stream import (
    CampaignChanged,
    Change,
    HoldTransitioned,
    SessionTransitioned,
    ShardChanged,
    SkuChanged,
)
from livestock.events.models import (
    SOURCE,
    CampaignCancelled,
    DomainEvent,
    EventDetail,
    HoldExpired,
    LineupSku,
    ReserveReleased,
    Restocked,
    SessionEnded,
    SessionStarted,
    StageReleased,
    UnattributedChange,
)
from livestock.events.stock_reader import StockReader
from livestock.logic import alerts
from livestock.models.domain import RESERVE, HoldStatus
from livestock.models.sessions import SessionStatus
from livestock.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

PUT_EVENTS_MAX = 10
# An outbox entry this old was left by a publisher that failed after writing the state (its
# invocation has ended: the function's timeout is shorter), so the next publisher sends it.
ORPHAN_AFTER_S = 60
# A younger entry of another publisher is waited for this long before it is sent anyway: a live
# publisher confirms within its PutEvents attempts (about 1.5 s of backoff at most), and a retried
# batch that finds its own figures written must not succeed with their events still unsent.
LEFT_ENTRY_WAIT_S = 3.0
LEFT_ENTRY_POLL_S = 0.02
MAX_STATE_ATTEMPTS = 20


class PublishFailed(Exception):
    """Some entries were still refused after every retry; the batch must be retried."""


@dataclass
class EventSink:
    """PutEvents in chunks of 10; FailedEntryCount checked; only the failed entries retried."""

    bus_name: str
    client: Callable[[], "EventBridgeClient"]
    attempts: int = 5
    backoff_s: float = 0.1
    sleep: Callable[[float], None] = time.sleep

    def entry(self, detail_type: str, detail: dict[str, Any]) -> "PutEventsRequestEntryTypeDef":
        return {
            "Source": SOURCE,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, separators=(",", ":")),
            "EventBusName": self.bus_name,
        }

    def publish(self, entries: Sequence["PutEventsRequestEntryTypeDef"]) -> None:
        for start in range(0, len(entries), PUT_EVENTS_MAX):
            pending = list(entries[start : start + PUT_EVENTS_MAX])
            for attempt in range(self.attempts):
                response = self.client().put_events(Entries=pending)
                if response.get("FailedEntryCount", 0) == 0:
                    break
                # Results come back in the order of the entries; a failed one has an ErrorCode.
                failed = [e for e, r in zip(pending, response["Entries"], strict=True) if r.get("ErrorCode")]
                logger.warning(
                    "PutEvents refused entries; retrying those",
                    failed=len(failed),
                    codes=sorted({str(r.get("ErrorCode")) for r in response["Entries"] if r.get("ErrorCode")}),
                    attempt=attempt + 1,
                )
                pending = failed
                if attempt + 1 < self.attempts:
                    self.sleep(self.backoff_s * 2**attempt * (0.5 + random.random() / 2))
            else:
                raise PublishFailed(f"{len(pending)} events refused by EventBridge after {self.attempts} attempts")


# What HoldExpired tells of its hold, as the hold's change names it.
HOLD_EXPIRED_FIELDS = ("hold_id", "channel", "order_id", "quantity", "pool")
# The sort key of the item each kind of change is about (the first half of the record's item key).
_ITEM_SK = {SkuChanged: keys.META_SK, ShardChanged: keys.STOCK_SK, HoldTransitioned: keys.HOLD_SK}


def _record_event[E: EventDetail](
    model: type[E], change: ShardChanged | SkuChanged | HoldTransitioned, now: float, **fields: Any
) -> E:
    """An event of one stream record: its id is made of the record's item key and sequence."""
    recorded = change.recorded
    item_sk = _ITEM_SK[type(change)]
    event_id = keys.record_event_id(recorded.item_key, item_sk, recorded.sequence, model.detail_type)
    return model(event_id=event_id, sku_id=change.sku_id, occurred_at=now, **fields)


def _counter_event[E: EventDetail](
    model: type[E], change: SkuChanged | ShardChanged, now: float, quantity: int, **fields: Any
) -> E:
    return _record_event(model, change, now, quantity=quantity, reference=change.reference, **fields)


def session_events(change: SessionTransitioned, now: float) -> list[DomainEvent]:
    """SessionStarted when a session went live, SessionEnded when it ended; nothing for a plan."""
    if change.old == change.new:
        return []
    model: type[SessionStarted | SessionEnded]
    if change.new == SessionStatus.LIVE:
        model = SessionStarted
    elif change.new == SessionStatus.ENDED:
        model = SessionEnded
    else:
        return []
    session = change.session
    recorded = change.recorded
    fields: dict[str, Any] = {
        "session_id": session.session_id,
        "title": session.title,
        "channels": session.channels,
        "lineup": [LineupSku.model_validate(item.model_dump()) for item in session.lineup],
        "starts_at": session.starts_at,
        "ends_at": session.ends_at,
        "started_at": session.started_at if session.started_at is not None else recorded.at,
        "actor": session.last_actor,
    }
    if model is SessionEnded:
        fields["ended_at"] = session.ended_at if session.ended_at is not None else recorded.at
    event_id = keys.record_event_id(recorded.item_key, keys.SESSION_SK, recorded.sequence, model.detail_type)
    return [model(event_id=event_id, occurred_at=now, **fields)]


def campaign_events(change: CampaignChanged, now: float) -> list[DomainEvent]:
    """StageReleased for the stage a write released, CampaignCancelled for a cancel."""
    campaign = change.campaign
    recorded = change.recorded
    released = sum(1 for stage in campaign.stages if stage.released_at is not None)
    common = {"sku_id": campaign.sku_id, "campaign_id": campaign.campaign_id, "session_id": campaign.session_id}
    events: list[DomainEvent] = []
    for stage in change.released_now:
        event_id = keys.record_event_id(
            recorded.item_key, keys.CAMPAIGN_SK, recorded.sequence, f"StageReleased{stage.n}"
        )
        events.append(
            StageReleased(
                event_id=event_id,
                occurred_at=now,
                **common,
                stage=stage.n,
                quantity=stage.quantity,
                target_pool=campaign.target_pool,
                scheduled_at=stage.at,
                released_at=stage.released_at if stage.released_at is not None else recorded.at,
                actor=stage.released_by,
                stages_released=released,
                stages_total=len(campaign.stages),
                pending_units=sum(s.quantity for s in campaign.stages if s.released_at is None),
                next_stage_at=min((s.at for s in campaign.stages if s.released_at is None), default=None),
            )
        )
    if change.cancelled_now:
        event_id = keys.record_event_id(recorded.item_key, keys.CAMPAIGN_SK, recorded.sequence, "CampaignCancelled")
        events.append(
            CampaignCancelled(
                event_id=event_id,
                occurred_at=now,
                **common,
                returned_units=campaign.returned_units,
                stages_released=released,
                stages_cancelled=len(campaign.stages) - released,
                actor=campaign.last_actor,
            )
        )
    return events


def record_events(change: Change, now: float) -> list[DomainEvent]:
    """The events one stream record means on its own."""
    if isinstance(change, SessionTransitioned):
        return session_events(change, now)
    if isinstance(change, CampaignChanged):
        return campaign_events(change, now)
    if isinstance(change, SkuChanged | ShardChanged) and change.unattributed:
        message = (
            f"{change.bucket} of {change.sku_id} went from {change.before} to {change.after} in a write "
            "no LiveStock operation made; reconcile and correct it with an adjustment"
        )
        fields = {"bucket": change.bucket, "before": change.before, "after": change.after, "message": message}
        return [_record_event(UnattributedChange, change, now, **fields, delta=change.after - change.before)]
    if change.recorded.removed:
        return []
    if isinstance(change, SkuChanged):
        grown = change.after - change.before
        if not change.recorded.created and grown > 0:
            return [_counter_event(Restocked, change, now, grown, on_hand=change.after, operation=change.op)]
    elif isinstance(change, HoldTransitioned):
        if change.old == HoldStatus.HELD and change.new == HoldStatus.EXPIRED:
            hold = {name: getattr(change, name) for name in HOLD_EXPIRED_FIELDS}
            return [_record_event(HoldExpired, change, now, **hold)]
    elif change.pool == RESERVE and change.op == "release-reserve":
        released = change.before - change.after
        if released > 0:
            return [
                _counter_event(
                    ReserveReleased,
                    change,
                    now,
                    released,
                    reserve_left_in_shard=change.after,
                    shard=change.shard,
                    actor=change.actor,
                )
            ]
    return []


def stamped[E: DomainEvent](event: E, registry: int) -> E:
    """The event with the registry revision read after its change (dal/registry.py)."""
    return event.model_copy(update={"registry_revision": registry})


def skus_with_new_figures(changes: Sequence[Change]) -> list[str]:
    """SKUs whose counters moved in the batch, in order of first appearance."""
    return list(dict.fromkeys(c.sku_id for c in changes if isinstance(c, ShardChanged | SkuChanged)))


@dataclass
class StreamPublisher:
    states: EventStateRepository
    stock: StockReader
    sink: EventSink
    window_s: int
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep

    def publish_batch(self, changes: Sequence[Change]) -> int:
        """Publishes what the batch means; returns how many events went out. Raises if any
        could not be published, so that the batch is retried (nothing is published twice)."""
        sent = 0
        registry: int | None = None
        for sku_id in skus_with_new_figures(changes):
            published, registry = self._observe(sku_id)
            sent += published
        claimed: list[DomainEvent] = []
        for change in changes:
            now = self.clock()
            for event in record_events(change, now):
                status, first_claimed = self.states.claim(event.event_id, now)
                if status != "published":
                    claimed.append(event.model_copy(update={"occurred_at": first_claimed}))
        if claimed:
            # Read after the records' changes, as the SKUs' (see dal/registry.py).
            registry = self.states.registry.current() if registry is None else registry
            claimed = [stamped(event, registry) for event in claimed]
            self.sink.publish([self.sink.entry(e.detail_type, e.model_dump(mode="json")) for e in claimed])
            self.states.mark_published([e.event_id for e in claimed])
            sent += len(claimed)
        return sent

    def _observe(self, sku_id: str) -> tuple[int, int]:
        """One conditional write of the SKU's event state, then its events out. Returns how many
        went out and the registry revision they carry."""
        for attempt in range(MAX_STATE_ATTEMPTS):
            state, rev, pending, registry = self.states.get_with_registry(sku_id)
            now = self.clock()
            # Read after the state: a writer that wins after us read its figures after our write.
            figures = self.stock.figures(sku_id)
            if figures is None:
                return 0, registry
            new_state, events = alerts.observe(state, figures, now, self.window_s)
            outbox = {
                e.event_id: PendingEvent(
                    detail_type=e.detail_type, detail=stamped(e, registry).model_dump(mode="json"), written_at=now
                )
                for e in events
            }
            if events and not self.states.replace(new_state, rev, outbox):
                self.sleep(min(0.05, 0.002 * 2**attempt) * self.rng.random())
                continue
            orphans = {i: p for i, p in pending.items() if now - p.written_at >= ORPHAN_AFTER_S}
            to_send = {**orphans, **outbox}
            self._send(sku_id, to_send)
            others = set(pending) - set(orphans)
            return len(to_send) + (self._send_what_is_left(sku_id, others) if others else 0), registry
        raise PublishFailed(f"the event state of {sku_id} kept changing under us")

    def _send(self, sku_id: str, entries: dict[str, PendingEvent]) -> None:
        """Publishes outbox entries, then takes them off. If PutEvents fails, they are marked left
        before the batch fails: its retry finds the figures written and raises no event of its own,
        so it must find these to send."""
        if not entries:
            return
        try:
            self.sink.publish([self.sink.entry(p.detail_type, p.detail) for p in entries.values()])
        except Exception:
            try:
                self.states.mark_left(sku_id, entries)
            except Exception:  # noqa: BLE001 - the publish failure is the one to raise
                logger.exception("could not mark unsent events as left", sku_id=sku_id)
            raise
        self.states.confirm(sku_id, list(entries))

    def _send_what_is_left(self, sku_id: str, event_ids: set[str]) -> int:
        """Waits for another publisher's unconfirmed entries to be confirmed; sends those still
        there after LEFT_ENTRY_WAIT_S (their publisher failed or died: a consumer dedupes a copy
        by its event id)."""
        left: dict[str, PendingEvent] = {}
        for _ in range(round(LEFT_ENTRY_WAIT_S / LEFT_ENTRY_POLL_S)):
            left = {i: p for i, p in self.states.get(sku_id)[2].items() if i in event_ids}
            if not left:
                return 0
            self.sleep(LEFT_ENTRY_POLL_S)
        logger.warning("sending events another publisher left unconfirmed", sku_id=sku_id, events=len(left))
        self._send(sku_id, left)
        return len(left)
