"""Environment, validated once per cold start (never at import time)."""

import os
from functools import lru_cache

from pydantic import BaseModel, Field


class Settings(BaseModel):
    inventory_table_name: str = Field(min_length=3)
    ledger_table_name: str = Field(min_length=3)
    default_pay_within_s: int = Field(default=900, ge=1)
    # How long a hold may stay pending before the sweeper decides that its first attempt
    # crashed midway; longer than the API function's timeout, so no first attempt still runs.
    settle_window_s: int = Field(default=30, ge=1)
    # How long a replay waits for an in-flight first attempt to settle before answering 409.
    replay_wait_s: float = Field(default=2.0, ge=0)
    # How long a function instance trusts its cached copy of a SKU's settings.
    meta_cache_s: float = Field(default=1.0, ge=0)
    # How long a sold-out mark refuses orders from memory before one real attempt looks again.
    sold_out_shield_s: float = Field(default=1.0, ge=0)


_ENV = {
    "inventory_table_name": "INVENTORY_TABLE_NAME",
    "ledger_table_name": "LEDGER_TABLE_NAME",
    "default_pay_within_s": "DEFAULT_PAY_WITHIN_S",
    "settle_window_s": "SETTLE_WINDOW_S",
    "replay_wait_s": "REPLAY_WAIT_S",
    "meta_cache_s": "META_CACHE_S",
    "sold_out_shield_s": "SOLD_OUT_SHIELD_S",
}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    values = {field: os.environ[var] for field, var in _ENV.items() if var in os.environ}
    return Settings.model_validate(values)
