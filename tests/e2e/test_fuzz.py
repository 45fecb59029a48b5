"""Schemathesis against the running local stack and the checked-in openapi.json, bounded: every
phase, with and without the key, plus multipart without a boundary and TRACE on every path. No
answer >= 500, every status documented for its operation, every refusal in the one error shape,
and the seeded SKUs reconcile and are changed by accepted requests only. `make chaos` runs it longer
(`python -m livestock_local.fuzz --seconds 120`)."""

import json

import pytest

from livestock_local.fuzz import fuzz, report_lines
from livestock_local.openapi import OPENAPI_FILE
from livestock_local.stack import LocalStack
from tests.conftest import API_KEY

pytestmark = pytest.mark.e2e

# Each phase once through with this many test cases per operation (a time budget would make the
# number of requests depend on the machine's load); FUZZ_SECONDS only sizes the subprocesses' cap.
MAX_EXAMPLES = 5
FUZZ_SECONDS = 60


def test_schemathesis_finds_no_server_error_and_nothing_undocumented(stack: LocalStack) -> None:
    result = fuzz(stack.url, API_KEY, FUZZ_SECONDS, seed=16, max_examples=MAX_EXAMPLES)
    report = "\n".join(report_lines(result))
    assert result.requests > 200, report
    document = json.loads(OPENAPI_FILE.read_text())
    assert result.operations_tested == sum(len(operations) for operations in document["paths"].values()), report
    assert {"coverage", "fuzzing", "stateful"} <= {p for p, s in result.phases.items() if s == "success"}, report
    assert result.server_errors == [], report
    assert result.undocumented == [], report
    assert result.wrong_shape == [], report
    assert result.schemathesis_failures == [], report
    assert result.schemathesis_errors == [], report
    assert result.malformed > 0, report
    assert result.seeded_changed == [], report
    assert all(s["consistent"] for s in result.seeded.values()), report
    assert not result.seeded["fuzz-seeded-untouched"]["touched_by_accepted"], report
