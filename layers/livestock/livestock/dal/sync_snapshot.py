"""One consistent picture, for platform sync, of what a channel may be shown and what its orders
hold: every shard of the SKU read in one TransactGetItems (a serializable snapshot). A hold's
decrement counts its units as taken by its channel on the shard itself, in the same write, and a
return takes them off in the same write: so a hold is never missing from both the pool and the
taken count, nor in both (see logic/platform_sync.py for why that matters)."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from livestock import keys
from livestock.dal.codec import deserialize
from livestock.dal.expressions import Store, key
from livestock.dal.skus import SkuStore
from livestock.models.domain import RESERVE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# TransactGetItems reads at most 100 items.
MAX_SNAPSHOT_ITEMS = 100


@dataclass(frozen=True)
class Snapshot:
    pools: dict[str, int]
    taken: dict[str, int]  # channel -> units its orders took and have not given back
    paused: bool
    consistent: bool  # False when the items did not fit one transaction (read in several)

    @property
    def sellable(self) -> int:
        return sum(units for pool, units in self.pools.items() if pool != RESERVE)


class SnapshotReader(Store):
    def __init__(
        self, skus: SkuStore, client: "DynamoDBClient | None" = None, max_items: int = MAX_SNAPSHOT_ITEMS
    ) -> None:
        super().__init__(skus.table, client)
        self.skus = skus
        # moto still enforces the old limit of 25 items: unit tests read in chunks (single-threaded).
        self.max_items = max_items

    def read(self, sku_id: str) -> Snapshot | None:
        """Every pool and every channel's taken units; None if no such SKU."""
        meta = self.skus.get_meta(sku_id, consistent=True)
        if meta is None:
            return None
        wanted_pools = list(meta.shards)
        wanted = [
            (keys.shard_pk(sku_id, pool, n), keys.STOCK_SK)
            for pool in set(meta.shards) | set(meta.retiring)
            for n in range(meta.stored_shards(pool))
        ]
        items = []
        chunks = [wanted[i : i + self.max_items] for i in range(0, len(wanted), self.max_items)]
        for chunk in chunks:
            response = self.client.transact_get_items(
                TransactItems=[{"Get": {"TableName": self.table, "Key": key(pk, sk)}} for pk, sk in chunk]
            )
            items += [deserialize(dict(r["Item"])) for r in response["Responses"] if "Item" in r]
        found_pools = dict.fromkeys(wanted_pools, 0)
        taken: dict[str, int] = {}
        paused = meta.paused
        for item in items:
            if item.get("entity") == "shard":
                found_pools[str(item["pool"])] = found_pools.get(str(item["pool"]), 0) + int(item.get("available", 0))
                paused = paused or bool(item.get("paused", False))
            for attribute, units in item.items():
                if (channel := keys.taken_attr.rest(attribute)) is not None:
                    taken[channel] = taken.get(channel, 0) + int(units)
        return Snapshot(found_pools, taken, paused, consistent=len(chunks) == 1)
