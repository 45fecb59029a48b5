"""Consumes the inventory table's stream: writes the ledger and settles holds.

The ledger entries of a batch are written first, together (each is keyed by its stream record,
so a retried batch rewrites the same entries). Then each record settles its hold; Powertools batch
processing reports failed records one by one, so Lambda retries only from the first failure.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from livestock.api import services
from livestock.dal.codec import plain
from livestock.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def _images(record: DynamoDBRecord) -> tuple[dict[str, Any] | None, dict[str, Any] | None, str, float]:
    change = record.dynamodb
    if change is None:
        return None, None, "", 0.0
    return (
        plain(change.old_image) if change.old_image else None,
        plain(change.new_image) if change.new_image else None,
        str(change.sequence_number),
        float(change.approximate_creation_date_time or 0),
    )


@tracer.capture_method
def record_handler(record: DynamoDBRecord) -> None:
    old, new, sequence, _ = _images(record)
    services.settlement().settle(old, new, sequence)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    services.settlement().write_ledger([_images(DynamoDBRecord(raw)) for raw in event.get("Records", [])])
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
