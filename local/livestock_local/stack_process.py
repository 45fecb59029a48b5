"""`python -m livestock_local.stack` in a process group of its own, as `make up` runs it: what the
fault probes (chaos.py) and the fuzzer (fuzz.py) start, stop and kill."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from livestock_local.dynamodb_local import free_port
from livestock_local.stack import DEFAULT_API_KEY


def descendants(pid: int) -> set[int]:
    """Every live process under pid, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        children = {child for child, parent in parents.items() if parent in frontier} - found
        found |= children
        frontier = children
    return found


@dataclass
class StackProcess:
    process: subprocess.Popen[str]
    port: int
    state_dir: Path
    output: list[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid


def start_stack(
    state_dir: Path,
    port: int | None = None,
    fresh: bool = False,
    timeout_s: float = 240,
    workers: int = 1,
    environment: dict[str, str] | None = None,
    function_variables: dict[str, str] | None = None,
) -> StackProcess:
    """`python -m livestock_local.stack` as `make up` runs it, in a new session (its own group);
    `workers` API execution environments, `environment` added to the command's (LIVESTOCK_*),
    `function_variables` given to every function over the template's (`--env-vars`)."""
    port = port or free_port()
    command = [sys.executable, "-m", "livestock_local.stack", "--port", str(port), "--state-dir", str(state_dir)]
    if function_variables:
        state_dir.mkdir(parents=True, exist_ok=True)
        env_vars = state_dir / "env-vars.json"
        env_vars.write_text(json.dumps({"Parameters": function_variables}))
        command += ["--env-vars", str(env_vars)]
    process = subprocess.Popen(
        [*command, "--fresh"] if fresh else command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={
            **os.environ,
            "LIVESTOCK_API_WORKERS": str(workers),
            "LIVESTOCK_EVENT_WORKERS": "1",
            "LIVESTOCK_API_KEY": DEFAULT_API_KEY,
            **(environment or {}),
        },
        start_new_session=True,
    )
    running = StackProcess(process, port, state_dir, [])
    # One thread reads the output for the stack's whole life: a start is judged by the line that
    # says it is ready, which may sit in the pipe behind others when the deadline is checked.
    ready = threading.Event()
    threading.Thread(target=_read_output, args=(running, ready), daemon=True).start()
    ready.wait(timeout_s)
    if any("Ctrl-C stops" in line for line in running.output):
        return running
    # The whole group: a stack killed mid-start may not have armed its children's death signal yet.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    raise RuntimeError("the stack did not start:\n" + "\n".join(running.output))


def _read_output(running: StackProcess, ready: threading.Event) -> None:
    """Keeps the stack's output; `ready` is set at the line that says it started, or at its end."""
    assert running.process.stdout is not None
    for line in running.process.stdout:
        running.output.append(line.rstrip())
        if "Ctrl-C stops" in line:
            ready.set()
    ready.set()


@contextlib.contextmanager
def scratch_state() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="livestock-chaos-") as directory:
        yield Path(directory) / "state"
