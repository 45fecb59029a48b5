"""Logger, Tracer and Metrics, created once; service and namespace come from the template's Globals."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
