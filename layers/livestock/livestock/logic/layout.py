"""Pure arithmetic of where units sit: plans of shard deltas that never take more than a shard has."""

import random
from collections import defaultdict

from livestock.dal.skus import ShardDelta
from livestock.models.domain import ShardStock


def pool_totals(shards: list[ShardStock]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for shard in shards:
        totals[shard.pool] += shard.available
    return dict(totals)


def even_split(total: int, count: int) -> list[int]:
    base, extra = divmod(total, count)
    return [base + (1 if n < extra else 0) for n in range(count)]


def plan_layout(
    current: list[ShardStock],
    totals: dict[str, int],
    counts: dict[str, int],
    concentrate: frozenset[str] = frozenset(),
) -> list[ShardDelta]:
    """Deltas that bring every pool to its total, spread evenly over its shard count.

    A pool in `concentrate` gets all its units in shard 0 (used to gather stock stranded in
    small pieces across shards). Shards beyond a pool's new count end at zero.
    """
    have: dict[tuple[str, int], int] = {(s.pool, s.shard): s.available for s in current}
    want: dict[tuple[str, int], int] = {}
    for pool, total in totals.items():
        count = counts.get(pool, 1)
        amounts = [total] + [0] * (count - 1) if pool in concentrate else even_split(total, count)
        for n, amount in enumerate(amounts):
            want[(pool, n)] = amount
    deltas = []
    for key in sorted(set(have) | set(want)):
        delta = want.get(key, 0) - have.get(key, 0)
        if delta:
            deltas.append(ShardDelta(key[0], key[1], delta))
    return deltas


def plan_take(shards: list[ShardStock], pool: str, quantity: int) -> list[ShardDelta] | None:
    """Takes `quantity` from a pool, fullest shards first; None if the pool holds less."""
    candidates = sorted((s for s in shards if s.pool == pool), key=lambda s: -s.available)
    deltas = []
    remaining = quantity
    for shard in candidates:
        if remaining == 0:
            break
        take = min(shard.available, remaining)
        if take > 0:
            deltas.append(ShardDelta(pool, shard.shard, -take))
            remaining -= take
    return None if remaining else deltas


def plan_add(pool: str, shard_count: int, quantity: int, rng: random.Random) -> list[ShardDelta]:
    """Adds to one random shard: an unconditional increment that never fights the hot path."""
    return [ShardDelta(pool, rng.randrange(shard_count), quantity)]
