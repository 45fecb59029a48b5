"""Data access for LiveStock. The only module that builds DynamoDB expressions."""

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from livestock import keys
from livestock.dal import clients
from livestock.dal.codec import deserialize, serialize, value
from livestock.models.domain import Hold, HoldStatus, ShardStock, SkuMeta

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

HOLDS_BY_SKU_INDEX = "HoldsBySku"
OPEN_HOLDS_INDEX = "OpenHoldsByDue"


@dataclass(frozen=True)
class ShardDelta:
    pool: str
    shard: int
    delta: int


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
    reason: str | None = None
    reference: str | None = None
    on_hand_delta: int = 0
    set_fields: dict[str, Any] = field(default_factory=dict)
    shard_deltas: list[ShardDelta] = field(default_factory=list)
    operation_kind: str | None = None
    operation_record: dict[str, Any] | None = None
    paused: bool = False
    # When set, every listed shard's paused flag is set to it in the same transaction.
    pause_shards: list[tuple[str, int]] = field(default_factory=list)
    paused_to: bool | None = None
    # Moves between shards of one pool change no setting: they check the version, not bump it,
    # so they never turn an ERP's compare-and-set into a conflict.
    bump_version: bool = True
    # Shards that must be empty for the change to apply (retiring shards at the end of a shrink).
    empty_shards: list[tuple[str, int]] = field(default_factory=list)


class TransactionRefused(Exception):
    """A change was refused; which part refused is named."""

    def __init__(self, part: Literal["version", "operation", "shard", "conflict"]) -> None:
        super().__init__(part)
        self.part = part


def _is_conditional_failure(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


class InventoryRepository:
    def __init__(
        self,
        inventory_table: str,
        ledger_table: str,
        client: "DynamoDBClient | None" = None,
    ) -> None:
        self.inventory_table = inventory_table
        self.ledger_table = ledger_table
        self._client = client

    @property
    def client(self) -> "DynamoDBClient":
        return self._client or clients.dynamodb()

    def _update_if(self, **update: Any) -> bool:
        """One conditional UpdateItem; False (not an error) when its condition does not hold."""
        try:
            self.client.update_item(**update)
        except ClientError as error:
            if _is_conditional_failure(error):
                return False
            raise
        return True

    def _transact_if(self, items: list[dict[str, Any]]) -> bool:
        """A transaction; False (not an error) when one of its conditions does not hold."""
        try:
            self.client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except ClientError as error:
            if error.response["Error"]["Code"] == "TransactionCanceledException":
                return False
            raise
        return True

    # --- SKU settings ------------------------------------------------------------------

    def get_meta(self, sku_id: str, consistent: bool = False) -> SkuMeta | None:
        response = self.client.get_item(
            TableName=self.inventory_table,
            Key={"pk": value(keys.sku_pk(sku_id)), "sk": value(keys.META_SK)},
            ConsistentRead=consistent,
        )
        if "Item" not in response:
            return None
        return SkuMeta.model_validate(deserialize(response["Item"]))

    def create_sku(self, meta: SkuMeta, actor: str, on_hand_shards: list[ShardDelta]) -> bool:
        """Creates the SKU with its opening stock; False if it already exists."""
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.inventory_table,
                    "Item": serialize(
                        {
                            "pk": keys.sku_pk(meta.sku_id),
                            "sk": keys.META_SK,
                            "entity": "meta",
                            "last_op": "create",
                            "last_actor": actor,
                            **meta.model_dump(),
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        items += [self._shard_update(meta.sku_id, d, "receive", actor, None, None, False) for d in on_hand_shards]
        try:
            self.client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except ClientError as error:
            if error.response["Error"]["Code"] == "TransactionCanceledException":
                reasons = error.response.get("CancellationReasons", [])
                if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                    return False
            raise
        return True

    def read_shards(self, meta: SkuMeta, consistent: bool = True) -> list[ShardStock]:
        wanted = [
            {"pk": value(keys.shard_pk(meta.sku_id, pool, n)), "sk": value(keys.STOCK_SK)}
            for pool in meta.shards
            for n in range(meta.stored_shards(pool))
        ]
        found: list[ShardStock] = []
        for start in range(0, len(wanted), 100):
            request: dict[str, Any] = {
                self.inventory_table: {"Keys": wanted[start : start + 100], "ConsistentRead": consistent}
            }
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self.inventory_table, []):
                    found.append(ShardStock.model_validate(deserialize(item)))
                request = response.get("UnprocessedKeys") or {}
        found.sort(key=lambda s: (s.pool, s.shard))
        return found

    def _shard_update(
        self,
        sku_id: str,
        delta: ShardDelta,
        op: str,
        actor: str,
        reference: str | None,
        reason: str | None,
        paused: bool,
    ) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self.inventory_table,
            "Key": {"pk": value(keys.shard_pk(sku_id, delta.pool, delta.shard)), "sk": value(keys.STOCK_SK)},
            "UpdateExpression": (
                "SET available = if_not_exists(available, :zero) + :d, entity = :entity, "
                "sku_id = :sku, #pool = :pool, #shard = :shard, paused = if_not_exists(paused, :paused), "
                "last_op = :op, last_actor = :actor, last_ref = :ref, last_reason = :reason, "
                "last_qty = :qty, updated_at = :now"
            ),
            "ExpressionAttributeNames": {"#pool": "pool", "#shard": "shard"},
            "ExpressionAttributeValues": {
                ":zero": value(0),
                ":d": value(delta.delta),
                ":entity": value("shard"),
                ":sku": value(sku_id),
                ":pool": value(delta.pool),
                ":shard": value(delta.shard),
                ":paused": value(paused),
                ":op": value(op),
                ":actor": value(actor),
                ":ref": value(reference or ""),
                ":reason": value(reason or ""),
                ":qty": value(abs(delta.delta)),
                ":now": value(time.time()),
            },
        }
        if delta.delta < 0:
            update["ConditionExpression"] = "available >= :need"
            update["ExpressionAttributeValues"][":need"] = value(-delta.delta)
        return {"Update": update}

    def apply_change(self, change: StockChange) -> None:
        """Applies a StockChange in one transaction. Raises TransactionRefused naming the part."""
        names = {"#version": "version", "#on_hand": "on_hand", "#last_op": "last_op"}
        values: dict[str, Any] = {
            ":expected": value(change.expected_version),
            ":one": value(1),
            ":delta": value(change.on_hand_delta),
            ":op": value(change.op),
            ":actor": value(change.actor),
            ":ref": value(change.reference or ""),
            ":reason": value(change.reason or ""),
        }
        sets = [
            "#version = #version + :one",
            "#on_hand = #on_hand + :delta",
            "#last_op = :op",
            "last_actor = :actor",
            "last_ref = :ref",
            "last_reason = :reason",
        ]
        removes = []
        for index, (name, new) in enumerate(change.set_fields.items()):
            names[f"#f{index}"] = name
            if new is None or new == {}:
                removes.append(f"#f{index}")  # absent, not empty (see codec.serialize)
                continue
            values[f":f{index}"] = value(new)
            sets.append(f"#f{index} = :f{index}")
        items: list[dict[str, Any]] = []
        if change.operation_kind and change.reference:
            items.append(
                {
                    "Put": {
                        "TableName": self.inventory_table,
                        "Item": serialize(
                            {
                                "pk": keys.operation_pk(change.sku_id, change.operation_kind, change.reference),
                                "sk": keys.OP_SK,
                                "entity": "operation",
                                "created_at": time.time(),
                                **(change.operation_record or {}),
                            }
                        ),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        meta_key = {"pk": value(keys.sku_pk(change.sku_id)), "sk": value(keys.META_SK)}
        if change.bump_version:
            items.append(
                {
                    "Update": {
                        "TableName": self.inventory_table,
                        "Key": meta_key,
                        "UpdateExpression": "SET "
                        + ", ".join(sets)
                        + (" REMOVE " + ", ".join(removes) if removes else ""),
                        "ConditionExpression": "#version = :expected",
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                }
            )
        else:
            items.append(
                {
                    "ConditionCheck": {
                        "TableName": self.inventory_table,
                        "Key": meta_key,
                        "ConditionExpression": "#version = :expected",
                        "ExpressionAttributeNames": {"#version": "version"},
                        "ExpressionAttributeValues": {":expected": value(change.expected_version)},
                    }
                }
            )
        items += [
            self._shard_update(
                change.sku_id, d, change.op, change.actor, change.reference, change.reason, change.paused
            )
            for d in change.shard_deltas
            if d.delta != 0
        ]
        items += [
            {
                "ConditionCheck": {
                    "TableName": self.inventory_table,
                    "Key": {"pk": value(keys.shard_pk(change.sku_id, pool, n)), "sk": value(keys.STOCK_SK)},
                    "ConditionExpression": "attribute_not_exists(available) OR available = :zero",
                    "ExpressionAttributeValues": {":zero": value(0)},
                }
            }
            for pool, n in change.empty_shards
        ]
        if change.paused_to is not None:
            items += [
                {
                    "Update": {
                        "TableName": self.inventory_table,
                        "Key": {"pk": value(keys.shard_pk(change.sku_id, pool, n)), "sk": value(keys.STOCK_SK)},
                        "UpdateExpression": (
                            "SET paused = :p, available = if_not_exists(available, :zero), entity = :entity, "
                            "sku_id = :sku, #pool = :pool, #shard = :shard"
                        ),
                        "ExpressionAttributeNames": {"#pool": "pool", "#shard": "shard"},
                        "ExpressionAttributeValues": {
                            ":p": value(change.paused_to),
                            ":zero": value(0),
                            ":entity": value("shard"),
                            ":sku": value(change.sku_id),
                            ":pool": value(pool),
                            ":shard": value(n),
                        },
                    }
                }
                for pool, n in change.pause_shards
            ]
        try:
            self.client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code", "None") for r in error.response.get("CancellationReasons", [])]
            offset = 1 if change.operation_kind and change.reference else 0
            if offset and reasons[0] == "ConditionalCheckFailed":
                raise TransactionRefused("operation") from error
            if reasons[offset] == "ConditionalCheckFailed":
                raise TransactionRefused("version") from error
            if "ConditionalCheckFailed" in reasons[offset + 1 :]:
                raise TransactionRefused("shard") from error
            raise TransactionRefused("conflict") from error

    def get_operation(self, sku_id: str, kind: str, reference: str) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.inventory_table,
            Key={"pk": value(keys.operation_pk(sku_id, kind, reference)), "sk": value(keys.OP_SK)},
            ConsistentRead=True,
        )
        return deserialize(response["Item"]) if "Item" in response else None

    # --- The hot path ----------------------------------------------------------------------

    def put_pending_hold(self, hold: Hold) -> Hold | None:
        """Writes the hold as pending; returns the existing hold instead if the order was seen.

        No index attributes here, so the write costs 1 WCU and no index write: the stream
        consumer indexes the hold off the hot path (see track_pending_hold and settle_hold).
        """
        try:
            self.client.put_item(
                TableName=self.inventory_table,
                Item=serialize(
                    {
                        "pk": keys.hold_pk(hold.hold_id),
                        "sk": keys.HOLD_SK,
                        "entity": "hold",
                        **hold.model_dump(mode="json"),
                    }
                ),
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if _is_conditional_failure(error):
                return Hold.model_validate(deserialize(error.response["Item"]))  # type: ignore[typeddict-item]
            raise
        return None

    def track_pending_hold(self, hold_id: str, attempt: int, due: float) -> bool:
        """Puts a still-pending hold on the sweeper's list, due when its settle window ends."""
        return self._update_if(
            TableName=self.inventory_table,
            Key={"pk": value(keys.hold_pk(hold_id)), "sk": value(keys.HOLD_SK)},
            UpdateExpression="SET gsi2pk = :open, gsi2sk = :due",
            ConditionExpression="#status = :pending AND attempt = :attempt AND attribute_not_exists(gsi2pk)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":open": value(keys.open_holds_pk(hold_id)),
                ":due": value(due),
                ":pending": value(HoldStatus.PENDING.value),
                ":attempt": value(attempt),
            },
        )

    def decrement_shard(
        self, sku_id: str, pool: str, shard: int, quantity: int, reference: str, actor: str
    ) -> tuple[bool, int | None]:
        """The oversell guard: one conditional write. Returns (taken, units the shard has left, or
        had when it refused): returned values cost no extra capacity and tell the caller which
        shards not to try next."""
        try:
            response = self.client.update_item(
                TableName=self.inventory_table,
                Key={"pk": value(keys.shard_pk(sku_id, pool, shard)), "sk": value(keys.STOCK_SK)},
                UpdateExpression=(
                    "SET available = available - :q, last_op = :op, last_ref = :ref, "
                    "last_actor = :actor, last_qty = :q, last_reason = :empty, updated_at = :now"
                ),
                ConditionExpression="available >= :q AND paused = :false",
                ExpressionAttributeValues={
                    ":q": value(quantity),
                    ":op": value("hold"),
                    ":ref": value(reference),
                    ":actor": value(actor),
                    ":empty": value(""),
                    ":now": value(time.time()),
                    ":false": value(False),
                },
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if _is_conditional_failure(error):
                old: dict[str, Any] = dict(error.response.get("Item", {}))  # type: ignore[call-overload]
                return False, int(deserialize(old).get("available", 0))
            raise
        left = deserialize(dict(response.get("Attributes", {}))).get("available")
        return True, None if left is None else int(left)

    def reject_hold(self, hold: Hold) -> bool:
        return self._update_if(
            TableName=self.inventory_table,
            Key={"pk": value(keys.hold_pk(hold.hold_id)), "sk": value(keys.HOLD_SK)},
            UpdateExpression=(
                "SET #status = :rejected, refusal_code = :code, refusal_message = :message, "
                "refusal_details = :details REMOVE gsi2pk, gsi2sk"
            ),
            ConditionExpression="#status = :pending AND attempt = :attempt",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":rejected": value(HoldStatus.REJECTED.value),
                ":pending": value(HoldStatus.PENDING.value),
                ":attempt": value(hold.attempt),
                ":code": value(hold.refusal_code),
                ":message": value(hold.refusal_message),
                ":details": value(hold.refusal_details or {"sku_id": hold.sku_id}),
            },
        )

    def redrive_hold(self, hold: Hold, now: float, settle_window_s: int) -> bool:
        """An abandoned hold (its first attempt crashed before the decrement) becomes pending again."""
        return self._update_if(
            TableName=self.inventory_table,
            Key={"pk": value(keys.hold_pk(hold.hold_id)), "sk": value(keys.HOLD_SK)},
            UpdateExpression=(
                "SET #status = :pending, attempt = attempt + :one, created_at = :now, "
                "expires_at = :now + pay_within_s, gsi2pk = :open, gsi2sk = :due"
            ),
            ConditionExpression="#status = :abandoned AND attempt = :attempt",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":pending": value(HoldStatus.PENDING.value),
                ":abandoned": value(HoldStatus.ABANDONED.value),
                ":attempt": value(hold.attempt),
                ":one": value(1),
                ":now": value(now),
                ":open": value(keys.open_holds_pk(hold.hold_id)),
                ":due": value(now + settle_window_s),
            },
        )

    def get_hold(self, hold_id: str, consistent: bool = True) -> Hold | None:
        response = self.client.get_item(
            TableName=self.inventory_table,
            Key={"pk": value(keys.hold_pk(hold_id)), "sk": value(keys.HOLD_SK)},
            ConsistentRead=consistent,
        )
        return Hold.model_validate(deserialize(response["Item"])) if "Item" in response else None

    def charge_buyer_limit(self, sku_id: str, buyer_id: str, hold_id: str, quantity: int, limit: int) -> bool:
        """Counts a hold against the buyer's allowance; per-hold attributes make it idempotent."""
        return self._update_if(
            TableName=self.inventory_table,
            Key={"pk": value(keys.buyer_limit_pk(sku_id, buyer_id)), "sk": value(keys.LIMIT_SK)},
            UpdateExpression="SET #hold = :q, entity = :entity ADD units :q",
            ConditionExpression="attribute_exists(#hold) OR attribute_not_exists(units) OR units <= :room",
            ExpressionAttributeNames={"#hold": keys.buyer_limit_hold_attr(hold_id)},
            ExpressionAttributeValues={
                ":q": value(quantity),
                ":room": value(limit - quantity),
                ":entity": value("limit"),
            },
        )

    def refund_buyer_limit(self, sku_id: str, buyer_id: str, hold_id: str, quantity: int) -> None:
        try:
            self.client.update_item(
                TableName=self.inventory_table,
                Key={"pk": value(keys.buyer_limit_pk(sku_id, buyer_id)), "sk": value(keys.LIMIT_SK)},
                UpdateExpression="REMOVE #hold ADD units :minus",
                ConditionExpression="attribute_exists(#hold)",
                ExpressionAttributeNames={"#hold": keys.buyer_limit_hold_attr(hold_id)},
                ExpressionAttributeValues={":minus": value(-quantity)},
            )
        except ClientError as error:
            if not _is_conditional_failure(error):
                raise

    def buyer_units(self, sku_id: str, buyer_id: str) -> int:
        response = self.client.get_item(
            TableName=self.inventory_table,
            Key={"pk": value(keys.buyer_limit_pk(sku_id, buyer_id)), "sk": value(keys.LIMIT_SK)},
            ConsistentRead=True,
        )
        return int(deserialize(response["Item"]).get("units", 0)) if "Item" in response else 0

    # --- Hold lifecycle --------------------------------------------------------------------

    def settle_hold(self, hold_id: str, sku_id: str, attempt: int, pool: str, shard: int, sequence: str) -> bool:
        """pending -> held, once the decrement is seen in the stream. False if not pending.
        The hold joins the SKU's hold index and the sweeper's list (due when payment is)."""
        return self._update_if(
            TableName=self.inventory_table,
            Key={"pk": value(keys.hold_pk(hold_id)), "sk": value(keys.HOLD_SK)},
            UpdateExpression=(
                "SET #status = :held, #pool = :pool, #shard = :shard, settled_seq = :seq, "
                "gsi1pk = :by_sku, gsi1sk = :hold_id, gsi2pk = :open, gsi2sk = expires_at"
            ),
            # An abandoned hold whose decrement shows up late is revived, not refunded: its
            # first caller may have been told "held" before the stream caught up.
            ConditionExpression="(#status = :pending OR #status = :abandoned) AND attempt = :attempt",
            ExpressionAttributeNames={"#status": "status", "#pool": "pool", "#shard": "shard"},
            ExpressionAttributeValues={
                ":held": value(HoldStatus.HELD.value),
                ":pending": value(HoldStatus.PENDING.value),
                ":abandoned": value(HoldStatus.ABANDONED.value),
                ":open": value(keys.open_holds_pk(hold_id)),
                ":by_sku": value(keys.holds_by_sku_pk(sku_id, hold_id)),
                ":hold_id": value(hold_id),
                ":attempt": value(attempt),
                ":pool": value(pool),
                ":shard": value(shard),
                ":seq": value(sequence),
            },
        )

    def transition_hold(self, hold: Hold, to: HoldStatus, actor: str, open_after: bool = False) -> bool:
        """A status change with no stock movement (confirm, abandon)."""
        remove = "" if open_after else " REMOVE gsi2pk, gsi2sk"
        return self._update_if(
            TableName=self.inventory_table,
            Key={"pk": value(keys.hold_pk(hold.hold_id)), "sk": value(keys.HOLD_SK)},
            UpdateExpression="SET #status = :to, last_actor = :actor, changed_at = :now" + remove,
            ConditionExpression="#status = :from AND attempt = :attempt",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":to": value(to.value),
                ":from": value(hold.status.value),
                ":attempt": value(hold.attempt),
                ":actor": value(actor),
                ":now": value(time.time()),
            },
        )

    def return_hold_units(
        self, hold: Hold, to: HoldStatus, pool: str, shard: int, op: str, actor: str, paused: bool
    ) -> bool:
        """Atomically moves a hold to a closed status and gives its units back to a pool shard."""
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.inventory_table,
                    "Key": {"pk": value(keys.hold_pk(hold.hold_id)), "sk": value(keys.HOLD_SK)},
                    "UpdateExpression": (
                        "SET #status = :to, last_actor = :actor, changed_at = :now REMOVE gsi2pk, gsi2sk"
                    ),
                    "ConditionExpression": "#status = :from AND attempt = :attempt",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {
                        ":to": value(to.value),
                        ":from": value(hold.status.value),
                        ":attempt": value(hold.attempt),
                        ":actor": value(actor),
                        ":now": value(time.time()),
                    },
                }
            },
            self._shard_update(
                hold.sku_id, ShardDelta(pool, shard, hold.quantity), op, actor, hold.hold_id, None, paused
            ),
        ]
        return self._transact_if(items)

    def compensate_decrement(
        self, hold_id: str, sku_id: str, pool: str, shard: int, quantity: int, sequence: str, paused: bool
    ) -> bool:
        """Gives back a decrement that no live hold owns (a late or duplicated write). Once per record."""
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.inventory_table,
                    "Key": {"pk": value(keys.hold_pk(hold_id)), "sk": value(keys.HOLD_SK)},
                    "UpdateExpression": "ADD compensated :seq",
                    "ConditionExpression": "attribute_exists(pk) AND NOT contains(compensated, :seq_value)",
                    "ExpressionAttributeValues": {
                        ":seq": {"SS": [sequence]},
                        ":seq_value": value(sequence),
                    },
                }
            },
            self._shard_update(
                sku_id,
                ShardDelta(pool, shard, quantity),
                "compensate",
                "stream",
                hold_id,
                "decrement without a live hold",
                paused,
            ),
        ]
        return self._transact_if(items)

    def holds_for_sku(self, sku_id: str) -> list[Hold]:
        found: list[Hold] = []
        paginator = self.client.get_paginator("query")
        for partition in keys.holds_by_sku_partitions(sku_id):
            for page in paginator.paginate(
                TableName=self.inventory_table,
                IndexName=HOLDS_BY_SKU_INDEX,
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": value(partition)},
            ):
                found += [Hold.model_validate(deserialize(item)) for item in page["Items"]]
        return found

    def due_open_holds(self, now: float, limit: int = 500) -> list[Hold]:
        """Open holds whose deadline (payment window, or settle window while pending) has passed."""
        found: list[Hold] = []
        paginator = self.client.get_paginator("query")
        for partition in keys.open_holds_partitions():
            for page in paginator.paginate(
                TableName=self.inventory_table,
                IndexName=OPEN_HOLDS_INDEX,
                KeyConditionExpression="gsi2pk = :pk AND gsi2sk <= :now",
                ExpressionAttributeValues={":pk": value(partition), ":now": value(now)},
            ):
                found += [Hold.model_validate(deserialize(item)) for item in page["Items"]]
                if len(found) >= limit:
                    return found
        return found

    # --- Ledger ----------------------------------------------------------------------------

    def put_movements(self, movements: list[dict[str, Any]]) -> None:
        """Ledger entries are keyed by their stream record, so a redelivered record rewrites the same entry."""
        for start in range(0, len(movements), 25):
            request: dict[str, Any] = {
                self.ledger_table: [{"PutRequest": {"Item": serialize(m)}} for m in movements[start : start + 25]]
            }
            while request:
                response = self.client.batch_write_item(RequestItems=request)
                request = response.get("UnprocessedItems") or {}

    def ledger_page(
        self, sku_id: str, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        kwargs: dict[str, Any] = {
            "TableName": self.ledger_table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": value(keys.ledger_pk(sku_id))},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = serialize(cursor)
        response = self.client.query(**kwargs)
        last = response.get("LastEvaluatedKey")
        return [deserialize(i) for i in response["Items"]], (deserialize(last) if last else None)

    def all_movements(self, sku_id: str) -> list[dict[str, Any]]:
        paginator = self.client.get_paginator("query")
        found: list[dict[str, Any]] = []
        for page in paginator.paginate(
            TableName=self.ledger_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": value(keys.ledger_pk(sku_id))},
            ConsistentRead=True,
        ):
            found += [deserialize(i) for i in page["Items"]]
        return found
