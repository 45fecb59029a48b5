"""Typed errors of the alert and webhook routes; LiveStockError subclasses, so the one error
mapping (livestock/api/errors.py) answers them in the usual {code, message, details} shape."""

from livestock.models.exceptions import LiveStockError


class WebhookNotFound(LiveStockError, status=404, code="WEBHOOK_NOT_FOUND"):
    """No webhook with this id."""


class AlertsNotSet(LiveStockError, status=404, code="ALERTS_NOT_SET"):
    """The SKU has no alert tiers set (PUT /skus/{id}/alerts sets them)."""


class WebhookDeliveryFailed(Exception):
    """A webhook still failed after every in-function attempt: the invocation fails, so that
    Lambda retries it and finally hands the event to the dead-letter queue."""
