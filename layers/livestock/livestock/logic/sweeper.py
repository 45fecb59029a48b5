"""Expires unpaid holds and settles holds whose first attempt crashed before its decrement.

Never DynamoDB TTL: it deletes up to two days late. The sweeper runs on a schedule.

The sweeper's list (the OpenHoldsByDue index) is spread over keys.INDEX_SPREAD partitions so that
a hot SKU's index writes never pile on one; each partition is one Query. On AWS the schedule runs
once a minute and every sweep walks every partition (`pass_s` 0). Where sweeps come much more
often (the local stack sweeps twice a second), `pass_s` bounds how long a partition may go
unwalked instead: each sweep walks only the partitions not walked for `pass_s`, so the queries per
second stay spread / pass_s however often the schedule fires, and no hold waits more than `pass_s`
(plus one sweep) past its deadline. A sweeper that has not walked yet (a new instance, or a clock
that moved by `pass_s`) walks every partition. Skipping a partition only delays its holds: nothing
is released twice, as every release is conditional on the status it leaves.

A sweep that runs out of its budget (`limit` holds) resumes where it stopped at the next sweep,
not at the first partition: under a flow of due holds larger than the budget, always starting at
partition 0 left the last partitions' holds held, and their buyers' allowances charged, for as long
as the flow lasted. One hold that cannot be closed (a throttle, a conflict that outlived its
retries) is counted and logged, and the sweep goes on with the others; it stays listed for the next.
"""

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal, get_args

from botocore.exceptions import BotoCoreError, ClientError

from livestock import keys
from livestock.dal.holds import HoldStore
from livestock.logic.holds import HoldService
from livestock.models.domain import Hold, HoldStatus
from livestock.models.exceptions import LiveStockError
from livestock.observability import logger

# How long an abandoned hold waits for its late decrement, its order's replay or a cancel, before the
# sweeper releases it and gives its buyer's allowance back (a platform retries an order within it).
ABANDONED_GRACE_S = 3600

# Holds handled per sweep at most; the partitions not reached are walked by the next sweep. With
# SWEEP_WORKERS closing at once (a transaction each, ~20 ms), a sweep takes ~5 s of its 60 s: a live
# whose unpaid holds fall due faster than this a minute sees them expire late, not never.
SWEEP_LIMIT = 2000


class SweepIncomplete(Exception):
    """Some due holds could not be closed (throttles, conflicts): the invocation fails for the alarm."""


# What a sweep did with one hold.
Outcome = Literal["expired", "confirmed", "abandoned", "released", "skipped", "not_closed"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)


class SweepResult(Counter[Outcome]):
    """What one sweep did, a count per outcome: expired (unpaid past their deadline); confirmed
    (paid while they settled, whose settlement's confirm did not land: never expired, dal/holds.py);
    abandoned (pending past the settle window); released (abandoned, and nothing revived, replayed or
    cancelled them within ABANDONED_GRACE_S); skipped (changed meanwhile); not_closed (an error: the
    next sweep tries them again). A count is read by its name too: `result.expired`."""

    def __getattr__(self, outcome: str) -> int:
        if outcome not in OUTCOMES:
            raise AttributeError(outcome)
        return self[outcome]

    def counts(self) -> dict[str, int]:
        """Every outcome's count, none left out for being zero (the handler's answer, the log)."""
        return {outcome: self[outcome] for outcome in OUTCOMES}


@dataclass
class Sweeper:
    store: HoldStore
    holds: HoldService
    settle_window_s: int
    clock: Callable[[], float] = time.time
    pass_s: float = 0.0
    limit: int = SWEEP_LIMIT
    # Holds closed at once (wiring: the SWEEP_WORKERS setting; one for moto, which is not thread-safe).
    workers: int = 1
    # How many partitions the last sweep walked (a Query each).
    walked_last_sweep: int = field(default=0, init=False)
    # When each partition was last walked to its end, by this instance's clock.
    _walked_at: dict[str, float] = field(default_factory=dict, init=False)
    # The partition (its number) where the last sweep ran out of budget: the next one starts there.
    _resume_at: int = field(default=0, init=False)

    def _due_partitions(self, now: float) -> list[str]:
        partitions = keys.open_holds_partitions()
        if self.pass_s <= 0 or not self._walked_at:
            return partitions
        return [p for p in partitions if now - self._walked_at.get(p, float("-inf")) >= self.pass_s]

    def sweep(self) -> SweepResult:
        now = self.clock()
        result = SweepResult()
        first_pass = not self._walked_at
        numbers = {partition: n for n, partition in enumerate(keys.open_holds_partitions())}
        due = self._due_partitions(now)
        start = next((n for n, partition in enumerate(due) if numbers[partition] >= self._resume_at), 0)
        partitions = due[start:] + due[:start]
        budget = self.limit
        self.walked_last_sweep = 0
        self._resume_at = 0
        with ThreadPoolExecutor(self.workers) as pool:
            for position, partition in enumerate(partitions):
                if budget <= 0:
                    self._resume_at = numbers[partition]
                    break
                holds, complete = self.store.due_open_holds(partition, now, budget)
                budget -= len(holds)
                self.walked_last_sweep += 1
                for outcome in pool.map(lambda hold: self._close_safely(hold, now), holds):
                    result[outcome] += 1
                if not complete:
                    self._resume_at = numbers[partition]
                    break
                # After a first full pass the partitions fall due again one after another, not all
                # in the same sweep: marking one as walked earlier only brings its next walk forward.
                stagger = self.pass_s * position / len(partitions) if first_pass else 0.0
                self._walked_at[partition] = now - stagger
        return result

    def _close_safely(self, hold: Hold, now: float) -> Outcome:
        try:
            return self._close_if_due(hold, now)
        except (ClientError, BotoCoreError, LiveStockError) as failure:
            logger.warning("hold not closed; the next sweep tries again", hold_id=hold.hold_id, error=str(failure))
            return "not_closed"

    def _close_if_due(self, hold: Hold, now: float) -> Outcome:
        if hold.status == HoldStatus.HELD and hold.expires_at is not None and hold.expires_at <= now:
            if hold.confirm_requested_by:
                # Paid while it settled, and the confirm its settlement makes has not landed (a
                # record dead-lettered): it is confirmed here, never expired, and leaves the list.
                if self.store.transition_hold(hold, HoldStatus.CONFIRMED, hold.confirm_requested_by):
                    return "confirmed"
            elif self.holds.return_units(hold, HoldStatus.EXPIRED, "expire", "system:sweeper"):
                return "expired"
        elif (
            hold.status == HoldStatus.PENDING
            and hold.created_at + self.settle_window_s <= now
            and self.store.transition_hold(
                hold, HoldStatus.ABANDONED, "system:sweeper", relist_at=now + ABANDONED_GRACE_S
            )
        ):
            # The buyer's allowance stays charged: a decrement the stream shows late revives the
            # hold, whose caller may have been told "held". A cancel of the abandoned hold gives
            # it back; a replay drives the hold again under the same charge.
            return "abandoned"
        elif hold.status == HoldStatus.ABANDONED and self.store.transition_hold(
            hold, HoldStatus.RELEASED, "system:sweeper", allowance=self.holds.limits.allowance_refund(hold)
        ):
            # Nothing came for it: without this the charge was kept for good. A decrement that
            # still shows up later is given back by the stream consumer (no live hold owns it).
            return "released"
        return "skipped"
