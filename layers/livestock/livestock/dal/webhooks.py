"""Data access for webhooks and their deliveries (the events table)."""

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from livestock import keys
from livestock.dal import clients
from livestock.dal.codec import deserialize, serialize, value

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DELIVERY_TTL_S = 7 * 24 * 3600


class Webhook(BaseModel):
    webhook_id: str
    url: str
    secret: str
    event_types: list[str]
    created_at: float
    updated_at: float


def _conditional_failure(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


class WebhookRepository:
    def __init__(self, table: str, client: "DynamoDBClient | None" = None) -> None:
        self.table = table
        self._client = client

    @property
    def client(self) -> "DynamoDBClient":
        return self._client or clients.dynamodb()

    @staticmethod
    def _key(webhook_id: str) -> dict[str, Any]:
        return {"pk": value(keys.WEBHOOKS_PK), "sk": value(webhook_id)}

    def put(self, webhook: Webhook) -> Webhook:
        """Creates or replaces; keeps the first creation time. Returns what is stored."""
        response = self.client.update_item(
            TableName=self.table,
            Key=self._key(webhook.webhook_id),
            UpdateExpression=(
                "SET entity = :entity, webhook_id = :id, #url = :url, secret = :secret, event_types = :types, "
                "created_at = if_not_exists(created_at, :now), updated_at = :now"
            ),
            ExpressionAttributeNames={"#url": "url"},
            ExpressionAttributeValues={
                ":entity": value("webhook"),
                ":id": value(webhook.webhook_id),
                ":url": value(webhook.url),
                ":secret": value(webhook.secret),
                ":types": value(webhook.event_types),
                ":now": value(webhook.updated_at),
            },
            ReturnValues="ALL_NEW",
        )
        return Webhook.model_validate(deserialize(dict(response["Attributes"])))

    def get(self, webhook_id: str) -> Webhook | None:
        response = self.client.get_item(TableName=self.table, Key=self._key(webhook_id), ConsistentRead=True)
        return Webhook.model_validate(deserialize(response["Item"])) if "Item" in response else None

    def delete(self, webhook_id: str) -> bool:
        response = self.client.delete_item(TableName=self.table, Key=self._key(webhook_id), ReturnValues="ALL_OLD")
        return "Attributes" in response

    def subscribers(self, detail_type: str) -> list[Webhook]:
        found: list[Webhook] = []
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": value(keys.WEBHOOKS_PK)},
            ConsistentRead=True,
        ):
            found += [Webhook.model_validate(deserialize(item)) for item in page["Items"]]
        return [w for w in found if detail_type in w.event_types]

    # --- deliveries ------------------------------------------------------------------------

    @staticmethod
    def _delivery_key(webhook_id: str, event_id: str) -> dict[str, Any]:
        return {"pk": value(keys.delivery_pk(webhook_id)), "sk": value(event_id)}

    def claim_delivery(self, webhook_id: str, event_id: str, detail_type: str, now: float, lease_s: float) -> bool:
        """Takes the delivery of one event to one webhook: False if it was delivered already, or
        rejected by the receiver, or another invocation is delivering it right now."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._delivery_key(webhook_id, event_id),
                UpdateExpression=(
                    "SET entity = :entity, event_id = :event, detail_type = :type, #status = :delivering, "
                    "lease_until = :lease, created_at = if_not_exists(created_at, :now), "
                    "attempts = if_not_exists(attempts, :none), expires_at = :expires"
                ),
                ConditionExpression=(
                    "attribute_not_exists(pk) OR #status = :retrying OR (#status = :delivering AND lease_until < :now)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":entity": value("delivery"),
                    ":event": value(event_id),
                    ":type": value(detail_type),
                    ":delivering": value("delivering"),
                    ":retrying": value("retrying"),
                    ":lease": value(now + lease_s),
                    ":now": value(now),
                    ":none": value([]),
                    ":expires": value(int(now) + DELIVERY_TTL_S),
                },
            )
        except ClientError as error:
            if _conditional_failure(error):
                return False
            raise
        return True

    def record_attempt(self, webhook_id: str, event_id: str, attempt: dict[str, Any], status: str) -> None:
        self.client.update_item(
            TableName=self.table,
            Key=self._delivery_key(webhook_id, event_id),
            UpdateExpression="SET attempts = list_append(attempts, :attempt), #status = :status"
            + (", delivered_at = :at" if status == "delivered" else ""),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":attempt": {"L": [{"M": serialize(attempt)}]},
                ":status": value(status),
                **({":at": value(attempt["at"])} if status == "delivered" else {}),
            },
        )

    def deliveries(self, webhook_id: str, limit: int = 100) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": value(keys.delivery_pk(webhook_id))},
            ConsistentRead=True,
        ):
            found += [deserialize(item) for item in page["Items"]]
        found.sort(key=lambda d: float(d.get("created_at", 0)), reverse=True)
        return found[:limit]
