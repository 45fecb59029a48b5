"""A batch processor that handles a stream batch's records on several threads.

Lambda delivers a stream shard's records in order, one batch at a time; with a ParallelizationFactor
it already processes the records of different items at once (in separate invocations), so the
handlers must not depend on the order of changes to different items. Within one batch this
processor takes that one step further: records with the same ordering key go one after another, in
stream order; records with different keys, at once. A hot shard item's records (every decrement of
a flash sale goes through a handful of them) no longer settle one round trip after another.

Failures are reported as BatchProcessor reports them (every failed record's sequence number; Lambda
retries from the lowest), and the handlers are idempotent per record, so a retried batch settles
nothing twice.
"""

from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.types import BatchTypeModels


class KeyOrderedBatchProcessor(BatchProcessor):
    """Powertools' BatchProcessor, with `process` running `ordering_key`'s lanes on `workers()`
    threads (read when a batch starts, so settings load at the first batch, not at import)."""

    def __init__(
        self,
        event_type: EventType,
        model: BatchTypeModels,
        ordering_key: Callable[[dict[str, Any]], Hashable],
        workers: Callable[[], int],
    ) -> None:
        super().__init__(event_type=event_type, model=model)
        self.ordering_key = ordering_key
        self.workers = workers

    def process(self) -> list[tuple[Any, ...]]:
        lanes: dict[Hashable, list[int]] = {}
        for index, record in enumerate(self.records):
            lanes.setdefault(self.ordering_key(record), []).append(index)
        results: list[tuple[Any, ...]] = [()] * len(self.records)

        def run(indexes: list[int]) -> None:
            for index in indexes:  # _process_record never raises: it files the failure
                results[index] = self._process_record(self.records[index])

        with ThreadPoolExecutor(max(1, min(self.workers(), len(lanes)))) as pool:
            for done in [pool.submit(run, indexes) for indexes in lanes.values()]:
                done.result()
        return results
