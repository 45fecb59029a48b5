"""Delivers DynamoDB Local's stream to its consumer, the way Lambda's event source mapping does:
batches of BatchSize, split by item key over ParallelizationFactor (order kept per item), failed
records retried from the first failure, and a dead-letter file after too many tries.

The mapping runs in a process of its own (as Lambda gives the consumer its own environments), so
a burst of API calls in the gateway's process cannot starve it of the interpreter.
"""

import json
import multiprocessing
import multiprocessing.synchronize
import threading
import time
import traceback
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from livestock_local.dynamodb_local import client
from livestock_local.lambda_runtime import LocalLambda
from livestock_local.template import Function

MAX_RETRIES = 10


def _lambda_shaped(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = created.timestamp()
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    }


class StreamPoller:
    def __init__(
        self,
        dynamodb: Any,
        streams: Any,
        table_name: str,
        consumer: LocalLambda,
        batch_size: int,
        parallelization: int,
        dead_letter_path: Path | None = None,
        poll_interval_s: float = 0.05,
    ) -> None:
        self.dynamodb = dynamodb
        self.streams = streams
        self.table_name = table_name
        self.consumer = consumer
        self.batch_size = batch_size
        self.parallelization = max(1, parallelization)
        self.dead_letter_path = dead_letter_path
        self.poll_interval_s = poll_interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._iterators: dict[str, str | None] = {}
        self._pool = ThreadPoolExecutor(self.parallelization, thread_name_prefix="stream")
        self.delivered = 0
        self.dead_lettered = 0
        self.idle = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"stream-{self.table_name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True)

    def _discover(self, stream_arn: str) -> None:
        description = self.streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]
        for shard in description["Shards"]:
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self.streams.get_shard_iterator(
                    StreamArn=stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]

    def _run(self) -> None:
        stream_arn = self.dynamodb.describe_table(TableName=self.table_name)["Table"]["LatestStreamArn"]
        while not self._stop.is_set():
            try:
                self._poll(stream_arn)
            except Exception:  # noqa: BLE001 - keep polling, as the event source mapping does
                if not self._stop.is_set():
                    traceback.print_exc()
                    self._stop.wait(1.0)

    def _poll(self, stream_arn: str) -> None:
        last_discovery = 0.0
        while not self._stop.is_set():
            if time.monotonic() - last_discovery > 1.0:
                self._discover(stream_arn)
                last_discovery = time.monotonic()
            got_any = False
            for shard_id, iterator in list(self._iterators.items()):
                if iterator is None:
                    continue
                try:
                    response = self.streams.get_records(ShardIterator=iterator, Limit=1000)
                except self.streams.exceptions.TrimmedDataAccessException:
                    # DynamoDB Local numbers stream records across all its tables: an iterator taken on a
                    # shard still empty is "trimmed" once another table is written first. Retake it (seen
                    # only before a shard's first record, where TRIM_HORIZON repeats nothing).
                    del self._iterators[shard_id]
                    self._discover(stream_arn)
                    continue
                self._iterators[shard_id] = response.get("NextShardIterator")
                records = [_lambda_shaped(r, stream_arn) for r in response["Records"]]
                if records:
                    got_any = True
                    self._deliver(records)
            if got_any:
                self.idle.clear()
            else:
                self.idle.set()
                self._stop.wait(self.poll_interval_s)

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        lanes: list[list[dict[str, Any]]] = [[] for _ in range(self.parallelization)]
        for record in records:
            key = json.dumps(record["dynamodb"]["Keys"], sort_keys=True).encode()
            lanes[zlib.crc32(key) % self.parallelization].append(record)
        futures = [self._pool.submit(self._deliver_lane, lane) for lane in lanes if lane]
        for future in futures:
            future.result()

    def _deliver_lane(self, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), self.batch_size):
            batch = records[start : start + self.batch_size]
            for attempt in range(MAX_RETRIES + 1):
                try:
                    response = self.consumer.invoke({"Records": batch}) or {}
                    failures = response.get("batchItemFailures", [])
                except Exception:  # noqa: BLE001 - a failed invocation retries the whole batch, as Lambda does
                    traceback.print_exc()
                    failures = [{"itemIdentifier": batch[0]["dynamodb"]["SequenceNumber"]}]
                if not failures:
                    self.delivered += len(batch)
                    break
                first = min(str(f["itemIdentifier"]) for f in failures)
                done = [r for r in batch if r["dynamodb"]["SequenceNumber"] < first]
                self.delivered += len(done)
                batch = batch[len(done) :]
                if attempt == MAX_RETRIES:
                    self._dead_letter(batch)
                    break
                time.sleep(min(1.0, 0.05 * 2**attempt))

    def _dead_letter(self, batch: list[dict[str, Any]]) -> None:
        self.dead_lettered += len(batch)
        if self.dead_letter_path:
            with self.dead_letter_path.open("a") as handle:
                for record in batch:
                    handle.write(json.dumps(record, default=str) + "\n")


def _run_in_process(
    endpoint: str,
    table_name: str,
    function: Function,
    dead_letter_path: Path | None,
    idle: multiprocessing.synchronize.Event,
    stop: multiprocessing.synchronize.Event,
) -> None:
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    poller = StreamPoller(
        client(endpoint),
        client(endpoint, "dynamodbstreams"),
        table_name,
        LocalLambda(function),
        function.stream_batch_size,
        function.stream_parallelization,
        dead_letter_path,
    )
    poller.start()
    while not stop.wait(0.02):
        if poller.idle.is_set():
            idle.set()
        else:
            idle.clear()
    poller.stop()


class StreamWorker:
    """One event source mapping, in a child process."""

    def __init__(self, endpoint: str, table_name: str, function: Function, dead_letter_path: Path | None) -> None:
        context = multiprocessing.get_context("spawn")
        self.idle = context.Event()
        self._stop = context.Event()
        self._process = context.Process(
            target=_run_in_process,
            args=(endpoint, table_name, function, dead_letter_path, self.idle, self._stop),
            name=f"stream-{table_name}",
            daemon=True,
        )

    def start(self) -> None:
        self._process.start()

    def stop(self) -> None:
        self._stop.set()
        self._process.join(timeout=15)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
