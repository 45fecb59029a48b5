"""Consumes the inventory table's stream: writes the ledger and settles holds.

Powertools batch processing reports failed records one by one, so Lambda retries only those.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from livestock.api import services
from livestock.dal.codec import plain
from livestock.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@tracer.capture_method
def record_handler(record: DynamoDBRecord) -> None:
    change = record.dynamodb
    if change is None:
        return
    services.settlement().process(
        plain(change.old_image) if change.old_image else None,
        plain(change.new_image) if change.new_image else None,
        str(change.sequence_number),
        float(change.approximate_creation_date_time or 0),
    )


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
