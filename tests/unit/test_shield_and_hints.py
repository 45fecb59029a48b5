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
