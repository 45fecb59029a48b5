"""The registry revision: one counter in the events table, bumped after every change to what the
bus consumers keep a copy of (the webhooks, the consoles watching each SKU).

The publisher reads it with each SKU's event state and stamps it on the events it publishes
(`registry_revision`). A consumer whose copy was read for a revision at least that high holds every
registration made before the event, so it skips the read (logic/registry_copy.py): during a burst
the webhook deliverer and the console fan-out read nothing but the event. A change is written first
and bumped after: a consumer that sees the new revision reads the change; a writer that fails
between the two answers an error, and its client's retry bumps.
"""

from typing import Any

from livestock import keys
from livestock.dal.expressions import Store, Update

REVISION_ATTRIBUTE = "revision"


def revision_of(item: dict[str, Any] | None) -> int:
    """The revision an item read at keys.REGISTRY_KEY holds (0: never bumped)."""
    return int(item.get(REVISION_ATTRIBUTE, 0)) if item else 0


class RegistryRevision(Store):
    def bump(self) -> int:
        """Called after a registration's write; returns the new revision."""
        return revision_of(self.written(Update(*keys.REGISTRY_KEY).add(**{REVISION_ATTRIBUTE: 1})))

    def current(self) -> int:
        return revision_of(self.get(*keys.REGISTRY_KEY))
