from hypothesis import given
from hypothesis import strategies as st

from livestock.logic import layout
from livestock.models.domain import ShardStock


def shards_of(pool: str, amounts: list[int]) -> list[ShardStock]:
    return [ShardStock(sku_id="s", pool=pool, shard=n, available=a) for n, a in enumerate(amounts)]


def test_even_split_spreads_the_remainder_over_the_first_shards() -> None:
    assert layout.even_split(10, 4) == [3, 3, 2, 2]
    assert layout.even_split(0, 3) == [0, 0, 0]


def test_plan_take_takes_from_the_fullest_shards_first() -> None:
    deltas = layout.plan_take(shards_of("shared", [1, 5, 2]), "shared", 6)
    assert deltas is not None
    assert {(d.shard, d.delta) for d in deltas} == {(1, -5), (2, -1)}


def test_plan_take_refuses_when_the_pool_holds_less() -> None:
    assert layout.plan_take(shards_of("shared", [1, 2]), "shared", 4) is None


@given(
    st.lists(st.integers(0, 50), min_size=1, max_size=8),
    st.integers(1, 8),
    st.integers(0, 400),
    st.booleans(),
)
def test_plan_layout_reaches_its_targets_and_never_takes_more_than_a_shard_has(
    amounts: list[int], new_count: int, total: int, concentrate: bool
) -> None:
    current = shards_of("shared", amounts)
    deltas = layout.plan_layout(
        current, {"shared": total}, {"shared": new_count}, frozenset({"shared"}) if concentrate else frozenset()
    )
    after = {s.shard: s.available for s in current}
    for delta in deltas:
        after[delta.shard] = after.get(delta.shard, 0) + delta.delta
        if delta.delta < 0:
            assert amounts[delta.shard] >= -delta.delta
    assert all(v >= 0 for v in after.values())
    assert sum(after.values()) == total
    assert all(v == 0 for shard, v in after.items() if shard >= new_count)
    assert len({d.shard for d in deltas}) == len(deltas), "a transaction may touch each shard once"
