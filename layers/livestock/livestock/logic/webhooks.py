"""Webhooks: registration, and signed delivery of bus events with retries.

Each delivery is a POST of the event JSON with
  X-LiveStock-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
  X-LiveStock-Event-Id: <the event's id, the same on every retry>
A 2xx answer delivers; a 5xx, 408, 429, a timeout or a refused connection is retried with
exponential backoff; any other answer is final (the receiver refused the event). A webhook still
failing after every attempt fails the invocation: Lambda retries it (delivered webhooks are skipped)
and then sends the event to the dead-letter queue. The secret is never logged nor returned.
"""

import http.client
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from livestock.dal.registry import RegistryRevision
from livestock.dal.webhooks import Webhook, WebhookRepository
from livestock.logic.registry_copy import RegistryCopy
from livestock.models.event_exceptions import WebhookDeliveryFailed, WebhookNotFound
from livestock.models.event_io import DeliveriesPage, DeliveryView, WebhookRequest, WebhookView
from livestock.observability import logger
from livestock.platforms import endpoints
from livestock.platforms.signing import PushRejected, verify_webhook, webhook_signature
from livestock.settings import EventSettings

SIGNATURE_HEADER = "X-LiveStock-Signature"
EVENT_ID_HEADER = "X-LiveStock-Event-Id"
RETRIED_STATUSES = {408, 429}

Poster = Callable[[str, bytes, dict[str, str], float], int]


# The scheme is the generic webhook platform's too: one implementation, in platforms/signing.py.
signature = webhook_signature


def verify(secret: str, header: str, body: bytes, now: float, tolerance_s: float = 300) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse stale timestamps."""
    try:
        verify_webhook(secret, header, body, now, tolerance_s)
    except PushRejected:
        return False
    return True


def post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
    """One POST, no redirects followed (a redirect is an answer, not a delivery)."""
    parts = urlsplit(url)
    connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_type(parts.netloc, timeout=timeout_s)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _view(webhook: Webhook) -> WebhookView:
    return WebhookView.model_validate(webhook.model_dump(exclude={"secret"}))


@dataclass
class WebhookService:
    repository: WebhookRepository
    registry: RegistryRevision
    settings: EventSettings
    poster: Poster = post
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    # Every webhook, as of a registry revision: no read per event (logic/registry_copy.py).
    _webhooks: RegistryCopy[None, list[Webhook]] = field(init=False)

    def __post_init__(self) -> None:
        self._webhooks = RegistryCopy(lambda _: self.repository.webhooks())

    # --- the API ---------------------------------------------------------------------------

    def put(self, webhook_id: str, request: WebhookRequest) -> tuple[WebhookView, bool]:
        endpoints.check(str(request.url), "url", None, self.settings.allow_loopback_endpoints)
        now = self.clock()
        stored = self.repository.put(
            Webhook(
                webhook_id=webhook_id,
                url=str(request.url),
                secret=request.secret,
                event_types=sorted(set(request.event_types)),
                created_at=now,
                updated_at=now,
            )
        )
        self.registry.bump()
        return _view(stored), stored.created_at == now

    def get(self, webhook_id: str) -> WebhookView:
        webhook = self.repository.get_webhook(webhook_id)
        if webhook is None:
            raise WebhookNotFound(f"no webhook {webhook_id!r}", {"webhook_id": webhook_id})
        return _view(webhook)

    def delete(self, webhook_id: str) -> None:
        if not self.repository.delete(webhook_id):
            raise WebhookNotFound(f"no webhook {webhook_id!r}", {"webhook_id": webhook_id})
        self.registry.bump()

    def deliveries(self, webhook_id: str) -> DeliveriesPage:
        self.get(webhook_id)
        return DeliveriesPage(
            webhook_id=webhook_id,
            deliveries=[DeliveryView.model_validate(d) for d in self.repository.deliveries(webhook_id)],
        )

    # --- delivery --------------------------------------------------------------------------

    def deliver(self, event: dict[str, Any]) -> dict[str, str]:
        """Delivers one bus event to every webhook subscribed to its detail-type. Returns each
        webhook's outcome; raises WebhookDeliveryFailed if any is still to be retried."""
        detail_type = str(event["detail-type"])
        event_id = str(event["detail"]["event_id"])
        body = json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
        outcomes: dict[str, str] = {}
        webhooks = self._webhooks.get(None, event["detail"].get("registry_revision"))
        for webhook in (w for w in webhooks if detail_type in w.event_types):
            lease_s = self.settings.webhook_attempts * (self.settings.webhook_timeout_s + 1) + self._backoff_total()
            claim = self.repository.claim_delivery(webhook.webhook_id, event_id, detail_type, self.clock(), lease_s)
            if claim is None:
                outcomes[webhook.webhook_id] = "skipped"
                continue
            outcomes[webhook.webhook_id] = self._deliver_one(webhook, event_id, claim, body)
        failing = sorted(w for w, outcome in outcomes.items() if outcome == "retrying")
        if failing:
            raise WebhookDeliveryFailed(f"event {event_id} not delivered to {', '.join(failing)}")
        return outcomes

    def _backoff_total(self) -> float:
        return float(sum(self.settings.webhook_backoff_s * 2**n for n in range(self.settings.webhook_attempts - 1)))

    def _deliver_one(
        self, webhook: Webhook, event_id: str, claim: str, body: bytes
    ) -> Literal["delivered", "rejected", "retrying", "skipped"]:
        attempts = self.settings.webhook_attempts
        refused = endpoints.refusal(webhook.url, None, self.settings.allow_loopback_endpoints)
        if refused is not None:
            # Registered before URLs were checked (or written around the API): never called.
            logger.warning("webhook URL refused", webhook_id=webhook.webhook_id, reason=refused)
            attempt_record = {"at": self.clock(), "status_code": None, "error": "EndpointRefused", "duration_ms": 0}
            self.repository.record_attempt(webhook.webhook_id, event_id, claim, attempt_record, "rejected")
            return "rejected"
        for attempt in range(attempts):
            started = self.clock()
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "LiveStock-Webhooks/1",
                SIGNATURE_HEADER: signature(webhook.secret, int(started), body),
                EVENT_ID_HEADER: event_id,
            }
            status_code: int | None = None
            error: str | None = None
            try:
                status_code = self.poster(webhook.url, body, headers, self.settings.webhook_timeout_s)
            except (OSError, http.client.HTTPException) as failure:  # timeouts and refusals are OSErrors
                error = type(failure).__name__
            duration_ms = int((self.clock() - started) * 1000)
            if status_code is not None and 200 <= status_code < 300:
                outcome: Literal["delivered", "rejected", "retrying", "delivering"] = "delivered"
            elif status_code is not None and status_code < 500 and status_code not in RETRIED_STATUSES:
                outcome = "rejected"
            else:
                outcome = "retrying" if attempt + 1 == attempts else "delivering"
            recorded = self.repository.record_attempt(
                webhook.webhook_id,
                event_id,
                claim,
                {"at": started, "status_code": status_code, "error": error, "duration_ms": duration_ms},
                outcome,
            )
            logger.info(
                "webhook attempt",
                webhook_id=webhook.webhook_id,
                event_id=event_id,
                attempt=attempt + 1,
                status_code=status_code,
                error=error,
                outcome=outcome,
            )
            if not recorded:
                # This invocation outlived its lease and another claimed the delivery: it is theirs.
                logger.warning("webhook delivery claimed by another invocation", webhook_id=webhook.webhook_id)
                return "skipped"
            if outcome != "delivering":
                return outcome
            self.sleep(self.settings.webhook_backoff_s * 2**attempt)
        return "retrying"
