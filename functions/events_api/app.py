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
    """Set the SKU's low-stock tiers (percent of its opening stock, or of a fixed baseline).

    404 `SKU_NOT_FOUND`."""
    return ok(event_services().alerts.set(sku_id, request))


@app.get("/skus/<sku_id>/alerts", responses=answers(200, AlertsView, 404))
def get_alerts(sku_id: SkuId) -> Response[AlertsView]:
    """The SKU's alert tiers and which have fired.

    404 `ALERTS_NOT_SET`: none are set."""
    return ok(event_services().alerts.get(sku_id))


@app.put("/webhooks/<webhook_id>", responses=answers(200, WebhookView, also=(201,)))
def put_webhook(webhook_id: WebhookId, request: Annotated[WebhookRequest, Body()]) -> Response[WebhookView]:
    """Register a webhook for event types; deliveries are signed with its secret.

    201 when created, 200 after; the secret is never shown again. 422 `VALIDATION_ERROR` also for a URL
    that is not public HTTPS."""
    return upserted(event_services().webhooks.put(webhook_id, request))


@app.get("/webhooks/<webhook_id>", responses=answers(200, WebhookView, 404))
def get_webhook(webhook_id: WebhookId) -> Response[WebhookView]:
    """The webhook, without its secret.

    404 `WEBHOOK_NOT_FOUND`."""
    return ok(event_services().webhooks.get(webhook_id))


@app.delete("/webhooks/<webhook_id>", responses=answers(204, None, 404))
def delete_webhook(webhook_id: WebhookId) -> Response[str]:
    """Delete the webhook: no event is delivered to it after.

    404 `WEBHOOK_NOT_FOUND`."""
    event_services().webhooks.delete(webhook_id)
    return Response(status_code=204, body="")


@app.get("/webhooks/<webhook_id>/deliveries", responses=answers(200, DeliveriesPage, 404))
def deliveries(webhook_id: WebhookId) -> Response[DeliveriesPage]:
    """The webhook's deliveries: each event's status and every attempt.

    404 `WEBHOOK_NOT_FOUND`."""
    return ok(event_services().webhooks.deliveries(webhook_id))


handler = rest_handler(app)
