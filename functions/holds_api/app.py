"""Holds: the hot path of a live sale (place), and the hold lifecycle (confirm, cancel)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from livestock.api.http import HoldId, actor, answers, build_resolver, json_response, ok, rest_handler
from livestock.logic.holds import CONFIRMING
from livestock.models.input import HoldRequest
from livestock.models.output import HoldView
from livestock.observability import tracer
from livestock.wiring import services

app = build_resolver()


@app.post("/holds", responses=answers(201, HoldView, 404, 409, 429))
@tracer.capture_method
def place_hold(request: Annotated[HoldRequest, Body()]) -> Response[HoldView]:
    """Hold units for a platform order: the oversell-proof decrement.

    Once per (channel, order_id, sku_id): a retry answers the same hold. 404 `SKU_NOT_FOUND`.
    409 `SOLD_OUT`: neither the channel's quota, shared nor (when auto-release is on) the reserve covers
    the quantity; `PAUSED`; `IDEMPOTENCY_MISMATCH`: the order was sent before with another quantity, buyer
    or payment window; `REQUEST_IN_PROGRESS`: its first attempt is still being applied (retry after
    `details.retry_after_s`). 429 `LIMIT_EXCEEDED`: the buyer would hold more than the per-buyer limit
    (the SKU's, or the live's)."""
    return json_response(201, services().holds.place(request))


@app.get("/holds/<hold_id>", responses=answers(200, HoldView, 404))
def get_hold(hold_id: HoldId) -> Response[HoldView]:
    """The hold and its status: pending, held, confirmed, released, expired, refunded, rejected, abandoned.

    404 `HOLD_NOT_FOUND`."""
    return ok(services().holds.get(hold_id))


@app.post("/holds/<hold_id>/confirm", responses=answers(200, HoldView, 404, 409, also=(202,)))
def confirm_hold(hold_id: HoldId) -> Response[HoldView]:
    """Mark the hold paid: its units are sold.

    Idempotent. 202 `confirming` while the hold is still settling: the confirmation is recorded and
    applied when it settles. 404 `HOLD_NOT_FOUND`. 409 `INVALID_STATE`: the hold was released, expired,
    refunded or rejected; `REQUEST_IN_PROGRESS`: it kept changing while confirmed (retry shortly)."""
    view = services().holds.confirm(hold_id, actor(app, "payments"))
    return json_response(202 if view.status == CONFIRMING else 200, view)


@app.post("/holds/<hold_id>/cancel", responses=answers(200, HoldView, 404, 409))
def cancel_hold(hold_id: HoldId) -> Response[HoldView]:
    """Cancel the hold (before payment) or refund it (after): its units go back.

    Idempotent. 404 `HOLD_NOT_FOUND`. 409 `INVALID_STATE`: the hold expired or was rejected;
    `REQUEST_IN_PROGRESS`: it is still being placed (retry shortly)."""
    return ok(services().holds.cancel(hold_id, actor(app, "orders")))


handler = rest_handler(app)
