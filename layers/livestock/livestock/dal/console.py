"""Data access for the live console (the console table): tokens, connections, who watches which
SKU, each watched SKU's panel extras, the alert feed, and the push item that coalesces what waits
to be sent to a session's consoles.

Every item carries `expires_at_s` (the table's TTL attribute). TTL deletes late (up to two days on
AWS), so every read that decides something also checks the expiry itself.
"""

import json
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from livestock import keys
from livestock.dal import clients
from livestock.dal.codec import deserialize
from livestock.dal.expressions import Store, Update, key, key_query
from livestock.models.console import Connection, ConsoleToken, FeedItem

TTL_ATTRIBUTE = "expires_at_s"


class ConsoleStore(Store):
    # --- tokens --------------------------------------------------------------------------------

    def put_token(self, token: str, stored: ConsoleToken) -> None:
        """A new token; its hash is random, so a collision is refused rather than overwritten."""
        item = {
            "pk": keys.console_token_pk(token),
            "sk": keys.TOKEN_SK,
            "entity": "console-token",
            **stored.model_dump(),
            TTL_ATTRIBUTE: int(stored.expires_at) + 1,
        }
        self.put_item(item, only_if_new=True)

    def get_token(self, token: str) -> ConsoleToken | None:
        item = self.get(keys.console_token_pk(token), keys.TOKEN_SK)
        return None if item is None else ConsoleToken.model_validate(item)

    # --- connections ---------------------------------------------------------------------------

    def put_connection(self, connection: Connection, expires_at: float) -> None:
        self.put_item(
            {
                "pk": keys.console_connection_pk(connection.connection_id),
                "sk": keys.CONNECTION_SK,
                "entity": "console-connection",
                **connection.model_dump(),
                TTL_ATTRIBUTE: int(expires_at) + 1,
            }
        )

    def get_connection(self, connection_id: str) -> Connection | None:
        item = self.get(keys.console_connection_pk(connection_id), keys.CONNECTION_SK)
        return None if item is None else Connection.model_validate(item)

    def subscribe(self, connection: Connection, sku_ids: list[str], expires_at: float) -> None:
        """The connection's SKUs, its place among the session's connections, and the SKUs' watch
        items (one per session and SKU, shared by the session's consoles)."""
        ttl = int(expires_at) + 1
        self.update_if(
            Update(keys.console_connection_pk(connection.connection_id), keys.CONNECTION_SK).set(sku_ids=sku_ids)
        )
        session = keys.console_session_pk(connection.session_id)
        items = [
            {
                "pk": session,
                "sk": keys.console_connection_sk(connection.connection_id),
                "connection_id": connection.connection_id,
                TTL_ATTRIBUTE: ttl,
            }
        ] + [
            {
                "pk": keys.console_watch_pk(sku_id),
                "sk": keys.console_watch_sk(connection.session_id),
                "session_id": connection.session_id,
                TTL_ATTRIBUTE: ttl,
            }
            for sku_id in sku_ids
        ]
        self.put_all(items)

    def drop_connection(self, connection_id: str) -> Connection | None:
        """Deletes the connection and its place in its session; returns what it was."""
        response = self.client.delete_item(
            TableName=self.table,
            Key=key(keys.console_connection_pk(connection_id), keys.CONNECTION_SK),
            ReturnValues="ALL_OLD",
        )
        if "Attributes" not in response:
            return None
        connection = Connection.model_validate(deserialize(dict(response["Attributes"])))
        self.client.delete_item(
            TableName=self.table,
            Key=key(keys.console_session_pk(connection.session_id), keys.console_connection_sk(connection_id)),
        )
        return connection

    def session_connections(self, session_id: str, now: float) -> list[str]:
        return [
            str(item["connection_id"])
            for item in self._query(keys.console_session_pk(session_id), keys.CONNECTION_PREFIX)
            if float(item.get(TTL_ATTRIBUTE, 0)) > now
        ]

    def watches(self, sku_id: str) -> dict[str, float]:
        """The sessions whose consoles watch the SKU, each with when its watch expires."""
        return {
            keys.session_of_watch_sk(str(item["sk"])): float(item.get(TTL_ATTRIBUTE, 0))
            for item in self._query(keys.console_watch_pk(sku_id), "SESSION#")
        }

    # --- panels and feed -----------------------------------------------------------------------

    def set_panel(self, session_id: str, sku_id: str, expires_at: float, **extras: Any) -> None:
        """A SKU's tier or stage, kept only when newer than what is stored (an event delivered twice,
        or late, never takes the panel back)."""
        for name, value in extras.items():
            stamp = f"{name}_at"
            occurred = float(value["occurred_at"])
            self.update_if(
                Update(keys.console_session_pk(session_id), keys.console_panel_sk(sku_id))
                .set(sku_id=sku_id, **{name: value, stamp: occurred, TTL_ATTRIBUTE: int(expires_at) + 1})
                .when(Attr(stamp).not_exists() | Attr(stamp).lte(occurred))
            )

    def panels(self, session_id: str) -> dict[str, dict[str, Any]]:
        return {
            str(item["sku_id"]): item
            for item in self._query(keys.console_session_pk(session_id), keys.PANEL_PREFIX)
            if "sku_id" in item
        }

    def add_feed(self, session_id: str, item: FeedItem, expires_at: float) -> None:
        self.put_item(
            {
                "pk": keys.console_session_pk(session_id),
                "sk": keys.console_feed_sk(item.occurred_at, item.event_id),
                **item.model_dump(),
                TTL_ATTRIBUTE: int(expires_at) + 1,
            }
        )

    def feed(self, session_id: str, limit: int) -> list[FeedItem]:
        query = key_query(
            self.table,
            None,
            Key("pk").eq(keys.console_session_pk(session_id)) & Key("sk").begins_with(keys.FEED_PREFIX),
            ScanIndexForward=False,
            Limit=limit,
            ConsistentRead=True,
        )
        items = [deserialize(item) for item in self.client.query(**query)["Items"]]
        fields = FeedItem.model_fields
        return [FeedItem.model_validate({k: v for k, v in item.items() if k in fields}) for item in items]

    # --- the push item: what waits, and who sends it -------------------------------------------

    def mark_pending(self, session_id: str, sku_ids: set[str], alerts: list[FeedItem]) -> None:
        """Adds SKUs and alerts to what the session's next push carries (sets: a second copy of an
        event adds nothing)."""
        update = Update(keys.console_session_pk(session_id), keys.PUSH_SK)
        amounts: dict[str, set[str]] = {}
        if sku_ids:
            amounts["dirty"] = set(sku_ids)
        if alerts:
            amounts["alerts"] = {alert.model_dump_json() for alert in alerts}
        if amounts:
            self.update_if(update.add(**amounts))

    def claim_slot(self, session_id: str, slot: int) -> bool:
        """The one sender of a time slot: a conditional write only one caller of the slot wins."""
        return self.update_if(
            Update(keys.console_session_pk(session_id), keys.PUSH_SK)
            .set(slot=slot)
            .when(Attr("slot").not_exists() | Attr("slot").lt(slot))
        )

    def take_pending(self, session_id: str) -> tuple[set[str], list[FeedItem]]:
        """What waits, taken in one write: a mark made after this goes to the next push."""
        update = Update(keys.console_session_pk(session_id), keys.PUSH_SK).remove("dirty", "alerts")
        response = self.client.update_item(**update.request(self.table), ReturnValues="ALL_OLD")
        old = deserialize(dict(response.get("Attributes", {})))
        alerts = [FeedItem.model_validate(json.loads(raw)) for raw in old.get("alerts", set())]
        return {str(sku) for sku in old.get("dirty", set())}, sorted(alerts, key=lambda a: a.occurred_at)

    # --- plumbing ------------------------------------------------------------------------------

    def _query(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        query = key_query(self.table, None, Key("pk").eq(pk) & Key("sk").begins_with(prefix), ConsistentRead=True)
        found: list[dict[str, Any]] = []
        while True:
            response = self.client.query(**query)
            found += [deserialize(item) for item in response["Items"]]
            if "LastEvaluatedKey" not in response:
                return found
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]


class ManagementPoster:
    """Posts to WebSocket connections through API Gateway's management API (@connections)."""

    def __init__(self, endpoint: str | None) -> None:
        self.endpoint = endpoint

    def post(self, connection_id: str, data: bytes) -> bool:
        client = clients.management_api(self.endpoint)
        try:
            client.post_to_connection(ConnectionId=connection_id, Data=data)
        except client.exceptions.GoneException:
            return False
        return True
