"""The name code written before the data layer was split by aggregate still imports.

New code takes the store it needs (dal/skus.py, dal/holds.py, dal/limits.py, dal/ledger.py)
from livestock.wiring; this keeps `InventoryRepository(...).read_shards/get_meta` working.
"""

from typing import TYPE_CHECKING

from livestock.dal.skus import SkuStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class InventoryRepository(SkuStore):
    def __init__(self, inventory_table: str, ledger_table: str, client: "DynamoDBClient | None" = None) -> None:
        super().__init__(inventory_table, client)
        self.inventory_table = inventory_table
        self.ledger_table = ledger_table
