"""The console WebSocket's $connect authorizer (REQUEST, identity source the `token` query
parameter): a console token that exists and has not expired opens a connection to its session.

API Gateway answers 401 when the handler raises "Unauthorized" (no such token, or expired) and 403
when the policy denies; the session and the token's rights go to $connect in the context.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from livestock.models.exceptions import ConsoleUnauthorized
from livestock.observability import logger, metrics, tracer
from livestock.wiring import console_services


class Unauthorized(Exception):
    def __init__(self) -> None:
        super().__init__("Unauthorized")


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    token = (event.get("queryStringParameters") or {}).get("token")
    try:
        stored = console_services().socket.authorize(token)
    except ConsoleUnauthorized as refused:
        logger.info("console connection refused", reason=refused.message)
        # API Gateway answers 401 to an authorizer that fails with exactly this message.
        raise PermissionError("Unauthorized") from None
    return {
        "principalId": f"console-{stored.session_id}",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}],
        },
        # Context values are strings, numbers or booleans only.
        "context": {
            "session_id": stored.session_id,
            "operate": stored.operate,
            "token_expires_at": stored.expires_at,
        },
    }
