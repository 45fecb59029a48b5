"""Delivers DynamoDB Local's stream to its consumer, the way Lambda's event source mapping does:
batches of BatchSize, split by item key over ParallelizationFactor (order kept per item), failed
records retried from the first failure (MaximumRetryAttempts, BisectBatchOnFunctionError), a
dead-letter file after too many tries, and a checkpoint per shard saved once what was read has been
fully processed, so a restart resumes where the last one stopped instead of at TRIM_HORIZON.

The mapping runs in a process of its own (as Lambda gives the consumer its own environments), so
a burst of API calls in the gateway's process cannot starve it of the interpreter.
"""

import ctypes
import json
import os
import signal
import threading
import time
import traceback
import zlib
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError

from livestock_local.dynamodb_local import Credentials, client
from livestock_local.lambda_runtime import (
    LocalLambda,
    adopt_environment,
    become_stack_child,
    name_process,
    worker_context,
)
from livestock_local.template import Function

# The stream's answers when a checkpoint can no longer be read from: its records are past the
# stream's 24-hour retention, or the shard is gone. DynamoDB Local answers InternalFailure for a
# sequence number its stream does not hold; starting over from TRIM_HORIZON is safe either way.
_RETAKE_ITERATOR = {"ExpiredIteratorException", "TrimmedDataAccessException"}
_LOST_POSITION = {"TrimmedDataAccessException", "ResourceNotFoundException", "ValidationException", "InternalFailure"}
# Shards whose records are being delivered at the same time (each shard's own in order).
SHARDS_DELIVERED_AT_ONCE = 8


class Checkpoint:
    """The last sequence number fully processed per shard, and which shards are finished, in a
    JSON file replaced atomically (a crash leaves the old checkpoint or the new one)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.shards: dict[str, dict[str, Any]] = {}
        if path is not None and path.exists():
            self.shards = dict(json.loads(path.read_text()).get("shards", {}))

    def sequence(self, shard_id: str) -> str | None:
        found = self.shards.get(shard_id, {}).get("sequence")
        return None if found is None else str(found)

    def finished(self, shard_id: str) -> bool:
        return bool(self.shards.get(shard_id, {}).get("finished"))

    def advance(self, shard_id: str, sequence: str | None, finished: bool = False) -> None:
        entry = self.shards.setdefault(shard_id, {})
        if sequence is not None:
            entry["sequence"] = sequence
        if finished:
            entry["finished"] = True
        self.save()

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps({"shards": self.shards}))
        os.replace(partial, self.path)


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


class Consumer(Protocol):
    def invoke(self, event: dict[str, Any]) -> Any: ...


class StreamPoller:
    def __init__(
        self,
        dynamodb: Any,
        streams: Any,
        table_name: str,
        consumer: Consumer,
        batch_size: int,
        parallelization: int,
        dead_letter_path: Path | None = None,
        poll_interval_s: float = 0.05,
        checkpoint_path: Path | None = None,
        maximum_retry_attempts: int = -1,
        bisect_on_error: bool = False,
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
        self.checkpoint = Checkpoint(checkpoint_path)
        # The mapping's -1 means "until the record expires"; locally, until the stack stops.
        self.maximum_retry_attempts = maximum_retry_attempts
        self.bisect_on_error = bisect_on_error
        self.resumed_from_checkpoint = 0
        self.fell_back_to_trim_horizon = 0
        self._pool = ThreadPoolExecutor(self.parallelization, thread_name_prefix="stream")
        # One delivery per shard at a time, any number of shards at once.
        self._shards = ThreadPoolExecutor(SHARDS_DELIVERED_AT_ONCE, thread_name_prefix="stream-shard")
        self._checkpoint_lock = threading.Lock()
        # Kept across restarts of the polling loop: a shard is never read while it is delivered.
        self._delivering: dict[str, Future[None]] = {}
        self.delivered = 0
        self.dead_lettered = 0
        self.idle = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"stream-{self.table_name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=4)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._shards.shutdown(wait=False, cancel_futures=True)

    def _discover(self, stream_arn: str) -> None:
        description = self.streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]
        for shard in description["Shards"]:
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = (
                    None if self.checkpoint.finished(shard_id) else self._iterator(stream_arn, shard_id)
                )

    def _iterator(self, stream_arn: str, shard_id: str) -> str | None:
        """Where to read a shard from: just after its checkpoint, or from the oldest record the
        stream keeps when there is none or it can no longer be read (see RELIABILITY.md)."""
        sequence = self.checkpoint.sequence(shard_id)
        if sequence is not None:
            try:
                iterator = self.streams.get_shard_iterator(
                    StreamArn=stream_arn,
                    ShardId=shard_id,
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                    SequenceNumber=sequence,
                )["ShardIterator"]
                self.resumed_from_checkpoint += 1
                return None if iterator is None else str(iterator)
            except ClientError as error:
                if error.response["Error"]["Code"] not in _LOST_POSITION:
                    raise
                self.fell_back_to_trim_horizon += 1
        try:
            iterator = self.streams.get_shard_iterator(
                StreamArn=stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        except ClientError as error:
            if error.response["Error"]["Code"] not in _LOST_POSITION:
                raise
            self.checkpoint.advance(shard_id, None, finished=True)
            return None
        return None if iterator is None else str(iterator)

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
        """Reads every open shard and hands what it read to a delivery of its own: shards are
        delivered side by side (as Lambda's event source mapping runs a poller per shard), so a
        record on one shard never waits for another shard's batch. A shard is read again only
        once its delivery is done, which keeps its records in order and its checkpoint exact."""
        last_discovery = 0.0
        delivering = self._delivering
        while not self._stop.is_set():
            if time.monotonic() - last_discovery > 1.0:
                self._discover(stream_arn)
                last_discovery = time.monotonic()
            for shard_id, done in list(delivering.items()):
                if done.done():
                    del delivering[shard_id]
                    done.result()  # a delivery that raised stops this loop; _run starts it again
            for shard_id, iterator in list(self._iterators.items()):
                if iterator is None or shard_id in delivering:
                    continue
                try:
                    response = self.streams.get_records(ShardIterator=iterator, Limit=1000)
                except ClientError as error:
                    # An expired iterator, or (DynamoDB Local numbers stream records across all its
                    # tables) one taken on a still-empty shard that another table's writes "trimmed":
                    # take it again from the checkpoint, or TRIM_HORIZON, which repeats nothing here.
                    if error.response["Error"]["Code"] not in _RETAKE_ITERATOR:
                        raise
                    self._iterators[shard_id] = self._iterator(stream_arn, shard_id)
                    continue
                records = [_lambda_shaped(r, stream_arn) for r in response["Records"]]
                next_iterator = response.get("NextShardIterator")
                if records:
                    delivering[shard_id] = self._shards.submit(self._deliver_shard, shard_id, records, next_iterator)
                    continue
                self._iterators[shard_id] = next_iterator
                if next_iterator is None:
                    self.checkpoint.advance(shard_id, None, finished=True)
            if delivering:
                # Records are flowing: read again as soon as a delivery ends (its shard may hold
                # more), or after the usual pause for the shards that were empty.
                self.idle.clear()
                wait(delivering.values(), timeout=self.poll_interval_s, return_when=FIRST_COMPLETED)
            else:
                self.idle.set()
                self._stop.wait(self.poll_interval_s)
        for pending in delivering.values():
            pending.cancel()

    def _deliver_shard(self, shard_id: str, records: list[dict[str, Any]], next_iterator: str | None) -> None:
        self._deliver(records)
        if self._stop.is_set():
            # Stopped mid-delivery: what was read is read again after the restart.
            return
        # Saved only now that every record read has been processed (or dead-lettered).
        with self._checkpoint_lock:
            self._iterators[shard_id] = next_iterator
            self.checkpoint.advance(shard_id, records[-1]["dynamodb"]["SequenceNumber"], finished=next_iterator is None)

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
            self._deliver_batch(records[start : start + self.batch_size])

    def _deliver_batch(self, batch: list[dict[str, Any]]) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                response = self.consumer.invoke({"Records": batch}) or {}
                failures = response.get("batchItemFailures", [])
            except Exception:  # noqa: BLE001 - a failed invocation retries the whole batch, as Lambda does
                traceback.print_exc()
                if self.bisect_on_error and len(batch) > 1:
                    # BisectBatchOnFunctionError: each half retried on its own, so one poison
                    # record holds up (and finally dead-letters) as few others as possible.
                    middle = len(batch) // 2
                    self._deliver_batch(batch[:middle])
                    self._deliver_batch(batch[middle:])
                    return
                failures = [{"itemIdentifier": batch[0]["dynamodb"]["SequenceNumber"]}]
            if not failures:
                self.delivered += len(batch)
                return
            first = min(str(f["itemIdentifier"]) for f in failures)
            done = [r for r in batch if r["dynamodb"]["SequenceNumber"] < first]
            self.delivered += len(done)
            batch = batch[len(done) :]
            if 0 <= self.maximum_retry_attempts <= attempt:
                self._dead_letter(batch)
                return
            time.sleep(min(1.0, 0.05 * 2**attempt))
            attempt += 1

    def _dead_letter(self, batch: list[dict[str, Any]]) -> None:
        self.dead_lettered += len(batch)
        if self.dead_letter_path:
            with self.dead_letter_path.open("a") as handle:
                for record in batch:
                    handle.write(json.dumps(record, default=str) + "\n")


@dataclass(frozen=True)
class StreamMapping:
    """One DynamoDB event of the template: which table's stream feeds which function, and how."""

    endpoint: str
    credentials: Credentials
    table_name: str
    function: Function
    batch_size: int
    parallelization: int
    maximum_retry_attempts: int
    bisect_on_error: bool
    dead_letter_path: Path | None
    checkpoint_path: Path | None
    starting_position: str = "TRIM_HORIZON"


def seek_to_latest(streams: Any, stream_arn: str, checkpoint: Checkpoint) -> int:
    """StartingPosition LATEST for a new mapping: the checkpoint is set at the end of every shard
    that exists now, so the mapping reads only what is written after it was created (shards that
    appear later are read from their start, as Lambda reads child shards). Returns records skipped."""
    skipped = 0
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        last: str | None = None
        iterator: str | None = ""
        try:
            iterator = streams.get_shard_iterator(
                StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            ).get("ShardIterator")
            while iterator:
                response = streams.get_records(ShardIterator=iterator, Limit=1000)
                if not response["Records"]:
                    break
                last = response["Records"][-1]["dynamodb"]["SequenceNumber"]
                skipped += len(response["Records"])
                iterator = response.get("NextShardIterator")
        except ClientError as error:
            # A shard DynamoDB Local already trimmed holds nothing to skip.
            if error.response["Error"]["Code"] not in _LOST_POSITION | _RETAKE_ITERATOR:
                raise
        checkpoint.advance(shard["ShardId"], last, finished=iterator is None)
    return skipped


def process_name(function_id: str) -> str:
    """The name a mapping's process has in /proc/<pid>/comm: `ls-StreamConsum` for the
    StreamConsumerFunction's (15 characters at most)."""
    return f"ls-{function_id.removesuffix('Function')}"[:15]


def _run_in_process(mapping: StreamMapping, idle: "ctypes.c_bool", environment: dict[str, str]) -> None:
    adopt_environment(environment)
    become_stack_child()
    name_process(process_name(mapping.function.logical_id))
    # The stack stops this process with SIGTERM (as a group SIGTERM does): no lock or condition is
    # shared between the processes, so a process killed at any moment cannot leave the other
    # waiting for it (multiprocessing.Event.set() hangs for good on a waiter that died). Nor does
    # the handler take a lock: a threading.Event set from a handler that interrupts this thread's
    # own wait on it deadlocks (seen: a mapping process left hanging after a stop).
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    # This process is the consumer's execution environment: its variables are the function's.
    os.environ.update({**mapping.credentials.environment(), **mapping.function.environment})
    poller = StreamPoller(
        client(mapping.endpoint, mapping.credentials),
        client(mapping.endpoint, mapping.credentials, "dynamodbstreams"),
        mapping.table_name,
        LocalLambda(mapping.function, play_iam=True),
        mapping.batch_size,
        mapping.parallelization,
        mapping.dead_letter_path,
        checkpoint_path=mapping.checkpoint_path,
        maximum_retry_attempts=mapping.maximum_retry_attempts,
        bisect_on_error=mapping.bisect_on_error,
    )
    poller.start()
    while not stopping:
        idle.value = poller.idle.is_set()
        time.sleep(0.02)
    poller.stop()


class StreamWorker:
    """One event source mapping, in a child process. A process that dies (killed, out of memory)
    is started again by `supervise()`, as Lambda gives the mapping a new poller: it resumes at the
    checkpoint, so the batch it was delivering is delivered again and nothing is skipped."""

    def __init__(self, mapping: StreamMapping) -> None:
        self.mapping = mapping
        self._context = worker_context()
        # A plain shared byte, written by the child only: read without any lock.
        self._idle = self._context.RawValue(ctypes.c_bool, False)
        self._process = self._new_process()
        self.restarts = 0
        # stop() and supervise() run in different threads: a stop must not find the dead process
        # while the supervisor is starting its successor (which would then outlive the stack).
        self._lock = threading.Lock()
        self._stopped = False

    def _new_process(self) -> Any:
        return self._context.Process(
            target=_run_in_process,
            args=(self.mapping, self._idle, dict(os.environ)),
            name=f"stream-{self.mapping.table_name}",
            daemon=True,
        )

    @property
    def pid(self) -> int | None:
        pid: int | None = self._process.pid
        return pid

    def start(self) -> None:
        mapping = self.mapping
        if mapping.starting_position == "LATEST" and mapping.checkpoint_path and not mapping.checkpoint_path.exists():
            # Before the child starts and before the stack answers: nothing written after this
            # point is skipped.
            dynamodb: Any = client(mapping.endpoint, mapping.credentials)
            stream_arn = dynamodb.describe_table(TableName=mapping.table_name)["Table"]["LatestStreamArn"]
            streams = client(mapping.endpoint, mapping.credentials, "dynamodbstreams")
            checkpoint = Checkpoint(mapping.checkpoint_path)
            seek_to_latest(streams, stream_arn, checkpoint)
            checkpoint.save()
        self._process = self._new_process()  # with the stack's variables of now
        self._process.start()

    def supervise(self) -> bool:
        """Starts the process again if it has died; True if it did."""
        with self._lock:
            if self._stopped or self._process.pid is None or self._process.is_alive():
                return False
            self._process.join(timeout=0)  # reaps it: a killed child must not stay a zombie
            self._idle.value = False
            self._process = self._new_process()
            self._process.start()
            self.restarts += 1
            return True

    def idle(self) -> bool:
        return bool(self._idle.value) and self._process.is_alive()

    def stop(self, timeout_s: float = 5) -> None:
        with self._lock:
            self._stopped = True
        if self._process.pid is None:
            return
        self._process.terminate()
        self._process.join(timeout=timeout_s)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=2)
