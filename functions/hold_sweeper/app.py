"""Runs on a schedule: expires unpaid holds and settles holds left half-done by a crash."""

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from livestock.observability import count_metric, logger, metrics, tracer
from livestock.wiring import services


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    result = services().sweeper.sweep()
    count_metric("HoldsExpired", result.expired)
    count_metric("HoldsAbandoned", result.abandoned)
    count_metric("HoldsNotClosed", result.failed)
    logger.info("sweep finished", **asdict(result))
    return asdict(result)
