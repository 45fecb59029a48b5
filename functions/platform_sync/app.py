"""Keeps the platforms' displayed stock in step: an EventBridge rule's target for StockChanged and
ChannelChanged (a channel saved), and a schedule that re-drives what a platform could not take
while it was down.

Invoked asynchronously: a platform still failing fails the invocation, so Lambda retries it and
finally hands the event to the dead-letter destination (and the alarm on it)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from livestock.observability import logger, metrics, tracer
from livestock.wiring import sync_services


@logger.inject_lambda_context(correlation_id_path="detail.event_id")
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    sync = sync_services().sync
    match event.get("detail-type"):
        case "StockChanged":
            return sync.on_stock_changed(event, context.get_remaining_time_in_millis())
        case "ChannelChanged":
            return sync.on_channel_changed(event)
    return sync.resync(context.get_remaining_time_in_millis())
