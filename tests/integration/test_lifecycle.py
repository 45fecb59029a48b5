"""The stack stops when told, whichever way it is told, and starts again at once after a crash."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from livestock_local.chaos import kill9_restart_probe, stop_probe
from livestock_local.dynamodb_local import free_port
from livestock_local.stack import lock_file, stale_reason
from livestock_local.stack_process import descendants, start_stack

pytestmark = [pytest.mark.integration, pytest.mark.timing]

# Bounded for make test: each way of stopping once, two restarts; `make chaos` does 10 of each.
STOPS = 4
RESTARTS = 2
WAYS = [(signal.SIGTERM, False), (signal.SIGTERM, True), (signal.SIGINT, False), (signal.SIGINT, True)]


def test_sigterm_or_ctrl_c_to_the_stack_or_its_group_stops_everything_within_10s(tmp_path: Path) -> None:
    failures = []
    for run in range(STOPS):
        signum, whole_group = WAYS[run % len(WAYS)]
        result = stop_probe(tmp_path / f"state-{run}", signum, whole_group)
        if not result.ok or result.returncode != 0:
            failures.append(result)
    assert failures == [], f"{len(failures)} of {STOPS} stops failed: {failures}"


def test_kill_9_then_an_immediate_restart_starts_and_answers_replays_alike(tmp_path: Path) -> None:
    state = tmp_path / "state"
    for run in range(RESTARTS):
        result = kill9_restart_probe(state, orders=3)
        assert result.restarted, f"restart {run + 1}: {result.message}"
        assert "stale lock" in result.message, "the stale lock is reported"
        assert result.replays_different == 0, f"restart {run + 1}: replays answered differently"


def test_kill_9_of_the_stack_alone_takes_every_process_it_started_with_it(tmp_path: Path) -> None:
    """Not the group: the stack's own pid. Its function workers are forked by a server process,
    not by the stack, so this proves the chain (stack -> server -> workers) still ends them all."""

    def running(pid: int) -> bool:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return stat[stat.rindex(")") + 2] != "Z"

    stack = start_stack(tmp_path / "state", fresh=True)
    started = descendants(stack.pid)
    names = {Path(f"/proc/{pid}/comm").read_text().strip() for pid in started if running(pid)}
    assert {"java", "ls-forkserver", "ls-api", "ls-StreamConsum"} <= names, names
    os.kill(stack.pid, signal.SIGKILL)
    stack.process.wait()
    deadline = time.monotonic() + 5
    while any(running(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = {pid: Path(f"/proc/{pid}/comm").read_text().strip() for pid in started if running(pid)}
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == {}, f"still running 5 s after kill -9 of the stack: {left}"


def test_a_lock_is_stale_when_its_process_is_a_zombie_or_gone_or_its_port_is_silent(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    os.kill(child.pid, signal.SIGKILL)
    time.sleep(0.3)  # not reaped yet: a zombie, as an orphan stays on these machines
    assert stale_reason({"pid": child.pid, "url": "http://127.0.0.1:1"}) == f"its process {child.pid} is a zombie"
    child.wait()
    assert stale_reason({"pid": child.pid, "url": "http://127.0.0.1:1"}) == f"its process {child.pid} is gone"
    silent = free_port()
    assert stale_reason({"pid": os.getpid(), "url": f"http://127.0.0.1:{silent}"}) == (
        f"its port {silent} does not answer"
    )


def test_a_live_stack_is_not_taken_for_a_stale_one(tmp_path: Path) -> None:
    running = start_stack(tmp_path / "state", fresh=True)
    try:
        lock = json.loads(lock_file(tmp_path / "state").read_text())
        assert stale_reason(lock) is None
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "livestock_local.stack",
                "--fresh",
                "--port",
                str(free_port()),
                "--state-dir",
                str(tmp_path / "state"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 1
        assert "already running" in second.stderr
    finally:
        os.killpg(running.pid, signal.SIGTERM)
        running.process.wait(timeout=15)
