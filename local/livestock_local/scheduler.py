"""Runs scheduled functions (EventBridge Scheduler's rate() expressions) on a local timer."""

import re
import threading
from typing import Any

from livestock_local.lambda_runtime import LocalLambda

_RATE = re.compile(r"^rate\((\d+) (second|minute|hour|day)s?\)$")
_UNIT_S = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def period_of(expression: str) -> float:
    match = _RATE.match(expression.strip())
    if not match:
        raise ValueError(f"the local scheduler runs rate() expressions only, not {expression!r}")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


class Schedule:
    def __init__(self, function: LocalLambda, period_s: float) -> None:
        self.function = function
        self.period_s = period_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.last_result: Any = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="schedule", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            try:
                self.last_result = self.function.invoke(
                    {"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}
                )
            except Exception as error:  # noqa: BLE001 - a failed run is logged; the next one comes anyway
                self.last_result = {"error": repr(error)}
            self.runs += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
