"""Keeps each platform's displayed stock in step with what LiveStock lets that channel sell.

**What a platform is shown** (`shown`):
- quota mode: the channel's ring-fenced pool, minus units being moved away from it (a quota move's
  first phase). Its share of the shared pool is 0: shared units can be taken by any other channel
  within the sync lag, so showing them would let the platform accept orders LiveStock refuses.
  A platform in quota mode is therefore never shown more than LiveStock would grant it.
- shared mode: floor(ratio x sellable) - buffer, like ERP sync ratios (oversell risk in README).
- 0 while the SKU is paused.

**Deltas, not sets.** A platform decrements its own counter for each order it accepts, before
LiveStock hears of it, so setting its counter to our figure would undo orders in flight. Sync moves
it by deltas instead: with S the sum of every delta the platform acknowledged and A the units it
accepted, it displays S - A. Our `target` is shown + taken, where taken is what this channel's
orders took from the shards and have not given back, counted on the shard items by the very writes
that move their units and read in one TransactGetItems snapshot with the pools
(dal/sync_snapshot.py). Sending target - S keeps the platform at shown - (orders accepted there and
not yet held here): never above what we can grant. The platform's own orders need no call at all.

**A new or changed channel** is set at once (ChannelChanged), not at the SKU's next stock change.

**Coalescing and ordering.** A StockChanged asks for its sequence (`wanted`); one invocation per
(channel, SKU) holds a lease and syncs, re-reading the snapshot each round until no newer sequence
was asked; the others return at once. The value sent is always read after the newest sequence
asked, so no stale value is ever sent, and two calls for one SKU never run at once.

**Exactly once.** Each delta goes into the state item's outbox (op id) before its call and leaves
it with its acknowledgement. An idempotent platform (Douyin's idempotent_id, the webhook) gets the
same call again after a timeout; the others are read back: applied if the platform shows S + delta
- A, not applied if S - A (A from the order messages received, re-read until they are still).
"""

import math
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, Protocol

from livestock import keys
from livestock.dal.channels import ChannelRepository
from livestock.dal.sync_snapshot import Snapshot, SnapshotReader
from livestock.events.models import ChannelChanged, StockChanged
from livestock.models.channels import PlatformSkuIds
from livestock.models.sync_exceptions import SyncFailed
from livestock.observability import logger
from livestock.platforms import endpoints
from livestock.platforms.adapters import Adapter, Outcome, PlatformCredentials, PlatformIds, PlatformReadFailed

SyncResult = Literal["applied", "unchanged", "coalesced", "no-sku"]


class CredentialsSource(Protocol):
    def get(self, ref: str) -> PlatformCredentials: ...


AdapterFactory = Callable[[str, str, PlatformCredentials], Adapter]


@dataclass(frozen=True)
class SyncSettings:
    lease_s: float = 30.0
    attempts: int = 6
    backoff_s: float = 0.1
    readback_attempts: int = 10
    # How long orders a platform accepted before its display was lowered may still be arriving.
    inflight_window_s: float = 1.0
    channels_cache_s: float = 1.0
    # How often a lease holder that keeps syncing writes its acknowledged calls' log records.
    log_flush_s: float = 1.0
    # A holder starts no round once its invocation has less than this left before its timeout,
    # and the sweep no SKU: a round's calls with their retries and back-off (and read-backs) fit in
    # it. A round killed anyway is safe (the lease runs out; the attempted change is read back).
    handover_margin_s: float = 30.0


@dataclass
class SyncLog:
    """The log records of one holder's acknowledged calls (their lag, for GET /channels and the
    review), written in a batch at most every `flush_s` and when the holder lets go: a write fewer
    between two rounds while changes keep coming. They are figures, not stock: a write that fails
    is logged and never fails the sync that made them."""

    channels: ChannelRepository
    flush_s: float
    clock: Callable[[], float]
    entries: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)
    flushed_at: float = field(init=False)

    def __post_init__(self) -> None:
        self.flushed_at = self.clock()

    def add(self, channel_id: str, sku_id: str, op_id: str, record: dict[str, Any]) -> None:
        self.entries.append((channel_id, sku_id, op_id, record))

    def flush(self, when_due: bool = False) -> None:
        if not self.entries or (when_due and self.clock() - self.flushed_at < self.flush_s):
            return
        entries, self.entries = self.entries, []
        self.flushed_at = self.clock()
        try:
            self.channels.log(entries)
        except Exception:  # noqa: BLE001 - observability only (see the class)
            logger.exception("sync log records not written", records=len(entries))


@dataclass(frozen=True)
class Holding:
    """The (channel, SKU) lease a round runs under, and where its acknowledged calls are logged."""

    channel: dict[str, Any]
    sku_id: str
    owner: str
    log: SyncLog

    @property
    def channel_id(self) -> str:
        return str(self.channel["channel_id"])


def shown_for(channel: dict[str, Any], snapshot: Snapshot, withheld: int) -> int:
    if snapshot.paused:
        return 0
    if channel["mode"] == "quota":
        units = snapshot.pools.get(keys.channel_pool(channel["channel_id"]), 0)
    else:
        ratio = float(channel.get("ratio") or 1.0)
        units = math.floor(ratio * snapshot.sellable) - int(channel.get("buffer") or 0)
    return max(0, units - withheld)


@dataclass
class PlatformSync:
    channels: ChannelRepository
    snapshots: SnapshotReader
    credentials: CredentialsSource
    adapter_for: AdapterFactory
    settings: SyncSettings = field(default_factory=SyncSettings)
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    # The local stack's fake platforms listen on loopback, which AWS must never call (platforms/endpoints.py).
    allow_loopback_endpoints: bool = False
    # When the channels were read (monotonic), the registry revision they hold at least, and them.
    _cache: tuple[float, int, list[dict[str, Any]]] | None = None
    # The app quota's theoretical arrival time per channel, as this instance last wrote it.
    _tats: dict[str, float] = field(default_factory=dict)

    # --- the event --------------------------------------------------------------------------

    def on_stock_changed(self, event: dict[str, Any], remaining_ms: int | None = None) -> dict[str, str]:
        """Syncs every channel that maps the SKU; raises SyncFailed if any is still failing.
        `remaining_ms`: what the invocation has left before its timeout (see `sync`)."""
        detail = StockChanged.model_validate(event["detail"])
        mapped = [c for c in self._channels(detail.registry_revision) if detail.sku_id in c.get("sku_map", {})]
        follow_until = self._follow_until(remaining_ms)
        rounds: dict[str, Callable[[], SyncResult]] = {
            c["channel_id"]: partial(self.sync, c, detail.sku_id, detail.sequence, detail.occurred_at, follow_until)
            for c in mapped
        }
        return self._run(rounds)

    def on_channel_changed(self, event: dict[str, Any]) -> dict[str, str]:
        """Sets a new or changed channel's platform for every SKU it maps.

        A StockChanged published after the save reads the channels again (its registry revision is
        newer than any copy that predates the save); one published before it and handled late, by an
        instance whose copy is up to `channels_cache_s` old, may still miss the channel (or use its
        old settings). This round starts once that much has passed since the save: whatever those
        events missed, it reads in the snapshot; every event handled after it sees the channel."""
        detail = ChannelChanged.model_validate(event["detail"])
        self.sleep(max(0.0, detail.occurred_at + self.settings.channels_cache_s - self.clock()))
        channel = next((c for c in self._channels(fresh=True) if c["channel_id"] == detail.channel_id), None)
        if channel is None:
            return {}
        rounds: dict[str, Callable[[], SyncResult]] = {
            sku_id: partial(self._sync_settled, channel, sku_id) for sku_id in sorted(channel["sku_map"])
        }
        return self._run(rounds)

    def _sync_settled(self, channel: dict[str, Any], sku_id: str) -> SyncResult:
        """A round with the settings in hand. The lease's holder may be syncing with a copy of the
        channel read before the change, so this waits for it to let go rather than coalescing."""
        deadline = self.clock() + self.settings.lease_s
        while True:
            result = self.sync(channel, sku_id, 0, self.clock())
            if result != "coalesced":
                return result
            if self.clock() > deadline:
                raise SyncFailed(f"{channel['channel_id']}/{sku_id}: the lease was held for {self.settings.lease_s} s")
            self.sleep(self.settings.backoff_s)

    def _run(self, rounds: dict[str, Callable[[], SyncResult]]) -> dict[str, str]:
        """Runs the rounds side by side (one slow or throttled platform does not delay the others);
        raises SyncFailed, naming each, if any failed."""
        outcomes: dict[str, str] = {}
        failures: list[str] = []

        def one(name: str) -> None:
            try:
                outcomes[name] = rounds[name]()
            except SyncFailed as failure:
                outcomes[name] = "failed"
                failures.append(f"{name}: {failure}")

        with ThreadPoolExecutor(max(1, min(len(rounds), 8))) as pool:
            list(pool.map(one, rounds))
        if failures:
            raise SyncFailed("; ".join(failures))
        return outcomes

    def _channels(self, revision: int | None = None, fresh: bool = False) -> list[dict[str, Any]]:
        """The channels, read at most once a second per function instance (one query per event
        would cost more than the sync itself during a burst), and at once for an event whose
        registry revision is newer than the copy's: a channel saved since (dal/registry.py). An
        event without a revision reads them afresh."""
        now = time.monotonic()
        held = self._cache
        if (
            fresh
            or held is None
            or revision is None
            or revision > held[1]
            or now - held[0] > self.settings.channels_cache_s
        ):
            self._cache = held = (now, revision or 0, self.channels.channels())
        return held[2]

    def _follow_until(self, remaining_ms: int | None) -> float | None:
        """When a lease holder in an invocation with this much time left stops starting rounds."""
        return None if remaining_ms is None else self.clock() + remaining_ms / 1000 - self.settings.handover_margin_s

    def _past(self, follow_until: float | None) -> bool:
        return follow_until is not None and self.clock() > follow_until

    def resync(self, remaining_ms: int | None = None) -> dict[str, str]:
        """The schedule's sweep: every (channel, SKU) never synced (its ChannelChanged was lost) or
        left with a change undelivered (a platform that was down past the event's retries), an
        error, or a reconciliation due gets a round now."""
        follow_until = self._follow_until(remaining_ms)
        outcomes: dict[str, str] = {}
        for channel in self.channels.channels():
            states = {str(state["sk"]): state for state in self.channels.states(channel["channel_id"])}
            for sku_id in channel.get("sku_map", {}):
                if self._past(follow_until):
                    return outcomes  # near the timeout: the next minute's sweep takes the rest
                state = states.get(sku_id)
                due = state is None or bool(
                    state.get("outbox")
                    or state.get("last_error")
                    or state.get("reconcile_after") is not None
                    # asked and not synced: a holder handed over near its timeout as the burst ended
                    or int(state.get("wanted", 0)) > int(state.get("sequence", 0))
                )
                if not due:
                    continue
                key = f"{channel['channel_id']}/{sku_id}"
                try:
                    outcomes[key] = self.sync(channel, sku_id, 0, self.clock(), follow_until)
                except SyncFailed as failure:
                    outcomes[key] = f"failed: {failure}"
        return outcomes

    # --- one (channel, SKU) ---------------------------------------------------------------------

    def sync(
        self, channel: dict[str, Any], sku_id: str, sequence: int, seen_at: float, follow_until: float | None = None
    ) -> SyncResult:
        """Asks for the sequence, then, unless another invocation holds the (channel, SKU) lease,
        takes it and runs rounds until no newer sequence was asked. While changes keep coming that
        could outlast the invocation: past `follow_until` the holder lets go instead of starting
        another round, and the next StockChanged's ask (or the minute's sweep) takes over."""
        channel_id = channel["channel_id"]
        if sequence:
            asked, lease_until = self.channels.ask(channel_id, sku_id, sequence, seen_at)
            # Asked while another invocation holds the lease: it sees the newer sequence before
            # it lets go, so this one has nothing to do (and spends no write on trying the lease).
            if not asked or lease_until > self.clock():
                return "coalesced"
        owner = uuid.uuid4().hex
        leased = self.channels.take_lease(channel_id, sku_id, owner, self.clock(), self.settings.lease_s)
        if leased is None:
            return "coalesced"  # the holder sees the newer sequence before it lets go
        log = SyncLog(self.channels, self.settings.log_flush_s, self.clock)
        held = Holding(channel, sku_id, owner, log)
        try:
            state = leased
            carried: float | None = None
            while True:
                wanted = int(state.get("wanted", 0))
                seen = [float(t) for t in (carried, state.get("pending_since")) if t is not None]
                result, carried, after = self._round(held, state, min(seen) if seen else None)
                log.flush(when_due=True)
                if after is None:
                    return "coalesced"  # the lease was taken over: its new holder syncs what is asked
                if self._past(follow_until):
                    # Near the invocation's timeout: let go, even with a newer change asked; the next
                    # StockChanged's ask takes the lease, or the minute's sweep (wanted > sequence).
                    self.channels.drop_lease(channel_id, sku_id, owner)
                    return result
                if int(after.get("wanted", 0)) > wanted:
                    # A newer sequence was asked before the round's last write: straight on, as
                    # that write answered the state (no release to refuse, no read).
                    state = after
                    continue
                if self.channels.release_lease(channel_id, sku_id, owner, wanted):
                    return result
                state = self.channels.state(channel_id, sku_id)  # a newer sequence was asked meanwhile
        except BaseException:
            self.channels.drop_lease(channel_id, sku_id, owner)
            raise
        finally:
            log.flush()

    def _round(
        self, held: Holding, state: dict[str, Any], since: float | None
    ) -> tuple[SyncResult, float | None, dict[str, Any] | None]:
        """One round. Also returns, for the lag, when the oldest change it may not have covered was
        seen (a change asked after its snapshot was read, whose first-seen time its write removed),
        and the state as its last write answered it."""
        channel, sku_id, owner, channel_id = held.channel, held.sku_id, held.owner, held.channel_id
        started = self.clock()
        if state.get("outbox"):
            self._deliver(held, state, self._client(channel, sku_id))
            state = self.channels.state(channel_id, sku_id)
        if state.get("reconcile_after") is not None and float(state["reconcile_after"]) <= self.clock():
            self.reconcile(channel, sku_id, owner)
            state = self.channels.state(channel_id, sku_id)
        # This round syncs the changes seen up to its snapshot: its write takes their first-seen
        # time off. One asked after the snapshot was read is seen in the write's answer (last_seen)
        # and carried to the next round, which the newer sequence it asked for makes run.
        # Every round's write also renews the lease: a holder that only finds nothing to send
        # (a quota channel while others sell) keeps it.
        every_write: dict[str, Any] = {"pending_since": None, "lease_until": self.clock() + self.settings.lease_s}
        read_at = self.clock()
        snapshot = self.snapshots.read(sku_id)

        def uncovered(saved: dict[str, Any] | None) -> float | None:
            return read_at if saved is not None and float(saved.get("last_seen", 0)) > read_at else None

        if snapshot is None:
            saved = self.channels.save(channel_id, sku_id, owner, sequence=int(state.get("wanted", 0)), **every_write)
            return "no-sku", uncovered(saved), saved
        withheld = int(state.get("withheld", 0))
        # Quota moves' marks, read with this state (QuotaMover): a round that shows a figure, or
        # finds it shown, carries them to withheld_shown_rev and raise_shown_rev.
        withhold_rev, raise_rev = int(state.get("withhold_rev", 0)), int(state.get("raise_rev", 0))
        shown = shown_for(channel, snapshot, withheld)
        # A platform cannot show less than 0: once it accepted orders we refused (shared mode), it
        # is told at most to show nothing, not a negative figure it would refuse.
        target = max(shown + snapshot.taken.get(channel_id, 0), int(state.get("received", 0)))
        sent = int(state.get("sent", 0))
        delta = target - sent
        sequence = int(state.get("wanted", 0))
        if delta == 0:
            # The platform already shows this value: computed with this withholding (quota moves).
            saved = self.channels.save(
                channel_id,
                sku_id,
                owner,
                shown=shown,
                sequence=sequence,
                last_error=None,
                withheld_shown_rev=withhold_rev,
                raise_shown_rev=raise_rev,
                **every_write,
            )
            return "unchanged", uncovered(saved), saved
        ops = int(state.get("ops", 0)) + 1
        outbox = {
            "op_id": f"{channel_id}.{sku_id}.{ops}",
            "delta": delta,
            # What the platform should display after it: for a full set (Douyin's decrease).
            "expected_after": target - int(state.get("received", 0)),
            "shown": shown,
            "since": since if since is not None else started,
            # The change waited from `since` to here: its event's delivery, then the round before.
            "round_started": started,
            "withheld": withheld,
            # Prove a quota move's lower phase and raise once acknowledged: the snapshot, read
            # after the state, has the moves they mark (QuotaMover._until_shown, _until_raised).
            "withhold_rev": withhold_rev,
            "raise_rev": raise_rev,
        }
        # The platform's client and the slot of the app quota come first, so that the outbox's
        # write is also the lease's renewal and the mark that the change may be sent (as `renew`
        # before any other call), with nothing left that could fail before the call.
        client = self._client(channel, sku_id)
        self.wait_for_slot(channel)
        saved = self.channels.save(
            channel_id,
            sku_id,
            owner,
            add={"ops": 1, "calls": 1},
            shown=shown,
            sequence=sequence,
            outbox=outbox,
            last_sent=shown,
            attempted_op=outbox["op_id"],
            **every_write,
        )
        if saved is None:
            return "coalesced", None, None  # the lease was taken over before anything was sent
        after = self._deliver(held, saved, client, outbox_just_written=True)
        return "applied", uncovered(saved), after

    # --- delivery --------------------------------------------------------------------------------

    def _adapter(self, channel: dict[str, Any]) -> Adapter:
        # A channel saved before its endpoint was checked (or written around the API) is not sent
        # its credentials either: that channel's round fails, the other channels' go on.
        refused = endpoints.refusal(channel["endpoint"], channel["platform"], self.allow_loopback_endpoints)
        if refused is not None:
            raise SyncFailed(f"{channel['channel_id']}: endpoint refused: {refused}")
        return self.adapter_for(
            channel["platform"], channel["endpoint"], self.credentials.get(channel["credentials_ref"])
        )

    def _client(self, channel: dict[str, Any], sku_id: str) -> tuple[Adapter, PlatformIds]:
        """The platform's client (with its credentials) and the SKU's ids there."""
        ids = PlatformIds.model_validate(PlatformSkuIds.model_validate(channel["sku_map"][sku_id]).model_dump())
        return self._adapter(channel), ids

    def _deliver(
        self,
        held: Holding,
        state: dict[str, Any],
        client: tuple[Adapter, PlatformIds],
        outbox_just_written: bool = False,
    ) -> dict[str, Any]:
        """Sends the outbox's change until the platform takes it; answers the state as the
        acknowledgement wrote it. `outbox_just_written`: by this round, with the app-quota slot, the
        lease's renewal and the attempt's mark taken for the first call."""
        channel, sku_id, owner, channel_id = held.channel, held.sku_id, held.owner, held.channel_id
        outbox = state["outbox"]
        adapter, ids = client
        delta, op_id = int(outbox["delta"]), str(outbox["op_id"])
        outcome = Outcome("failed", "not tried")
        if state.get("attempted_op") == op_id and not adapter.idempotent and not outbox_just_written:
            # Inherited from a holder that may have sent it (its lease ran out): look before resending.
            outcome = self._read_back(adapter, ids, channel_id, sku_id, int(state.get("sent", 0)), delta)
            if outcome.status == "applied":
                return self._acknowledged(held, outbox, adapter)
            if outcome.status == "unknown":
                raise SyncFailed(f"{channel_id} {op_id}: {_text(outcome)}")
        for attempt in range(self.settings.attempts):
            if attempt or not outbox_just_written:
                self.wait_for_slot(channel)
                # Renew the lease right before the call (a call is bounded by the adapter's timeout,
                # far below the lease), and mark the change as possibly sent: nobody else can take
                # over and send it again while this call may still land.
                if not self.channels.renew(channel_id, sku_id, owner, self.clock() + self.settings.lease_s, op_id):
                    raise SyncFailed("lost the lease before a call")
            outcome = adapter.change(ids, delta, op_id, int(outbox["expected_after"]))
            if outcome.status == "unknown" and not adapter.idempotent:
                outcome = self._read_back(adapter, ids, channel_id, sku_id, int(state.get("sent", 0)), delta)
                if outcome.status == "unknown":
                    # Neither applied nor not: resending could apply it twice. The outbox stays;
                    # the next round reads back first (attempted_op) before anything is sent.
                    self.channels.save(channel_id, sku_id, owner, last_error=_text(outcome))
                    raise SyncFailed(f"{channel_id} {op_id}: {_text(outcome)}")
            if outcome.status == "applied":
                return self._acknowledged(held, outbox, adapter)
            if outcome.status == "rejected":
                self.channels.save(channel_id, sku_id, owner, outbox=None, last_error=_text(outcome))
                logger.error("platform refused a stock change", channel=channel_id, sku_id=sku_id, code=outcome.code)
                raise SyncFailed(f"{channel_id} refused {op_id}: {_text(outcome)}")
            if outcome.status == "rate_limited":
                self.channels.count(channel_id, sku_id, rate_limited=1)
            self.channels.save(channel_id, sku_id, owner, last_error=_text(outcome))
            self.sleep(self.settings.backoff_s * 2**attempt)
        raise SyncFailed(f"{channel_id} {op_id}: {_text(outcome)} after {self.settings.attempts} attempts")

    def _acknowledged(self, held: Holding, outbox: dict[str, Any], adapter: Adapter) -> dict[str, Any]:
        channel_id, sku_id, owner = held.channel_id, held.sku_id, held.owner
        now = self.clock()
        lag = max(0.0, now - float(outbox["since"]))
        state = self.channels.acknowledge(channel_id, sku_id, owner, outbox, now, lag)
        if state is None:
            raise SyncFailed("lost the lease before recording an acknowledgement")
        queued = max(0.0, float(outbox.get("round_started", outbox["since"])) - float(outbox["since"]))
        held.log.add(
            channel_id,
            sku_id,
            str(outbox["op_id"]),
            {"delta": int(outbox["delta"]), "lag_s": lag, "queued_s": min(queued, lag), "at": now},
        )
        if int(outbox["delta"]) < 0 and not adapter.deltas_down:
            # A full set (Douyin's decrease) overwrote orders the platform accepted that had not
            # reached us: once they have, read the platform back and set `sent` to what it shows.
            reconciling = self.channels.save(
                channel_id, sku_id, owner, reconcile_after=now + self.settings.inflight_window_s
            )
            return reconciling or state
        return state

    def reconcile(self, channel: dict[str, Any], sku_id: str, owner: str) -> bool:
        """Reads the platform's display back while no order message is arriving and takes
        sent = displayed + received (what it shows plus what it sold): the next round's delta then
        corrects any drift. False if the platform could not be read quietly."""
        channel_id = channel["channel_id"]
        adapter, ids = self._client(channel, sku_id)
        for _ in range(self.settings.readback_attempts):
            received = int(self.channels.state(channel_id, sku_id).get("received", 0))
            try:
                self.wait_for_slot(channel)
                displayed = adapter.read(ids)
            except PlatformReadFailed:
                self.sleep(self.settings.backoff_s)
                continue
            refused = self.channels.save_read_back(channel_id, sku_id, owner, received, displayed)
            if refused is None:
                return True
            if refused.get("lease_owner") != owner:
                return False
            self.sleep(self.settings.backoff_s)  # an order message was counted meanwhile: look again
        return False

    def _read_back(
        self, adapter: Adapter, ids: PlatformIds, channel_id: str, sku_id: str, sent: int, delta: int
    ) -> Outcome:
        """After a call with no answer on a platform that would apply a resend twice: look."""
        for _ in range(self.settings.readback_attempts):
            received = int(self.channels.state(channel_id, sku_id).get("received", 0))
            try:
                displayed = adapter.read(ids)
            except PlatformReadFailed:
                self.sleep(self.settings.backoff_s)
                continue
            if int(self.channels.state(channel_id, sku_id).get("received", 0)) == received:
                if displayed == sent + delta - received:
                    return Outcome("applied", "read back")
                if displayed == sent - received:
                    return Outcome("failed", "read back: not applied")
            self.sleep(self.settings.backoff_s)
        return Outcome("unknown", "read back: undecided")

    # --- the app quota -------------------------------------------------------------------------

    def wait_for_slot(self, channel: dict[str, Any]) -> None:
        """GCRA over the channel's `qps`, shared by every invocation through the events table.
        A platform counts its quota per second, wherever the second starts: any window of one
        second, both ends counted (as the benchmark counts), may hold at most `qps` calls. GCRA
        lets `burst` calls through without waiting after a quiet spell, then one per interval, so
        such a second can hold burst + 1/interval calls: the interval is 1/(qps - burst), with a
        burst of a tenth of the quota (at least 1: no call waits after a quiet spell). The steady
        rate is qps - burst, the price of that bound. A quota under 2 a second is one call per 1/qps."""
        channel_id = channel["channel_id"]
        qps = float(channel.get("qps", 10.0))
        burst = max(1.0, math.floor(qps / 10))
        interval = 1.0 / (qps - burst) if qps - burst >= 1 else 1.0 / qps
        # The value this instance wrote last is tried first: right unless another instance took a
        # slot since, when the conditional write fails and the stored value is read.
        tat = self._tats.get(channel_id)
        if tat is None:
            tat = self.channels.rate_tat(channel_id)
        for _ in range(100):
            now = self.clock()
            new_tat = max(tat or now, now) + interval
            allowed_at = new_tat - burst * interval
            if self.channels.move_tat(channel_id, tat, new_tat):
                self._tats[channel_id] = new_tat
                if allowed_at > now:
                    self.sleep(allowed_at - now)
                return
            tat = self.channels.rate_tat(channel_id)
        raise SyncFailed("could not take a slot of the app quota")


def _text(outcome: Outcome) -> str:
    return f"{outcome.status} {outcome.code} {outcome.message}".strip()
