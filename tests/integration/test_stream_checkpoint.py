"""The stream consumer's position survives a restart, as Lambda's event source mapping keeps it:
a restarted poller reads only what came after its checkpoint, however long the history."""

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from livestock_local.chaos import CountingConsumer, poller, run_until_idle, streamed_table, write_history
from livestock_local.dynamodb_local import DynamoDBLocal, client, free_port

pytestmark = pytest.mark.integration

HISTORY = 3_000


@pytest.fixture(scope="module")
def database() -> Iterator[DynamoDBLocal]:
    local = DynamoDBLocal(free_port())
    local.start()
    yield local
    local.stop()


# It bounds the catch-up time: run alone (the timing pass), not beside another worker's stack.
@pytest.mark.timing
def test_a_restart_resumes_after_the_checkpoint_not_at_trim_horizon(database: DynamoDBLocal, tmp_path: Path) -> None:
    table = streamed_table(database)
    write_history(database, table, HISTORY)
    checkpoint = tmp_path / "checkpoint.json"

    first = CountingConsumer()
    before = poller(database, table, first, checkpoint)
    run_until_idle(before, first, HISTORY, timeout_s=120)
    before.stop()
    assert first.records == HISTORY
    assert json.loads(checkpoint.read_text())["shards"], "the position was saved per shard"

    again = CountingConsumer()
    after = poller(database, table, again, checkpoint)
    catch_up_s = run_until_idle(after, again, 0, timeout_s=30)
    try:
        assert again.records == 0, "nothing already processed is delivered again"
        assert catch_up_s < 2.0, f"caught up in {catch_up_s:.2f}s with {HISTORY:,} records of history"
        _put(database, table, "after-restart")
        deadline = time.monotonic() + 30
        while again.records < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert again.records == 1, "what comes after the checkpoint is delivered"
    finally:
        after.stop()


def test_a_checkpoint_the_stream_no_longer_has_falls_back_to_trim_horizon(
    database: DynamoDBLocal, tmp_path: Path
) -> None:
    table = streamed_table(database)
    write_history(database, table, 50)
    first = CountingConsumer()
    stream = poller(database, table, first, tmp_path / "checkpoint.json")
    run_until_idle(stream, first, 50, timeout_s=30)
    stream.stop()
    saved = json.loads((tmp_path / "checkpoint.json").read_text())
    # A position the stream cannot serve, as after its 24-hour retention or a lost database.
    lost = {"shards": {shard: {"sequence": "1" + "0" * 20} for shard in saved["shards"]}}
    (tmp_path / "checkpoint.json").write_text(json.dumps(lost))

    again = CountingConsumer()
    restarted = poller(database, table, again, tmp_path / "checkpoint.json")
    try:
        run_until_idle(restarted, again, 50, timeout_s=30)
        assert again.records == 50, "every record the stream still has is delivered again (idempotent downstream)"
        assert restarted.fell_back_to_trim_horizon >= 1
    finally:
        restarted.stop()


def _put(database: DynamoDBLocal, table: str, key: str) -> None:
    dynamodb: Any = client(database.endpoint, database.credentials)
    dynamodb.put_item(TableName=table, Item={"pk": {"S": key}})
