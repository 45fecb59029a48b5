"""Holds: the hot path of a live sale (place), and the hold lifecycle (confirm, cancel)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from livestock.api.http import HOLD_ID_PATTERN, actor, answers, build_resolver, json_response
from livestock.models.input import HoldRequest
from livestock.models.output import HoldView
from livestock.observability import logger, metrics, tracer
from livestock.wiring import services

app = build_resolver()
HoldId = Annotated[str, Path(pattern=HOLD_ID_PATTERN)]


@app.post("/holds", responses=answers(201, HoldView, 404, 409, 429))
@tracer.capture_method
def place_hold(request: Annotated[HoldRequest, Body()]) -> Response[HoldView]:
    return json_response(201, services().holds.place(request))


@app.get("/holds/<hold_id>", responses=answers(200, HoldView, 404))
def get_hold(hold_id: HoldId) -> Response[HoldView]:
    return json_response(200, services().holds.get(hold_id))


@app.post("/holds/<hold_id>/confirm", responses=answers(200, HoldView, 404, 409))
def confirm_hold(hold_id: HoldId) -> Response[HoldView]:
    return json_response(200, services().holds.confirm(hold_id, actor(app, "payments")))


@app.post("/holds/<hold_id>/cancel", responses=answers(200, HoldView, 404, 409))
def cancel_hold(hold_id: HoldId) -> Response[HoldView]:
    return json_response(200, services().holds.cancel(hold_id, actor(app, "orders")))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
