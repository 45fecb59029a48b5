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
    return json_response(201, services().holds.place(request))


@app.get("/holds/<hold_id>", responses=answers(200, HoldView, 404))
def get_hold(hold_id: HoldId) -> Response[HoldView]:
    return ok(services().holds.get(hold_id))


@app.post("/holds/<hold_id>/confirm", responses=answers(200, HoldView, 404, 409, also=(202,)))
def confirm_hold(hold_id: HoldId) -> Response[HoldView]:
    view = services().holds.confirm(hold_id, actor(app, "payments"))
    return json_response(202 if view.status == CONFIRMING else 200, view)


@app.post("/holds/<hold_id>/cancel", responses=answers(200, HoldView, 404, 409))
def cancel_hold(hold_id: HoldId) -> Response[HoldView]:
    return ok(services().holds.cancel(hold_id, actor(app, "orders")))


handler = rest_handler(app)
