"""Nothing the local stack starts listens beyond this machine unless told to: the gateway, DynamoDB
Local (which by itself listens on every interface) and the moto server playing EventBridge, SNS and
SQS, read from /proc for every process of the stack's group, as `make up` runs it."""

import os
import signal
from pathlib import Path

import pytest

from livestock_local.dynamodb_local import DynamoDBLocal, free_port
from livestock_local.listening import Listener, listeners
from livestock_local.stack_process import descendants, start_stack

pytestmark = pytest.mark.integration


def test_every_process_of_the_stack_listens_on_the_loopback_interface_only(tmp_path: Path) -> None:
    running = start_stack(tmp_path / "state", fresh=True)
    try:
        pids = {running.pid, *descendants(running.pid)}
        found = listeners(pids)
        # By process: the stack (gateway), java (DynamoDB Local), the moto server (a python child).
        assert any(item.pid == running.pid and item.port == running.port for item in found), found
        assert any(item.name == "java" for item in found), found
        moto = [item for item in found if item.pid != running.pid and item.name.startswith("python")]
        assert moto, f"the moto server's listener was not found among {found}"
        assert [item for item in found if not item.loopback_only] == [], found
        # Nothing else in the group listens: the functions' workers and stream mappings do not.
        assert {item.name for item in found} <= {"java", *(item.name for item in moto), _name(running.pid)}
    finally:
        os.killpg(running.pid, signal.SIGTERM)
        running.process.wait(timeout=15)


def test_dynamodb_local_listens_where_it_is_told(tmp_path: Path) -> None:
    """The launcher really sets the address: told every interface, it listens on every interface."""
    everywhere = DynamoDBLocal(free_port(), host="0.0.0.0")
    everywhere.start()
    try:
        found = _of(everywhere)
        assert found and all(not item.loopback_only for item in found), found
    finally:
        everywhere.stop()


def _of(database: DynamoDBLocal) -> list[Listener]:
    assert database.process is not None
    return [item for item in listeners({database.process.pid}) if item.port == database.port]


def _name(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()
