"""The small builders every store uses instead of hand-written expression dicts.

`Update` builds one UpdateItem (or the Update of a transaction); conditions are boto3's own
condition objects (`Attr("available").gte(2)`), rendered by boto3's builder. `Transaction` names
its items, so a refusal says which item refused instead of being decoded by its position.
"""

import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from boto3.dynamodb.conditions import ConditionBase, ConditionExpressionBuilder
from botocore.exceptions import ClientError

from livestock.dal import clients
from livestock.dal.codec import deserialize, serialize, value

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": value(pk), "sk": value(sk)}


def _render(condition: ConditionBase, names: dict[str, str], values: dict[str, Any]) -> str:
    built = ConditionExpressionBuilder().build_expression(condition)
    names.update(built.attribute_name_placeholders)
    values.update({k: value(v) for k, v in built.attribute_value_placeholders.items()})
    return built.condition_expression


@dataclass
class Update:
    """SET / ADD / REMOVE clauses over attribute names, with placeholders made up as they come.

    Placeholders are `#u<n>`/`:u<n>`, so they never meet the condition builder's `#n<n>`/`:v<n>`.
    """

    pk: str
    sk: str
    _sets: list[str] = field(default_factory=list)
    _adds: list[str] = field(default_factory=list)
    _removes: list[str] = field(default_factory=list)
    _names: dict[str, str] = field(default_factory=dict)
    _values: dict[str, Any] = field(default_factory=dict)
    _condition: ConditionBase | None = None

    def _name(self, attribute: str) -> str:
        for placeholder, name in self._names.items():
            if name == attribute:
                return placeholder
        placeholder = f"#u{len(self._names)}"
        self._names[placeholder] = attribute
        return placeholder

    def _value(self, given: Any) -> str:
        placeholder = f":u{len(self._values)}"
        self._values[placeholder] = value(given)
        return placeholder

    def set(self, **attributes: Any) -> "Update":
        """Sets each attribute; None removes it (absent, not empty: see codec.serialize)."""
        for attribute, new in attributes.items():
            if new is None or new == {}:
                self._removes.append(self._name(attribute))
            else:
                self._sets.append(f"{self._name(attribute)} = {self._value(new)}")
        return self

    def set_default(self, **attributes: Any) -> "Update":
        """Sets each attribute only where the item has none yet."""
        for attribute, new in attributes.items():
            name = self._name(attribute)
            self._sets.append(f"{name} = if_not_exists({name}, {self._value(new)})")
        return self

    def set_sum(self, attribute: str, amount: Any, plus_attribute: str) -> "Update":
        """attribute = amount + another attribute of the same item."""
        self._sets.append(f"{self._name(attribute)} = {self._value(amount)} + {self._name(plus_attribute)}")
        return self

    def copy(self, attribute: str, from_attribute: str) -> "Update":
        self._sets.append(f"{self._name(attribute)} = {self._name(from_attribute)}")
        return self

    def add(self, **amounts: Any) -> "Update":
        """ADD: numbers count up from zero, sets gain members; a missing item is created."""
        for attribute, amount in amounts.items():
            self._adds.append(f"{self._name(attribute)} {self._value(amount)}")
        return self

    def remove(self, *attributes: str) -> "Update":
        self._removes += [self._name(a) for a in attributes]
        return self

    def append(self, **items: list[Any]) -> "Update":
        """Appends to list attributes (which must exist: see set_default)."""
        for attribute, more in items.items():
            name = self._name(attribute)
            self._sets.append(f"{name} = list_append({name}, {self._value(more)})")
        return self

    def when(self, condition: ConditionBase) -> "Update":
        self._condition = condition if self._condition is None else self._condition & condition
        return self

    def request(self, table: str) -> dict[str, Any]:
        clauses = []
        if self._sets:
            clauses.append("SET " + ", ".join(self._sets))
        if self._adds:
            clauses.append("ADD " + ", ".join(self._adds))
        if self._removes:
            clauses.append("REMOVE " + ", ".join(self._removes))
        names, values = dict(self._names), dict(self._values)
        request: dict[str, Any] = {
            "TableName": table,
            "Key": key(self.pk, self.sk),
            "UpdateExpression": " ".join(clauses),
        }
        if self._condition is not None:
            request["ConditionExpression"] = _render(self._condition, names, values)
        if names:
            request["ExpressionAttributeNames"] = names
        if values:
            request["ExpressionAttributeValues"] = values
        return request


def key_query(table: str, index: str | None, condition: ConditionBase, **extra: Any) -> dict[str, Any]:
    """The arguments of a Query whose key condition is a boto3 condition (`Key("pk").eq(...)`)."""
    built = ConditionExpressionBuilder().build_expression(condition, is_key_condition=True)
    query: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": built.condition_expression,
        "ExpressionAttributeNames": built.attribute_name_placeholders,
        "ExpressionAttributeValues": {k: value(v) for k, v in built.attribute_value_placeholders.items()},
        **extra,
    }
    if index:
        query["IndexName"] = index
    return query


def condition_check(table: str, pk: str, sk: str, condition: ConditionBase) -> dict[str, Any]:
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    check: dict[str, Any] = {"TableName": table, "Key": key(pk, sk), "ConditionExpression": ""}
    check["ConditionExpression"] = _render(condition, names, values)
    if names:
        check["ExpressionAttributeNames"] = names
    if values:
        check["ExpressionAttributeValues"] = values
    return {"ConditionCheck": check}


def put_if_absent(table: str, item: dict[str, Any]) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}


# How long (at most, jittered) a transaction cancelled by a conflict waits before each new try.
CONFLICT_PAUSES_S = (0.01, 0.03, 0.09)


class TransactionRefused(Exception):
    """A transaction was cancelled: `refused` names the items whose condition failed; an empty
    set means it lost a race (a conflict) rather than a condition."""

    def __init__(self, refused: frozenset[str]) -> None:
        super().__init__(", ".join(sorted(refused)) or "conflict")
        self.refused = refused


@dataclass
class Transaction:
    table: str
    _items: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def update(self, name: str, update: Update) -> "Transaction":
        self._items.append((name, {"Update": update.request(self.table)}))
        return self

    def check(self, name: str, pk: str, sk: str, condition: ConditionBase) -> "Transaction":
        self._items.append((name, condition_check(self.table, pk, sk, condition)))
        return self

    def put_if_absent(self, name: str, item: dict[str, Any]) -> "Transaction":
        self._items.append((name, put_if_absent(self.table, item)))
        return self

    def plus(self, name: str, update: Update) -> "Transaction":
        """A copy of this transaction with one more update: this one is left as it was."""
        return Transaction(self.table, [*self._items, (name, {"Update": update.request(self.table)})])

    @property
    def items(self) -> list[dict[str, Any]]:
        return [item for _, item in self._items]

    def refused(self, error: ClientError) -> frozenset[str]:
        reasons = error.response.get("CancellationReasons", [])
        return frozenset(
            name
            for (name, _), reason in zip(self._items, reasons, strict=False)
            if reason.get("Code") == "ConditionalCheckFailed"
        )


def is_conditional_failure(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


class Store:
    """What every store shares: its table, its client, and the two ways a write may be refused."""

    def __init__(self, table: str, client: "DynamoDBClient | None" = None) -> None:
        self.table = table
        self._client = client

    @property
    def client(self) -> "DynamoDBClient":
        return self._client or clients.dynamodb()

    def get(self, pk: str, sk: str, consistent: bool = True) -> dict[str, Any] | None:
        response = self.client.get_item(TableName=self.table, Key=key(pk, sk), ConsistentRead=consistent)
        return deserialize(response["Item"]) if "Item" in response else None

    def batch_get(self, keys: list[tuple[str, str]], consistent: bool) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        wanted = [key(pk, sk) for pk, sk in keys]
        for start in range(0, len(wanted), 100):
            request: dict[str, Any] = {self.table: {"Keys": wanted[start : start + 100], "ConsistentRead": consistent}}
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                found += [deserialize(item) for item in response["Responses"].get(self.table, [])]
                request = response.get("UnprocessedKeys") or {}
        return found

    def put_item(self, item: dict[str, Any], only_if_new: bool = False, old_on_refusal: bool = False) -> None:
        """One PutItem; `only_if_new` refuses it where the key exists (ConditionalCheckFailed, with
        the stored item when `old_on_refusal`)."""
        options: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"} if only_if_new else {}
        if old_on_refusal:
            options["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        self.client.put_item(TableName=self.table, Item=serialize(item), **options)

    def put_all(self, items: list[dict[str, Any]]) -> None:
        """Unconditional puts, 25 to a BatchWriteItem, retrying what comes back unprocessed."""
        for start in range(0, len(items), 25):
            request: dict[str, Any] = {
                self.table: [{"PutRequest": {"Item": serialize(item)}} for item in items[start : start + 25]]
            }
            while request:
                response = self.client.batch_write_item(RequestItems=request)
                request = dict(response.get("UnprocessedItems") or {})

    def update_if(self, update: Update) -> bool:
        """One conditional UpdateItem; False (not an error) when its condition does not hold."""
        return self._update_unless_refused(update, "NONE") is not None

    def update_or_stored(self, update: Update) -> dict[str, Any] | None:
        """One conditional UpdateItem: None when it wrote, else the item as its condition found it
        ({} where there is none), returned with the refusal at no extra read. An item that
        transactions also write answers TransactionConflict while one is in flight (botocore does
        not retry it): tried again, briefly, as `transact` does."""
        for pause_s in CONFLICT_PAUSES_S:
            try:
                return self._update_or_stored_once(update)
            except ClientError as error:
                if error.response["Error"]["Code"] != "TransactionConflictException":
                    raise
                time.sleep(random.uniform(0, pause_s))
        return self._update_or_stored_once(update)

    def _update_or_stored_once(self, update: Update) -> dict[str, Any] | None:
        try:
            self.client.update_item(**update.request(self.table), ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as error:
            if is_conditional_failure(error):
                return deserialize(dict(error.response.get("Item", {})))  # type: ignore[call-overload]
            raise
        return None

    def updated(self, update: Update) -> dict[str, Any] | None:
        """One conditional UpdateItem that answers the item as written (no read of its own);
        None when its condition does not hold."""
        return self._update_unless_refused(update, "ALL_NEW")

    def written(self, update: Update) -> dict[str, Any]:
        """One UpdateItem without a condition, answering the item as written."""
        response = self.client.update_item(**update.request(self.table), ReturnValues="ALL_NEW")
        return deserialize(dict(response["Attributes"]))

    def _update_unless_refused(self, update: Update, returning: Literal["NONE", "ALL_NEW"]) -> dict[str, Any] | None:
        try:
            response = self.client.update_item(**update.request(self.table), ReturnValues=returning)
        except ClientError as error:
            if is_conditional_failure(error):
                return None
            raise
        return deserialize(dict(response.get("Attributes", {})))

    def transact(self, transaction: Transaction) -> None:
        """Runs a transaction; raises TransactionRefused naming the items that refused. A transaction
        cancelled only by a conflict (another write to one of its items in flight; it wrote nothing)
        is tried again, briefly, before that is raised with no item named."""
        for pause_s in (*CONFLICT_PAUSES_S, None):
            try:
                self.client.transact_write_items(TransactItems=transaction.items)  # type: ignore[arg-type]
            except ClientError as error:
                if error.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                refused = transaction.refused(error)
                if refused or pause_s is None:
                    raise TransactionRefused(refused) from error
                time.sleep(random.uniform(0, pause_s))
            else:
                return

    def transact_if(self, transaction: Transaction) -> bool:
        """A transaction; False (not an error) when one of its conditions does not hold. A conflict
        that outlasts transact's retries is raised: the write did not happen, and the caller must
        not take that for a refusal (a confirm or a give-back silently dropped)."""
        try:
            self.transact(transaction)
        except TransactionRefused as refused:
            if not refused.refused:
                raise
            return False
        return True
