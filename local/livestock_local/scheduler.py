"""Runs scheduled functions (Schedule / ScheduleV2 events) on local timers.

Expressions are EventBridge's: `rate(N unit)`, `cron(min hour day-of-month month day-of-week year)`
and `at(yyyy-mm-ddThh:mm:ss)`, all in UTC as the template does not set a time zone.
"""

import json
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter

_RATE = re.compile(r"^rate\((\d+) (second|minute|hour|day)s?\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_UNIT_S = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def _cron_fields(aws: str) -> str:
    """EventBridge's six cron fields as croniter's five: `?` means any, day-of-week counts from
    1 (Sunday) where cron counts from 0, and the year must be `*` (locally, every year)."""
    fields = aws.split()
    if len(fields) != 6:
        raise ValueError(f"cron() takes six fields (minutes hours day-of-month month day-of-week year), not {aws!r}")
    minutes, hours, day_of_month, month, day_of_week, year = fields
    if year not in ("*", "?"):
        raise ValueError(f"the local scheduler runs cron() with year * only, not {aws!r}")
    day_of_week = re.sub(r"\d", lambda digit: str((int(digit.group()) - 1) % 7), day_of_week)
    return " ".join("*" if field == "?" else field for field in (minutes, hours, day_of_month, month, day_of_week))


def next_run(expression: str, after: datetime) -> datetime | None:
    """When a schedule fires next after `after` (UTC); None once a one-time schedule has passed."""
    expression = expression.strip()
    if match := _RATE.match(expression):
        return after + timedelta(seconds=int(match.group(1)) * _UNIT_S[match.group(2)])
    if match := _CRON.match(expression):
        following: datetime = croniter(_cron_fields(match.group(1)), after).get_next(datetime)
        return following
    if match := _AT.match(expression):
        when = datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)
        return when if when > after else None
    raise ValueError(f"not a schedule expression EventBridge knows: {expression!r}")


class Schedule:
    """One schedule: calls `invoke` with the schedule's event at each time its expression names,
    retrying a failed call up to MaximumRetryAttempts (the template's RetryPolicy). A fixed
    `period_s` replaces the expression (tests and `make up` run the sweeper faster than AWS can)."""

    def __init__(
        self,
        name: str,
        invoke: Callable[[dict[str, Any]], Any],
        expression: str,
        event: dict[str, Any],
        maximum_retry_attempts: int = 0,
        period_s: float | None = None,
    ) -> None:
        next_run(expression, datetime.now(UTC))  # refuses an expression it cannot run, at start
        self.name = name
        self.invoke = invoke
        self.expression = expression
        self.event = event
        self.maximum_retry_attempts = maximum_retry_attempts
        self.period_s = period_s
        self._stop = threading.Event()
        self._running = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.last_result: Any = None

    @staticmethod
    def event_for(properties: dict[str, Any]) -> dict[str, Any]:
        """What the target receives: the schedule's Input when it has one, else Scheduler's event."""
        if "Input" in properties:
            return dict(json.loads(str(properties["Input"])))
        return {"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}

    def _wait_s(self) -> float | None:
        if self.period_s is not None:
            return self.period_s
        now = datetime.now(UTC)
        following = next_run(self.expression, now)
        return None if following is None else max(0.0, (following - now).total_seconds())

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"schedule-{self.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (wait := self._wait_s()) is not None and not self._stop.wait(wait):
            self._running.set()
            try:
                for attempt in range(self.maximum_retry_attempts + 1):
                    try:
                        self.last_result = self.invoke(dict(self.event))
                        break
                    except Exception as error:  # noqa: BLE001 - a failed run is kept; the next one comes anyway
                        self.last_result = {"error": repr(error), "attempt": attempt}
                        if self._stop.wait(min(1.0, 0.1 * 2**attempt)):
                            return
                self.runs += 1
            finally:
                self._running.clear()

    def idle(self) -> bool:
        return not self._running.is_set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            deadline = time.monotonic() + 3
            self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
