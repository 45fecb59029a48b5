"""A short-lived per-instance cache of SKU settings, so the hot path reads them about once a second."""

import threading
import time

from livestock.dal.repository import InventoryRepository
from livestock.models.domain import SkuMeta


class MetaCache:
    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, SkuMeta]] = {}
        self._lock = threading.Lock()

    def get(self, repository: InventoryRepository, sku_id: str, fresh: bool = False) -> SkuMeta | None:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(sku_id)
        if entry and not fresh and now - entry[0] < self.ttl_s:
            return entry[1]
        meta = repository.get_meta(sku_id, consistent=fresh)
        if meta is not None:
            with self._lock:
                self._entries[sku_id] = (now, meta)
        return meta

    def forget(self, sku_id: str) -> None:
        with self._lock:
            self._entries.pop(sku_id, None)
