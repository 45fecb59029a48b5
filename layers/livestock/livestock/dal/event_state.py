"""Data access for the event publisher: each SKU's event state (one item, replaced only if its
revision is still the one read) and claims that make record-derived events publish once."""

import time
from typing import TYPE_CHECKING, Any, Literal

from boto3.dynamodb.conditions import Attr
from pydantic import BaseModel

from livestock import keys
from livestock.dal.expressions import Store, Update
from livestock.dal.registry import RegistryRevision, revision_of
from livestock.logic.alerts import SkuEventState

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

CLAIM_TTL_S = 7 * 24 * 3600
CONFIRM_CHUNK = 50


class PendingEvent(BaseModel):
    """An event written with a state change, kept until a publisher confirms it published."""

    detail_type: str
    detail: dict[str, Any]
    written_at: float


class EventStateRepository:
    def __init__(self, table: str, client: "DynamoDBClient | None" = None) -> None:
        self.store = Store(table, client)
        # Read with each SKU's state (get_with_registry), or alone for events of records only.
        self.registry = RegistryRevision(table, client)

    def get(self, sku_id: str) -> tuple[SkuEventState, int, dict[str, PendingEvent]]:
        """The state, its revision (0: never written) and the events written with it that no
        publisher has confirmed yet."""
        return self._state_of(sku_id, self.store.get(keys.event_state_pk(sku_id), keys.STATE_SK))

    def get_with_registry(self, sku_id: str) -> tuple[SkuEventState, int, dict[str, PendingEvent], int]:
        """What get() answers, and the registry revision (dal/registry.py), in one round trip."""
        state_key = (keys.event_state_pk(sku_id), keys.STATE_SK)
        found = {(i["pk"], i["sk"]): i for i in self.store.batch_get([state_key, keys.REGISTRY_KEY], consistent=True)}
        return *self._state_of(sku_id, found.get(state_key)), revision_of(found.get(keys.REGISTRY_KEY))

    @staticmethod
    def _state_of(sku_id: str, item: dict[str, Any] | None) -> tuple[SkuEventState, int, dict[str, PendingEvent]]:
        if item is None:
            return SkuEventState(sku_id=sku_id), 0, {}
        pending = {
            event_id: PendingEvent.model_validate_json(str(entry))
            for name, entry in item.items()
            if (event_id := keys.outbox_event_id(name)) is not None
        }
        return SkuEventState.model_validate_json(str(item["state"])), int(item["rev"]), pending

    def replace(self, state: SkuEventState, expected_rev: int, outbox: dict[str, PendingEvent]) -> bool:
        """Writes the state, with `outbox` added to the unconfirmed events, if nobody wrote it since
        `expected_rev` was read; False otherwise. Outbox entries are attributes of their own, so
        that confirming them (a REMOVE) never conflicts with the next state write."""
        entries = {keys.outbox_attr(event_id): event.model_dump_json() for event_id, event in outbox.items()}
        update = Update(keys.event_state_pk(state.sku_id), keys.STATE_SK).set(
            entity="event-state", state=state.model_dump_json(), rev=expected_rev + 1, **entries
        )
        return self.store.update_if(
            update.when(Attr("pk").not_exists() if expected_rev == 0 else Attr("rev").eq(expected_rev))
        )

    def mark_left(self, sku_id: str, pending: dict[str, PendingEvent]) -> None:
        """Marks events still unconfirmed as left (written at 0), so that the next publisher of the
        SKU sends them at once: what a publisher whose PutEvents failed does before its batch is
        retried. An entry confirmed meanwhile stays off the outbox."""
        for event_id, event in pending.items():
            attribute = keys.outbox_attr(event_id)
            left = event.model_copy(update={"written_at": 0.0}).model_dump_json()
            self.store.update_if(
                Update(keys.event_state_pk(sku_id), keys.STATE_SK)
                .set(**{attribute: left})
                .when(Attr(attribute).exists())
            )

    def confirm(self, sku_id: str, event_ids: list[str]) -> None:
        """Published: off the outbox. Unconditional, so it commutes with any state write."""
        for start in range(0, len(event_ids), CONFIRM_CHUNK):
            chunk = event_ids[start : start + CONFIRM_CHUNK]
            self.store.update_if(
                Update(keys.event_state_pk(sku_id), keys.STATE_SK).remove(*map(keys.outbox_attr, chunk))
            )

    def claim(self, event_id: str, now: float | None = None) -> tuple[Literal["new", "retry", "published"], float]:
        """Claims the publication of a record-derived event, and answers when it was first claimed:
        the event's time on every attempt, so that a republished copy is the same event (the
        journal and the console feed key events by time and id). The same stream record is never
        processed by two invocations at once (Lambda retries a batch only after the attempt has
        ended), so a claim found unconfirmed was left by an attempt that failed: "retry"."""
        now = time.time() if now is None else now
        stored = self.store.update_or_stored(
            Update(keys.event_claim_pk(event_id), keys.CLAIM_SK)
            .set(entity="claim", status="claimed", claimed_at=now, expires_at=int(now) + CLAIM_TTL_S)
            .when(Attr("pk").not_exists())
        )
        if stored is None:
            return "new", now
        first = float(stored.get("claimed_at", now))
        return ("published" if stored.get("status") == "published" else "retry"), first

    def mark_published(self, event_ids: list[str]) -> None:
        for event_id in event_ids:
            self.store.update_if(Update(keys.event_claim_pk(event_id), keys.CLAIM_SK).set(status="published"))
