"""Runs on a schedule: expires unpaid holds and settles holds left half-done by a crash. A sweep
that could not close some due holds closes the others first, then fails: the function's errors
alarm (HoldSweeperErrors) fires, and the next sweep tries those holds again."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from livestock.logic.sweeper import SweepIncomplete
from livestock.observability import count_metric, logger, metrics, tracer
from livestock.wiring import services


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    result = services().sweeper.sweep()
    count_metric("HoldsExpired", result.expired)
    count_metric("HoldsAbandoned", result.abandoned)
    count_metric("HoldsNotClosed", result.not_closed)
    logger.info("sweep finished", extra=result.counts())
    if result.not_closed:
        raise SweepIncomplete(f"{result.not_closed} due holds not closed (logged); the next sweep tries again")
    return result.counts()
