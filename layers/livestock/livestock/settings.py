"""Environment, as a pydantic-settings model validated once per cold start (never at import time):
each field is read from the variable of the same name in upper case (INVENTORY_TABLE_NAME, ...)."""

from functools import partial
from typing import cast

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

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
    # How long an instance ranks last a shard it saw short (a refusal there would cost a WCU).
    short_shard_memory_s: float = Field(default=30.0, ge=0)
    # The longest a partition of the sweeper's list goes unwalked when sweeps come more often than
    # this (logic/sweeper.py); 0 walks every partition on every sweep, as the minute schedule does.
    sweep_pass_s: float = Field(default=0.0, ge=0)
    # Threads the stream consumer settles a batch's holds on (api/batch.py): a hot shard's
    # decrements settle at once, not one round trip after another.
    settle_workers: int = Field(default=8, ge=1, le=64)
    # Threads the sweeper closes due holds on (logic/sweeper.py).
    sweep_workers: int = Field(default=8, ge=1, le=64)


class EventSettings(BaseSettings):
    """The event functions' environment (EVENTS_TABLE_NAME, EVENT_BUS_NAME, ...), validated the same
    way; a model of its own, since only those functions are given an events table."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    events_table_name: str = Field(min_length=3)
    event_bus_name: str = Field(default="default", min_length=1)
    # The sliding window the sell-out ETA's velocity is measured over.
    velocity_window_s: int = Field(default=60, ge=5, le=3600)
    # In-function delivery attempts of one webhook before the event goes back to Lambda's retries.
    webhook_attempts: int = Field(default=5, ge=1, le=10)
    webhook_backoff_s: float = Field(default=0.5, ge=0)
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    # Platform sync: in-function attempts of one change, their backoff, and how long orders a
    # platform accepted before its display was lowered may still be on their way (quota moves).
    sync_attempts: int = Field(default=6, ge=1, le=20)
    sync_backoff_s: float = Field(default=0.1, ge=0)
    sync_inflight_window_s: float = Field(default=1.0, ge=0)
    # How long a function instance trusts its cached copy of a channel's credentials.
    credentials_max_age_s: int = Field(default=300, ge=0)
    # Channel endpoints and webhook URLs on 127.0.0.1 / localhost (the local stack's fake platforms
    # and receivers); off on AWS, where only the platforms' hosts and public HTTPS hosts are called.
    allow_loopback_endpoints: bool = False


class CampaignSettings(BaseSettings):
    """What the campaign routes start releases with (STATE_MACHINE_ARN, SCHEDULER_ROLE_ARN, ...):
    only the sessions function is given them."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    state_machine_arn: str = Field(min_length=20)
    scheduler_role_arn: str = Field(min_length=20)
    schedule_group: str = Field(default="default", min_length=1)
    # A campaign whose first stage is further away than this is started by a one-time schedule.
    schedule_after_s: float = Field(default=300, ge=0)
    # The schedule fires this long before the first stage (Scheduler's grain is a minute).
    schedule_lead_s: float = Field(default=60, ge=0)


class ReviewSettings(BaseSettings):
    """The review functions' environment: the events table (journal, history), the bus (ReviewReady)
    and the bucket the reviews are kept in (REVIEW_BUCKET_NAME)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    events_table_name: str = Field(min_length=3)
    event_bus_name: str = Field(default="default", min_length=1)
    review_bucket_name: str = Field(min_length=3)
    # How long a build waits for the ledger to catch up with the counters.
    review_settle_wait_s: float = Field(default=20.0, ge=0, le=600)


class ConsoleSettings(BaseSettings):
    """The console functions' environment (CONSOLE_TABLE_NAME, EVENTS_TABLE_NAME, ...)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    console_table_name: str = Field(min_length=3)
    # The registry revision a subscribe bumps lives there (dal/registry.py).
    events_table_name: str = Field(min_length=3)
    # The WebSocket API's management endpoint, https://<api>.execute-api.<region>.amazonaws.com/<stage>.
    console_management_endpoint: str | None = Field(default=None, min_length=8)
    # What the page connects to: wss://<api>.execute-api.<region>.amazonaws.com/<stage>.
    console_websocket_url: str = Field(default="", max_length=2048)
    # The console page's address; None: built from the request (https://<domain>/<stage>/console).
    console_page_url: str | None = Field(default=None, max_length=2048)
    # One push per slot of this length per session: at most 1/interval messages per connection and second.
    console_push_interval_s: float = Field(default=0.25, ge=0.05, le=5)


_LOADED: dict[type[BaseSettings], BaseSettings] = {}


def loaded[S: BaseSettings](kind: type[S]) -> S:
    """A settings model read from the environment once per process (the cold start)."""
    if kind not in _LOADED:
        _LOADED[kind] = kind()
    return cast(S, _LOADED[kind])


def forget() -> None:
    """Read the environment again on next use (tests that change it)."""
    _LOADED.clear()


get_settings = partial(loaded, Settings)
get_event_settings = partial(loaded, EventSettings)
get_campaign_settings = partial(loaded, CampaignSettings)
get_review_settings = partial(loaded, ReviewSettings)
get_console_settings = partial(loaded, ConsoleSettings)
