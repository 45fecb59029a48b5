"""The one place the event code reads stock: the SKU store's settings and shards."""

from livestock import keys
from livestock.dal.skus import SkuStore
from livestock.events.models import StockFigures
from livestock.models.domain import SHARED, is_sellable


class StockReader:
    def __init__(self, repository: SkuStore) -> None:
        self.repository = repository

    def figures(self, sku_id: str) -> StockFigures | None:
        """Consistent reads of the SKU's settings and every shard; None if the SKU does not exist."""
        meta = self.repository.get_meta(sku_id, consistent=True)
        if meta is None:
            return None
        pools = dict.fromkeys(meta.shards, 0)
        for shard in self.repository.read_shards(meta, consistent=True):
            pools[shard.pool] = pools.get(shard.pool, 0) + shard.available
        shared = pools.get(SHARED, 0)
        return StockFigures(
            on_hand=meta.on_hand,
            sellable=sum(units for pool, units in pools.items() if is_sellable(pool)),
            pools=dict(sorted(pools.items())),
            channels={
                channel: units + shared
                for pool, units in sorted(pools.items())
                if (channel := keys.channel_of_pool(pool)) is not None
            },
            paused=meta.paused,
        )
