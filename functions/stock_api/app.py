"""SKU stock administration: ERP on-hand, receipts, adjustments, allocation, reserve, pause,
limits, and the read side (stock view, ledger, reconciliation)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from livestock.api.http import (
    IdempotencyKey,
    SkuId,
    actor,
    answers,
    build_resolver,
    json_response,
    ok,
    rest_handler,
    upserted,
)
from livestock.models.domain import SkuPatch
from livestock.models.input import (
    AdjustmentRequest,
    AllocationRequest,
    LimitsRequest,
    ReceiptRequest,
    ReserveReleaseRequest,
    SetSkuRequest,
    SkuSettingsRequest,
)
from livestock.models.output import (
    AdjustmentRecorded,
    LedgerPage,
    ReceiptRecorded,
    Reconciliation,
    ReserveReleased,
    SkuView,
)
from livestock.wiring import services

app = build_resolver()


@app.put("/skus/<sku_id>", responses=answers(200, SkuView, 409, also=(201,)))
def set_sku(sku_id: SkuId, request: Annotated[SetSkuRequest, Body()]) -> Response[SkuView]:
    """Create the SKU, or set its on-hand and name (the ERP's absolute figure).

    201 when created, 200 after. 409 `VERSION_CONFLICT`: `expected_version` is not the stored version (or is
    non-zero for a SKU that does not exist yet); `INSUFFICIENT_FREE_STOCK`: the new figure would take back
    more units than shared holds unsold."""
    return upserted(services().stock.set_sku(sku_id, request, actor(app, "erp")))


@app.get("/skus/<sku_id>", responses=answers(200, SkuView, 404))
def get_sku(sku_id: SkuId) -> Response[SkuView]:
    """The SKU: its settings, pools, and held, sold and in-flight units.

    Answers in constant time whatever the number of past orders (counters, not a scan of holds).
    404 `SKU_NOT_FOUND`."""
    return ok(services().stock.view(sku_id))


@app.post("/skus/<sku_id>/receipts", responses=answers(201, ReceiptRecorded, 404, 409))
def receive(sku_id: SkuId, request: Annotated[ReceiptRequest, Body()]) -> Response[ReceiptRecorded]:
    """Take received units into shared, once per `reference` (a warehouse receipt).

    404 `SKU_NOT_FOUND`. 409 `IDEMPOTENCY_MISMATCH`: the `reference` was recorded with another quantity."""
    result = services().stock.receive(sku_id, request.quantity, request.reference, actor(app, "erp"))
    return json_response(201, ReceiptRecorded.model_validate(result))


@app.post("/skus/<sku_id>/adjustments", responses=answers(201, AdjustmentRecorded, 404, 409))
def adjust(sku_id: SkuId, request: Annotated[AdjustmentRequest, Body()]) -> Response[AdjustmentRecorded]:
    """Correct the stock by a signed quantity with a reason, once per `reference`.

    404 `SKU_NOT_FOUND`. 409 `INSUFFICIENT_FREE_STOCK`: a negative adjustment larger than the unsold units
    in shared; `IDEMPOTENCY_MISMATCH`: the `reference` was recorded with another quantity or reason."""
    result = services().stock.adjust(
        sku_id, request.quantity, request.reason, request.reference, actor(app, "operator")
    )
    return json_response(201, AdjustmentRecorded.model_validate(result))


@app.put("/skus/<sku_id>/allocation", responses=answers(200, SkuView, 404, 409))
def allocate(sku_id: SkuId, request: Annotated[AllocationRequest, Body()]) -> Response[SkuView]:
    """Set the ring-fenced pools (platforms' quotas, the reserve); what is not named goes to shared.

    Optionally the shard count of each pool. One transaction. 404 `SKU_NOT_FOUND`.
    409 `INSUFFICIENT_FREE_STOCK`: the pools ask for more than the unsold units outside campaign pools."""
    return ok(services().stock.allocate(sku_id, request, actor(app, "operator")))


@app.post("/skus/<sku_id>/reserve/release", responses=answers(200, ReserveReleased, 404, 409))
def release_reserve(
    sku_id: SkuId,
    request: Annotated[ReserveReleaseRequest, Body()],
    idempotency_key: IdempotencyKey = None,
) -> Response[ReserveReleased]:
    """Move the reserve (all of it, or `quantity`) into shared.

    With an `Idempotency-Key`, a retry releases nothing more. 404 `SKU_NOT_FOUND`.
    409 `INSUFFICIENT_FREE_STOCK`: more than the reserve holds; `IDEMPOTENCY_MISMATCH`: the key was used for
    another quantity."""
    result = services().stock.release_reserve(sku_id, request.quantity, actor(app, "operator"), idempotency_key)
    return ok(ReserveReleased.model_validate(result))


@app.post("/skus/<sku_id>/pause", responses=answers(200, SkuView, 404, 409))
def pause(sku_id: SkuId) -> Response[SkuView]:
    """Pause sales of the SKU on every platform: new holds are refused `PAUSED`.

    Confirmations and cancellations of existing holds still work. 404 `SKU_NOT_FOUND`."""
    return ok(services().stock.set_paused(sku_id, True, actor(app, "operator")))


@app.post("/skus/<sku_id>/resume", responses=answers(200, SkuView, 404, 409))
def resume(sku_id: SkuId) -> Response[SkuView]:
    """Resume sales of a paused SKU.

    404 `SKU_NOT_FOUND`."""
    return ok(services().stock.set_paused(sku_id, False, actor(app, "operator")))


@app.put("/skus/<sku_id>/limits", responses=answers(200, SkuView, 404, 409))
def set_limits(sku_id: SkuId, request: Annotated[LimitsRequest, Body()]) -> Response[SkuView]:
    """Set how many units one buyer may hold across platforms (none: no limit).

    A live session's lineup limit applies during the live instead. 404 `SKU_NOT_FOUND`."""
    patch = SkuPatch(per_buyer_limit=request.per_buyer)
    return ok(services().stock.set_settings(sku_id, patch, "limits", actor(app, "operator")))


@app.put("/skus/<sku_id>/settings", responses=answers(200, SkuView, 404, 409))
def set_settings(sku_id: SkuId, request: Annotated[SkuSettingsRequest, Body()]) -> Response[SkuView]:
    """Set whether the reserve is released automatically when main stock runs out (default on).

    404 `SKU_NOT_FOUND`."""
    patch = SkuPatch(auto_release_reserve=request.auto_release_reserve)
    return ok(services().stock.set_settings(sku_id, patch, "settings", actor(app, "operator")))


@app.get("/skus/<sku_id>/ledger", responses=answers(200, LedgerPage, 404))
def ledger(
    sku_id: SkuId,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[LedgerPage]:
    """A page of the SKU's ledger movements, newest first; `cursor` reads the next page.

    404 `SKU_NOT_FOUND`. 422 `VALIDATION_ERROR` for a cursor this API did not give out, or one of
    another SKU."""
    return ok(services().ledger.page(sku_id, limit, cursor))


@app.get("/skus/<sku_id>/reconciliation", responses=answers(200, Reconciliation, 404))
def reconciliation(sku_id: SkuId) -> Response[Reconciliation]:
    """Replay the SKU's ledger and compare it with its counters: `consistent`, and any differences.

    404 `SKU_NOT_FOUND`."""
    return ok(services().reconciler.reconcile(sku_id))


handler = rest_handler(app)
