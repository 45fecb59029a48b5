"""The stream consumer's batch processor: one key's records in stream order, different keys at once,
failures reported as Powertools reports them."""

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import EventType, process_partial_response

from livestock import keys
from livestock.api.batch import KeyOrderedBatchProcessor
from livestock.dal.stream import InventoryRecordModel, change_of, settling_order
from livestock_local.template import ROOT

SAMPLE = json.loads(Path(ROOT / "events" / "stream_consumer" / "hold_decrement.json").read_text())


def record(sequence: int, key: str) -> dict[str, Any]:
    """The sample's decrement record, renumbered, naming hold `key`."""
    raw: dict[str, Any] = json.loads(json.dumps(SAMPLE["Records"][1]))
    raw["eventID"] = f"e{sequence}"
    raw["dynamodb"]["SequenceNumber"] = f"{100000000000000000000 + sequence}"
    raw["dynamodb"]["NewImage"]["last_ref"] = {"S": keys.hold_reference(key, 1)}
    return raw


def held_by(model: InventoryRecordModel) -> str:
    change = change_of(model)
    taken_by = getattr(change, "decrement_of", None)
    assert taken_by is not None, change
    return str(taken_by[0])


def test_one_holds_records_settle_in_stream_order_and_different_holds_at_once() -> None:
    assert change_of(InventoryRecordModel.model_validate(record(1, "h_a"))) is not None
    # Two holds, three records each: if the holds did not run at once, the barrier would break.
    both_running = threading.Barrier(2, timeout=5)
    seen: dict[str, list[str]] = {"h_a": [], "h_b": []}

    def handler(record: InventoryRecordModel) -> None:
        hold = held_by(record)
        if not seen[hold]:
            both_running.wait()
        seen[hold].append(record.dynamodb.SequenceNumber)

    records = [record(n, "h_a" if n % 2 else "h_b") for n in range(1, 7)]
    processor = KeyOrderedBatchProcessor(EventType.DynamoDBStreams, InventoryRecordModel, settling_order, lambda: 4)
    assert process_partial_response({"Records": records}, handler, processor) == {"batchItemFailures": []}
    assert seen["h_a"] == sorted(seen["h_a"]) and len(seen["h_a"]) == 3
    assert seen["h_b"] == sorted(seen["h_b"]) and len(seen["h_b"]) == 3
    assert [r[0] for r in processor.process()] == ["success"] * 6  # answers keep the batch's order


@pytest.mark.parametrize("workers", [1, 8])
def test_a_failing_record_is_reported_and_the_rest_are_handled(workers: int) -> None:
    handled: list[str] = []

    def handler(record: InventoryRecordModel) -> None:
        if record.dynamodb.SequenceNumber.endswith("3"):
            raise RuntimeError("poisoned")
        handled.append(record.dynamodb.SequenceNumber)

    records = [record(n, f"h_{n % 3}") for n in range(1, 7)]
    processor = KeyOrderedBatchProcessor(
        EventType.DynamoDBStreams, InventoryRecordModel, settling_order, lambda: workers
    )
    result = process_partial_response({"Records": records}, handler, processor)
    assert result == {"batchItemFailures": [{"itemIdentifier": "100000000000000000003"}]}
    assert sorted(handled) == [f"{100000000000000000000 + n}" for n in (1, 2, 4, 5, 6)]


def test_records_that_name_no_hold_follow_their_item_and_unparsable_ones_stand_alone() -> None:
    hold_put = SAMPLE["Records"][0]
    decrement = SAMPLE["Records"][1]
    assert settling_order(decrement)[0] == "hold"
    assert settling_order(hold_put) == settling_order(decrement), "a hold's put and its decrement share a lane"
    broken = json.loads(json.dumps(decrement))
    broken["dynamodb"]["NewImage"]["available"] = {"S": "many"}
    assert settling_order(broken) == ("record", broken["eventID"])
