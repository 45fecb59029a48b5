"""Setting and reading a SKU's alert tiers (the PUT/GET /skus/{sku_id}/alerts routes)."""

import random
import time
from collections.abc import Callable

from livestock.dal.event_state import EventStateRepository
from livestock.events.stock_reader import StockReader
from livestock.logic import alerts
from livestock.models.event_exceptions import AlertsNotSet
from livestock.models.event_io import AlertsRequest, AlertsView
from livestock.models.exceptions import Conflict, SkuNotFound

MAX_ATTEMPTS = 20


def _view(state: alerts.SkuEventState) -> AlertsView:
    if state.config is None:
        raise AlertsNotSet(f"no alerts are set for {state.sku_id!r}", {"sku_id": state.sku_id})
    return AlertsView(
        sku_id=state.sku_id,
        tiers_pct=state.config.tiers_pct,
        baseline=state.config.baseline,
        baseline_mode=state.config.baseline_mode,
        fired_tiers=sorted(state.fired_tiers, reverse=True),
        sellable=state.figures.sellable if state.figures else None,
        set_at=state.config.set_at,
    )


class AlertSettings:
    def __init__(
        self, states: EventStateRepository, stock: StockReader, clock: Callable[[], float] = time.time
    ) -> None:
        self.states = states
        self.stock = stock
        self.clock = clock

    def set(self, sku_id: str, request: AlertsRequest) -> AlertsView:
        """The same conditional write as the publisher's, so a setting never interleaves with a firing."""
        for attempt in range(MAX_ATTEMPTS):
            state, rev, _ = self.states.get(sku_id)
            figures = SkuNotFound.unless(self.stock.figures(sku_id), sku_id)
            opening = request.baseline == "opening"
            baseline = figures.sellable if isinstance(request.baseline, str) else request.baseline
            new = alerts.configure(
                state, request.tiers_pct, baseline, "opening" if opening else "units", figures.sellable, self.clock()
            )
            if self.states.replace(new, rev, {}):
                return _view(new)
            time.sleep(min(0.05, 0.002 * 2**attempt) * random.random())
        raise Conflict("the SKU's alert state is changing too fast; try again", {"sku_id": sku_id})

    def get(self, sku_id: str) -> AlertsView:
        state, _, _ = self.states.get(sku_id)
        return _view(state)
