"""Hold items and the held/sold counters that move with them.

A hold's counters move in the same transaction as its status, guarded by the status it leaves,
so a redelivered stream record or a retried request can never count a hold twice. The counters
of a SKU are spread over several items (keys.COUNTER_SPREAD), so a hot SKU has no hot counter.
"""

import time

from boto3.dynamodb.conditions import Attr, ConditionBase, Key
from botocore.exceptions import ClientError

from livestock import keys
from livestock.dal.codec import deserialize
from livestock.dal.expressions import (
    Store,
    Transaction,
    TransactionRefused,
    Update,
    is_conditional_failure,
    key_query,
)
from livestock.dal.skus import ShardDelta, shard_update
from livestock.models.domain import HOLD_TRANSITIONS, Hold, HoldCounts, HoldStatus

OPEN_HOLDS_INDEX = "OpenHoldsByDue"
# Index attributes of the sweeper's list (OpenHoldsByDue): an open hold carries them.
OPEN_PK, OPEN_SK = "gsi2pk", "gsi2sk"


def _is(hold: Hold, *statuses: HoldStatus) -> ConditionBase:
    status: ConditionBase = Attr("status").eq(statuses[0].value)
    for other in statuses[1:]:
        status = status | Attr("status").eq(other.value)
    return status & Attr("attempt").eq(hold.attempt)


def counter_update(sku_id: str, hold_id: str, quantity: int, old: HoldStatus, new: HoldStatus) -> Update | None:
    """How a transition moves the hold counters (None: it moves none)."""
    transition = HOLD_TRANSITIONS.get((old, new))
    if transition is None:
        return None
    amounts = {bucket: sign * quantity for bucket, sign in transition[1]}
    return (
        Update(keys.hold_counter_pk(sku_id, hold_id), keys.COUNT_SK).add(**amounts).set(entity="counter", sku_id=sku_id)
    )


class HoldStore(Store):
    def get_hold(self, hold_id: str, consistent: bool = True) -> Hold | None:
        item = self.get(keys.hold_pk(hold_id), keys.HOLD_SK, consistent)
        return None if item is None else Hold.model_validate(item)

    def get_holds(self, hold_ids: list[str], consistent: bool = True) -> dict[str, Hold]:
        """Holds by id, a hundred to a request (the review reads every hold of a session)."""
        items = self.batch_get([(keys.hold_pk(h), keys.HOLD_SK) for h in dict.fromkeys(hold_ids)], consistent)
        return {str(item["hold_id"]): Hold.model_validate(item) for item in items}

    def put_pending_hold(self, hold: Hold) -> Hold | None:
        """Writes the hold as pending; returns the existing hold instead if the order was seen.

        No index attributes here, so the write costs 1 WCU and no index write: the stream
        consumer lists the hold for the sweeper off the hot path (see track_pending_hold).
        """
        try:
            self.put_item(
                {
                    "pk": keys.hold_pk(hold.hold_id),
                    "sk": keys.HOLD_SK,
                    "entity": "hold",
                    **hold.model_dump(mode="json"),
                },
                only_if_new=True,
                old_on_refusal=True,
            )
        except ClientError as error:
            if is_conditional_failure(error):
                return Hold.model_validate(deserialize(error.response["Item"]))  # type: ignore[typeddict-item]
            raise
        return None

    def track_pending_hold(self, hold_id: str, attempt: int, due: float) -> bool:
        """Puts a still-pending hold on the sweeper's list, due when its settle window ends."""
        return self.update_if(
            Update(keys.hold_pk(hold_id), keys.HOLD_SK)
            .set(**{OPEN_PK: keys.open_holds_pk(hold_id), OPEN_SK: due})
            .when(
                Attr("status").eq(HoldStatus.PENDING.value) & Attr("attempt").eq(attempt) & Attr(OPEN_PK).not_exists()
            )
        )

    def reject_hold(self, hold: Hold, allowance: Update | None = None) -> bool:
        """pending -> rejected, with the refusal a replay answers; `allowance` gives the buyer's
        charge back in the same write (a refusal after the charge)."""
        update = (
            Update(keys.hold_pk(hold.hold_id), keys.HOLD_SK)
            .set(
                status=HoldStatus.REJECTED.value,
                refusal_code=hold.refusal_code,
                refusal_message=hold.refusal_message,
                refusal_details=hold.refusal_details or {"sku_id": hold.sku_id},
            )
            .remove(OPEN_PK, OPEN_SK)
            .when(_is(hold, HoldStatus.PENDING))
        )
        if allowance is None:
            return self.update_if(update)
        return self._close(Transaction(self.table).update("hold", update), allowance)

    def redrive_hold(self, hold: Hold, now: float, settle_window_s: int) -> bool:
        """An abandoned hold (its first attempt crashed before the decrement) becomes pending again."""
        return self.update_if(
            Update(keys.hold_pk(hold.hold_id), keys.HOLD_SK)
            .set(status=HoldStatus.PENDING.value, attempt=hold.attempt + 1, created_at=now)
            .set_sum("expires_at", now, "pay_within_s")
            .set(**{OPEN_PK: keys.open_holds_pk(hold.hold_id), OPEN_SK: now + settle_window_s})
            .when(_is(hold, HoldStatus.ABANDONED))
        )

    def settle_hold(self, hold: Hold, pool: str, shard: int, sequence: str) -> bool:
        """pending (or abandoned) -> held, once its decrement is seen in the stream; the hold
        counters move with it. False if the hold is not in that state. The hold joins the
        sweeper's list, due when its payment is."""
        update = (
            Update(keys.hold_pk(hold.hold_id), keys.HOLD_SK)
            .set(status=HoldStatus.HELD.value, pool=pool, shard=shard, settled_seq=sequence, changed_at=time.time())
            .set(**{OPEN_PK: keys.open_holds_pk(hold.hold_id)})
            .copy(OPEN_SK, "expires_at")
            # An abandoned hold whose decrement shows up late is revived, not refunded: its
            # first caller may have been told "held" before the stream caught up.
            .when(_is(hold, HoldStatus.PENDING, HoldStatus.ABANDONED))
        )
        counted = counter_update(hold.sku_id, hold.hold_id, hold.quantity, HoldStatus.PENDING, HoldStatus.HELD)
        assert counted is not None
        try:
            self.transact(Transaction(self.table).update("hold", update).update("counter", counted))
        except TransactionRefused as refused:
            if "hold" in refused.refused:
                return False
            raise  # a conflict: the stream record is retried, never taken for an unowned decrement
        return True

    def request_confirm(self, hold: Hold, actor: str) -> bool:
        """Records a confirm on a hold that is still settling (pending, or abandoned awaiting a late
        decrement); False if it settled meanwhile. The condition on the status orders it against
        settle_hold: either this write comes first and settling sees it, or it is refused."""
        return self.update_if(
            Update(keys.hold_pk(hold.hold_id), keys.HOLD_SK)
            .set(confirm_requested_by=actor)
            .when(_is(hold, HoldStatus.PENDING, HoldStatus.ABANDONED))
        )

    def transition_hold(
        self,
        hold: Hold,
        to: HoldStatus,
        actor: str,
        open_after: bool = False,
        allowance: Update | None = None,
        relist_at: float | None = None,
    ) -> bool:
        """A status change with no stock movement (confirm, abandon, release of an abandoned hold);
        counters move if it counts, and `allowance` gives the buyer's charge back with it. The hold
        leaves the sweeper's list, unless `open_after`, or `relist_at` (listed again, due then)."""
        update = (
            Update(keys.hold_pk(hold.hold_id), keys.HOLD_SK)
            .set(status=to.value, last_actor=actor, changed_at=time.time())
            .when(_is(hold, hold.status))
        )
        if relist_at is not None:
            update.set(**{OPEN_SK: relist_at})
        elif not open_after:
            update.remove(OPEN_PK, OPEN_SK)
        counted = counter_update(hold.sku_id, hold.hold_id, hold.quantity, hold.status, to)
        if counted is None and allowance is None:
            return self.update_if(update)
        transaction = Transaction(self.table).update("hold", update)
        if counted is not None:
            transaction.update("counter", counted)
        return self._close(transaction, allowance)

    def return_hold_units(
        self,
        hold: Hold,
        to: HoldStatus,
        pool: str,
        shard: int,
        op: str,
        actor: str,
        paused: bool,
        allowance: Update | None = None,
    ) -> bool:
        """Atomically moves a hold to a closed status, gives its units back to a pool shard, moves
        the counters and (`allowance`) gives the buyer's charge back. Never expires a hold whose
        payment was recorded while it settled: the settlement confirms it next (a lagging stream
        may settle it after its deadline, and the sweeper must not resell a paid order's units)."""
        closes = _is(hold, hold.status)
        if to == HoldStatus.EXPIRED:
            closes = closes & Attr("confirm_requested_by").not_exists()
        transaction = (
            Transaction(self.table)
            .update(
                "hold",
                Update(keys.hold_pk(hold.hold_id), keys.HOLD_SK)
                .set(status=to.value, last_actor=actor, changed_at=time.time())
                .remove(OPEN_PK, OPEN_SK)
                .when(closes),
            )
            .update(
                "shard",
                shard_update(
                    hold.sku_id,
                    ShardDelta(pool, shard, hold.quantity),
                    op,
                    actor,
                    hold.hold_id,
                    None,
                    paused,
                    returned_by=hold.channel,
                ),
            )
        )
        counted = counter_update(hold.sku_id, hold.hold_id, hold.quantity, hold.status, to)
        if counted is not None:
            transaction.update("counter", counted)
        return self._close(transaction, allowance)

    def give_back_allowance(self, hold: Hold, allowance: Update) -> bool:
        """Gives the buyer's charge back while the hold is still pending at this attempt: an
        attempt that failed without storing a refusal (the hold stays pending; a replay charges
        again). Not once the hold moved on (settled, or driven again by a replay)."""
        return self.transact_if(
            Transaction(self.table)
            .check("hold", keys.hold_pk(hold.hold_id), keys.HOLD_SK, _is(hold, HoldStatus.PENDING))
            .update("allowance", allowance)
        )

    def _close(self, transaction: Transaction, allowance: Update | None) -> bool:
        """Runs a transaction that closes a hold, with the buyer's allowance given back inside it:
        a crash can no longer close the hold and keep the charge. A charge that is not there (given
        back already) refuses only its own item; the close then goes ahead without it, as a missing
        charge must never keep a hold open."""
        if allowance is None:
            return self.transact_if(transaction)
        try:
            self.transact(transaction.plus("allowance", allowance))
        except TransactionRefused as refused:
            if refused.refused == {"allowance"}:
                return self.transact_if(transaction)
            if not refused.refused:
                raise
            return False
        return True

    def compensate_decrement(
        self,
        hold_id: str,
        sku_id: str,
        pool: str,
        shard: int,
        quantity: int,
        sequence: str,
        paused: bool,
        channel: str | None = None,
    ) -> bool:
        """Gives back a decrement that no live hold owns (a late or duplicated write). Once per record."""
        transaction = (
            Transaction(self.table)
            .update(
                "hold",
                Update(keys.hold_pk(hold_id), keys.HOLD_SK)
                .add(compensated={sequence})
                .when(Attr("pk").exists() & ~Attr("compensated").contains(sequence)),
            )
            .update(
                "shard",
                shard_update(
                    sku_id,
                    ShardDelta(pool, shard, quantity),
                    "compensate",
                    "stream",
                    hold_id,
                    "decrement without a live hold",
                    paused,
                    returned_by=channel,
                ),
            )
        )
        return self.transact_if(transaction)

    def counts(self, sku_id: str, consistent: bool = True) -> HoldCounts:
        """Held and sold units of a SKU: a fixed number of reads, however many orders it had."""
        wanted = [(pk, keys.COUNT_SK) for pk in keys.hold_counter_partitions(sku_id)]
        items = self.batch_get(wanted, consistent)
        return HoldCounts(
            held=sum(int(i.get("held", 0)) for i in items), sold=sum(int(i.get("sold", 0)) for i in items)
        )

    def due_open_holds(self, partition: str, now: float, limit: int) -> tuple[list[Hold], bool]:
        """Open holds of one partition of the sweeper's list whose deadline (payment window, or
        settle window while pending) has passed; True with them if that was all of them."""
        found: list[Hold] = []
        paginator = self.client.get_paginator("query")
        condition = Key(OPEN_PK).eq(partition) & Key(OPEN_SK).lte(now)
        for page in paginator.paginate(**key_query(self.table, OPEN_HOLDS_INDEX, condition)):
            found += [Hold.model_validate(deserialize(item)) for item in page["Items"]]
            if len(found) >= limit and "LastEvaluatedKey" in page:
                return found, False
        return found, True
