"""Every service and store, built in one place and handed the collaborators it uses.

A function instance builds one `Services` at its first request (`services()`), from settings
validated then; tests and the benchmark call `build` with their own stores, clock and randomness.
The event functions build their `EventServices` the same way (`event_services()`, `build_events`)
from their own settings: only they are given an events table.
"""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from livestock.dal import clients
from livestock.dal.campaigns import CampaignLauncher, CampaignStore
from livestock.dal.channels import ChannelRepository
from livestock.dal.console import ConsoleStore, ManagementPoster
from livestock.dal.event_state import EventStateRepository
from livestock.dal.holds import HoldStore
from livestock.dal.journal import JournalStore
from livestock.dal.ledger import LedgerStore
from livestock.dal.limits import LimitStore
from livestock.dal.refusals import RefusalStore
from livestock.dal.registry import RegistryRevision
from livestock.dal.reviews import ReviewHistory, ReviewObjects
from livestock.dal.sessions import SessionStore
from livestock.dal.skus import SkuStore
from livestock.dal.sync_snapshot import SnapshotReader
from livestock.dal.webhooks import WebhookRepository
from livestock.events.publisher import EventSink, StreamPublisher
from livestock.events.stock_reader import StockReader
from livestock.logic.alert_settings import AlertSettings
from livestock.logic.allocation import Allocation
from livestock.logic.campaigns import CampaignService
from livestock.logic.changes import ChangeRunner
from livestock.logic.channels import ChannelService
from livestock.logic.console import ConsoleActions, ConsoleFanout, ConsoleSocket, ConsoleTokens, Panels, Poster
from livestock.logic.holds import HoldService
from livestock.logic.inbound_orders import InboundOrders
from livestock.logic.ledger import LedgerService
from livestock.logic.meta_cache import MetaCache
from livestock.logic.onhand import OnHand
from livestock.logic.platform_sync import AdapterFactory, CredentialsSource, PlatformSync, SyncSettings
from livestock.logic.quota_move import QuotaMover
from livestock.logic.reconciliation import Reconciler
from livestock.logic.reviews import ReviewService
from livestock.logic.sessions import CampaignCanceller, SessionService
from livestock.logic.settlement import Settlement
from livestock.logic.shard_hints import ShardHints
from livestock.logic.sharding import Sharding
from livestock.logic.shield import SoldOutShield
from livestock.logic.stock import StockService
from livestock.logic.sweeper import Sweeper
from livestock.logic.webhooks import WebhookService
from livestock.models.event_io import AlertsRequest
from livestock.platforms.adapters import adapter_for
from livestock.platforms.credentials import ParameterCredentials
from livestock.settings import (
    ConsoleSettings,
    EventSettings,
    ReviewSettings,
    Settings,
    get_campaign_settings,
    get_console_settings,
    get_event_settings,
    get_review_settings,
    get_settings,
)
from livestock.settings import (
    forget as forget_settings,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class Stores:
    skus: SkuStore
    holds: HoldStore
    limits: LimitStore
    ledger: LedgerStore
    sessions: SessionStore
    campaigns: CampaignStore
    refusals: RefusalStore


def stores(settings: Settings, client: "DynamoDBClient | None" = None) -> Stores:
    inventory = settings.inventory_table_name
    return Stores(
        skus=SkuStore(inventory, client),
        holds=HoldStore(inventory, client),
        limits=LimitStore(inventory, client),
        ledger=LedgerStore(settings.ledger_table_name, client),
        sessions=SessionStore(inventory, client),
        campaigns=CampaignStore(inventory, client),
        refusals=RefusalStore(inventory, client),
    )


@dataclass(frozen=True)
class Services:
    stores: Stores
    stock: StockService
    holds: HoldService
    settlement: Settlement
    sweeper: Sweeper
    ledger: LedgerService
    reconciler: Reconciler


def build(
    settings: Settings,
    given: Stores | None = None,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> Services:
    store = given or stores(settings)
    rng = rng or random.Random()
    runner = ChangeRunner(store.skus, rng, sleep)
    sharding = Sharding(runner, store.skus)
    stock = StockService(
        store.skus,
        store.holds,
        runner,
        OnHand(runner, store.skus, rng),
        Allocation(runner, store.skus, sharding, rng),
        sharding,
    )
    meta_cache = MetaCache(store.skus, settings.meta_cache_s, monotonic)
    holds = HoldService(
        store.holds,
        store.skus,
        store.limits,
        stock,
        meta_cache,
        SoldOutShield(settings.sold_out_shield_s, monotonic),
        ShardHints(settings.sold_out_shield_s, monotonic, settings.short_shard_memory_s),
        settings,
        clock=clock,
        rng=rng,
        monotonic=monotonic,
        sleep=sleep,
        refusals=store.refusals,
    )
    return Services(
        stores=store,
        stock=stock,
        holds=holds,
        settlement=Settlement(store.holds, store.ledger, stock, meta_cache, settings.settle_window_s, monotonic),
        sweeper=Sweeper(
            store.holds, holds, settings.settle_window_s, clock, settings.sweep_pass_s, workers=settings.sweep_workers
        ),
        ledger=LedgerService(runner, store.ledger),
        reconciler=Reconciler(runner, store.skus, store.holds, store.ledger),
    )


@lru_cache(maxsize=1)
def services() -> Services:
    """The services of this function instance, built once from its environment."""
    return build(get_settings())


@dataclass(frozen=True)
class EventServices:
    states: EventStateRepository
    publisher: StreamPublisher
    alerts: AlertSettings
    webhooks: WebhookService


def build_events(
    settings: EventSettings,
    skus: SkuStore,
    client: "DynamoDBClient | None" = None,
    bus: "Callable[[], EventBridgeClient]" = clients.events,
    clock: Callable[[], float] = time.time,
) -> EventServices:
    states = EventStateRepository(settings.events_table_name, client)
    stock = StockReader(skus)
    return EventServices(
        states=states,
        publisher=StreamPublisher(
            states, stock, EventSink(settings.event_bus_name, bus), settings.velocity_window_s, clock=clock
        ),
        alerts=AlertSettings(states, stock, clock),
        webhooks=WebhookService(
            WebhookRepository(settings.events_table_name, client),
            RegistryRevision(settings.events_table_name, client),
            settings,
            clock=clock,
        ),
    )


@lru_cache(maxsize=1)
def event_services() -> EventServices:
    """The event services of this function instance, reading stock through its SKU store."""
    return build_events(get_event_settings(), services().stores.skus)


def build_sessions(
    services: Services,
    alerts: AlertSettings,
    clock: Callable[[], float] = time.time,
    cancel_campaigns: CampaignCanceller | None = None,
) -> SessionService:
    """Sessions use the stock's change loop and the alert settings: only a function given both
    tables (the sessions API) builds them. Ending one cancels its campaigns, where given."""

    def set_alerts(sku_id: str, tiers_pct: list[int]) -> object:
        return alerts.set(sku_id, AlertsRequest(tiers_pct=tiers_pct, baseline="opening"))

    return SessionService(services.stores.sessions, services.stock.runner, set_alerts, clock, cancel_campaigns)


def _cancel_campaigns(session_id: str, sku_ids: list[str], actor: str) -> list[str]:
    # The campaign service (its launcher's settings) is made when a session first ends, not at
    # the sessions function's cold start.
    return campaign_service().cancel_for_session(session_id, sku_ids, actor)


@lru_cache(maxsize=1)
def session_service() -> SessionService:
    return build_sessions(services(), event_services().alerts, cancel_campaigns=_cancel_campaigns)


def build_campaigns(
    services: Services, launch: CampaignLauncher | None, clock: Callable[[], float] = time.time
) -> CampaignService:
    given = services.stores
    return CampaignService(given.campaigns, given.sessions, given.skus, services.stock.runner, launch, clock)


@lru_cache(maxsize=1)
def campaign_service() -> CampaignService:
    return build_campaigns(services(), CampaignLauncher(get_campaign_settings()))


@lru_cache(maxsize=1)
def stage_service() -> CampaignService:
    """The state machine's task: releases stages, starts nothing, so needs no CampaignSettings
    (only the sessions function is given them; `sam local` found the task failing without them)."""
    return build_campaigns(services(), None)


@dataclass(frozen=True)
class SyncServices:
    channels: ChannelService
    sync: PlatformSync
    inbound: InboundOrders
    quota: QuotaMover


def build_sync(
    settings: EventSettings,
    core: Services,
    client: "DynamoDBClient | None" = None,
    credentials: CredentialsSource | None = None,
    adapters: AdapterFactory = adapter_for,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    snapshot_items: int = 100,
    bus: "Callable[[], EventBridgeClient]" = clients.events,
) -> SyncServices:
    repository = ChannelRepository(settings.events_table_name, client)
    credentials = credentials or ParameterCredentials(settings.credentials_max_age_s)
    sync = build_platform_sync(settings, core, repository, credentials, adapters, clock, sleep, snapshot_items, client)
    return SyncServices(
        channels=ChannelService(
            repository,
            RegistryRevision(settings.events_table_name, client),
            EventSink(settings.event_bus_name, bus),
            clock,
            settings.allow_loopback_endpoints,
        ),
        sync=sync,
        inbound=InboundOrders(repository, core.holds, credentials, clock),
        quota=QuotaMover(repository, sync, core.stock, sleep=sleep),
    )


def build_platform_sync(
    settings: EventSettings,
    core: Services,
    repository: ChannelRepository,
    credentials: CredentialsSource,
    adapters: AdapterFactory = adapter_for,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    snapshot_items: int = 100,
    client: "DynamoDBClient | None" = None,
) -> PlatformSync:
    return PlatformSync(
        repository,
        SnapshotReader(core.stores.skus, client, snapshot_items),
        credentials,
        adapters,
        SyncSettings(
            attempts=settings.sync_attempts,
            backoff_s=settings.sync_backoff_s,
            inflight_window_s=settings.sync_inflight_window_s,
        ),
        clock=clock,
        sleep=sleep,
        allow_loopback_endpoints=settings.allow_loopback_endpoints,
    )


def build_quota_mover(settings: EventSettings, core: Services) -> QuotaMover:
    """The quota mover alone, for the console's move (the function is given the channels and their
    credentials, not the bus)."""
    repository = ChannelRepository(settings.events_table_name)
    sync = build_platform_sync(settings, core, repository, ParameterCredentials(settings.credentials_max_age_s))
    return QuotaMover(repository, sync, core.stock)


@lru_cache(maxsize=1)
def sync_services() -> SyncServices:
    """Platform sync, inbound orders and channels of this function instance."""
    return build_sync(get_event_settings(), services())


def build_reviews(
    services: Services,
    settings: ReviewSettings,
    client: "DynamoDBClient | None" = None,
    s3: "S3Client | None" = None,
    bus: "Callable[[], EventBridgeClient] | None" = clients.events,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> ReviewService:
    """The review builder and reader; `bus=None` builds one that publishes nothing (the reader)."""
    store = services.stores
    return ReviewService(
        store.sessions,
        store.skus,
        store.holds,
        store.ledger,
        store.refusals,
        services.reconciler,
        journal=JournalStore(settings.events_table_name, client),
        objects=ReviewObjects(settings.review_bucket_name, clients.s3 if s3 is None else lambda: s3),
        history=ReviewHistory(settings.events_table_name, client),
        sink=None if bus is None else EventSink(settings.event_bus_name, bus),
        channels=ChannelRepository(settings.events_table_name, client),
        settle_wait_s=settings.review_settle_wait_s,
        clock=clock,
        sleep=sleep,
    )


@dataclass(frozen=True)
class ConsoleServices:
    store: ConsoleStore
    tokens: ConsoleTokens
    socket: ConsoleSocket
    fanout: ConsoleFanout
    actions: ConsoleActions


def build_console(
    settings: ConsoleSettings,
    services: Services,
    poster: Poster | None = None,
    client: "DynamoDBClient | None" = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    quota_mover: QuotaMover | None = None,
) -> ConsoleServices:
    """The console's services: its own table, the sessions and stock it shows, the management API."""
    store = ConsoleStore(settings.console_table_name, client)
    sessions = services.stores.sessions.get_session
    poster = poster or ManagementPoster(settings.console_management_endpoint)
    tokens = ConsoleTokens(store, sessions, clock)
    panels = Panels(services.stock, store, clock)
    return ConsoleServices(
        store=store,
        tokens=tokens,
        socket=ConsoleSocket(
            store, tokens, sessions, panels, poster, RegistryRevision(settings.events_table_name, client), clock
        ),
        fanout=ConsoleFanout(store, sessions, panels, poster, settings.console_push_interval_s, clock, sleep),
        # "Release the next stage now" releases stages only: no launcher, no state machine rights.
        actions=ConsoleActions(
            tokens, sessions, services.stock, build_campaigns(services, None).release_next, quota_mover
        ),
    )


@lru_cache(maxsize=1)
def review_service() -> ReviewService:
    return build_reviews(services(), get_review_settings())


@lru_cache(maxsize=1)
def journal_store() -> JournalStore:
    return JournalStore(get_event_settings().events_table_name)


@lru_cache(maxsize=1)
def console_services() -> ConsoleServices:
    core = services()
    return build_console(get_console_settings(), core, quota_mover=build_quota_mover(get_event_settings(), core))


def reset() -> None:
    """Forget the built services (tests point them at another table)."""
    for cached in (
        services,
        event_services,
        session_service,
        campaign_service,
        stage_service,
        sync_services,
        review_service,
        journal_store,
        console_services,
    ):
        cached.cache_clear()
    clients.forget()
    forget_settings()
