"""The post-live review's figures, computed from the ledger, the session's holds and its journal.

Definitions (what each figure is a sum of):
- **Order figures** (held, sold, refunded, expired, cancelled) are the ledger's `held` and `sold`
  bucket movements of the holds placed in this session (a hold names the session its SKU was in
  when the order came, and its channel), whenever they happened up to the build: an unpaid hold
  expires after the payment window, which may be after the end. held = `hold` legs into held;
  sold = `confirm` legs into sold; refunded = `refund` legs out of sold; expired / cancelled =
  `expire` / `cancel` legs out of held. Summed over platforms they are the ledger's totals. The
  per-minute curve puts held units at the order's time (the hold's `created_at`), paid units at
  the confirm's movement.
- **Stock figures** replay every pool movement of the SKU in ledger order: the opening figures are
  the pool totals at the start; during the live (start..end) the running totals tell when stock ran
  out. *Sellable* is shared plus every channel quota; the reserve and campaign pools (flash-sale
  stages not yet released) are not. A SKU is sold out when sellable is 0 and nothing is left in the
  reserve (or the reserve is not released automatically); a platform when its quota plus shared is.
- **Moves**: movements of one operation (op, reference, actor, within a second) in the live are
  grouped: out of a campaign pool = a stage release; out of the reserve = a reserve release;
  `allocate` between sellable pools = a quota move. Stage releases are read from the ledger (so they
  appear whatever names the campaign code gives its operations); `StageReleased` events the
  journal kept are listed beside them.
- **Oversold**: how far any pool's running total ever went below zero (the invariant says 0).
"""

import hashlib
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from livestock import keys
from livestock.models.campaigns import STAGE_RELEASE_OP
from livestock.models.domain import RESERVE, SHARED, Hold
from livestock.models.output import Reconciliation
from livestock.models.review import (
    JournalEntry,
    MinuteSales,
    OrderFigures,
    PlatformReview,
    PlatformSyncReview,
    Reconciled,
    Release,
    Review,
    SessionTotals,
    SkuReview,
)
from livestock.models.sessions import LineupEntry

# Operations of orders: they move units between pools and holds, not into or out of sale.
ORDER_OPS = frozenset({"hold", "cancel", "expire", "refund", "compensate"})
# A new allocation, or a move between two pools (the quota-moves route, the console).
QUOTA_MOVE_OPS = frozenset({"allocate", "move"})
# Movements of one operation land within this many seconds of each other (one transaction).
GROUP_WITHIN_S = 1.0
# Journal entries (alerts) published this long after the end still belong to the live: the
# publisher reads the stream a moment after the last movement.
JOURNAL_GRACE_S = 30.0
REFUSAL_CODES = {"SOLD_OUT": "refused_sold_out", "LIMIT_EXCEEDED": "refused_over_limit", "PAUSED": "refused_paused"}


def epoch(at_iso: str) -> float:
    return datetime.fromisoformat(at_iso).timestamp()


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def is_sellable(pool: str) -> bool:
    return pool == SHARED or keys.channel_of_pool(pool) is not None


@dataclass(frozen=True)
class SessionFacts:
    session_id: str
    title: str
    channels: list[str]
    lineup: list[LineupEntry]
    started_at: float
    ended_at: float


@dataclass
class SkuInputs:
    """What the review reads about one SKU of the lineup."""

    sku_id: str
    name: str
    auto_release_reserve: bool
    movements: list[dict[str, Any]]
    holds: dict[str, Hold]
    journal: list[JournalEntry]
    refusals: Counter[tuple[str, str]]
    reconciliation: Reconciliation
    forecast_units: int | None = None


# What a movement of a session's hold counts as: (bucket, operation, sign of the delta) -> figure.
ORDER_FIGURES = {
    ("held", "hold", 1): "held",
    ("sold", "confirm", 1): "sold",
    ("sold", "refund", -1): "refunded",
    ("held", "expire", -1): "expired",
    ("held", "cancel", -1): "cancelled",
}


@dataclass
class _Orders:
    units: Counter[str] = field(default_factory=Counter)  # by ORDER_FIGURES' figure
    refusals: Counter[str] = field(default_factory=Counter)
    held_by_minute: Counter[int] = field(default_factory=Counter)
    sold_by_minute: Counter[int] = field(default_factory=Counter)

    def add(self, other: "_Orders") -> None:
        self.units.update(other.units)
        self.refusals.update(other.refusals)
        self.held_by_minute.update(other.held_by_minute)
        self.sold_by_minute.update(other.sold_by_minute)

    def figures(self) -> dict[str, Any]:
        units = self.units
        return {
            **{f"{figure}_units": units[figure] for figure in ORDER_FIGURES.values()},
            "still_held_units": units["held"] - units["sold"] - units["expired"] - units["cancelled"],
            "unpaid_rate": _ratio(units["expired"], units["held"]),
            **{name: self.refusals[code] for code, name in REFUSAL_CODES.items()},
        }


def _ratio(part: int, whole: int) -> float | None:
    return None if whole <= 0 else round(part / whole, 4)


def _order_key(movement: dict[str, Any]) -> tuple[str, str]:
    return str(movement["at"]), str(movement["sequence"])


class _Pools:
    """Running pool totals, replayed movement by movement (in time order: see oversold_units)."""

    def __init__(self) -> None:
        self.totals: dict[str, int] = defaultdict(int)

    def apply(self, movement: dict[str, Any]) -> None:
        bucket = str(movement["bucket"])
        if not keys.is_pool_bucket(bucket):
            return
        self.totals[keys.pool_bucket.strip(bucket)] += int(movement["delta"])

    def sellable(self) -> int:
        return sum(v for p, v in self.totals.items() if is_sellable(p))

    def campaign(self) -> int:
        return sum(v for p, v in self.totals.items() if keys.is_campaign_pool(p))

    def for_channel(self, channel: str) -> int:
        return self.totals.get(keys.channel_pool(channel), 0) + self.totals.get(SHARED, 0)


def oversold_units(movements: Iterable[dict[str, Any]]) -> int:
    """Units any shard item went below zero. Each item's movements are replayed in its stream order
    (the sequence number). Not in time order: a movement's time is its writer's clock, and of two
    writers to one shard the one that read its clock first may write second, so a replay by time can
    take a unit before the write that put it there (a demo of 8,000 orders showed a false 1)."""
    per_item: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for movement in movements:
        bucket, sequence = str(movement["bucket"]), str(movement["sequence"])
        if keys.is_pool_bucket(bucket):
            per_item[(bucket, keys.ledger_item_of(sequence))].append((sequence, int(movement["delta"])))
    oversold = 0
    for moves in per_item.values():
        running = lowest = 0
        for _, delta in sorted(moves):
            running += delta
            lowest = min(lowest, running)
        oversold -= lowest
    return oversold


def _group_moves(movements: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Supply movements of one operation, grouped: same op, reference and actor, within a second."""
    groups: list[list[dict[str, Any]]] = []
    open_groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for movement in movements:
        ident = (str(movement["op"]), str(movement.get("reference")), str(movement.get("actor")))
        current = open_groups.get(ident)
        if current is not None and epoch(str(movement["at"])) - epoch(str(current[0]["at"])) <= GROUP_WITHIN_S:
            current.append(movement)
            continue
        current = [movement]
        open_groups[ident] = current
        groups.append(current)
    return groups


def _release(group: list[dict[str, Any]]) -> Release:
    net: dict[str, int] = defaultdict(int)
    for movement in group:
        net[keys.pool_bucket.strip(str(movement["bucket"]))] += int(movement["delta"])
    first = group[0]
    return Release(
        at=str(first["at"]),
        units=sum(v for v in net.values() if v > 0) or -sum(v for v in net.values() if v < 0),
        from_pools=sorted(p for p, v in net.items() if v < 0),
        to_pools=sorted(p for p, v in net.items() if v > 0),
        op=str(first["op"]),
        reference=first.get("reference"),
        actor=first.get("actor"),
    )


def _minute(at: float, started_at: float) -> int:
    return max(0, int((at - started_at) // 60))


def review_sku(session: SessionFacts, sku: SkuInputs) -> SkuReview:
    movements = sorted(sku.movements, key=_order_key)
    channels = list(dict.fromkeys([*session.channels, *(h.channel for h in sku.holds.values())]))
    # --- orders of the session's holds, per platform ------------------------------------------
    orders: dict[str, _Orders] = {c: _Orders() for c in channels}
    for movement in movements:
        bucket, op = str(movement["bucket"]), str(movement["op"])
        if bucket not in ("held", "sold"):
            continue
        hold = sku.holds.get(str(movement.get("reference")))
        if hold is None or hold.session_id != session.session_id:
            continue
        figures = orders.setdefault(hold.channel, _Orders())
        quantity, delta = int(movement["quantity"]), int(movement["delta"])
        figure = ORDER_FIGURES.get((bucket, op, (delta > 0) - (delta < 0)))
        if figure is None:
            continue
        figures.units[figure] += quantity
        if figure == "held":
            # The order's own time: its hold settles a moment later, when the stream is read.
            figures.held_by_minute[_minute(hold.created_at, session.started_at)] += quantity
        elif figure == "sold":
            figures.sold_by_minute[_minute(epoch(str(movement["at"])), session.started_at)] += quantity
    for (channel, code), count in sku.refusals.items():
        orders.setdefault(channel, _Orders()).refusals[code] += count
    channels = list(orders)

    # --- stock, replayed -----------------------------------------------------------------------
    pools = _Pools()
    opening: dict[str, int] = {}
    opening_channels: dict[str, int] = {}
    supply_in_live: list[dict[str, Any]] = []
    sold_out_at: str | None = None
    sell_outs: list[str] = []
    channel_sold_out: dict[str, str] = {}
    stocked = set()  # platforms that had units to sell at some moment of the live
    started = False
    index = 0
    while index < len(movements):
        at = str(movements[index]["at"])
        batch: list[dict[str, Any]] = []
        while index < len(movements) and _same_change(movements[index], batch):
            batch.append(movements[index])
            index += 1
        moment = epoch(at)
        if not started and moment >= session.started_at:
            opening, opening_channels = dict(pools.totals), {c: pools.for_channel(c) for c in channels}
            stocked = {c for c, units in opening_channels.items() if units > 0}
            started = True
        was_out = _sold_out(pools, sku.auto_release_reserve) if started else False
        for movement in batch:
            pools.apply(movement)
        if not started or moment > session.ended_at:
            continue
        supply_in_live += [m for m in batch if keys.is_pool_bucket(str(m["bucket"])) and str(m["op"]) not in ORDER_OPS]
        if _sold_out(pools, sku.auto_release_reserve) and not was_out:
            sell_outs.append(at)
            sold_out_at = sold_out_at or at
        reserve = pools.totals.get(RESERVE, 0) if sku.auto_release_reserve else 0
        for channel in channels:
            left = pools.for_channel(channel) + reserve
            if left > 0:
                stocked.add(channel)
            # A platform that had nothing to sell in the live did not sell out.
            elif channel not in channel_sold_out and channel in stocked:
                channel_sold_out[channel] = at
    if not started:  # nothing moved since the start: the figures then are the figures now
        opening, opening_channels = dict(pools.totals), {c: pools.for_channel(c) for c in channels}
    opening_sellable = sum(v for p, v in opening.items() if is_sellable(p))

    # --- moves during the live -------------------------------------------------------------------
    stages: list[Release] = []
    reserve_releases: list[Release] = []
    quota_moves: list[Release] = []
    for group in _group_moves(supply_in_live):
        release = _release(group)
        # A campaign cancelled mid-live also moves units out of its pool: supply, and none of these.
        if release.op == STAGE_RELEASE_OP:
            stages.append(release)
        elif RESERVE in release.from_pools:
            reserve_releases.append(release)
        elif release.op in QUOTA_MOVE_OPS and release.from_pools and release.to_pools:
            quota_moves.append(release)
    made_available = opening_sellable + sum(
        int(m["delta"]) for m in supply_in_live if is_sellable(keys.pool_bucket.strip(str(m["bucket"])))
    )

    def inflow(channel: str) -> int:
        mine = {keys.channel_pool(channel), SHARED}
        return sum(int(m["delta"]) for m in supply_in_live if keys.pool_bucket.strip(str(m["bucket"])) in mine)

    # --- per platform ----------------------------------------------------------------------------
    platforms = []
    for channel in channels:
        figures = orders[channel]
        available = opening_channels.get(channel, 0) + inflow(channel)
        out_at = channel_sold_out.get(channel)
        platforms.append(
            PlatformReview(
                channel=channel,
                opening_sellable=opening_channels.get(channel, 0),
                made_available=available,
                sell_through=_ratio(figures.units["sold"] - figures.units["refunded"], available),
                sold_out_at=out_at,
                time_to_sell_out_s=None if out_at is None else round(epoch(out_at) - session.started_at, 3),
                peak_units_per_min=max(figures.held_by_minute.values(), default=0),
                **figures.figures(),
            )
        )

    # --- the SKU ---------------------------------------------------------------------------------
    total = _Orders()
    for figures in orders.values():
        total.add(figures)
    last_minute = max(
        [math.ceil((session.ended_at - session.started_at) / 60) - 1, *total.held_by_minute, *total.sold_by_minute]
    )
    minutes = [
        MinuteSales(minute=m, held_units=total.held_by_minute[m], sold_units=total.sold_by_minute[m])
        for m in range(max(0, last_minute) + 1)
    ]
    in_live = [e for e in sku.journal if session.started_at <= epoch(e.at) <= session.ended_at + JOURNAL_GRACE_S]
    actual = total.units["sold"] - total.units["refunded"]
    forecast = sku.forecast_units
    miss = None if forecast is None else actual - forecast
    return SkuReview(
        sku_id=sku.sku_id,
        name=sku.name,
        opening_sellable=opening_sellable,
        opening_reserve=opening.get(RESERVE, 0),
        opening_campaign=sum(v for p, v in opening.items() if keys.is_campaign_pool(p)),
        made_available=made_available,
        sell_through=_ratio(actual, made_available),
        sold_out_at=sold_out_at,
        time_to_sell_out_s=None if sold_out_at is None else round(epoch(sold_out_at) - session.started_at, 3),
        sell_outs=sell_outs,
        peak_units_per_min=max(total.held_by_minute.values(), default=0),
        reserve_used=sum(r.units for r in reserve_releases),
        reserve_releases=reserve_releases,
        staged_units=sum(r.units for r in stages),
        stages=stages,
        stage_events=[e for e in in_live if e.detail_type == "StageReleased"],
        quota_moves=quota_moves,
        alerts=[e for e in in_live if e.detail_type == "AlertRaised"],
        forecast_units=forecast,
        actual_units=actual,
        forecast_miss_units=miss,
        forecast_miss_pct=None if miss is None or not forecast else round(100 * miss / forecast, 1),
        oversold=oversold_units(movements),
        reconciliation=Reconciled(
            consistent=sku.reconciliation.consistent,
            differences=sku.reconciliation.differences,
            unattributed_movements=sku.reconciliation.unattributed.get("movements", 0),
        ),
        platforms=platforms,
        minutes=minutes,
        **total.figures(),
    )


def _same_change(movement: dict[str, Any], batch: list[dict[str, Any]]) -> bool:
    """Whether a movement belongs with the batch replayed as one moment: the same time, or the next
    leg of the same stock change (a reserve release's legs out of `reserve` and into shared may be
    stamped a millisecond apart: replayed one at a time, the SKU looked sold out between them)."""
    if not batch:
        return True
    first = batch[0]
    if movement["at"] == first["at"]:
        return True
    return (
        str(movement["op"]) == str(first["op"])
        and str(movement["op"]) not in ORDER_OPS
        and movement.get("reference") == first.get("reference")
        and epoch(str(movement["at"])) - epoch(str(first["at"])) <= GROUP_WITHIN_S
    )


def _sold_out(pools: _Pools, auto_release_reserve: bool) -> bool:
    reserve = pools.totals.get(RESERVE, 0) if auto_release_reserve else 0
    return pools.sellable() + reserve <= 0


# --- the plain-language summary ------------------------------------------------------------------


def duration_text(seconds: float) -> str:
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _pct(value: float) -> str:
    return f"{round(value * 100)}%"


def sku_summary(sku: SkuReview) -> str:
    if sku.time_to_sell_out_s is not None:
        head = f"{sku.name} sold out in {duration_text(sku.time_to_sell_out_s)} on all platforms"
    else:
        out = [p for p in sku.platforms if p.time_to_sell_out_s is not None]
        head = f"{sku.name} did not sell out"
        if out:
            head += (
                " (sold out on "
                + ", ".join(f"{p.channel} in {duration_text(p.time_to_sell_out_s or 0)}" for p in out)
                + ")"
            )
    parts = [head + f": {sku.sold_units} of {sku.made_available} units sold"]
    if sku.refunded_units:
        parts[0] += f", {sku.refunded_units} refunded"
    if sku.sell_through is not None:
        parts[0] += f" ({_pct(sku.sell_through)} sell-through)"
    if sku.forecast_units is not None:
        if sku.forecast_miss_pct is None:
            parts.append(f"{sku.actual_units} units against a forecast of {sku.forecast_units}")
        elif sku.forecast_miss_units == 0:
            parts.append(f"exactly on forecast ({sku.forecast_units})")
        else:
            direction = "above" if (sku.forecast_miss_units or 0) > 0 else "below"
            parts.append(
                f"{abs(round(sku.forecast_miss_pct))}% {direction} forecast "
                f"({sku.actual_units} vs {sku.forecast_units})"
            )
    if sku.unpaid_rate is not None:
        parts.append(f"{_pct(sku.unpaid_rate)} of held units were never paid ({sku.expired_units} units)")
    return "; ".join(parts) + "."


def session_summary(skus: list[SkuReview], totals: SessionTotals) -> list[str]:
    lines = [sku_summary(sku) for sku in skus]
    refusals = []
    if totals.refused_sold_out:
        refusals.append(f"{totals.refused_sold_out} orders refused as sold out")
    if totals.refused_over_limit:
        refusals.append(f"{totals.refused_over_limit} over the per-buyer limit")
    if refusals:
        lines.append(", ".join(refusals).capitalize() + ".")
    if totals.refunded_units:
        lines.append(f"{totals.refunded_units} paid units were refunded.")
    awaiting = [f"{sku.name} {sku.still_held_units}" for sku in skus if sku.still_held_units]
    if awaiting:
        # Built when the live ends, while payment windows may still be open: those may yet sell.
        lines.append(
            "Still awaiting payment when this review was built (held, not counted as sold): "
            + ", ".join(awaiting)
            + " units."
        )
    lines.append(
        f"Oversold: {totals.oversold} units. Reconciliation with the ledger: "
        + ("every SKU consistent." if totals.reconciled else "INCONSISTENT, see the SKUs below.")
    )
    return lines


def sync_summary(sync: list[PlatformSyncReview]) -> list[str]:
    measured = [row for row in sync if row.lag_p99_s is not None]
    lines = []
    if measured:
        worst = max(measured, key=lambda row: row.lag_p99_s or 0.0)
        calls = sum(row.calls_acknowledged for row in sync)
        lines.append(
            f"Platform sync: {calls} stock changes acknowledged; lag p99 at worst {worst.lag_p99_s:.2f} s "
            f"({worst.channel_id}, {worst.sku_id})."
        )
    failing = [f"{row.channel_id}/{row.sku_id}" for row in sync if row.failing_at_end or row.pending_at_end]
    if failing:
        lines.append(f"Sync still failing or pending at the end: {', '.join(failing)}.")
    return lines


def compose(session: SessionFacts, skus: list[SkuInputs], sync: list[PlatformSyncReview] | None = None) -> Review:
    sync = sync or []
    reviewed = [review_sku(session, sku) for sku in skus]
    fields = list(OrderFigures.model_fields)
    additive = [f for f in fields if f != "unpaid_rate"]
    sums = {f: sum(getattr(s, f) for s in reviewed) for f in additive}
    totals = SessionTotals(
        **sums,
        unpaid_rate=_ratio(sums["expired_units"], sums["held_units"]),
        oversold=sum(s.oversold for s in reviewed),
        reconciled=all(s.reconciliation.consistent for s in reviewed),
    )
    review = Review(
        session_id=session.session_id,
        title=session.title,
        channels=session.channels,
        started_at=iso(session.started_at),
        ended_at=iso(session.ended_at),
        duration_s=round(session.ended_at - session.started_at, 3),
        summary=session_summary(reviewed, totals) + sync_summary(sync),
        totals=totals,
        skus=reviewed,
        sync=sync,
    )
    return review.model_copy(update={"digest": digest_of(review)})


def digest_of(review: Review) -> str:
    body = review.model_dump(mode="json", exclude={"digest"})
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
