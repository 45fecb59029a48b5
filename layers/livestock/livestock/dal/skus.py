"""A SKU's items: its settings (META), its pool shards (the oversell guard) and the operation
records that make administrative changes idempotent."""

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from livestock import keys
from livestock.dal.codec import deserialize, serialize
from livestock.dal.expressions import (
    Store,
    Transaction,
    TransactionRefused,
    Update,
    is_conditional_failure,
)
from livestock.models.domain import ShardStock, SkuMeta, SkuPatch

# What a decrement answers: (taken, units the shard has left or had when it refused, the write
# revision of that level).
type Decrement = tuple[bool, int | None, int | None]


def _revision(item: dict[str, Any]) -> int | None:
    revision = item.get(keys.WRITE_REVISION)
    return None if revision is None else int(revision)


@dataclass(frozen=True)
class ShardDelta:
    pool: str
    shard: int
    delta: int


@dataclass
class OperationRecord:
    """The idempotency record of an administrative change: the request's fingerprint and the
    answer every replay gets."""

    kind: str
    reference: str
    request_hash: str
    response: dict[str, Any]


@dataclass
class StockChange:
    """One atomic administrative change of a SKU: its settings item, shards and an operation record.

    The settings item's version is the optimistic lock; the operation record (if any) makes the
    whole change idempotent by its reference, inside the same transaction.
    """

    sku_id: str
    expected_version: int
    op: str
    actor: str
    on_hand_delta: int = 0
    patch: SkuPatch = field(default_factory=SkuPatch)
    shard_deltas: list[ShardDelta] = field(default_factory=list)
    # What the ledger records with the change: the caller's reference and reason.
    reference: str | None = None
    reason: str | None = None
    operation: OperationRecord | None = None
    paused: bool = False
    # When set, every listed shard's paused flag is set to it in the same transaction.
    pause_shards: list[tuple[str, int]] = field(default_factory=list)
    paused_to: bool | None = None
    # Moves between shards of one pool change no setting: they check the version, not bump it,
    # so they never turn an ERP's compare-and-set into a conflict.
    bump_version: bool = True
    # Shards that must be empty for the change to apply (retiring shards at the end of a shrink).
    empty_shards: list[tuple[str, int]] = field(default_factory=list)
    # Other items that move with the change, each under its own condition (a campaign's record):
    # updates, and items put only if absent. If one refuses, the change is refused as "guard".
    guards: list[tuple[str, Update]] = field(default_factory=list)
    creates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @classmethod
    def of(cls, meta: SkuMeta, op: str, actor: str, **parts: Any) -> "StockChange":
        """A change of the SKU as read in `meta`: guarded by its version; shards it creates start
        paused if the SKU is."""
        return cls(sku_id=meta.sku_id, expected_version=meta.version, op=op, actor=actor, paused=meta.paused, **parts)


class ChangeRefused(Exception):
    """A change was refused; which part refused is named."""

    def __init__(self, part: Literal["version", "operation", "shard", "guard", "conflict"]) -> None:
        super().__init__(part)
        self.part = part


def shard_update(
    sku_id: str,
    delta: ShardDelta,
    op: str,
    actor: str,
    reference: str | None,
    reason: str | None,
    paused: bool,
    returned_by: str | None = None,
) -> Update:
    """A shard's counter moves, and the shard names the operation, so its stream record is one
    exact ledger movement. A decrease never takes more than the shard has. Units a channel's hold
    gives back (`returned_by`) leave that channel's taken count in the same write."""
    taken = {keys.taken_attr(returned_by): -delta.delta} if returned_by else {}
    update = (
        Update(keys.shard_pk(sku_id, delta.pool, delta.shard), keys.STOCK_SK)
        .add(available=delta.delta, **{keys.WRITE_REVISION: 1}, **taken)
        .set(
            entity="shard",
            sku_id=sku_id,
            pool=delta.pool,
            shard=delta.shard,
            last_op=op,
            last_actor=actor,
            last_ref=reference or "",
            last_reason=reason or "",
            updated_at=time.time(),
        )
        .set_default(paused=paused)
    )
    if delta.delta < 0:
        update.when(Attr("available").gte(-delta.delta))
    return update


class SkuStore(Store):
    def get_meta(self, sku_id: str, consistent: bool = False) -> SkuMeta | None:
        item = self.get(keys.sku_pk(sku_id), keys.META_SK, consistent)
        return None if item is None else SkuMeta.model_validate(item)

    def create_sku(self, meta: SkuMeta, actor: str, on_hand_shards: list[ShardDelta]) -> bool:
        """Creates the SKU with its opening stock; False if it already exists."""
        transaction = Transaction(self.table).put_if_absent(
            "meta",
            serialize(
                {
                    "pk": keys.sku_pk(meta.sku_id),
                    "sk": keys.META_SK,
                    "entity": "meta",
                    "last_op": "create",
                    "last_actor": actor,
                    keys.WRITE_REVISION: 1,
                    **meta.model_dump(),
                }
            ),
        )
        for delta in on_hand_shards:
            transaction.update(
                f"shard:{delta.pool}:{delta.shard}",
                shard_update(meta.sku_id, delta, "receive", actor, None, None, False),
            )
        try:
            self.transact(transaction)
        except TransactionRefused as refused:
            if "meta" in refused.refused:
                return False
            raise
        return True

    def read_shards(self, meta: SkuMeta, consistent: bool = True) -> list[ShardStock]:
        wanted = [
            (keys.shard_pk(meta.sku_id, pool, n), keys.STOCK_SK)
            for pool in meta.shards
            for n in range(meta.stored_shards(pool))
        ]
        found = [ShardStock.model_validate(item) for item in self.batch_get(wanted, consistent)]
        found.sort(key=lambda s: (s.pool, s.shard))
        return found

    def apply_change(self, change: StockChange) -> None:
        """Applies a StockChange in one transaction. Raises ChangeRefused naming the part."""
        transaction = Transaction(self.table)
        if change.operation is not None:
            record = change.operation
            transaction.put_if_absent(
                "operation",
                serialize(
                    {
                        "pk": keys.operation_pk(change.sku_id, record.kind, record.reference),
                        "sk": keys.OP_SK,
                        "entity": "operation",
                        "created_at": time.time(),
                        "kind": record.kind,
                        "request_hash": record.request_hash,
                        "response": record.response,
                    }
                ),
            )
        unchanged = Attr("version").eq(change.expected_version)
        if change.bump_version:
            transaction.update(
                "meta",
                Update(keys.sku_pk(change.sku_id), keys.META_SK)
                .add(version=1, on_hand=change.on_hand_delta, **{keys.WRITE_REVISION: 1})
                .set(
                    last_op=change.op,
                    last_actor=change.actor,
                    last_ref=change.reference or "",
                    last_reason=change.reason or "",
                    **change.patch.changes(),
                )
                .when(unchanged),
            )
        else:
            transaction.check("meta", keys.sku_pk(change.sku_id), keys.META_SK, unchanged)
        for delta in change.shard_deltas:
            if delta.delta != 0:
                transaction.update(
                    f"shard:{delta.pool}:{delta.shard}",
                    shard_update(
                        change.sku_id, delta, change.op, change.actor, change.reference, change.reason, change.paused
                    ),
                )
        for pool, n in change.empty_shards:
            transaction.check(
                f"empty:{pool}:{n}",
                keys.shard_pk(change.sku_id, pool, n),
                keys.STOCK_SK,
                Attr("available").not_exists() | Attr("available").eq(0),
            )
        if change.paused_to is not None:
            for pool, n in change.pause_shards:
                transaction.update(
                    f"pause:{pool}:{n}",
                    Update(keys.shard_pk(change.sku_id, pool, n), keys.STOCK_SK)
                    .set(paused=change.paused_to, entity="shard", sku_id=change.sku_id, pool=pool, shard=n)
                    .set_default(available=0)
                    .add(**{keys.WRITE_REVISION: 1}),
                )
        for name, guard in change.guards:
            transaction.update(f"guard:{name}", guard)
        for name, item in change.creates:
            transaction.put_if_absent(f"guard:{name}", serialize(item))
        try:
            self.transact(transaction)
        except TransactionRefused as refused:
            if "operation" in refused.refused:
                raise ChangeRefused("operation") from refused
            if "meta" in refused.refused:
                raise ChangeRefused("version") from refused
            if any(name.startswith("guard:") for name in refused.refused):
                raise ChangeRefused("guard") from refused
            if refused.refused:
                raise ChangeRefused("shard") from refused
            raise ChangeRefused("conflict") from refused

    def get_operation(self, sku_id: str, kind: str, reference: str) -> OperationRecord | None:
        item = self.get(keys.operation_pk(sku_id, kind, reference), keys.OP_SK)
        if item is None:
            return None
        return OperationRecord(
            kind=kind, reference=reference, request_hash=str(item["request_hash"]), response=dict(item["response"])
        )

    def decrement_shard(
        self, sku_id: str, pool: str, shard: int, quantity: int, reference: str, actor: str
    ) -> Decrement:
        """The oversell guard: one conditional write. Returns (taken, units the shard has left, or
        had when it refused, and the write revision of that level): returned values cost no extra
        capacity and tell the caller which shards not to try next."""
        # The same write counts the units as taken by the channel (platform sync reads available
        # and taken together, so a hold is never missing from both or counted in both).
        taken = {keys.taken_attr(channel): quantity} if (channel := keys.channel_of_pool(actor)) else {}
        request = (
            Update(keys.shard_pk(sku_id, pool, shard), keys.STOCK_SK)
            .add(available=-quantity, **{keys.WRITE_REVISION: 1}, **taken)
            .set(last_op="hold", last_ref=reference, last_actor=actor, last_reason="", updated_at=time.time())
            .when(Attr("available").gte(quantity) & Attr("paused").eq(False))
            .request(self.table)
        )
        try:
            response = self.client.update_item(
                **request, ReturnValues="UPDATED_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD"
            )
        except ClientError as error:
            if is_conditional_failure(error):
                old = deserialize(dict(error.response.get("Item", {})))  # type: ignore[call-overload]
                return False, int(old.get("available", 0)), _revision(old)
            raise
        new = deserialize(dict(response.get("Attributes", {})))
        left = new.get("available")
        return True, None if left is None else int(left), _revision(new)
