"""Data access for channels, their per-SKU sync state, the app quota and inbound order lines
(the events table). Every change of a sync state is a conditional write under its lease."""

from typing import Any

from boto3.dynamodb.conditions import Attr, ConditionBase, Key

from livestock import keys
from livestock.dal.codec import deserialize
from livestock.dal.expressions import Store, Transaction, Update, key_query

SYNC_LOG_TTL_S = 7 * 24 * 3600


class ChannelRepository(Store):
    # --- channels --------------------------------------------------------------------------

    def put_channel(self, channel_id: str, settings: dict[str, Any], now: float) -> tuple[dict[str, Any], bool]:
        """Creates or replaces a channel's settings (version + 1). Returns (stored, created)."""
        update = (
            Update(*keys.channel_key(channel_id))
            .set(entity="channel", channel_id=channel_id, updated_at=now, **settings)
            .set_default(created_at=now)
            .add(version=1)
        )
        stored = self.written(update)
        return stored, int(stored["version"]) == 1

    def get_channel(self, channel_id: str) -> dict[str, Any] | None:
        return self.get(*keys.channel_key(channel_id))

    def channels(self) -> list[dict[str, Any]]:
        return self._partition(keys.CHANNELS_PK)

    def _partition(self, pk: str, consistent: bool = True) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(**key_query(self.table, None, Key("pk").eq(pk), ConsistentRead=consistent)):
            found += [deserialize(item) for item in page["Items"]]
        return found

    # --- sync state ------------------------------------------------------------------------

    def state(self, channel_id: str, sku_id: str) -> dict[str, Any]:
        return self.get(*keys.sync_state_key(channel_id, sku_id)) or {}

    def states(self, channel_id: str) -> list[dict[str, Any]]:
        return self._partition(keys.sync_state_pk(channel_id))

    def ask(self, channel_id: str, sku_id: str, sequence: int, seen_at: float) -> tuple[bool, float]:
        """Records that the SKU's figures of this sequence (or a later one) are to be synced, and
        when the oldest change not yet synced was seen, and this one (for the lag). Returns (asked: False if a
        sequence as new was asked already, the lease's expiry or 0 when none is held)."""
        asked = self.updated(
            Update(*keys.sync_state_key(channel_id, sku_id))
            .set(entity="sync", wanted=sequence, last_seen=seen_at)
            .set_default(pending_since=seen_at)
            .when(Attr("wanted").not_exists() | Attr("wanted").lt(sequence))
        )
        if asked is None:
            return False, 0.0
        lease = asked.get("lease_until")
        return True, float(lease) if lease is not None else 0.0

    def acknowledge(
        self, channel_id: str, sku_id: str, owner: str, outbox: dict[str, Any], now: float, lag_s: float
    ) -> dict[str, Any] | None:
        """The platform took the outbox's delta: it joins `sent`, once (conditional on the op id).
        Answers the state as written (None if the lease was lost)."""
        shown = int(outbox["shown"])
        return self.updated(
            Update(*keys.sync_state_key(channel_id, sku_id))
            .add(sent=int(outbox["delta"]))
            .set(
                outbox=None,
                last_sent=shown,
                last_acknowledged=shown,
                acknowledged_at=now,
                lag_s=lag_s,
                last_error=None,
                withheld_shown_rev=int(outbox.get("withhold_rev", 0)),
                raise_shown_rev=int(outbox.get("raise_rev", 0)),
            )
            .when(Attr("lease_owner").eq(owner) & Attr("outbox.op_id").eq(outbox["op_id"]))
        )

    def take_lease(self, channel_id: str, sku_id: str, owner: str, now: float, lease_s: float) -> dict[str, Any] | None:
        """The state, once this owner holds its lease; None while another does."""
        return self.updated(
            Update(*keys.sync_state_key(channel_id, sku_id))
            .set(entity="sync", lease_owner=owner, lease_until=now + lease_s)
            .when(Attr("lease_until").not_exists() | Attr("lease_until").lt(now) | Attr("lease_owner").eq(owner))
        )

    def release_lease(self, channel_id: str, sku_id: str, owner: str, synced: int) -> bool:
        """Lets go of the lease unless a newer sequence was asked meanwhile (then the holder goes on)."""
        return self.update_if(
            Update(*keys.sync_state_key(channel_id, sku_id))
            .set(lease_until=None, lease_owner=None)
            .when(Attr("lease_owner").eq(owner) & (Attr("wanted").not_exists() | Attr("wanted").lte(synced)))
        )

    def renew(self, channel_id: str, sku_id: str, owner: str, until: float, op_id: str) -> bool:
        """Extends the lease and marks the outbox's change as attempted (one more call), if this
        owner still holds it: the write right before each platform call."""
        return self.update_if(
            Update(*keys.sync_state_key(channel_id, sku_id))
            .set(lease_until=until, attempted_op=op_id)
            .add(calls=1)
            .when(Attr("lease_owner").eq(owner) & Attr("outbox.op_id").eq(op_id))
        )

    def drop_lease(self, channel_id: str, sku_id: str, owner: str) -> None:
        self.update_if(
            Update(*keys.sync_state_key(channel_id, sku_id))
            .set(lease_until=None, lease_owner=None)
            .when(Attr("lease_owner").eq(owner))
        )

    def save(
        self, channel_id: str, sku_id: str, owner: str, add: dict[str, int] | None = None, **fields: Any
    ) -> dict[str, Any] | None:
        """Writes what the lease holder learnt and answers the state as written; None if the lease
        was lost."""
        update = Update(*keys.sync_state_key(channel_id, sku_id)).set(**fields).when(Attr("lease_owner").eq(owner))
        if add:
            update.add(**add)
        return self.updated(update)

    def save_read_back(
        self, channel_id: str, sku_id: str, owner: str, received: int, displayed: int
    ) -> dict[str, Any] | None:
        """Takes sent = displayed + received (what the platform shows plus what it sold), if this
        owner still holds the lease and no order message was counted since `received` was read:
        such an order may have been sold before the display was read, or after. None when
        written; else the state as the refusal found it (no read of its own)."""
        unchanged: ConditionBase = Attr("received").eq(received)
        if received == 0:
            unchanged = unchanged | Attr("received").not_exists()
        return self.update_or_stored(
            Update(*keys.sync_state_key(channel_id, sku_id))
            .set(sent=displayed + received, reconcile_after=None)
            .when(Attr("lease_owner").eq(owner) & unchanged)
        )

    def count(self, channel_id: str, sku_id: str, **amounts: int) -> None:
        self.update_if(self._counting(channel_id, sku_id, **amounts))

    @staticmethod
    def _counting(channel_id: str, sku_id: str, **amounts: int) -> Update:
        return Update(*keys.sync_state_key(channel_id, sku_id)).add(**amounts).set(entity="sync")

    def withhold(self, channel_id: str, sku_id: str, units: int) -> int:
        """Adds units to what the channel's platform holds back from its display (a quota move's
        lower phase; negative gives them back), as one ADD so that moves running at once each count
        their own. Answers the withholding's revision, which only grows: a round that shows a figure
        computed with this revision or a later one carries it to `withheld_shown_rev`."""
        written = self.written(
            Update(*keys.sync_state_key(channel_id, sku_id)).set(entity="sync").add(withheld=units, withhold_rev=1)
        )
        return int(written["withhold_rev"])

    def mark_raise(self, channel_id: str, sku_id: str) -> int:
        """Marks the state after a quota move into the channel and answers the mark, a revision
        that only grows (two moves into one channel at once each get their own): `raise_shown_rev`
        reaches it once a round that read it (and so the move) was acknowledged or found the
        platform in step."""
        written = self.written(Update(*keys.sync_state_key(channel_id, sku_id)).set(entity="sync").add(raise_rev=1))
        return int(written["raise_rev"])

    def log(self, entries: list[tuple[str, str, str, dict[str, Any]]]) -> None:
        """Records acknowledged calls (channel, SKU, op id, record with its time `at`), in batches."""
        items = []
        for channel_id, sku_id, op_id, record in entries:
            pk, sk = keys.sync_log_key(channel_id, sku_id, op_id)
            expires_at = int(record["at"]) + SYNC_LOG_TTL_S
            items.append({"pk": pk, "sk": sk, "entity": "synclog", "expires_at": expires_at, **record})
        self.put_all(items)

    def logs(self, channel_id: str, sku_id: str) -> list[dict[str, Any]]:
        return self._partition(keys.sync_log_pk(channel_id, sku_id), consistent=False)

    # --- the app quota (GCRA) --------------------------------------------------------------

    def rate_tat(self, channel_id: str) -> float | None:
        item = self.get(*keys.rate_key(channel_id))
        return None if item is None else float(item["tat"])

    def move_tat(self, channel_id: str, seen: float | None, new: float) -> bool:
        condition = Attr("tat").not_exists() if seen is None else Attr("tat").eq(seen)
        return self.update_if(Update(*keys.rate_key(channel_id)).set(entity="rate", tat=new).when(condition))

    # --- inbound order lines ---------------------------------------------------------------

    def open_order(self, channel_id: str, order_id: str, sku_id: str, quantity: int, msg_id: str, now: float) -> bool:
        """The first created-message of an order line, counted towards the sync state's `received`
        in the same transaction (a crash between the two would lose the count for good, as a
        replay finds the line): True once; a replay (any message id) False."""
        line = _new_line(channel_id, order_id, sku_id, "created", quantity, msg_id, now)
        return self.transact_if(
            Transaction(self.table)
            .update("line", line)
            .update("state", self._counting(channel_id, sku_id, received=quantity, orders=1))
        )

    def open_cancelled(
        self, channel_id: str, order_id: str, sku_id: str, quantity: int, msg_id: str, now: float
    ) -> bool:
        """A cancel that overtook the order's created message: the line is written cancelled (and
        never counted), so that the created message, when it comes, places no hold. False if the
        created message wrote the line first."""
        return self.update_if(_new_line(channel_id, order_id, sku_id, "cancelled", quantity, msg_id, now))

    def order_line(self, channel_id: str, order_id: str, sku_id: str) -> dict[str, Any] | None:
        return self.get(*keys.inbound_order_key(channel_id, order_id, sku_id))

    def move_order(
        self,
        channel_id: str,
        order_id: str,
        sku_id: str,
        from_status: str,
        to: str,
        counts: dict[str, int] | None = None,
        **fields: Any,
    ) -> bool:
        """Moves an order line from one status to another, and adds `counts` to the sync state's
        counters in the same transaction: True once; False if the line is not in `from_status`."""
        line = (
            Update(*keys.inbound_order_key(channel_id, order_id, sku_id))
            .set(status=to, **fields)
            .when(Attr("status").eq(from_status))
        )
        if not counts:
            return self.update_if(line)
        return self.transact_if(
            Transaction(self.table).update("line", line).update("state", self._counting(channel_id, sku_id, **counts))
        )

    def order_lines(self, channel_id: str) -> list[dict[str, Any]]:
        return self._partition(keys.inbound_order_pk(channel_id), consistent=False)


def _new_line(
    channel_id: str, order_id: str, sku_id: str, status: str, quantity: int, msg_id: str, now: float
) -> Update:
    """An order line written by its first message, whichever kind came first."""
    return (
        Update(*keys.inbound_order_key(channel_id, order_id, sku_id))
        .set(entity="inbound", status=status, quantity=quantity, first_msg=msg_id, created_at=now)
        .when(Attr("pk").not_exists())
    )
