"""Counters of refused orders per live session, SKU, channel and refusal code.

A refusal leaves no stock movement, and one the sold-out shield turns away leaves no hold either,
so the holds API counts them here for the review. One UpdateItem per refusal of a SKU in a live
session (nothing outside a session), on one of keys.REFUSAL_SPREAD items chosen at random: a
burst of refusals after a sell-out spreads over several keys.
"""

import random
from collections import Counter

from livestock import keys
from livestock.dal.expressions import Store, Update


class RefusalStore(Store):
    def count(self, session_id: str, sku_id: str, channel: str, code: str, rng: random.Random) -> None:
        n = rng.randrange(keys.REFUSAL_SPREAD)
        self.client.update_item(
            **Update(keys.refusal_pk(session_id, sku_id, n), keys.COUNT_SK)
            .add(**{keys.refusal_attr(channel, code): 1})
            .set(entity="refusals")
            .request(self.table)
        )

    def totals(self, session_id: str, sku_id: str) -> Counter[tuple[str, str]]:
        """(channel, code) -> refusals counted in the session."""
        found: Counter[tuple[str, str]] = Counter()
        wanted = [(pk, keys.COUNT_SK) for pk in keys.refusal_partitions(session_id, sku_id)]
        for item in self.batch_get(wanted, consistent=True):
            for attribute, amount in item.items():
                parsed = keys.parse_refusal_attr(attribute)
                if parsed is not None:
                    found[parsed] += int(amount)
        return found
