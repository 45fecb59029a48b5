"""Expires unpaid holds and settles holds whose first attempt crashed before its decrement.

Never DynamoDB TTL: it deletes up to two days late. The sweeper runs on a schedule.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

from livestock.dal.holds import HoldStore
from livestock.dal.limits import LimitStore
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
    limits: LimitStore
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
                if hold.buyer_id:
                    self.limits.refund_buyer_limit(hold.sku_id, hold.buyer_id, hold.hold_id, hold.quantity)
                result.abandoned += 1
                continue
            result.skipped += 1
        return result
