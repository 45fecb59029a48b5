"""Keeps the bus events a post-live review reads and the ledger cannot tell (alerts fired, stage
announcements) in the session journal (an EventBridge rule's target; see dal/journal.py).

Events are kept generically (detail-type, id, time, detail), so a detail-type added later (the
campaigns' StageReleased) is journaled as soon as the rule routes it here.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from livestock.events.models import BusEnvelope
from livestock.logic.review import iso
from livestock.models.review import JournalEntry
from livestock.observability import logger, metrics, tracer
from livestock.wiring import journal_store


@logger.inject_lambda_context(correlation_id_path="detail.event_id")
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    envelope = BusEnvelope.model_validate(event)
    detail = envelope.detail
    sku_id = detail.get("sku_id")
    if not isinstance(sku_id, str) or not sku_id:
        # The rule routes only events about one SKU; anything else is a routing mistake to see.
        raise ValueError(f"{envelope.detail_type} event {envelope.id} names no sku_id")
    occurred_at = float(detail.get("occurred_at") or envelope.time.timestamp())
    entry = JournalEntry(
        at=iso(occurred_at),
        detail_type=envelope.detail_type,
        event_id=str(detail.get("event_id") or envelope.id),
        severity=detail.get("severity"),
        message=detail.get("message"),
        detail=detail,
    )
    kept = journal_store().record(sku_id, entry, occurred_at)
    return {"event_id": entry.event_id, "kept": kept}
