import random

from livestock.logic.shard_hints import ShardHints
from livestock.logic.shield import SoldOutShield, Verdict


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_expired_mark_lets_exactly_one_probe_through() -> None:
    clock = Clock()
    shield = SoldOutShield(1.0, clock)
    assert shield.check("tee", "douyin") == Verdict.OPEN
    shield.mark("tee", "douyin")
    assert shield.check("tee", "douyin") == Verdict.SOLD_OUT
    assert shield.check("tee", "kuaishou") == Verdict.OPEN, "marks are per channel"
    clock.now += 1.5
    verdicts = [shield.check("tee", "douyin") for _ in range(50)]
    assert verdicts.count(Verdict.PROBE) == 1
    assert verdicts.count(Verdict.SOLD_OUT) == 49
    shield.clear("tee")
    assert shield.check("tee", "douyin") == Verdict.OPEN


def test_shards_known_to_be_short_are_tried_last_and_forgotten_in_time() -> None:
    clock = Clock()
    hints = ShardHints(1.0, clock)
    hints.saw("tee", "shared", 2, 0)
    hints.saw("tee", "shared", 5, 1)
    for seed in range(20):
        order = hints.order("tee", "shared", 8, 2, random.Random(seed))
        assert sorted(order) == list(range(8))
        assert set(order[-2:]) == {2, 5}
    assert hints.order("tee", "shared", 8, 1, random.Random(1))[-1] == 2, "one unit fits shard 5"
    clock.now += 2
    assert {tuple(hints.order("tee", "shared", 8, 2, random.Random(s))[-2:]) for s in range(20)} != {(2, 5), (5, 2)}


def test_claiming_a_shard_speaks_for_its_units_until_the_decrement_is_done() -> None:
    hints = ShardHints(1.0, Clock())
    for shard in range(8):
        hints.saw("tee", "shared", shard, 1 if shard in (3, 4) else 0)
    rng = random.Random(7)
    first_untried, second_untried = list(range(8)), list(range(8))
    with hints.claiming("tee", "shared", 1, first_untried, rng) as first:
        assert first.shard in (3, 4), "a shard with a unit before the shards without"
        assert first.shard not in first_untried
        with hints.claiming("tee", "shared", 1, second_untried, rng) as second:
            assert {first.shard, second.shard} == {3, 4}, "a second thread does not pick the unit the first is taking"
    with hints.claiming("tee", "shared", 1, list(range(8)), rng) as third:
        assert third.shard in (3, 4), "once the decrement is done, its unit counts again until seen taken"
        third.answer(0, None)
    assert hints.order("tee", "shared", 8, 1, random.Random(3))[0] != third.shard, "its answer is recorded on release"


def test_an_answer_about_an_older_write_does_not_overwrite_a_newer_one() -> None:
    clock = Clock()
    hints = ShardHints(1.0, clock)
    hints.saw("tee", "shared", 0, 4, revision=12)
    hints.saw("tee", "shared", 0, 5, revision=11)  # a concurrent decrement's answer, arriving late
    assert hints.order("tee", "shared", 2, 5, random.Random(1))[-1] == 0, "still 4 units: short of 5"
    hints.saw("tee", "shared", 0, 9, revision=13)
    hints.saw("tee", "shared", 1, 0, revision=3)
    assert hints.order("tee", "shared", 2, 5, random.Random(1))[0] == 0, "a newer write is news"
    clock.now += 2
    hints.saw("tee", "shared", 0, 2, revision=1)  # the shard item made again: an old view expires
    hints.saw("tee", "shared", 1, 5, revision=4)
    assert hints.order("tee", "shared", 2, 3, random.Random(1))[-1] == 0


def test_a_shard_seen_short_can_be_remembered_longer_than_one_seen_with_units() -> None:
    clock = Clock()
    hints = ShardHints(1.0, clock, short_ttl_s=30.0)
    hints.saw("tee", "shared", 2, 0)
    hints.saw("tee", "shared", 5, 9)
    clock.now += 2
    orders = [hints.order("tee", "shared", 8, 1, random.Random(seed)) for seed in range(20)]
    assert all(order[-1] == 2 for order in orders), "still ranked last: it was short"
    assert {order[0] for order in orders} != {5}, "the one seen with units is forgotten after a second"
    clock.now += 30
    assert {hints.order("tee", "shared", 8, 1, random.Random(s))[-1] for s in range(20)} != {2}
