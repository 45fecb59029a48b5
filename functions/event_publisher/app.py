"""A second consumer of the inventory table's stream: publishes domain events on the bus.

The batch is one unit (StockChanged is coalesced per SKU over the batch), so a failure fails the
whole batch: Lambda retries it, bisects it, then sends it to the dead-letter queue. Publication is
idempotent (see livestock.events.publisher), so a retried batch publishes nothing twice. Records
are parsed with the stream consumer's model; one that does not parse means no event, as any other
change that is not a counter's or a hold's.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from livestock.dal.stream import Change, change_of, parse
from livestock.observability import count_metric, logger, metrics, tracer
from livestock.wiring import event_services


def _change(raw: dict[str, Any]) -> Change | None:
    try:
        return change_of(parse(raw))
    except ValidationError as error:
        logger.warning("A stream record that no model reads; it means no event", errors=error.error_count())
        return None


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records", [])
    changes = [change for raw in records if (change := _change(raw)) is not None]
    sent = event_services().publisher.publish_batch(changes)
    count_metric("EventsPublished", sent)
    return {"records": len(records), "published": sent}
