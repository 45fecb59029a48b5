"""The inventory table's stream records as typed values.

Powertools' parser models read the images (one model per kind of item, told apart by `entity`);
`change_of` turns a record into what happened: a shard's or a SKU's counter moved
(`ShardChanged`, `SkuChanged`), a hold was created or changed status (`HoldTransitioned`), a live
session was written (`SessionTransitioned`).
Nothing outside this module reads a raw image.
"""

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamChangedRecordModel, DynamoDBStreamRecordModel
from pydantic import BaseModel, ConfigDict, Discriminator, Tag, ValidationError

from livestock import keys
from livestock.models.campaigns import Campaign, CampaignStatus, Stage
from livestock.models.domain import HoldStatus
from livestock.models.sessions import Session, SessionStatus


class _Image(BaseModel):
    model_config = ConfigDict(extra="ignore")

    pk: str


class _Counted(_Image):
    """Items whose writes name their operation on themselves (last_op & co)."""

    last_op: str | None = None
    last_ref: str | None = None
    last_actor: str | None = None
    last_reason: str | None = None
    rev: int | None = None  # keys.WRITE_REVISION


class ShardImage(_Counted):
    entity: Literal["shard"]
    sku_id: str
    pool: str
    shard: int
    available: int = 0
    paused: bool = False
    updated_at: float | None = None


class MetaImage(_Counted):
    entity: Literal["meta"]
    sku_id: str
    on_hand: int = 0


class HoldImage(_Image):
    entity: Literal["hold"]
    hold_id: str
    sku_id: str
    channel: str
    order_id: str
    quantity: int
    status: HoldStatus
    attempt: int = 1
    pool: str | None = None
    created_at: float
    last_actor: str | None = None
    changed_at: float | None = None


class SessionImage(Session, _Image):
    """A session as stored (every field of the model is on the item)."""

    entity: Literal["session"]


class CampaignImage(Campaign, _Image):
    entity: Literal["campaign"]


class OtherImage(_Image):
    """Items whose changes mean nothing to the ledger or to settlement (limits, operation
    records, counters; and the bare-key record moto emits when a transaction creates an item)."""

    entity: str | None = None


def _kind(image: Any) -> str:
    entity = image.get("entity") if isinstance(image, dict) else getattr(image, "entity", None)
    return entity if entity in ("shard", "meta", "hold", "session", "campaign") else "other"


InventoryImage = Annotated[
    Annotated[ShardImage, Tag("shard")]
    | Annotated[MetaImage, Tag("meta")]
    | Annotated[HoldImage, Tag("hold")]
    | Annotated[SessionImage, Tag("session")]
    | Annotated[CampaignImage, Tag("campaign")]
    | Annotated[OtherImage, Tag("other")],
    Discriminator(_kind),
]


class InventoryChangeModel(DynamoDBStreamChangedRecordModel):
    NewImage: InventoryImage | None = None
    OldImage: InventoryImage | None = None


class InventoryRecordModel(DynamoDBStreamRecordModel):
    """BatchProcessor(model=...) parses every record of the inventory stream with this."""

    dynamodb: InventoryChangeModel


@dataclass(frozen=True)
class Recorded:
    """Where a change sits in the stream: its sequence number, the changed item and when; whether
    the item had an image before the change (not `created`) and has one after it (not `removed`)."""

    sequence: str
    item_key: str
    at: float
    created: bool = False
    removed: bool = False


@dataclass(frozen=True)
class CounterMoved:
    recorded: Recorded
    sku_id: str
    bucket: str
    before: int
    after: int
    op: str
    reference: str | None
    actor: str | None
    reason: str | None

    @property
    def unattributed(self) -> bool:
        return self.op == keys.UNATTRIBUTED_OP and self.before != self.after


@dataclass(frozen=True)
class ShardChanged(CounterMoved):
    pool: str
    shard: int
    paused: bool

    @property
    def decrement_of(self) -> tuple[str, int] | None:
        """The hold (id, attempt) whose order took units here, if this was one."""
        if self.op != "hold" or self.after >= self.before or not self.reference:
            return None
        return keys.parse_hold_reference(self.reference)


@dataclass(frozen=True)
class SkuChanged(CounterMoved):
    pass


@dataclass(frozen=True)
class HoldTransitioned:
    recorded: Recorded
    hold_id: str
    sku_id: str
    channel: str
    quantity: int
    attempt: int
    created_at: float
    old: HoldStatus | None
    new: HoldStatus
    actor: str
    order_id: str
    pool: str | None


@dataclass(frozen=True)
class SessionTransitioned:
    """A live session was written: `old` is None when it was created, and equals `new` when only
    its plan changed."""

    recorded: Recorded
    session: SessionImage
    old: SessionStatus | None
    new: SessionStatus


@dataclass(frozen=True)
class CampaignChanged:
    """A campaign's record was written: created, a stage released, or cancelled."""

    recorded: Recorded
    campaign: CampaignImage
    old: CampaignImage | None

    @property
    def released_now(self) -> list[Stage]:
        before = {stage.n for stage in self.old.stages if stage.released_at is not None} if self.old else set()
        return [s for s in self.campaign.stages if s.released_at is not None and s.n not in before]

    @property
    def cancelled_now(self) -> bool:
        was = self.old.status if self.old else None
        return was != CampaignStatus.CANCELLED and self.campaign.status == CampaignStatus.CANCELLED


Change = ShardChanged | SkuChanged | HoldTransitioned | SessionTransitioned | CampaignChanged


UNATTRIBUTED_REASON = "the counter moved in a write no LiveStock operation made"


def _attributed(old: _Counted | None, new: _Counted | None) -> bool:
    """LiveStock's every write to a counter item adds 1 to its revision; LiveStock never deletes one."""
    if new is None or new.rev is None:
        return False
    return old is None or old.rev is None or new.rev > old.rev


def _attribution(old: _Counted | None, new: _Counted | None) -> tuple[str, str | None, str | None, str | None]:
    """(op, reference, actor, reason) of a counter's change, as the item names them, or unattributed."""
    image = new or old
    if image is None or not _attributed(old, new):
        return keys.UNATTRIBUTED_OP, None, None, UNATTRIBUTED_REASON
    return str(image.last_op), image.last_ref or None, image.last_actor or None, image.last_reason or None


def _of_kind[I: _Counted](kind: type[I], old: object, new: object) -> tuple[I | None, I | None]:
    return (old if isinstance(old, kind) else None, new if isinstance(new, kind) else None)


# The stream's ApproximateCreationDateTime is coarse (AWS: to the second; DynamoDB Local: to the
# minute). A shard write and a hold's status change stamp the item with the writer's clock; the
# movement takes that time when it falls in the record's own coarse interval (so a stale stamp
# left by an earlier write is never taken).
STAMP_BEFORE_S = 5.0
STAMP_AFTER_S = 61.0


def _written_at(old: object, new: object, approximate: float) -> float:
    stamp = None
    if isinstance(new, ShardImage):
        stamp = new.updated_at
    elif isinstance(new, HoldImage) and (not isinstance(old, HoldImage) or old.status != new.status):
        stamp = new.changed_at
    if stamp is not None and approximate - STAMP_BEFORE_S <= stamp < approximate + STAMP_AFTER_S:
        return stamp
    return approximate


def change_of(record: InventoryRecordModel) -> Change | None:
    change = record.dynamodb
    old, new = change.OldImage, change.NewImage
    image = new or old
    approximate = change.ApproximateCreationDateTime
    recorded = Recorded(
        change.SequenceNumber,
        image.pk if image else "",
        _written_at(old, new, approximate.timestamp() if approximate else 0.0),
        created=old is None,
        removed=new is None,
    )
    if isinstance(image, ShardImage):
        old_shard, new_shard = _of_kind(ShardImage, old, new)
        return ShardChanged(
            recorded,
            image.sku_id,
            keys.pool_bucket(image.pool),
            old_shard.available if old_shard else 0,
            new_shard.available if new_shard else 0,
            *_attribution(old_shard, new_shard),
            image.pool,
            image.shard,
            image.paused,
        )
    if isinstance(image, MetaImage):
        old_meta, new_meta = _of_kind(MetaImage, old, new)
        return SkuChanged(
            recorded,
            image.sku_id,
            "on_hand",
            old_meta.on_hand if old_meta else 0,
            new_meta.on_hand if new_meta else 0,
            *_attribution(old_meta, new_meta),
        )
    if isinstance(new, HoldImage):
        return HoldTransitioned(
            recorded,
            new.hold_id,
            new.sku_id,
            new.channel,
            new.quantity,
            new.attempt,
            new.created_at,
            old.status if isinstance(old, HoldImage) else None,
            new.status,
            new.last_actor or keys.channel_actor(new.channel),
            new.order_id,
            new.pool,
        )
    if isinstance(new, CampaignImage):
        return CampaignChanged(recorded, new, old if isinstance(old, CampaignImage) else None)
    if isinstance(new, SessionImage):
        return SessionTransitioned(recorded, new, old.status if isinstance(old, SessionImage) else None, new.status)
    return None


def parse(raw: dict[str, object]) -> InventoryRecordModel:
    return InventoryRecordModel.model_validate(raw)


def settling_order(raw: dict[str, Any]) -> tuple[str, str]:
    """Which records of a batch settle one after another (api/batch.py): those of one hold (its
    put, the decrement that names it, its transitions), in stream order; any other change after its
    item's earlier changes. A record that does not parse stands alone (it is reported failed)."""
    try:
        change = change_of(parse(raw))
    except ValidationError:
        return ("record", str(raw.get("eventID", id(raw))))
    if isinstance(change, ShardChanged) and (taken_by := change.decrement_of) is not None:
        return ("hold", taken_by[0])
    if isinstance(change, HoldTransitioned):
        return ("hold", change.hold_id)
    if change is None:
        return ("record", str(raw.get("eventID", id(raw))))
    return ("item", change.recorded.item_key)


__all__ = [
    "CampaignChanged",
    "Change",
    "HoldTransitioned",
    "InventoryRecordModel",
    "Recorded",
    "SessionTransitioned",
    "ShardChanged",
    "SkuChanged",
    "change_of",
    "parse",
    "settling_order",
]
