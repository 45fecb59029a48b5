"""Environment of the event functions, validated once per cold start (never at import time)."""

import os
from functools import lru_cache

from pydantic import BaseModel, Field


class EventSettings(BaseModel):
    events_table_name: str = Field(min_length=3)
    event_bus_name: str = Field(default="default", min_length=1)
    # The sliding window the sell-out ETA's velocity is measured over.
    velocity_window_s: int = Field(default=60, ge=5, le=3600)
    # In-function delivery attempts of one webhook before the event goes back to Lambda's retries.
    webhook_attempts: int = Field(default=5, ge=1, le=10)
    webhook_backoff_s: float = Field(default=0.5, ge=0)
    webhook_timeout_s: float = Field(default=5.0, gt=0)


_ENV = {
    "events_table_name": "EVENTS_TABLE_NAME",
    "event_bus_name": "EVENT_BUS_NAME",
    "velocity_window_s": "VELOCITY_WINDOW_S",
    "webhook_attempts": "WEBHOOK_ATTEMPTS",
    "webhook_backoff_s": "WEBHOOK_BACKOFF_S",
    "webhook_timeout_s": "WEBHOOK_TIMEOUT_S",
}


@lru_cache(maxsize=1)
def get_event_settings() -> EventSettings:
    return EventSettings.model_validate({field: os.environ[var] for field, var in _ENV.items() if var in os.environ})
