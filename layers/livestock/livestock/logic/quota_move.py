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

A losing platform that fails to take its lower figure ends the move before anything moved (502
PLATFORM_UNAVAILABLE, the withholding undone). The console's move lowers a giving platform in
quota mode the same way (`shared` has no such platform) and leaves the raise to the events.
"""

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from livestock import keys
from livestock.dal.channels import ChannelRepository
from livestock.logic.platform_sync import PlatformSync
from livestock.logic.stock import StockService
from livestock.models.channels import QuotaMoveRequest, QuotaMoveView
from livestock.models.domain import SHARED
from livestock.models.exceptions import Conflict, CredentialsUnavailable, LiveStockError
from livestock.models.sync_exceptions import ChannelNotFound, PlatformUnavailable, SyncFailed
from livestock.observability import logger


def pool_of(name: str) -> str:
    """A move's end as a pool: `shared`, or the channel's ring-fenced quota."""
    return name if name == SHARED else keys.channel_pool(name)


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
        """The channels route's move: both ends are platforms that sell the SKU in quota mode."""
        loser = self._channel(request.from_channel, sku_id)
        gainer = self._channel(request.to_channel, sku_id)
        phases: dict[str, float] = {}
        if not self._replayed(sku_id, request.from_channel, request.to_channel, request.quantity, request.reference):
            phases = self._move(
                sku_id,
                request.from_channel,
                request.to_channel,
                request.quantity,
                actor,
                request.reference,
                loser,
                gainer,
            )
        return QuotaMoveView(
            sku_id=sku_id,
            from_channel=request.from_channel,
            to_channel=request.to_channel,
            quantity=request.quantity,
            reference=request.reference,
            phases=phases,
        )

    def move_pools(
        self, sku_id: str, from_channel: str, to_channel: str, quantity: int, actor: str, reference: str | None = None
    ) -> dict[str, float]:
        """The console's move, between two platforms' quotas or `shared`: a platform that sells the
        SKU in quota mode is lowered first when it gives units, as in `move`; any other pool
        (shared, a channel no platform is synced for, a shared-mode one) is shown by no platform on
        its own, so it gives at once. The gainer is raised by the move's StockChanged events, not
        within the call, which keeps the answer quick. With the page's idempotency key as
        `reference`, a host's retry after a lost answer moves nothing more."""
        if self._replayed(sku_id, from_channel, to_channel, quantity, reference):
            return {}
        loser = self._quota_channel(from_channel, sku_id)
        return self._move(sku_id, from_channel, to_channel, quantity, actor, reference, loser, None)

    def _replayed(self, sku_id: str, from_channel: str, to_channel: str, quantity: int, reference: str | None) -> bool:
        """A move whose reference already moved the units: a retry after a lost answer, which must
        neither lower the loser again nor move more (the ledger's move is once per reference too)."""
        return reference is not None and self.stock.allocation.moved(
            sku_id, pool_of(from_channel), pool_of(to_channel), quantity, reference
        )

    def _move(
        self,
        sku_id: str,
        from_channel: str,
        to_channel: str,
        quantity: int,
        actor: str,
        reference: str | None,
        loser: dict[str, Any] | None,
        gainer: dict[str, Any] | None,
    ) -> dict[str, float]:
        started = self.clock()
        phases: dict[str, float] = {}
        with self._lowered(loser, sku_id, quantity, phases):
            mark = self.clock()
            self.stock.allocation.move(sku_id, pool_of(from_channel), pool_of(to_channel), quantity, actor, reference)
            phases["move"] = self.clock() - mark
        if gainer is not None:
            # Raising is safe at any pace (the units are the gainer's in the ledger already): wait for
            # it within what is left of the call, and let the StockChanged events finish it otherwise.
            mark = self.clock()
            budget = max(0.5, self.ack_timeout_s - (mark - started))
            if self._until_raised(gainer, sku_id, budget):
                phases["raise"] = self.clock() - mark
        return {k: round(v, 3) for k, v in phases.items()}

    @contextlib.contextmanager
    def _lowered(
        self, loser: dict[str, Any] | None, sku_id: str, quantity: int, phases: dict[str, float]
    ) -> Iterator[None]:
        """The losing platform (None: no platform shows the pool alone) withholds the units, shows
        it, and its in-flight window drains, for as long as the block runs; then it withholds them
        no more (they are the gainer's by then, or the move was refused)."""
        if loser is None:
            yield
            return
        started = self.clock()
        revision = self.channels.withhold(loser["channel_id"], sku_id, quantity)
        try:
            self._until_shown(loser, sku_id, revision)
            phases["lower"] = self.clock() - started
            self.sleep(self.sync.settings.inflight_window_s)
            phases["drain"] = self.clock() - started - phases["lower"]
            yield
        finally:
            self.channels.withhold(loser["channel_id"], sku_id, -quantity)

    def _quota_channel(self, name: str, sku_id: str) -> dict[str, Any] | None:
        """The channel whose platform shows this pool of the SKU on its own (quota mode), if any."""
        if name == SHARED:
            return None
        channel = self.channels.get_channel(name)
        if channel is None or channel["mode"] != "quota" or sku_id not in channel["sku_map"]:
            return None
        return channel

    def _channel(self, channel_id: str, sku_id: str) -> dict[str, Any]:
        channel = self.channels.get_channel(channel_id)
        if channel is None:
            raise ChannelNotFound(f"no channel {channel_id!r}", {"channel_id": channel_id})
        if channel["mode"] != "quota" or sku_id not in channel["sku_map"]:
            raise Conflict(f"channel {channel_id!r} does not sell {sku_id!r} in quota mode", {"channel_id": channel_id})
        return channel

    def _until_shown(self, channel: dict[str, Any], sku_id: str, revision: int) -> None:
        """Runs sync rounds until the platform acknowledged a value computed with this withholding
        (its revision or a later one: another move's units added or given back since still count
        this move's, which is not given back before the lower phase ends)."""

        # withheld_shown_rev is written only with an acknowledgement or by a round that found the
        # platform already in step, so it never runs ahead of what the platform shows.
        def shown(state: dict[str, Any]) -> bool:
            return int(state.get("withheld_shown_rev", 0)) >= revision

        channel_id = channel["channel_id"]
        try:
            in_step = self._until(channel, sku_id, self.ack_timeout_s, shown)
        except SyncFailed as failure:
            raise PlatformUnavailable(
                f"{channel_id} did not take its lower figure, so nothing was moved: {failure}",
                {"channel_id": channel_id, "retry_after_s": 5},
            ) from failure
        if not in_step:
            raise QuotaMoveTimeout(
                f"{channel_id} did not acknowledge its new display in {self.ack_timeout_s} s, so nothing was moved",
                {"channel_id": channel_id, "retry_after_s": 5},
            )

    def _until_raised(self, channel: dict[str, Any], sku_id: str, timeout_s: float) -> bool:
        """Runs sync rounds until the platform acknowledged a figure read after the move (or was
        found showing it). The gainer's withholding did not change, so `withheld_shown_rev` proves
        nothing here: a fresh mark on its state does, as a round that read the mark read its
        snapshot after it (a later mark, another move's, proves it too). A platform failing now
        does not undo the move: the StockChanged events and the minute's sweep finish the raise.
        Nor does a gainer whose credentials cannot be read now: the move is answered as made."""
        mark = self.channels.mark_raise(channel["channel_id"], sku_id)
        try:
            return self._until(channel, sku_id, timeout_s, lambda state: int(state.get("raise_shown_rev", 0)) >= mark)
        except (SyncFailed, CredentialsUnavailable) as failure:
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
