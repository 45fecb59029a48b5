"""Which shards to try first. A refused decrement returns what the shard had, a successful one
what it has left (with the write's revision, so a late answer does not undo a newer one); an
instance remembers that for a moment (a shard seen short for longer), counts the units its own
decrements in flight are taking (chosen and counted under one lock), and tries shards known to hold
too few last, so a drained shard is not hit again and again (each refusal still costs a WCU)."""

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


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
        with self._lock:
            self._record((sku_id, pool, shard), available, revision)

    def _record(self, key: tuple[str, str, int], available: int | None, revision: int | None) -> None:
        """Answers of concurrent decrements arrive in any order: an answer about an older write
        than the one already seen (a lower revision) is not news and is dropped. Lock held."""
        known, now = self._seen.get(key), self.clock()
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
    def claiming(
        self, sku_id: str, pool: str, quantity: int, untried: list[int], rng: random.Random
    ) -> Iterator["Claim"]:
        """Takes the best of `untried` out of it and speaks for its units while the caller's
        decrement is in flight. Choosing and speaking for happen under one lock, so two threads of
        this instance never both choose a shard whose last reading covers only one of them; the
        decrement's answer is recorded and the units released under one lock too."""
        with self._lock:
            shard = self._ranked(sku_id, pool, quantity, untried, rng)[0]
            self._taking[(sku_id, pool, shard)] += quantity
        untried.remove(shard)
        claim = Claim(shard)
        try:
            yield claim
        finally:
            key = (sku_id, pool, shard)
            with self._lock:
                if claim.answered:
                    self._record(key, claim.available, claim.revision)
                self._taking[key] -= quantity
                if not self._taking[key]:
                    del self._taking[key]

    def order(self, sku_id: str, pool: str, count: int, quantity: int, rng: random.Random) -> list[int]:
        """The order `claiming` picks from: random, but shards known (recently) to hold fewer than
        `quantity` beyond what this instance's decrements in flight take go last."""
        with self._lock:
            return self._ranked(sku_id, pool, quantity, range(count), rng)

    def _ranked(self, sku_id: str, pool: str, quantity: int, among: Iterable[int], rng: random.Random) -> list[int]:
        shards = list(among)
        rng.shuffle(shards)
        now = self.clock()

        def short(n: int) -> bool:
            seen = self._seen.get((sku_id, pool, n))
            if seen is None:
                return False
            # How long a reading counts depends on what it said, not on this instance's own claims.
            if now - seen[0] >= (self.ttl_s if seen[1] >= quantity else self.short_ttl_s):
                return False
            return seen[1] - self._taking[(sku_id, pool, n)] < quantity

        last = {n for n in shards if short(n)}
        return [n for n in shards if n not in last] + [n for n in shards if n in last]


@dataclass
class Claim:
    """A shard chosen for one decrement; `answer` what the decrement said of it."""

    shard: int
    answered: bool = False
    available: int | None = None
    revision: int | None = None

    def answer(self, available: int | None, revision: int | None) -> None:
        self.answered, self.available, self.revision = True, available, revision
