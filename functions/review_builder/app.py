"""Builds a session's post-live review when it ends (an EventBridge rule on SessionEnded).

Invoked asynchronously: an exception makes Lambda retry the event, then hand it to the dead-letter
destination. Building is idempotent (every object and item is keyed by the session), so a retry or
a second delivery of the event leaves one review.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from livestock.events.models import BusEnvelope, SessionEnded
from livestock.observability import logger, metrics, tracer
from livestock.wiring import review_service


@logger.inject_lambda_context(correlation_id_path="detail.event_id")
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ended = SessionEnded.model_validate(BusEnvelope.model_validate(event).detail)
    review = review_service().build(ended.session_id)
    logger.info("review built", session_id=review.session_id, digest=review.digest, summary=review.summary)
    return {"session_id": review.session_id, "digest": review.digest}
