"""Data access for the event publisher: each SKU's event state (one item, replaced only if its
revision is still the one read) and claims that make record-derived events publish once."""

import time
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel

from livestock import keys
from livestock.dal import clients
from livestock.dal.codec import deserialize, value
from livestock.logic.alerts import SkuEventState

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

CLAIM_TTL_S = 7 * 24 * 3600
OUTBOX_PREFIX = "ob_"


class PendingEvent(BaseModel):
    """An event written with a state change, kept until a publisher confirms it published."""

    detail_type: str
    detail: dict[str, Any]
    written_at: float


def _conditional_failure(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


class EventStateRepository:
    def __init__(self, table: str, client: "DynamoDBClient | None" = None) -> None:
        self.table = table
        self._client = client

    @property
    def client(self) -> "DynamoDBClient":
        return self._client or clients.dynamodb()

    def get(self, sku_id: str) -> tuple[SkuEventState, int, dict[str, PendingEvent]]:
        """The state, its revision (0: never written) and the events written with it that no
        publisher has confirmed yet."""
        response = self.client.get_item(
            TableName=self.table,
            Key={"pk": value(keys.event_state_pk(sku_id)), "sk": value(keys.STATE_SK)},
            ConsistentRead=True,
        )
        if "Item" not in response:
            return SkuEventState(sku_id=sku_id), 0, {}
        item = deserialize(response["Item"])
        pending = {
            name.removeprefix(OUTBOX_PREFIX): PendingEvent.model_validate_json(str(entry))
            for name, entry in item.items()
            if name.startswith(OUTBOX_PREFIX)
        }
        return SkuEventState.model_validate_json(str(item["state"])), int(item["rev"]), pending

    def replace(self, state: SkuEventState, expected_rev: int, outbox: dict[str, PendingEvent]) -> bool:
        """Writes the state, with `outbox` added to the unconfirmed events, if nobody wrote it since
        `expected_rev` was read; False otherwise. Outbox entries are attributes of their own, so
        that confirming them (a REMOVE) never conflicts with the next state write."""
        entries = {f"{OUTBOX_PREFIX}{event_id}": event.model_dump_json() for event_id, event in outbox.items()}
        key = {"pk": value(keys.event_state_pk(state.sku_id)), "sk": value(keys.STATE_SK)}
        try:
            if expected_rev == 0:
                self.client.put_item(
                    TableName=self.table,
                    Item={
                        **key,
                        "entity": value("event-state"),
                        "rev": value(1),
                        "state": value(state.model_dump_json()),
                        **{name: value(entry) for name, entry in entries.items()},
                    },
                    ConditionExpression="attribute_not_exists(pk)",
                )
                return True
            names = {f"#o{n}": name for n, name in enumerate(entries)}
            values = {f":o{n}": value(entry) for n, entry in enumerate(entries.values())}
            sets = ["#state = :state", "rev = :next", *(f"#o{n} = :o{n}" for n in range(len(entries)))]
            self.client.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="rev = :rev",
                ExpressionAttributeNames={"#state": "state", **names},
                ExpressionAttributeValues={
                    ":state": value(state.model_dump_json()),
                    ":rev": value(expected_rev),
                    ":next": value(expected_rev + 1),
                    **values,
                },
            )
        except ClientError as error:
            if _conditional_failure(error):
                return False
            raise
        return True

    def confirm(self, sku_id: str, event_ids: list[str]) -> None:
        """Published: off the outbox. Unconditional, so it commutes with any state write."""
        for start in range(0, len(event_ids), 50):
            chunk = event_ids[start : start + 50]
            self.client.update_item(
                TableName=self.table,
                Key={"pk": value(keys.event_state_pk(sku_id)), "sk": value(keys.STATE_SK)},
                UpdateExpression="REMOVE " + ", ".join(f"#o{n}" for n in range(len(chunk))),
                ExpressionAttributeNames={f"#o{n}": f"{OUTBOX_PREFIX}{event_id}" for n, event_id in enumerate(chunk)},
            )

    def claim(self, event_id: str, now: float | None = None) -> Literal["new", "retry", "published"]:
        """Claims the publication of a record-derived event. The same stream record is never
        processed by two invocations at once (Lambda retries a batch only after the attempt has
        ended), so a claim found unconfirmed was left by an attempt that failed: "retry"."""
        now = time.time() if now is None else now
        key = {"pk": value(keys.event_claim_pk(event_id)), "sk": value(keys.CLAIM_SK)}
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    **key,
                    "entity": value("claim"),
                    "status": value("claimed"),
                    "claimed_at": value(now),
                    "expires_at": value(int(now) + CLAIM_TTL_S),
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if not _conditional_failure(error):
                raise
        else:
            return "new"
        item = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item", {})
        return "published" if deserialize(item).get("status") == "published" else "retry"

    def mark_published(self, event_ids: list[str]) -> None:
        for event_id in event_ids:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": value(keys.event_claim_pk(event_id)), "sk": value(keys.CLAIM_SK)},
                UpdateExpression="SET #status = :published",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":published": value("published")},
            )
