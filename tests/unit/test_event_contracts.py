"""One contract test per detail-type: the sample in events/webhook_delivery/ (a real-shaped bus
event, also the webhook function's `sam local invoke` event) validates against its versioned
model, carries every field of it, and docs/events.md documents each field."""

import json
import re
from typing import Any

import pytest

from livestock.events.models import DETAIL_TYPES, SOURCE, WEBHOOK_EVENT_TYPES, DomainEvent, EventDetail
from livestock_local.template import ROOT, load

SAMPLES = ROOT / "events" / "webhook_delivery"
DOCS = (ROOT / "docs" / "events.md").read_text()


def section(detail_type: str) -> str:
    match = re.search(rf"^### {detail_type}\b.*?(?=^### |\Z)", DOCS, re.MULTILINE | re.DOTALL)
    assert match, f"docs/events.md has no section for {detail_type}"
    return match.group(0)


@pytest.mark.parametrize("detail_type", sorted(DETAIL_TYPES))
def test_the_detail_type_contract(detail_type: str) -> None:
    model: type[DomainEvent] = DETAIL_TYPES[detail_type]
    event: dict[str, Any] = json.loads((SAMPLES / f"{detail_type}.json").read_text())
    assert event["source"] == SOURCE
    assert event["detail-type"] == detail_type == model.detail_type
    detail = model.model_validate(event["detail"])
    assert detail.version == 1
    assert set(event["detail"]) == set(model.model_fields), "the sample shows every field"
    documented = section(detail_type)
    for field in set(model.model_fields) - set(EventDetail.model_fields):
        assert f"`{field}`" in documented, f"{detail_type}.{field} is not documented"


def test_the_fields_every_detail_carries_are_documented() -> None:
    common = DOCS[DOCS.index("## Detail-types") : DOCS.index("### ")]
    for field in EventDetail.model_fields:
        assert f"`{field}`" in common, field


def test_a_detail_with_an_unknown_field_or_another_version_is_refused() -> None:
    event = json.loads((SAMPLES / "StockLow.json").read_text())
    with pytest.raises(ValueError, match="extra"):
        DETAIL_TYPES["StockLow"].model_validate({**event["detail"], "surprise": 1})
    with pytest.raises(ValueError, match="version"):
        DETAIL_TYPES["StockLow"].model_validate({**event["detail"], "version": 2})


def test_webhooks_may_subscribe_to_every_detail_type_the_delivery_rule_passes() -> None:
    """The feeds for platform sync and the console (StockChanged, ChannelChanged) are kept from
    the webhook deliverer by its rule, and the API refuses a subscription to them."""
    rule = load()["Resources"]["WebhookDeliveryFunction"]["Properties"]["Events"]["Deliver"]["Properties"]
    (excluded,) = rule["Pattern"]["detail-type"]
    assert set(excluded["anything-but"]) == {"StockChanged", "ChannelChanged"}
    assert set(WEBHOOK_EVENT_TYPES) == set(DETAIL_TYPES) - set(excluded["anything-but"])
