"""Alert tiers per SKU and webhook registrations: the routes of the event backbone."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from livestock.api.http import SKU_ID_PATTERN, build_resolver, json_response
from livestock.models.event_io import (
    WEBHOOK_ID_PATTERN,
    AlertsRequest,
    AlertsView,
    DeliveriesPage,
    WebhookRequest,
    WebhookView,
)
from livestock.observability import logger, metrics, tracer
from livestock.wiring import event_services

app = build_resolver()
SkuId = Annotated[str, Path(pattern=SKU_ID_PATTERN)]
WebhookId = Annotated[str, Path(pattern=WEBHOOK_ID_PATTERN)]


@app.put("/skus/<sku_id>/alerts")
def set_alerts(sku_id: SkuId, request: Annotated[AlertsRequest, Body()]) -> Response[AlertsView]:
    return json_response(200, event_services().alerts.set(sku_id, request))


@app.get("/skus/<sku_id>/alerts")
def get_alerts(sku_id: SkuId) -> Response[AlertsView]:
    return json_response(200, event_services().alerts.get(sku_id))


@app.put("/webhooks/<webhook_id>")
def put_webhook(webhook_id: WebhookId, request: Annotated[WebhookRequest, Body()]) -> Response[WebhookView]:
    view, created = event_services().webhooks.put(webhook_id, request)
    return json_response(201 if created else 200, view)


@app.get("/webhooks/<webhook_id>")
def get_webhook(webhook_id: WebhookId) -> Response[WebhookView]:
    return json_response(200, event_services().webhooks.get(webhook_id))


@app.delete("/webhooks/<webhook_id>")
def delete_webhook(webhook_id: WebhookId) -> Response[str]:
    event_services().webhooks.delete(webhook_id)
    return Response(status_code=204, body="")


@app.get("/webhooks/<webhook_id>/deliveries")
def deliveries(webhook_id: WebhookId) -> Response[DeliveriesPage]:
    return json_response(200, event_services().webhooks.deliveries(webhook_id))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
