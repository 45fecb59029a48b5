"""SKU stock administration: ERP on-hand, receipts, adjustments, allocation, reserve, pause,
limits, and the read side (stock view, ledger, reconciliation)."""

import base64
import binascii
import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from livestock.api import services
from livestock.api.http import SKU_ID_PATTERN, actor, build_resolver, json_response
from livestock.logic.reconciliation import reconcile
from livestock.models.exceptions import LiveStockError
from livestock.models.input import (
    AdjustmentRequest,
    AllocationRequest,
    LimitsRequest,
    ReceiptRequest,
    ReserveReleaseRequest,
    SetSkuRequest,
    SkuSettingsRequest,
)
from livestock.models.output import LedgerPage, Movement, Reconciliation, SkuView
from livestock.observability import logger, metrics, tracer

app = build_resolver()
SkuId = Annotated[str, Path(pattern=SKU_ID_PATTERN)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")]


class BadCursor(LiveStockError):
    status = 422
    code = "VALIDATION_ERROR"


@app.put("/skus/<sku_id>")
def set_sku(sku_id: SkuId, request: Annotated[SetSkuRequest, Body()]) -> Response[SkuView]:
    view, created = services.stock_service().set_sku(sku_id, request, actor(app, "erp"))
    return json_response(201 if created else 200, view)


@app.get("/skus/<sku_id>")
def get_sku(sku_id: SkuId) -> Response[SkuView]:
    return json_response(200, services.stock_service().view(sku_id))


@app.post("/skus/<sku_id>/receipts")
def receive(sku_id: SkuId, request: Annotated[ReceiptRequest, Body()]) -> Response[dict[str, Any]]:
    result = services.stock_service().receive(sku_id, request.quantity, request.reference, actor(app, "erp"))
    return json_response(201, result)


@app.post("/skus/<sku_id>/adjustments")
def adjust(sku_id: SkuId, request: Annotated[AdjustmentRequest, Body()]) -> Response[dict[str, Any]]:
    result = services.stock_service().adjust(
        sku_id, request.quantity, request.reason, request.reference, actor(app, "operator")
    )
    return json_response(201, result)


@app.put("/skus/<sku_id>/allocation")
def allocate(sku_id: SkuId, request: Annotated[AllocationRequest, Body()]) -> Response[SkuView]:
    return json_response(200, services.stock_service().allocate(sku_id, request, actor(app, "operator")))


@app.post("/skus/<sku_id>/reserve/release")
def release_reserve(
    sku_id: SkuId,
    request: Annotated[ReserveReleaseRequest, Body()],
    idempotency_key: IdempotencyKey = None,
) -> Response[dict[str, Any]]:
    result = services.stock_service().release_reserve(sku_id, request.quantity, actor(app, "operator"), idempotency_key)
    return json_response(200, result)


@app.post("/skus/<sku_id>/pause")
def pause(sku_id: SkuId) -> Response[SkuView]:
    return json_response(200, services.stock_service().set_paused(sku_id, True, actor(app, "operator")))


@app.post("/skus/<sku_id>/resume")
def resume(sku_id: SkuId) -> Response[SkuView]:
    return json_response(200, services.stock_service().set_paused(sku_id, False, actor(app, "operator")))


@app.put("/skus/<sku_id>/limits")
def set_limits(sku_id: SkuId, request: Annotated[LimitsRequest, Body()]) -> Response[SkuView]:
    view = services.stock_service().set_fields(
        sku_id, {"per_buyer_limit": request.per_buyer}, "limits", actor(app, "operator")
    )
    return json_response(200, view)


@app.put("/skus/<sku_id>/settings")
def set_settings(sku_id: SkuId, request: Annotated[SkuSettingsRequest, Body()]) -> Response[SkuView]:
    view = services.stock_service().set_fields(
        sku_id, {"auto_release_reserve": request.auto_release_reserve}, "settings", actor(app, "operator")
    )
    return json_response(200, view)


@app.get("/skus/<sku_id>/ledger")
def ledger(
    sku_id: SkuId,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[LedgerPage]:
    services.stock_service().meta(sku_id)
    items, last = services.repository().ledger_page(sku_id, limit, _decode_cursor(cursor))
    page = LedgerPage(
        movements=[Movement.model_validate(item) for item in items],
        cursor=base64.urlsafe_b64encode(json.dumps(last).encode()).decode() if last else None,
    )
    return json_response(200, page)


def _decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError) as error:
        raise BadCursor("the cursor is not one this API gave out", {"cursor": cursor[:64]}) from error
    if not isinstance(decoded, dict) or set(decoded) != {"pk", "sk"}:
        raise BadCursor("the cursor is not one this API gave out", {"cursor": cursor[:64]})
    return decoded


@app.get("/skus/<sku_id>/reconciliation")
def reconciliation(sku_id: SkuId) -> Response[Reconciliation]:
    return json_response(200, reconcile(services.repository(), sku_id))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
