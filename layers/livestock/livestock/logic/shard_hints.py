"""Which shards to try first. A refused decrement returns what the shard had, a successful one
what it has left; an instance remembers that for a moment, counts the units its own decrements in
flight are taking, and tries shards that can cover the order before those that cannot, so a
drained shard is not hit again and again (each refusal still costs a WCU)."""

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class ShardHints:
    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._seen: dict[tuple[str, str, int], tuple[float, int]] = {}
        self._taking: Counter[tuple[str, str, int]] = Counter()
        self._lock = threading.Lock()

    def saw(self, sku_id: str, pool: str, shard: int, available: int | None) -> None:
        with self._lock:
            if available is None:
                self._seen.pop((sku_id, pool, shard), None)
            else:
                self._seen[(sku_id, pool, shard)] = (self.clock(), available)

    @contextmanager
    def taking(self, sku_id: str, pool: str, shard: int, quantity: int) -> Iterator[None]:
        """While a decrement of this instance is in flight on a shard: its units are spoken for."""
        key = (sku_id, pool, shard)
        with self._lock:
            self._taking[key] += quantity
        try:
            yield
        finally:
            with self._lock:
                self._taking[key] -= quantity
                if not self._taking[key]:
                    del self._taking[key]

    def order(
        self, sku_id: str, pool: str, count: int, quantity: int, rng: random.Random, among: list[int] | None = None
    ) -> list[int]:
        """Random order, but shards known (recently) to hold fewer than `quantity` units beyond
        what this instance's decrements in flight take go last."""
        shards = list(range(count)) if among is None else list(among)
        rng.shuffle(shards)
        now = self.clock()
        with self._lock:
            short = {
                n
                for n in shards
                if (seen := self._seen.get((sku_id, pool, n)))
                and now - seen[0] < self.ttl_s
                and seen[1] - self._taking[(sku_id, pool, n)] < quantity
            }
        return [n for n in shards if n not in short] + [n for n in shards if n in short]
