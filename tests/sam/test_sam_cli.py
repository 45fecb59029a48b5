"""The SAM CLI's other two ways in, once each, after the story (start-lambda has stopped by then):
`sam local invoke` from the command line, and an HTTP call through `sam local start-api`."""

import json
import subprocess
import time
from pathlib import Path

import pytest
import requests

from livestock_local import sam
from livestock_local.dynamodb_local import free_port
from livestock_local.template import ROOT
from tests.sam.conftest import EVENTS, TIMINGS, Sides, Step, load_event, sam_process, wait_for_port
from tests.sam.test_runtime_interface import answer, differences


def test_sam_local_invoke_replays_the_hold_as_the_in_process_invoker_does(
    backends: sam.Backends, sides: Sides, story: list[Step]
) -> None:
    first = next(step for step in story if step.event == "holds_api/place_hold.json")
    started = time.monotonic()
    ran = subprocess.run(
        backends.sam_command("invoke", "HoldsApiFunction", "--event", str(EVENTS / "holds_api/place_hold.json")),
        env=backends.sam_environment(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    TIMINGS.values["sam local invoke (one cold container)"] = time.monotonic() - started
    assert ran.returncode == 0, ran.stderr[-3000:]
    replayed = answer(sam.answer_of(ran.stdout))
    assert replayed["statusCode"] == 201, replayed
    # A replay creates nothing: the same hold, answered from what is stored now (the story's
    # stream record settled it from the shared pool since), exactly as the in-process side answers.
    assert replayed["body"]["hold_id"] == answer(first.sam)["body"]["hold_id"]
    local = answer(sides.invoker.invoke("HoldsApiFunction", load_event("holds_api/place_hold.json")))
    assert not differences(replayed, local), differences(replayed, local)
    # ... and changes nothing in the database.
    assert sides.state(sides.sam_credentials) == story[-1].sam_state


def test_sam_local_start_api_serves_a_route_without_an_api_key(
    backends: sam.Backends, sides: Sides, story: list[Step], tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "start-api.log"
    started = time.monotonic()
    with sam_process(backends, log, "start-api", "--port", str(port), "--warm-containers", "LAZY") as process:
        wait_for_port(process, port, log, timeout_s=120)
        # No x-api-key: SAM's local gateway does not enforce API keys (the deployed API does).
        response = requests.get(f"http://127.0.0.1:{port}/skus/tee-black-m", timeout=120)
        TIMINGS.values["start-api ready + first call"] = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    local = sides.invoker.invoke("StockApiFunction", load_event("stock_api/get_sku.json"))
    assert not differences(response.json(), json.loads(local["body"]))
    if not response.json()["pools"]:
        pytest.fail("the SKU the story set up has no pools")
