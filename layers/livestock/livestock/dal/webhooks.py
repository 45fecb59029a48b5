"""Data access for webhooks and their deliveries (the events table)."""

import uuid
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from pydantic import BaseModel

from livestock import keys
from livestock.dal.codec import deserialize
from livestock.dal.expressions import Store, Update, key, key_query

DELIVERY_TTL_S = 7 * 24 * 3600


class Webhook(BaseModel):
    webhook_id: str
    url: str
    secret: str
    event_types: list[str]
    created_at: float
    updated_at: float


class WebhookRepository(Store):
    def put(self, webhook: Webhook) -> Webhook:
        """Creates or replaces; keeps the first creation time. Returns what is stored."""
        update = (
            Update(*keys.webhook_key(webhook.webhook_id))
            .set(
                entity="webhook",
                webhook_id=webhook.webhook_id,
                url=webhook.url,
                secret=webhook.secret,
                event_types=webhook.event_types,
                updated_at=webhook.updated_at,
            )
            .set_default(created_at=webhook.updated_at)
        )
        return Webhook.model_validate(self.written(update))

    def get_webhook(self, webhook_id: str) -> Webhook | None:
        item = self.get(*keys.webhook_key(webhook_id))
        return Webhook.model_validate(item) if item is not None else None

    def delete(self, webhook_id: str) -> bool:
        response = self.client.delete_item(
            TableName=self.table, Key=key(*keys.webhook_key(webhook_id)), ReturnValues="ALL_OLD"
        )
        return "Attributes" in response

    def _partition(self, pk: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(**key_query(self.table, None, Key("pk").eq(pk), ConsistentRead=True)):
            found += [deserialize(item) for item in page["Items"]]
        return found

    def webhooks(self) -> list[Webhook]:
        return [Webhook.model_validate(item) for item in self._partition(keys.WEBHOOKS_PK)]

    # --- deliveries ------------------------------------------------------------------------

    def claim_delivery(
        self, webhook_id: str, event_id: str, detail_type: str, now: float, lease_s: float
    ) -> str | None:
        """Takes the delivery of one event to one webhook and answers the claim's token; None if
        it was delivered already, or rejected by the receiver, or another invocation is
        delivering it right now."""
        claim = uuid.uuid4().hex
        taken = self.update_if(
            Update(*keys.delivery_key(webhook_id, event_id))
            .set(
                entity="delivery",
                event_id=event_id,
                detail_type=detail_type,
                status="delivering",
                lease_until=now + lease_s,
                claim=claim,
                expires_at=int(now) + DELIVERY_TTL_S,
            )
            .set_default(created_at=now, attempts=[])
            .when(
                Attr("pk").not_exists()
                | Attr("status").eq("retrying")
                | (Attr("status").eq("delivering") & Attr("lease_until").lt(now))
            )
        )
        return claim if taken else None

    def record_attempt(self, webhook_id: str, event_id: str, claim: str, attempt: dict[str, Any], status: str) -> bool:
        """Records an attempt under the claim that made it: False (nothing written) once another
        invocation has claimed the delivery since (this one outlived its lease), so that a late
        answer never overwrites what that one recorded, a delivery above all."""
        update = (
            Update(*keys.delivery_key(webhook_id, event_id))
            .append(attempts=[attempt])
            .set(status=status)
            .when(Attr("claim").eq(claim))
        )
        if status == "delivered":
            update.set(delivered_at=attempt["at"])
        return self.update_if(update)

    def deliveries(self, webhook_id: str, limit: int = 100) -> list[dict[str, Any]]:
        found = self._partition(keys.delivery_pk(webhook_id))
        found.sort(key=lambda d: float(d.get("created_at", 0)), reverse=True)
        return found[:limit]
