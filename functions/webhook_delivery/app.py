"""Delivers bus events to the webhooks subscribed to them (an EventBridge rule's Lambda target).

Invoked asynchronously: an exception here makes Lambda retry the event, then hand it to the
dead-letter destination; webhooks already served are skipped on a retry.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from livestock.observability import logger, metrics, tracer
from livestock.wiring import event_services


@logger.inject_lambda_context(correlation_id_path="detail.event_id")
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    return event_services().webhooks.deliver(event)
