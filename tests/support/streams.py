"""A stream history on DynamoDB Local, and a consumer that only counts, to time the stream poller
itself (where it starts reading after a restart) apart from the work of any real consumer."""

import threading
import time
import uuid
from pathlib import Path
from typing import Any

from livestock_local.dynamodb_local import DynamoDBLocal, client
from livestock_local.streams import StreamPoller


class CountingConsumer:
    def __init__(self) -> None:
        self.records = 0
        self.invocations = 0
        self._lock = threading.Lock()

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.records += len(event["Records"])
            self.invocations += 1
        return {"batchItemFailures": []}


def streamed_table(database: DynamoDBLocal) -> str:
    name = f"history-{uuid.uuid4().hex[:8]}"
    dynamodb: Any = client(database.endpoint, database.credentials)
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return name


def write_history(database: DynamoDBLocal, table: str, records: int, progress: bool = False) -> None:
    """`records` stream records: one insert each, written 25 at a time."""
    dynamodb: Any = client(database.endpoint, database.credentials)
    for start in range(0, records, 25):
        items = [
            {"PutRequest": {"Item": {"pk": {"S": f"item-{number}"}, "n": {"N": str(number)}}}}
            for number in range(start, min(records, start + 25))
        ]
        pending: dict[str, Any] = {table: items}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        if progress and (start // 25) % 400 == 0:
            print(f"  history: {start:,}/{records:,} records", flush=True)


def poller(database: DynamoDBLocal, table: str, consumer: CountingConsumer, checkpoint: Path) -> StreamPoller:
    return StreamPoller(
        client(database.endpoint, database.credentials),
        client(database.endpoint, database.credentials, "dynamodbstreams"),
        table,
        consumer,
        batch_size=100,
        parallelization=1,
        checkpoint_path=checkpoint,
    )


def run_until_idle(stream: StreamPoller, consumer: CountingConsumer, expected: int, timeout_s: float) -> float:
    """Seconds from start until the poller has delivered `expected` records and found no more."""
    began = time.monotonic()
    stream.start()
    deadline = began + timeout_s
    while time.monotonic() < deadline:
        if consumer.records >= expected and stream.idle.is_set():
            return time.monotonic() - began
        time.sleep(0.01)
    raise TimeoutError(f"delivered {consumer.records} of {expected} records in {timeout_s}s")
