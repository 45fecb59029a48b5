"""The sold-out shield: once a SKU has nothing left for a channel, further orders are refused
from memory, without a DynamoDB write (a refused conditional write still costs a WCU, and a
stampede of them after a sell-out would throttle every other SKU in the partition).

A mark lives `ttl_s` seconds at most (the staleness bound). When it runs out, exactly one caller
is let through as a probe and the mark is renewed for everyone else; the probe looks at the shards
with a read (no write) and renews the mark if nothing came back, or clears it. A restock, cancel,
expiry or reserve release made by this instance clears the marks of its SKU at once; one made
elsewhere is seen within `ttl_s`.
"""

import threading
import time
from collections.abc import Callable
from enum import Enum


class Verdict(Enum):
    OPEN = "open"  # no mark: go to the table
    SOLD_OUT = "sold_out"  # a live mark: refuse without a write
    PROBE = "probe"  # the mark ran out: this caller checks, with a read, whether it still holds


class SoldOutShield:
    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._marks: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def check(self, sku_id: str, channel: str) -> Verdict:
        with self._lock:
            marked = self._marks.get((sku_id, channel))
            if marked is None:
                return Verdict.OPEN
            now = self.clock()
            if now - marked < self.ttl_s:
                return Verdict.SOLD_OUT
            self._marks[(sku_id, channel)] = now  # the others keep being refused while one probes
            return Verdict.PROBE

    def is_sold_out(self, sku_id: str, channel: str) -> bool:
        return self.check(sku_id, channel) == Verdict.SOLD_OUT

    def mark(self, sku_id: str, channel: str) -> None:
        if self.ttl_s > 0:
            with self._lock:
                self._marks[(sku_id, channel)] = self.clock()

    def clear(self, sku_id: str) -> None:
        with self._lock:
            for key in [k for k in self._marks if k[0] == sku_id]:
                del self._marks[key]
