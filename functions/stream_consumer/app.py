"""Consumes the inventory table's stream: writes the ledger and settles holds.

The ledger entries of a batch are written first, together (each is keyed by its stream record,
so a retried batch rewrites the same entries). Then each record settles its hold: the records of one
hold in stream order, different holds at once (api/batch.py, SETTLE_WORKERS threads). Powertools
batch processing parses each record into a typed change and reports failed records one by one, so
Lambda retries only from the first failure.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from livestock.api.batch import KeyOrderedBatchProcessor
from livestock.dal.stream import InventoryRecordModel, change_of, parse, settling_order
from livestock.observability import logger, metrics, tracer
from livestock.settings import get_settings
from livestock.wiring import services

processor = KeyOrderedBatchProcessor(
    EventType.DynamoDBStreams, InventoryRecordModel, settling_order, lambda: get_settings().settle_workers
)


# Not traced per record: records settle on worker threads, where X-Ray's segment is not current.
def record_handler(record: InventoryRecordModel) -> None:
    services().settlement.settle(change_of(record))


def _parsed(raw: dict[str, Any]) -> InventoryRecordModel | None:
    try:
        return parse(raw)
    except ValidationError:
        return None  # the batch processor reports it as a failed record


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    records = [parsed for raw in event.get("Records", []) if (parsed := _parsed(raw)) is not None]
    services().settlement.write_ledger([c for record in records if (c := change_of(record)) is not None])
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
