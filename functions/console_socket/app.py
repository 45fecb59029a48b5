"""The console WebSocket's routes: $connect (after the authorizer), `subscribe`, $disconnect.

A route is chosen by API Gateway from `requestContext.routeKey`; what the page is sent goes through
the management API, as anything pushed later does.
"""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from livestock.observability import logger, metrics, tracer
from livestock.wiring import console_services


class Authorized(BaseModel):
    """What the authorizer put in the context."""

    model_config = ConfigDict(extra="ignore")

    session_id: str
    operate: bool
    token_expires_at: float


def connect(event: dict[str, Any]) -> dict[str, Any]:
    parsed = APIGatewayWebSocketConnectEventModel.model_validate(event)
    authorized = Authorized.model_validate(event["requestContext"].get("authorizer") or {})
    console_services().socket.connect(
        parsed.request_context.connection_id,
        authorized.session_id,
        authorized.operate,
        authorized.token_expires_at,
    )
    return {"statusCode": 200}


def disconnect(event: dict[str, Any]) -> dict[str, Any]:
    parsed = APIGatewayWebSocketDisconnectEventModel.model_validate(event)
    console_services().socket.disconnect(parsed.request_context.connection_id)
    return {"statusCode": 200}


def subscribe(event: dict[str, Any]) -> dict[str, Any]:
    parsed = APIGatewayWebSocketMessageEventModel.model_validate(event)
    body = parsed.body if isinstance(parsed.body, str) else None
    subscribed = console_services().socket.subscribe(parsed.request_context.connection_id, body)
    return {"statusCode": 200 if subscribed else 400}


ROUTES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "$connect": connect,
    "$disconnect": disconnect,
    "subscribe": subscribe,
}


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    route = ROUTES.get(str(event.get("requestContext", {}).get("routeKey")))
    if route is None:
        return {"statusCode": 400}
    return route(event)
