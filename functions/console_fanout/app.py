"""Pushes bus events (StockChanged, StockLow, SoldOut, StageReleased, AlertRaised) to the consoles
watching their SKU, coalesced to one message per connection per push interval (an EventBridge
rule's Lambda target; a failure goes back to Lambda's retries, then the dead-letter queue)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from livestock.logic.console import BusEvent
from livestock.observability import logger, metrics, tracer
from livestock.wiring import console_services


@logger.inject_lambda_context(correlation_id_path="detail.event_id")
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    envelope = BusEvent.model_validate(event)
    return {"sent": console_services().fanout.handle(envelope.detail_type, envelope.detail)}
