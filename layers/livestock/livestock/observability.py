"""Logger, Tracer and Metrics, created once; service and namespace come from the template's Globals."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def count_metric(name: str, value: float) -> None:
    """A count of this invocation, flushed by `log_metrics`. Nothing where metrics are off (the
    local stack): Powertools would keep the values, since `log_metrics` then flushes nothing, and
    print them to the function's output 100 at a time regardless."""
    if not is_metrics_disabled():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
