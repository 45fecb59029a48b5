"""Every event in events/, through the real Lambda runtime interface (`sam local start-lambda`,
the Lambda Python 3.13 image, awslambdaric) and through the local stack's in-process invoker:
the same answers, and the same state left in DynamoDB Local.

What cannot agree between two runs a moment apart, the clock, is named in TIME_FIELDS with the
reason, and compared as moments a little apart rather than for equality.
"""

import contextlib
import hashlib
import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.sam.conftest import EVENTS, STORY, Step, event_file

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
    "expires_at_s": "a console item's TTL: when DynamoDB may delete it, in whole seconds",
    "connected_at": "when the console's WebSocket connection was made",
    "token_expires_at": "the console token's expiry: when it was minted + ttl_s",
    "sent_at": "when a console message was pushed",
    "read_at": "when a console panel's figures were read",
}
TIME_SLACK_S = 60.0
# The clock counted otherwise: the push slot a console fan-out claimed is now / the push interval.
CLOCK_COUNTS = {"slot": ("int(now / CONSOLE_PUSH_INTERVAL_S) + 1: the clock in push intervals", 0.25)}
# Sort keys that begin with a moment: compared as a close moment and the same rest.
TIME_PREFIXED = {"sk": "an SKU's history item is sorted by when its session ended: <ended_at>#<session_id>"}
TIME_PREFIX = re.compile(r"^(\d{4}-\d\d-\d\dT[^#]+)#(.*)$")
# Values computed from the clock: each side's must be there and of the same form, not equal.
CLOCK_DIGESTS = {"digest": "the review's SHA-256, over a body holding the session's started_at and ended_at"}
# The console token is random (each side mints its own) and stored only as its SHA-256: before
# comparing, each side's token and its hash are replaced by these (masked()), so the comparison
# still finds them in the same places (the answer, console_url, the token item's key).
TOKEN_MASK = "<the side's console token>"
TOKEN_HASH_MASK = "<the SHA-256 of the side's console token>"


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


def masked(value: Any, token: str | None) -> Any:
    """`value` with the console token, and its SHA-256, replaced by TOKEN_MASK and TOKEN_HASH_MASK."""
    if token is None:
        return value
    if isinstance(value, str):
        hashed = hashlib.sha256(token.encode()).hexdigest()
        return value.replace(token, TOKEN_MASK).replace(hashed, TOKEN_HASH_MASK)
    if isinstance(value, dict):
        return {k: masked(v, token) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v, token) for v in value]
    return value


def _same_clock(key: str, left: Any, right: Any) -> bool | None:
    """Whether two values of a clock-derived field agree as such; None when `key` is none."""
    if key in CLOCK_COUNTS:
        if left is None and right is None:
            return True  # none on either side (a console snapshot names no push slot)
        a, b = moment(left), moment(right)
        return a is not None and b is not None and abs(a - b) * CLOCK_COUNTS[key][1] <= TIME_SLACK_S
    if key in TIME_PREFIXED and isinstance(left, str) and isinstance(right, str):
        x, y = TIME_PREFIX.match(left), TIME_PREFIX.match(right)
        if x is None and y is None:
            return None  # a key without a moment: compared as it is
        return bool(x and y and x.group(2) == y.group(2) and close_moments(x.group(1), y.group(1)))
    if key in CLOCK_DIGESTS:
        return all(isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) for v in (left, right))
    return None


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
            elif (same := _same_clock(str(key), left[key], right[key])) is not None:
                if not same:
                    found.append(f"{where}: SAM {left[key]!r} and in-process {right[key]!r} differ beyond the clock")
            else:
                found += differences(left[key], right[key], where)
        return found
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [d for i, (a, b) in enumerate(zip(left, right, strict=True)) for d in differences(a, b, f"{path}[{i}]")]
    return [] if left == right else [f"{path}: SAM {left!r} != in-process {right!r}"]


def answer(raw: Any) -> Any:
    """An API answer with its JSON body parsed (a page, a script or a CSV body as it is); any other
    answer as it is."""
    if isinstance(raw, dict) and "statusCode" in raw:
        body = raw.get("body") or ""
        with contextlib.suppress(ValueError):
            return {**raw, "body": json.loads(body) if body else body}
    return raw


@pytest.fixture(scope="module")
def steps(story: list[Step]) -> dict[str, Step]:
    return {step.event: step for step in story}


def test_the_story_invokes_every_event_in_events() -> None:
    events = sorted(str(p.relative_to(EVENTS)) for p in EVENTS.rglob("*.json"))
    # `<file>@<session id>` steps are a file's event aimed at another session: each file once more.
    assert sorted(name for name, _ in STORY if "@" not in name) == events
    assert all(event_file(name) in events for name, _ in STORY)


def test_the_comparison_tells_a_stale_answer_from_a_late_clock() -> None:
    placed = {"hold_id": "h_1", "status": "held", "expires_at": "2026-11-30T18:08:02.680+00:00"}
    later = {**placed, "expires_at": "2026-11-30T18:08:02.799+00:00"}
    assert differences(placed, later) == []
    assert differences(placed, {**later, "status": "pending"}) == ["/status: SAM 'held' != in-process 'pending'"]
    assert differences(placed, {**placed, "expires_at": "2026-11-30T19:08:02.680+00:00"})
    assert differences({"state": '{"samples": [[1.0, 2]]}'}, {"state": '{"samples": [[1.5, 3]]}'})
    history = {"sk": "2026-11-30T21:12:36.709+00:00#s-1", "slot": 7184292966, "digest": "a" * 64}
    assert (
        differences(history, {"sk": "2026-11-30T21:12:36.776+00:00#s-1", "slot": 7184292999, "digest": "b" * 64}) == []
    )
    assert differences(history, {**history, "sk": "2026-11-30T21:12:36.709+00:00#s-2"})
    assert differences(history, {**history, "slot": 7184292966 + 4 * 3600})
    assert differences(history, {**history, "digest": "not a digest"})
    assert differences({"sk": "STOCK"}, {"sk": "STOCK"}) == []
    assert differences({"sk": "STOCK"}, {"sk": "META"}) == ["/sk: SAM 'STOCK' != in-process 'META'"]


def test_each_sides_console_token_is_compared_by_where_it_appears() -> None:
    def minted(token: str) -> dict[str, Any]:
        hashed = hashlib.sha256(token.encode()).hexdigest()
        return {"token": token, "url": f"https://x/console#token={token}", "pk": f"CTOKEN#{hashed}"}

    assert differences(masked(minted("t-sam"), "t-sam"), masked(minted("t-local"), "t-local")) == []
    assert differences(masked(minted("t-sam"), "t-sam"), masked({**minted("t-local"), "url": "x"}, "t-local"))


@pytest.mark.parametrize(("event", "status"), STORY)
def test_the_runtime_interface_and_the_in_process_invoker_agree(
    steps: dict[str, Step], event: str, status: int | None
) -> None:
    step = steps[event]
    sam, local = masked(answer(step.sam), step.sam_token), masked(answer(step.in_process), step.in_process_token)
    assert "FunctionError" not in sam, sam
    if status is not None:
        assert sam["statusCode"] == status, sam
    assert not differences(sam, local), differences(sam, local)
    state = differences(masked(step.sam_state, step.sam_token), masked(step.in_process_state, step.in_process_token))
    assert not state, state
    # What each side pushed to the console's connections (the management endpoint keeps it by key).
    posted = differences(masked(step.sam_posted, step.sam_token), masked(step.in_process_posted, step.in_process_token))
    assert not posted, posted
