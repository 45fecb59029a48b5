"""The local stack's Step Functions Wait (moto's interpreter, patched in livestock_local.stepfunctions):
a Timestamp wait lasts until that instant, fraction of a second included, never less, and a stopped
execution ends it at once."""

import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from livestock_local.stepfunctions import _seconds_until_timestamp, _wait_until_done


class Execution:
    """What the two functions read of moto's Environment."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.program_state_event = threading.Event()
        self.running = True

    def is_running(self) -> bool:
        return self.running


def wait_of(timestamp: str) -> Any:
    """A Timestamp wait function whose string evaluates to `timestamp`."""
    wait = SimpleNamespace(_is_valid_timestamp_pattern=lambda text: text.endswith("Z"))
    wait.string = SimpleNamespace(eval=lambda env: env.stack.append(timestamp))
    return wait


def test_the_time_left_keeps_the_fraction_of_a_second_and_reads_utc() -> None:
    due = datetime.now(UTC) + timedelta(seconds=2.5)
    text = due.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    left = _seconds_until_timestamp(wait_of(text), Execution())
    assert 2.3 < left <= 2.5, left  # moto's own: 2 (truncated), or a time zone off in local time
    past = (datetime.now(UTC) - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _seconds_until_timestamp(wait_of(past), Execution()) == 0.0


def test_a_wait_of_a_fraction_lasts_that_long_and_no_second_more() -> None:
    execution = Execution()
    started = time.monotonic()
    _wait_until_done(None, execution, 0.3)
    waited = time.monotonic() - started
    assert 0.3 <= waited < 0.8, waited  # moto's own counts 0 whole seconds waited and waits again


def test_a_stopped_execution_ends_the_wait() -> None:
    execution = Execution()

    def stop() -> None:
        time.sleep(0.2)
        execution.running = False
        execution.program_state_event.set()

    threading.Thread(target=stop).start()
    started = time.monotonic()
    _wait_until_done(None, execution, 30.0)
    assert time.monotonic() - started < 5.0
