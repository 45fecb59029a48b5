"""The session journal: bus events the review needs and the ledger cannot tell (alerts fired,
stage announcements), one item each in the events table under their SKU, by time.

Written by SessionJournalFunction (an EventBridge rule's target); a redelivered event rewrites
nothing (the item is put only if absent). Items expire with the events table's TTL.
"""

from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from livestock import keys
from livestock.dal.codec import deserialize
from livestock.dal.expressions import Store, is_conditional_failure, key_query
from livestock.models.review import JournalEntry

JOURNAL_TTL_S = 400 * 24 * 3600


class JournalStore(Store):
    def record(self, sku_id: str, entry: JournalEntry, occurred_at: float) -> bool:
        """Keeps the event; False when it was kept before."""
        item = {
            "pk": keys.journal_pk(sku_id),
            "sk": keys.journal_sk(entry.at, entry.event_id),
            "entity": "journal",
            "sku_id": sku_id,
            "expires_at": int(occurred_at) + JOURNAL_TTL_S,
            **entry.model_dump(mode="json"),
        }
        try:
            self.put_item(item, only_if_new=True)
        except ClientError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def entries(self, sku_id: str, from_iso: str, to_iso: str) -> list[JournalEntry]:
        """The SKU's events between two times (ISO-8601 UTC, inclusive), oldest first."""
        condition = Key("pk").eq(keys.journal_pk(sku_id)) & Key("sk").between(from_iso, f"{to_iso}~")
        found: list[JournalEntry] = []
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(**key_query(self.table, None, condition, ConsistentRead=True)):
            for raw in page["Items"]:
                item: dict[str, Any] = deserialize(raw)
                found.append(JournalEntry.model_validate({k: item[k] for k in JournalEntry.model_fields if k in item}))
        return found
