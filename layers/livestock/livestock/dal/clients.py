"""boto3 clients, created on first use and shared by the threads of one process.

Endpoints come from the standard AWS_ENDPOINT_URL_<SERVICE> variables, so the same code runs on
AWS and on the local stack.
"""

import threading
from collections.abc import Callable
from functools import cache, lru_cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient

_CONFIG = Config(
    max_pool_connections=128,
    retries={"max_attempts": 4, "mode": "standard"},
    connect_timeout=2,
    read_timeout=5,
)
_EVENTS_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=5)


_MAKING = threading.Lock()


def _one_at_a_time[T](make: Callable[[], T]) -> T:
    """boto3's default session is not safe to make clients from on two threads at once (a first
    call from the stream consumer's threads, say): one is made at a time."""
    with _MAKING:
        return make()


# One client per service and process, made on first use.
dynamodb = cache(lambda: _one_at_a_time(lambda: boto3.client("dynamodb", config=_CONFIG)))
events = cache(lambda: _one_at_a_time(lambda: boto3.client("events", config=_EVENTS_CONFIG)))
stepfunctions = cache(lambda: _one_at_a_time(lambda: boto3.client("stepfunctions", config=_EVENTS_CONFIG)))
scheduler = cache(lambda: _one_at_a_time(lambda: boto3.client("scheduler", config=_EVENTS_CONFIG)))
s3 = cache(lambda: _one_at_a_time(lambda: boto3.client("s3", config=_EVENTS_CONFIG)))


# A post to a connection that is slow to read must not hold the fan-out for long.
_MANAGEMENT_CONFIG = Config(
    max_pool_connections=32, retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2, read_timeout=3
)


@lru_cache(maxsize=4)
def management_api(endpoint: str | None) -> "ApiGatewayManagementApiClient":
    """The WebSocket API's management endpoint (https://<api>.execute-api.<region>.amazonaws.com/<stage>);
    None: AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI."""
    return _one_at_a_time(
        lambda: boto3.client("apigatewaymanagementapi", endpoint_url=endpoint, config=_MANAGEMENT_CONFIG)
    )


def forget() -> None:
    """Drops every client made so far (tests that move the endpoints)."""
    for made in (dynamodb, events, stepfunctions, scheduler, s3, management_api):
        made.cache_clear()
