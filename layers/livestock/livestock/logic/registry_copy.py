"""A function instance's copy of registrations it reads for every event (the webhooks; the sessions
whose consoles watch a SKU), read again only when the event may be newer than the copy.

Events the publisher sends carry the registry revision it read after the change (dal/registry.py).
Every registration bumps that revision after its write, so a copy read while handling an event of
revision r holds every registration of revision r or lower: any later event of revision at most r
is served from it. An event without a revision (one an API published) is always served by a fresh
read, and leaves the copy as it was. Unlike a time-to-live, nothing registered before an event is
ever missed; a copy only costs a read when the registry really changed (or the key is new here).
"""

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

# Keys held at most (SKUs, for the console's watches); past it the copy starts over.
MAX_KEYS = 4096


@dataclass
class RegistryCopy[K: Hashable, V]:
    load: Callable[[K], V]
    max_keys: int = MAX_KEYS
    _copies: dict[K, tuple[int, V]] = field(default_factory=dict, init=False)

    def get(self, key: K, revision: int | None) -> V:
        held = self._copies.get(key)
        if held is not None and revision is not None and held[0] >= revision:
            return held[1]
        value = self.load(key)
        if revision is not None:
            if key not in self._copies and len(self._copies) >= self.max_keys:
                self._copies.clear()
            self._copies[key] = (revision, value)
        return value
