"""Every event in events/, through the real Lambda runtime interface (`sam local start-lambda`,
the Lambda Python 3.13 image, awslambdaric) and through the local stack's in-process invoker:
the same answers, and the same state left in DynamoDB Local.

What cannot agree between two runs a moment apart, the clock, is named in TIME_FIELDS with the
reason, and compared as moments a little apart rather than for equality.
"""

import contextlib
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.sam.conftest import EVENTS, STORY, Step

# Fields that hold the clock: the two sides run each event about 0.1 s apart, so these never
# agree exactly. They must still be present on both sides, and name moments within TIME_SLACK_S.
TIME_FIELDS = {
    "created_at": "when the item was first written",
    "updated_at": "when the item was last written",
    "changed_at": "when a setting last changed",
    "set_at": "when the alert tiers were set",
    "expires_at": "a hold's payment deadline: created_at + pay_within_s",
    "gsi2sk": "the hold's expires_at again, as the sort key of the OpenHoldsByDue index",
    "samples": "the sales-velocity window: [when, units taken] pairs",
    "started_at": "when the session was started",
    "ended_at": "when the session was ended",
    "released_at": "when a campaign stage was released",
    "cancelled_at": "when the campaign was cancelled",
}
TIME_SLACK_S = 60.0


def moment(value: Any) -> float | None:
    """A timestamp as epoch seconds: a number, a numeric string, or an ISO 8601 string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value)
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value).timestamp()
    return None


def close_moments(left: Any, right: Any) -> bool:
    if isinstance(left, list) and isinstance(right, list):
        # [[when, taken], ...]: the same number of samples, the same units, close moments.
        return len(left) == len(right) and all(
            isinstance(a, list) and isinstance(b, list) and a[1:] == b[1:] and close_moments(a[0], b[0])
            for a, b in zip(left, right, strict=True)
        )
    a, b = moment(left), moment(right)
    return a is not None and b is not None and abs(a - b) <= TIME_SLACK_S


def differences(left: Any, right: Any, path: str = "") -> list[str]:
    """Where the SAM side's value differs from the in-process side's, as paths."""
    if isinstance(left, str) and isinstance(right, str) and left.startswith("{") and right.startswith("{"):
        # An attribute holding a JSON document (the event state): compared field by field.
        with contextlib.suppress(ValueError):
            return differences(json.loads(left), json.loads(right), path)
    if isinstance(left, dict) and isinstance(right, dict):
        found = []
        for key in sorted(set(left) | set(right), key=str):
            where = f"{path}/{key}"
            if key not in left or key not in right:
                found.append(f"{where}: only on the {'SAM' if key in left else 'in-process'} side")
            elif key in TIME_FIELDS and left[key] is not None and right[key] is not None:
                if not close_moments(left[key], right[key]):
                    found.append(f"{where}: SAM {left[key]!r} and in-process {right[key]!r} are not close moments")
            else:
                found += differences(left[key], right[key], where)
        return found
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [d for i, (a, b) in enumerate(zip(left, right, strict=True)) for d in differences(a, b, f"{path}[{i}]")]
    return [] if left == right else [f"{path}: SAM {left!r} != in-process {right!r}"]


def answer(raw: Any) -> Any:
    """An API answer with its JSON body parsed; any other answer as it is."""
    if isinstance(raw, dict) and "statusCode" in raw:
        body = raw.get("body") or ""
        return {**raw, "body": json.loads(body) if body else body}
    return raw


@pytest.fixture(scope="module")
def steps(story: list[Step]) -> dict[str, Step]:
    return {step.event: step for step in story}


# The live console's and the post-live review's functions were merged after the story was written;
# their events are checked by tests/unit (parsed by each handler's model, run in-process on moto)
# but not yet through the runtime interface: they need the console table's WebSocket management
# endpoint and the review bucket on the SAM side (issue 15 stays open for them). A new folder of
# events fails here until it is in the story or named below.
NOT_YET_IN_STORY: tuple[str, ...] = ("console_api", "console_authorizer", "console_fanout", "console_socket")
NOT_YET_IN_STORY += ("review_builder", "reviews_api", "session_journal")


def test_the_story_invokes_every_event_in_events() -> None:
    events = sorted(str(p.relative_to(EVENTS)) for p in EVENTS.rglob("*.json"))
    assert sorted(name for name, _ in STORY) == [e for e in events if e.split("/", 1)[0] not in NOT_YET_IN_STORY]


def test_the_comparison_tells_a_stale_answer_from_a_late_clock() -> None:
    placed = {"hold_id": "h_1", "status": "held", "expires_at": "2026-11-30T18:08:02.680+00:00"}
    later = {**placed, "expires_at": "2026-11-30T18:08:02.799+00:00"}
    assert differences(placed, later) == []
    assert differences(placed, {**later, "status": "pending"}) == ["/status: SAM 'held' != in-process 'pending'"]
    assert differences(placed, {**placed, "expires_at": "2026-11-30T19:08:02.680+00:00"})
    assert differences({"state": '{"samples": [[1.0, 2]]}'}, {"state": '{"samples": [[1.5, 3]]}'})


@pytest.mark.parametrize(("event", "status"), STORY)
def test_the_runtime_interface_and_the_in_process_invoker_agree(
    steps: dict[str, Step], event: str, status: int | None
) -> None:
    step = steps[event]
    sam, local = answer(step.sam), answer(step.in_process)
    assert "FunctionError" not in sam, sam
    if status is not None:
        assert sam["statusCode"] == status, sam
    assert not differences(sam, local), differences(sam, local)
    state = differences(step.sam_state, step.in_process_state)
    assert not state, state
