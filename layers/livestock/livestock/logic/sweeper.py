"""Expires unpaid holds and settles holds whose first attempt crashed before its decrement.

Never DynamoDB TTL: it deletes up to two days late. The sweeper runs on a schedule.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

from livestock.dal.holds import HoldStore
from livestock.logic.holds import HoldService
from livestock.models.domain import HoldStatus


@dataclass
class SweepResult:
    expired: int = 0
    abandoned: int = 0
    skipped: int = 0


@dataclass
class Sweeper:
    store: HoldStore
    holds: HoldService
    settle_window_s: int
    clock: Callable[[], float] = time.time

    def sweep(self) -> SweepResult:
        now = self.clock()
        result = SweepResult()
        for hold in self.store.due_open_holds(now):
            if hold.status == HoldStatus.HELD and hold.expires_at is not None and hold.expires_at <= now:
                if self.holds.return_units(hold, HoldStatus.EXPIRED, "expire", "system:sweeper"):
                    result.expired += 1
                    continue
            elif (
                hold.status == HoldStatus.PENDING
                and hold.created_at + self.settle_window_s <= now
                and self.store.transition_hold(hold, HoldStatus.ABANDONED, "system:sweeper")
            ):
                # The buyer's allowance stays charged: a decrement the stream shows late revives the
                # hold, whose caller may have been told "held". A cancel of the abandoned hold gives
                # it back; a replay drives the hold again under the same charge.
                result.abandoned += 1
                continue
            result.skipped += 1
        return result
