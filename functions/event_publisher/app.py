"""A second consumer of the inventory table's stream: publishes domain events on the bus.

The batch is one unit (StockChanged is coalesced per SKU over the batch), so a failure fails the
whole batch: Lambda retries it, bisects it, then sends it to the dead-letter queue. Publication is
idempotent (see livestock.events.publisher), so a retried batch publishes nothing twice.
"""

from typing import Any

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from livestock.events import wiring
from livestock.events.publisher import Change
from livestock.observability import logger, metrics, tracer


def _change(record: DynamoDBRecord) -> Change:
    change = record.dynamodb
    if change is None:
        return Change(None, None, "")
    return Change(
        change.old_image or None,
        change.new_image or None,
        str(change.sequence_number),
    )


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    changes = [_change(DynamoDBRecord(raw)) for raw in event.get("Records", [])]
    sent = wiring.stream_publisher().publish_batch(changes)
    metrics.add_metric(name="EventsPublished", unit="Count", value=sent)
    return {"records": len(changes), "published": sent}
