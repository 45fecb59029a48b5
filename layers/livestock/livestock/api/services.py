"""Services wired to their repository, built once per function instance."""

from functools import lru_cache

from livestock.dal import clients
from livestock.dal.repository import InventoryRepository
from livestock.logic.holds import HoldService
from livestock.logic.meta_cache import MetaCache
from livestock.logic.settlement import Settlement
from livestock.logic.stock import StockService
from livestock.logic.sweeper import Sweeper
from livestock.settings import get_settings


@lru_cache(maxsize=1)
def repository() -> InventoryRepository:
    settings = get_settings()
    return InventoryRepository(settings.inventory_table_name, settings.ledger_table_name)


@lru_cache(maxsize=1)
def hold_service() -> HoldService:
    settings = get_settings()
    return HoldService(repository(), settings, MetaCache(settings.meta_cache_s))


@lru_cache(maxsize=1)
def stock_service() -> StockService:
    return StockService(repository())


@lru_cache(maxsize=1)
def settlement() -> Settlement:
    return Settlement(repository(), get_settings().settle_window_s)


@lru_cache(maxsize=1)
def sweeper() -> Sweeper:
    return Sweeper(repository(), hold_service(), get_settings().settle_window_s)


def reset() -> None:
    """Forget every cached service (tests point them at another table)."""
    for factory in (repository, hold_service, stock_service, settlement, sweeper):
        factory.cache_clear()
    get_settings.cache_clear()
    clients.dynamodb.cache_clear()
