"""Which shards to try first. A refused decrement returns what the shard had; an instance
remembers that for a moment and tries shards that can cover the order before those that cannot,
so a drained shard is not hit again and again (each refusal still costs a WCU)."""

import random
import threading
import time
from collections.abc import Callable


class ShardHints:
    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._seen: dict[tuple[str, str, int], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def saw(self, sku_id: str, pool: str, shard: int, available: int | None) -> None:
        with self._lock:
            if available is None:
                self._seen.pop((sku_id, pool, shard), None)
            else:
                self._seen[(sku_id, pool, shard)] = (self.clock(), available)

    def order(self, sku_id: str, pool: str, count: int, quantity: int, rng: random.Random) -> list[int]:
        """Random order, but shards known (recently) to hold fewer than `quantity` units go last."""
        shards = list(range(count))
        rng.shuffle(shards)
        now = self.clock()
        with self._lock:
            short = {
                n
                for n in shards
                if (seen := self._seen.get((sku_id, pool, n))) and now - seen[0] < self.ttl_s and seen[1] < quantity
            }
        return [n for n in shards if n not in short] + [n for n in shards if n in short]
