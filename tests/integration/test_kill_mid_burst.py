"""kill -9 in the middle of a sale, bounded (`make chaos` runs the full size: 64 clients ordering
2,000 units' worth of 1,000): the whole stack process group, the stream consumer alone, the
sweeper alone. Afterwards nothing is oversold, lost, written twice or skipped, and every client's
answer is one a replay and the counters agree with (see livestock_local.burst)."""

from pathlib import Path

import pytest

from livestock_local.burst import BurstResult, burst_kill_probe
from tests.conftest import STACK_ENVIRONMENT

pytestmark = pytest.mark.integration

UNITS = 60
CLIENTS = 16
# The test stacks' short settlement windows: an order the kill cut off is answered once its window
# has passed, 4 s here rather than the template's 30 s (`make chaos` keeps those).
WINDOWS = {name: STACK_ENVIRONMENT[name] for name in ("SETTLE_WINDOW_S", "REPLAY_WAIT_S")}


def check(result: BurstResult) -> None:
    summary = {key: value for key, value in vars(result).items() if key != "examples"}
    assert result.consistent, summary
    assert (result.oversold, result.lost) == (0, 0), summary
    assert (result.duplicated, result.skipped, result.ledger_vs_counters) == (0, 0, 0), summary
    assert (result.replays_disagreeing, result.holds_disagreeing) == (0, 0), (summary, result.examples)
    assert result.overdue_held == 0, f"the sweeper stopped expiring holds: {summary}"
    assert sum(result.answers.values()) == result.orders, summary
    assert set(result.answers) <= {"201", "409 SOLD_OUT"}, summary
    assert result.conservation["held"] + result.conservation["sold"] <= UNITS, summary


def test_kill_9_of_the_whole_group_mid_burst_then_a_restart_on_the_same_data(tmp_path: Path) -> None:
    result = burst_kill_probe(tmp_path / "state", "group", units=UNITS, clients=CLIENTS, function_variables=WINDOWS)
    check(result)
    assert any("stale lock" in line for line in result.restarts_seen), result.restarts_seen
    assert result.timed_out_orders > 0, "the kill cut some clients off (else it came too late to prove anything)"


def test_kill_9_of_the_stream_consumer_alone_mid_burst(tmp_path: Path) -> None:
    result = burst_kill_probe(tmp_path / "state", "consumer", units=UNITS, clients=CLIENTS, function_variables=WINDOWS)
    check(result)
    assert any("StreamConsumerFunction died" in line for line in result.restarts_seen), result.restarts_seen


def test_kill_9_of_the_sweeper_alone_mid_burst(tmp_path: Path) -> None:
    result = burst_kill_probe(tmp_path / "state", "sweeper", units=UNITS, clients=CLIENTS, function_variables=WINDOWS)
    check(result)
    assert result.kill_hit_busy is not None, "a sweeper's execution environment was running and was killed"
