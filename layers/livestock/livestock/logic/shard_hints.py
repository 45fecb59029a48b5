"""Which shards to try first. A refused decrement returns what the shard had, a successful one
what it has left (with the write's revision, so a late answer does not undo a newer one); an
instance remembers that for a moment, counts the units its own decrements in flight are taking
(chosen and counted under one lock), and tries shards that can cover the order before those that
cannot, so a drained shard is not hit again and again (each refusal still costs a WCU)."""

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class ShardHints:
    def __init__(
        self, ttl_s: float, clock: Callable[[], float] = time.monotonic, short_ttl_s: float | None = None
    ) -> None:
        self.ttl_s = ttl_s
        # A shard seen short stays short until units come back (a cancel, a receipt, the leveller),
        # so that knowledge may be kept longer; it only ranks the shard last, never skips it.
        self.short_ttl_s = ttl_s if short_ttl_s is None else short_ttl_s
        self.clock = clock
        # (when, units, write revision): what this instance last saw of a shard.
        self._seen: dict[tuple[str, str, int], tuple[float, int, int | None]] = {}
        self._taking: Counter[tuple[str, str, int]] = Counter()
        self._lock = threading.Lock()

    def saw(self, sku_id: str, pool: str, shard: int, available: int | None, revision: int | None = None) -> None:
        """Answers of concurrent decrements arrive in any order: an answer about an older write
        than the one already seen (a lower revision) is not news and is dropped."""
        key, now = (sku_id, pool, shard), self.clock()
        with self._lock:
            known = self._seen.get(key)
            if available is None:
                self._seen.pop(key, None)
            elif not (
                known
                and now - known[0] < self.ttl_s
                and revision is not None
                and known[2] is not None
                and known[2] > revision
            ):
                self._seen[key] = (now, available, revision)

    @contextmanager
    def taking(self, sku_id: str, pool: str, shard: int, quantity: int) -> Iterator[None]:
        """While a decrement of this instance is in flight on a shard: its units are spoken for."""
        with self._lock:
            self._taking[(sku_id, pool, shard)] += quantity
        try:
            yield
        finally:
            self._release((sku_id, pool, shard), quantity)

    @contextmanager
    def claiming(self, sku_id: str, pool: str, quantity: int, untried: list[int], rng: random.Random) -> Iterator[int]:
        """Takes the best of `untried` out of it and speaks for its units while the caller's
        decrement is in flight. Choosing and speaking for happen under one lock, so two threads of
        this instance never both choose a shard whose units cover only one of them."""
        with self._lock:
            shard = self._ranked(sku_id, pool, quantity, untried, rng)[0]
            self._taking[(sku_id, pool, shard)] += quantity
        untried.remove(shard)
        try:
            yield shard
        finally:
            self._release((sku_id, pool, shard), quantity)

    def _release(self, key: tuple[str, str, int], quantity: int) -> None:
        with self._lock:
            self._taking[key] -= quantity
            if not self._taking[key]:
                del self._taking[key]

    def order(
        self, sku_id: str, pool: str, count: int, quantity: int, rng: random.Random, among: list[int] | None = None
    ) -> list[int]:
        """Random order, but shards known (recently) to cover `quantity` beyond what this
        instance's decrements in flight take come first, and those known to hold fewer go last."""
        with self._lock:
            return self._ranked(sku_id, pool, quantity, list(range(count)) if among is None else list(among), rng)

    def _ranked(self, sku_id: str, pool: str, quantity: int, shards: list[int], rng: random.Random) -> list[int]:
        rng.shuffle(shards)
        now = self.clock()

        def room(n: int) -> int | None:
            seen = self._seen.get((sku_id, pool, n))
            if seen is None:
                return None
            left = seen[1] - self._taking[(sku_id, pool, n)]
            return left if now - seen[0] < (self.ttl_s if left >= quantity else self.short_ttl_s) else None

        rooms = {n: room(n) for n in shards}
        short = {n for n in shards if (r := rooms[n]) is not None and r < quantity}
        return [n for n in shards if n not in short] + [n for n in shards if n in short]
