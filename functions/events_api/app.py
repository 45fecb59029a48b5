"""Alert tiers per SKU and webhook registrations: the routes of the event backbone."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from livestock.api.http import SkuId, WebhookId, answers, build_resolver, ok, rest_handler, upserted
from livestock.models.event_io import AlertsRequest, AlertsView, DeliveriesPage, WebhookRequest, WebhookView
from livestock.wiring import event_services

app = build_resolver()


@app.put("/skus/<sku_id>/alerts", responses=answers(200, AlertsView, 404, 409))
def set_alerts(sku_id: SkuId, request: Annotated[AlertsRequest, Body()]) -> Response[AlertsView]:
    return ok(event_services().alerts.set(sku_id, request))


@app.get("/skus/<sku_id>/alerts", responses=answers(200, AlertsView, 404))
def get_alerts(sku_id: SkuId) -> Response[AlertsView]:
    return ok(event_services().alerts.get(sku_id))


@app.put("/webhooks/<webhook_id>", responses=answers(200, WebhookView, also=(201,)))
def put_webhook(webhook_id: WebhookId, request: Annotated[WebhookRequest, Body()]) -> Response[WebhookView]:
    return upserted(event_services().webhooks.put(webhook_id, request))


@app.get("/webhooks/<webhook_id>", responses=answers(200, WebhookView, 404))
def get_webhook(webhook_id: WebhookId) -> Response[WebhookView]:
    return ok(event_services().webhooks.get(webhook_id))


@app.delete("/webhooks/<webhook_id>", responses=answers(204, None, 404))
def delete_webhook(webhook_id: WebhookId) -> Response[str]:
    event_services().webhooks.delete(webhook_id)
    return Response(status_code=204, body="")


@app.get("/webhooks/<webhook_id>/deliveries", responses=answers(200, DeliveriesPage, 404))
def deliveries(webhook_id: WebhookId) -> Response[DeliveriesPage]:
    return ok(event_services().webhooks.deliveries(webhook_id))


handler = rest_handler(app)
