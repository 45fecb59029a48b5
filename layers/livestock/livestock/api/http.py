"""Small pieces every HTTP handler shares: the resolver, the actor header, JSON answers."""

import inspect
import json
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Header, Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.shared.types import AnyCallableT
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from livestock.api.errors import register_error_handlers
from livestock.models.campaigns import CAMPAIGN_ID_PATTERN, STAGE_PATTERN
from livestock.models.event_io import WEBHOOK_ID_PATTERN
from livestock.models.output import ErrorBody
from livestock.models.sessions import SESSION_ID_PATTERN
from livestock.observability import logger, metrics, tracer

ACTOR_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@\-]{0,63}$")
SKU_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"
HOLD_ID_PATTERN = r"^h_[0-9a-f]{24}$"
# What a path segment may hold once decoded: the identifier characters and nothing else.
PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9._:\-]*")
# The path parameters of the routes.
SkuId = Annotated[str, Path(pattern=SKU_ID_PATTERN)]
HoldId = Annotated[str, Path(pattern=HOLD_ID_PATTERN)]
WebhookId = Annotated[str, Path(pattern=WEBHOOK_ID_PATTERN)]
SessionId = Annotated[str, Path(pattern=SESSION_ID_PATTERN)]
CampaignId = Annotated[str, Path(pattern=CAMPAIGN_ID_PATTERN)]
StageNumber = Annotated[str, Path(pattern=STAGE_PATTERN, description="1-based stage number")]
ChannelIdPath = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_\-]{1,31}$")]
# A client's key for a write that must happen once however often it is retried.
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")]


MAX_BODY_BYTES = 16 * 1024


def decoded_path(path: str) -> str:
    """API Gateway hands handlers percent-decoded path parameters (`/skus/a%3Ab` is SKU `a:b`);
    Powertools' router reads them from the path itself, so each segment is decoded here. A segment
    that decodes to anything but identifier characters (`%2F`, `%E2%98%83`) stays as sent, and
    fails validation as it did."""
    segments = [unquote(segment) if "%" in segment else segment for segment in path.split("/")]
    sent = path.split("/")
    return "/".join(d if PLAIN_SEGMENT.fullmatch(d) else s for d, s in zip(segments, sent, strict=True))


def _refusal(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A refusal answered before routing, in the one error shape (ErrorBody)."""
    body = {"code": code, "message": message, "details": details or {}}
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def bearer_token(headers: Mapping[str, str] | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    given = next((v for k, v in (headers or {}).items() if k.lower() == "authorization"), None)
    if given is None or not given.lower().startswith("bearer "):
        return None
    return given[7:].strip() or None


class LiveStockResolver(APIGatewayRestResolver):
    """Refuses oversize bodies before anything parses them, and decodes the path as API Gateway does.
    Routes under `bearer_prefix` need an `Authorization: Bearer` header: a request without one is
    refused 401 before its parameters are validated, as an authorizer's missing identity source is."""

    def __init__(self, bearer_prefix: str | None = None) -> None:
        super().__init__(enable_validation=True)
        self.bearer_prefix = bearer_prefix

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        if "%" in str(event.get("path", "")):
            event = {**event, "path": decoded_path(str(event["path"]))}
        body = event.get("body") or ""
        if len(body.encode()) > MAX_BODY_BYTES:
            return _refusal(
                413,
                "PAYLOAD_TOO_LARGE",
                f"the body is larger than {MAX_BODY_BYTES} bytes",
                {"limit": MAX_BODY_BYTES},
            )
        if (
            self.bearer_prefix is not None
            and str(event.get("path", "")).startswith(self.bearer_prefix)
            and bearer_token(event.get("headers")) is None
        ):
            return _refusal(401, "UNAUTHORIZED", "send the console token as `Authorization: Bearer <token>`")
        return super().resolve(event, context)

    def route(
        self,
        rule: str,
        method: str | list[str] | tuple[str],
        cors: bool | None = None,
        compress: bool = False,
        cache_control: str | None = None,
        summary: str | None = None,
        description: str | None = None,
        *rest: Any,
        **named: Any,
    ) -> Callable[[AnyCallableT], AnyCallableT]:
        """A route's docstring documents it in openapi.json: its first paragraph is the operation's
        summary, the rest (what each refusal means on this route) its description."""
        register = super().route

        def documented(func: AnyCallableT) -> AnyCallableT:
            first, _, more = (inspect.getdoc(func) or "").partition("\n\n")
            return register(
                rule,
                method,
                cors,
                compress,
                cache_control,
                summary or " ".join(first.split()) or None,
                description or more.strip() or None,
                *rest,
                **named,
            )(func)

        return documented


# What each refusal status means on this API; every route lists the ones it can answer.
REFUSALS: dict[int, str] = {
    401: "BAD_SIGNATURE: a platform push whose signature (or encryption) does not verify, nothing changed; "
    "UNAUTHORIZED: no console token, an unknown one, or one past its expiry (console operator actions)",
    403: "FORBIDDEN: no valid x-api-key (answered by the gateway), or a console token that does not cover "
    "the session, the SKU or operator actions",
    404: "SKU_NOT_FOUND, HOLD_NOT_FOUND, WEBHOOK_NOT_FOUND, ALERTS_NOT_SET, SESSION_NOT_FOUND, CAMPAIGN_NOT_FOUND "
    "or CHANNEL_NOT_FOUND",
    409: "The request conflicts with the stock or the order's history: SOLD_OUT, PAUSED, "
    "IDEMPOTENCY_MISMATCH, REQUEST_IN_PROGRESS (retry after details.retry_after_s), VERSION_CONFLICT, "
    "INSUFFICIENT_FREE_STOCK, INVALID_STATE, CONFLICT, SKU_IN_ANOTHER_SESSION, NO_STAGED_RELEASE, "
    "CREDENTIALS_UNAVAILABLE, REVIEW_NOT_READY "
    "(the session has not ended, or its review is being built: retry after details.retry_after_s)",
    413: f"PAYLOAD_TOO_LARGE: the body is larger than {MAX_BODY_BYTES} bytes",
    415: "UNSUPPORTED_MEDIA_TYPE: a body that is not application/json (answered by the gateway)",
    422: "VALIDATION_ERROR: the request is not valid; details.errors lists each field (numbers must be "
    'JSON integers: 3750.0 and "3750" are refused)',
    429: "LIMIT_EXCEEDED (the buyer's per-SKU allowance) or THROTTLED (the usage plan)",
    502: "PLATFORM_UNAVAILABLE: a platform failed to take the lower figure a quota move waits for; nothing "
    "moved (retry after details.retry_after_s)",
}
# Every route can meet these: the gateway's key check and throttle, and request validation.
ALWAYS = (403, 413, 422, 429)


SUCCESSES = {200: "OK", 201: "Created", 202: "Accepted: applied once the hold settles", 204: "No Content"}


def answers(
    status: int, model: type[BaseModel] | None, *refusals: int, also: tuple[int, ...] = ()
) -> dict[int, OpenAPIResponse]:
    """The responses a route declares: its success model (none for 204) under each success status,
    and the one error body under every refusal status it can answer."""
    declared: dict[int, OpenAPIResponse] = {
        ok: {"description": SUCCESSES[ok], "content": {"application/json": {"model": model}}}
        if model is not None
        else {"description": SUCCESSES[ok]}
        for ok in (status, *also)
    }
    for refusal in sorted({*ALWAYS, *refusals}):
        declared[refusal] = {"description": REFUSALS[refusal], "content": {"application/json": {"model": ErrorBody}}}
    return declared


def build_resolver(bearer_prefix: str | None = None) -> APIGatewayRestResolver:
    app = LiveStockResolver(bearer_prefix)
    register_error_handlers(app)
    return app


def rest_handler(app: APIGatewayRestResolver) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The Lambda handler of an HTTP function: every HTTP handler's decorators, then the routes."""

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
    @metrics.log_metrics
    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return app.resolve(event, context)

    return handler


def actor(app: APIGatewayRestResolver, default: str) -> str:
    """Who did it, for the ledger: the X-Actor header when well-formed, else the route's default."""
    given = app.current_event.headers.get("x-actor") or app.current_event.headers.get("X-Actor")
    return given if given and ACTOR_PATTERN.match(given) else default


def json_response(status: int, body: BaseModel | dict[str, Any]) -> Response[Any]:
    payload = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=payload)


def ok(body: BaseModel | dict[str, Any]) -> Response[Any]:
    return json_response(200, body)


def upserted[V: BaseModel](result: tuple[V, bool]) -> Response[V]:
    """A create-or-put's answer: 201 when it created the thing, 200 when it already existed (replaced,
    or a retry of the same create); the view either way."""
    view, created = result
    return json_response(201 if created else 200, view)
