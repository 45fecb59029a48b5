"""A short-lived per-instance cache of SKU settings, so the hot path reads them about once a second."""

import threading
import time
from collections.abc import Callable

from livestock.dal.skus import SkuStore
from livestock.models.domain import SkuMeta


class MetaCache:
    def __init__(self, skus: SkuStore, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.skus = skus
        self.ttl_s = ttl_s
        self.clock = clock
        self._entries: dict[str, tuple[float, SkuMeta]] = {}
        self._lock = threading.Lock()

    def get(self, sku_id: str, fresh: bool = False) -> SkuMeta | None:
        now = self.clock()
        with self._lock:
            entry = self._entries.get(sku_id)
        if entry and not fresh and now - entry[0] < self.ttl_s:
            return entry[1]
        meta = self.skus.get_meta(sku_id, consistent=fresh)
        if meta is not None:
            with self._lock:
                self._entries[sku_id] = (now, meta)
        return meta
