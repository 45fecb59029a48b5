"""The sold-out shield: once a SKU has nothing left for a channel, further orders are refused
from memory, without a DynamoDB write (a refused conditional write still costs a WCU, and a
stampede of them after a sell-out would throttle every other SKU in the partition).

A mark lives `ttl_s` seconds at most (the staleness bound): after that one real attempt goes to
the table and marks again if still sold out. A restock, cancel, expiry or reserve release made by
this instance clears the marks of its SKU at once; one made elsewhere is seen within `ttl_s`.
"""

import threading
import time
from collections.abc import Callable


class SoldOutShield:
    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._marks: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def is_sold_out(self, sku_id: str, channel: str) -> bool:
        with self._lock:
            marked = self._marks.get((sku_id, channel))
            if marked is None:
                return False
            if self.clock() - marked >= self.ttl_s:
                del self._marks[(sku_id, channel)]
                return False
            return True

    def mark(self, sku_id: str, channel: str) -> None:
        if self.ttl_s > 0:
            with self._lock:
                self._marks[(sku_id, channel)] = self.clock()

    def clear(self, sku_id: str) -> None:
        with self._lock:
            for key in [k for k in self._marks if k[0] == sku_id]:
                del self._marks[key]
