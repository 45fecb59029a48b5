"""The parts of livestock_local.sam that need no Docker: what it reads from the template and from
what `sam local invoke` prints, and how it says why it cannot run."""

import shutil
import subprocess
from pathlib import Path

import pytest

from livestock_local import sam
from livestock_local.template import Template


def test_empty_endpoint_variables_leave_the_local_stacks_endpoints_in_place() -> None:
    declared = Template().document["Globals"]["Function"]["Environment"]["Variables"]
    assert declared["AWS_ENDPOINT_URL_DYNAMODB"] == ""
    for function in Template().functions({name: name for name in Template().tables()}):
        assert not [k for k in function.environment if k.startswith("AWS_ENDPOINT_URL_")], function.logical_id


def test_the_stream_mappings_are_the_templates_dynamodb_events(tmp_path: Path) -> None:
    backends = sam.Backends(state_dir=tmp_path)
    found = {(m.function.logical_id, m.table, m.batch_size, m.starting_position) for m in sam.stream_mappings(backends)}
    assert found == {
        ("StreamConsumerFunction", "livestock-InventoryTable", 100, "TRIM_HORIZON"),
        ("EventPublisherFunction", "livestock-InventoryTable", 100, "LATEST"),
    }


def test_the_answer_is_the_last_line_sam_local_invoke_prints() -> None:
    printed = 'Invoking app.handler\n{"statusCode": 201, "body": "{}"}\n'
    assert sam.answer_of(printed) == {"statusCode": 201, "body": "{}"}
    with pytest.raises(ValueError):
        sam.answer_of("")


def test_without_docker_it_says_why_in_a_few_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _: None)
    assert sam.unavailable() == "no docker command (apt-get install docker.io)"


def test_without_a_daemon_it_says_how_to_start_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _: "/usr/bin/docker")
    monkeypatch.setattr(
        sam, "_run", lambda command, timeout_s=20: subprocess.CompletedProcess(command, 1, "", "Cannot connect")
    )
    assert "dockerd --storage-driver=overlay2 --iptables=false" in str(sam.unavailable())


def test_the_bridge_gateway_falls_back_to_the_bridges_interface(monkeypatch: pytest.MonkeyPatch) -> None:
    # Debian's dockerd 20.10 leaves the gateway out of `docker network inspect bridge`.
    monkeypatch.setattr(sam, "_run", lambda command, timeout_s=20: subprocess.CompletedProcess(command, 0, " lo\n", ""))
    assert sam.bridge_gateway() == "127.0.0.1"
    monkeypatch.setattr(
        sam, "_run", lambda command, timeout_s=20: subprocess.CompletedProcess(command, 0, "172.17.0.1 docker0\n", "")
    )
    assert sam.bridge_gateway() == "172.17.0.1"
