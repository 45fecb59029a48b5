"""The event code's services wired to their clients and tables, built once per function instance."""

from functools import lru_cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from livestock import wiring
from livestock.dal.event_state import EventStateRepository
from livestock.dal.webhooks import WebhookRepository
from livestock.events.publisher import EventSink, StreamPublisher
from livestock.events.settings import get_event_settings
from livestock.events.stock_reader import StockReader
from livestock.logic.alert_settings import AlertSettings
from livestock.logic.webhooks import WebhookService

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=5)


@lru_cache(maxsize=1)
def events_client() -> "EventBridgeClient":
    return boto3.client("events", config=_CONFIG)


@lru_cache(maxsize=1)
def event_states() -> EventStateRepository:
    return EventStateRepository(get_event_settings().events_table_name)


@lru_cache(maxsize=1)
def stock_reader() -> StockReader:
    return StockReader(wiring.services().stores.skus)


@lru_cache(maxsize=1)
def stream_publisher() -> StreamPublisher:
    settings = get_event_settings()
    return StreamPublisher(
        event_states(), stock_reader(), EventSink(settings.event_bus_name, events_client), settings.velocity_window_s
    )


@lru_cache(maxsize=1)
def alert_settings() -> AlertSettings:
    return AlertSettings(event_states(), stock_reader())


@lru_cache(maxsize=1)
def webhook_service() -> WebhookService:
    settings = get_event_settings()
    return WebhookService(WebhookRepository(settings.events_table_name), settings)


def reset() -> None:
    """Forget every cached service (tests point them at other tables and endpoints)."""
    for factory in (events_client, event_states, stock_reader, stream_publisher, alert_settings, webhook_service):
        factory.cache_clear()
    get_event_settings.cache_clear()
