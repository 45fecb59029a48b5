"""The live console over HTTP: minting console tokens (API key), the page itself, and the page's
operator actions, which a console token with `operate` authorises (`Authorization: Bearer`) for
the SKUs of its session, so the browser never holds the API key."""

from functools import cache
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from livestock.api.http import (
    REFUSALS,
    IdempotencyKey,
    SessionId,
    SkuId,
    actor,
    answers,
    bearer_token,
    build_resolver,
    json_response,
    ok,
    rest_handler,
)
from livestock.models.console import ConsoleReserveRequest, QuotaMoveRequest, TokenIssued, TokenRequest
from livestock.models.output import ErrorBody, ReserveReleased, SkuView
from livestock.settings import get_console_settings
from livestock.wiring import console_services

ACTIONS = "/console/sessions/<session_id>/skus/<sku_id>"
ReserveBody = Annotated[ConsoleReserveRequest, Body()]
QuotaMoveBody = Annotated[QuotaMoveRequest, Body()]
# The operator actions: a request without a bearer token is refused 401 before it is validated.
app = build_resolver(bearer_prefix="/console/sessions/")
STATIC = Path(__file__).parent / "static"
ASSETS = {"console.html": "text/html; charset=utf-8", "app.js": "text/javascript", "app.css": "text/css"}
# The page loads its own script and style and talks to this API and the console's WebSocket only.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


@cache
def asset(name: str) -> str:
    text = (STATIC / name).read_text()
    if name == "console.html":
        # The page learns where the WebSocket is from the function's environment, not from a build.
        text = text.replace("{{websocket_url}}", _attribute(get_console_settings().console_websocket_url))
    return text


def _attribute(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def page_response(name: str) -> Response[str]:
    return Response(status_code=200, content_type=ASSETS[name], body=asset(name), headers=PAGE_HEADERS)


def page_doc(media: str) -> dict[int, OpenAPIResponse]:
    """A static file, and the one refusal a request for it can meet (a body over the limit)."""
    return {
        200: {"description": "OK", "content": {media: {"schema": {"type": "string"}}}},
        413: {"description": REFUSALS[413], "content": {"application/json": {"model": ErrorBody}}},
    }


def bearer() -> str | None:
    return bearer_token(app.current_event.headers)


def page_url() -> str:
    configured = get_console_settings().console_page_url
    if configured:
        return configured
    context = app.current_event.request_context
    return f"https://{context.domain_name}/{context.stage}/console"


@app.post("/console/tokens", responses=answers(201, TokenIssued, 404))
def mint_token(request: Annotated[TokenRequest, Body()]) -> Response[TokenIssued]:
    """Mint a console token for one session (API key required); give the host its `console_url`.

    `operate` tokens may also use the page's controls. 404 `SESSION_NOT_FOUND`."""
    issued = console_services().tokens.mint(
        request, actor(app, "operator"), page_url(), get_console_settings().console_websocket_url
    )
    return json_response(201, issued)


@app.get("/console", responses=page_doc("text/html"))
def console_page() -> Response[str]:
    """The console page (no key: it holds no data; it reads its token from the URL fragment)."""
    return page_response("console.html")


@app.get("/console/app.js", responses=page_doc("text/javascript"))
def console_script() -> Response[str]:
    """The console page's script."""
    return page_response("app.js")


@app.get("/console/app.css", responses=page_doc("text/css"))
def console_style() -> Response[str]:
    """The console page's style sheet."""
    return page_response("app.css")


OPERATOR = (401, 403, 409)


@app.post(f"{ACTIONS}/pause", responses=answers(200, SkuView, *OPERATOR))
def pause(session_id: SessionId, sku_id: SkuId) -> Response[SkuView]:
    """Pause the SKU on every platform, from the console.

    Every console action takes an `operate` token for the SKU's session as `Authorization: Bearer`.
    401 `UNAUTHORIZED`: no token, an unknown or an expired one. 403 `FORBIDDEN`: a token of another session
    or without `operate`, a SKU outside the lineup, an ended session, or a SKU another session has."""
    return ok(console_services().actions.set_paused(bearer(), session_id, sku_id, True))


@app.post(f"{ACTIONS}/resume", responses=answers(200, SkuView, *OPERATOR))
def resume(session_id: SessionId, sku_id: SkuId) -> Response[SkuView]:
    """Resume the SKU's sales, from the console (the same token checks as pause)."""
    return ok(console_services().actions.set_paused(bearer(), session_id, sku_id, False))


@app.post(f"{ACTIONS}/reserve/release", responses=answers(200, ReserveReleased, *OPERATOR))
def release_reserve(
    session_id: SessionId, sku_id: SkuId, request: ReserveBody, idempotency_key: IdempotencyKey = None
) -> Response[ReserveReleased]:
    """Release the reserve (all, or `quantity`) into shared, from the console.

    With an `Idempotency-Key` (the page sends one per confirmed action), a retry releases nothing more.
    409 `INSUFFICIENT_FREE_STOCK`: more than the reserve holds; `IDEMPOTENCY_MISMATCH`: the key was used for
    another quantity."""
    result = console_services().actions.release_reserve(bearer(), session_id, sku_id, request.quantity, idempotency_key)
    return ok(ReserveReleased.model_validate(result))


@app.post(f"{ACTIONS}/quota/move", responses=answers(200, SkuView, *OPERATOR, 502))
def move_quota(
    session_id: SessionId, sku_id: SkuId, request: QuotaMoveBody, idempotency_key: IdempotencyKey = None
) -> Response[SkuView]:
    """Move unsold units between the live's platforms' quotas or shared, from the console.

    A quota-mode platform that gives units is lowered first and its in-flight orders drained (up to
    ~15 s), as `POST /skus/{sku_id}/quota-moves`; the taker is raised by the events that follow. With an
    `Idempotency-Key`, a retry moves nothing more. 403 `FORBIDDEN` also for a platform the live does not
    sell on. 409 `INSUFFICIENT_FREE_STOCK`, `IDEMPOTENCY_MISMATCH`, `REQUEST_IN_PROGRESS` (the giver did not
    acknowledge its lower figure in time: nothing moved). 502 `PLATFORM_UNAVAILABLE`: nothing moved."""
    return ok(console_services().actions.move_quota(bearer(), session_id, sku_id, request, idempotency_key))


@app.post(f"{ACTIONS}/stages/release-next", responses=answers(200, None, *OPERATOR))
def release_next_stage(
    session_id: SessionId, sku_id: SkuId, idempotency_key: IdempotencyKey = None
) -> Response[dict[str, Any]]:
    """Release the SKU's next flash-sale stage now, from the console.

    With an `Idempotency-Key`, a retry answers the stage that key released instead of releasing the
    one after. 409 `NO_STAGED_RELEASE`: no active campaign of this session has a stage left for the SKU."""
    return ok(console_services().actions.next_stage(bearer(), session_id, sku_id, idempotency_key))


handler = rest_handler(app)
