"""The names handlers and other modules used before livestock.wiring; each is a thin view of it."""

from livestock import wiring
from livestock.dal.repository import InventoryRepository
from livestock.logic.holds import HoldService
from livestock.logic.settlement import Settlement
from livestock.logic.stock import StockService
from livestock.logic.sweeper import Sweeper
from livestock.settings import get_settings

reset = wiring.reset


def repository() -> InventoryRepository:
    """SKU settings and shards (get_meta, read_shards) for modules written before the split."""
    settings = get_settings()
    return InventoryRepository(settings.inventory_table_name, settings.ledger_table_name)


def hold_service() -> HoldService:
    return wiring.services().holds


def stock_service() -> StockService:
    return wiring.services().stock


def settlement() -> Settlement:
    return wiring.services().settlement


def sweeper() -> Sweeper:
    return wiring.services().sweeper
