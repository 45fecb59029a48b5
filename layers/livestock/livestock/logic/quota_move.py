"""Moving quota between two platforms mid-live, in two phases, so the losing platform never accepts
an order for units that are no longer its own:

1. lower: the losing channel withholds the units, and sync lowers what its platform shows; wait for
   the platform's acknowledgement;
2. drain: wait the in-flight window, so orders it accepted before it was lowered reach us (they
   still take the units from its pool, which has not moved yet);
3. move: the units go from its pool to the gaining one in the ledger (a relative, conditional move:
   if orders took them meanwhile, the move is refused and the withholding undone);
4. raise: the withholding ends and sync raises the gaining platform (within the call if it can, else
   by the move's StockChanged events).
"""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livestock import keys
from livestock.dal.channels import ChannelRepository
from livestock.logic.platform_sync import PlatformSync
from livestock.logic.stock import StockService
from livestock.models.channels import QuotaMoveRequest, QuotaMoveView
from livestock.models.exceptions import Conflict, LiveStockError
from livestock.models.sync_exceptions import ChannelNotFound, SyncFailed
from livestock.observability import logger


@dataclass
class QuotaMover:
    channels: ChannelRepository
    sync: PlatformSync
    stock: StockService
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    # Within the API function's 29 s.
    ack_timeout_s: float = 12.0

    def move(self, sku_id: str, request: QuotaMoveRequest, actor: str) -> QuotaMoveView:
        loser = self._channel(request.from_channel, sku_id)
        gainer = self._channel(request.to_channel, sku_id)
        started = self.clock()
        phases: dict[str, float] = {}
        withheld = int(self.channels.state(loser["channel_id"], sku_id).get("withheld", 0)) + request.quantity
        self.channels.set_withheld(loser["channel_id"], sku_id, withheld)
        try:
            self._until_shown(loser, sku_id, withheld)
            phases["lower"] = self.clock() - started
            self.sleep(self.sync.settings.inflight_window_s)
            phases["drain"] = self.clock() - started - phases["lower"]
            mark = self.clock()
            self.stock.allocation.move(
                sku_id,
                keys.channel_pool(loser["channel_id"]),
                keys.channel_pool(gainer["channel_id"]),
                request.quantity,
                actor,
                request.reference,
            )
            phases["move"] = self.clock() - mark
        finally:
            self.channels.set_withheld(loser["channel_id"], sku_id, withheld - request.quantity)
        # Raising is safe at any pace (the units are the gainer's in the ledger already): wait for it
        # within what is left of the call, and let the StockChanged events finish it otherwise.
        mark = self.clock()
        budget = max(0.5, self.ack_timeout_s - (mark - started))
        if self._until_raised(gainer, sku_id, budget):
            phases["raise"] = self.clock() - mark
        return QuotaMoveView(
            sku_id=sku_id,
            from_channel=request.from_channel,
            to_channel=request.to_channel,
            quantity=request.quantity,
            reference=request.reference,
            phases={k: round(v, 3) for k, v in phases.items()},
        )

    def _channel(self, channel_id: str, sku_id: str) -> dict[str, Any]:
        channel = self.channels.get_channel(channel_id)
        if channel is None:
            raise ChannelNotFound(f"no channel {channel_id!r}", {"channel_id": channel_id})
        if channel["mode"] != "quota" or sku_id not in channel["sku_map"]:
            raise Conflict(f"channel {channel_id!r} does not sell {sku_id!r} in quota mode", {"channel_id": channel_id})
        return channel

    def _until_shown(self, channel: dict[str, Any], sku_id: str, withheld: int) -> None:
        """Runs sync rounds until the platform acknowledged a value computed with this withholding."""

        # withheld_shown is written only with an acknowledgement or by a round that found the
        # platform already in step, so it never runs ahead of what the platform shows.
        def shown(state: dict[str, Any]) -> bool:
            return int(state.get("withheld_shown", -1)) == withheld

        if not self._until(channel, sku_id, self.ack_timeout_s, shown):
            channel_id = channel["channel_id"]
            raise QuotaMoveTimeout(
                f"{channel_id} did not acknowledge its new display in {self.ack_timeout_s} s",
                {"channel_id": channel_id},
            )

    def _until_raised(self, channel: dict[str, Any], sku_id: str, timeout_s: float) -> bool:
        """Runs sync rounds until the platform acknowledged a figure read after the move (or was
        found showing it). The gainer's withholding did not change, so `withheld_shown` proves
        nothing here: a fresh mark on its state does, as a round that read the mark read its
        snapshot after it. A platform failing now does not undo the move: the StockChanged events
        and the minute's sweep finish the raise."""
        marker = uuid.uuid4().hex
        self.channels.mark_raise(channel["channel_id"], sku_id, marker)
        try:
            return self._until(channel, sku_id, timeout_s, lambda state: state.get("raise_shown") == marker)
        except SyncFailed as failure:
            logger.warning("raise left to the sync events", channel_id=channel["channel_id"], reason=str(failure))
            return False

    def _until(
        self, channel: dict[str, Any], sku_id: str, timeout_s: float, done: Callable[[dict[str, Any]], bool]
    ) -> bool:
        """Runs sync rounds (a round is a no-op while another invocation holds the lease) until the
        state has nothing left to deliver or check and is `done`; False at the timeout. A round
        that takes the lease lets go by the timeout, even with newer changes asked."""
        deadline = self.clock() + timeout_s
        channel_id = str(channel["channel_id"])
        while (left := deadline - self.clock()) > 0:
            self.sync.sync(channel, sku_id, 0, time.time(), follow_until=self.sync.clock() + left)
            state = self.channels.state(channel_id, sku_id)
            if not state.get("outbox") and state.get("reconcile_after") is None and done(state):
                return True
            self.sleep(0.05)
        return False


class QuotaMoveTimeout(LiveStockError, status=409, code="REQUEST_IN_PROGRESS"):
    """The losing platforms did not confirm their lower figure in time: the move is not applied yet."""
