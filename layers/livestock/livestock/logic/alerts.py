"""Tiered low-stock alerts, sold-out detection and the sell-out ETA: pure functions of a SKU's
event state and its new figures, so that one conditional write can apply the result.

A tier fires once when sellable stock falls to or below floor(baseline * pct / 100) and re-arms
when stock rises above it again. SoldOut fires when the SKU (or a channel with a quota) reaches 0
and re-arms when it has stock again. The velocity is the units taken in the last `window_s`
seconds (or since the first observation, if that is more recent), per minute.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from livestock.events.models import (
    AlertRaised,
    Eta,
    EventDetail,
    SoldOut,
    StockChanged,
    StockFigures,
    StockLow,
)

SKU_SCOPE = "sku"
# An alert is a warning (not info) below this tier or when the sell-out is this close.
WARN_TIER_PCT = 20
WARN_ETA_S = 120
MAX_SAMPLES = 240


class AlertConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tiers_pct: list[int]
    baseline: int
    baseline_mode: Literal["opening", "units"]
    set_at: float


class SkuEventState(BaseModel):
    """Everything the publisher remembers about one SKU, written as one item, conditionally."""

    model_config = ConfigDict(extra="forbid")

    sku_id: str
    sequence: int = 0
    figures: StockFigures | None = None
    config: AlertConfig | None = None
    fired_tiers: list[int] = Field(default_factory=list)
    sold_out: list[str] = Field(default_factory=list)
    taken_total: int = 0
    # (unix seconds, taken_total then): the velocity's sliding window
    samples: list[tuple[float, int]] = Field(default_factory=list)


def threshold_of(baseline: int, pct: int) -> int:
    return baseline * pct // 100


def format_duration(seconds: float) -> str:
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def eta_of(state: SkuEventState, remaining: int, now: float, window_s: int) -> Eta:
    start = next(((t, taken) for t, taken in state.samples if t >= now - window_s), None)
    elapsed = now - start[0] if start else 0.0
    velocity = (state.taken_total - start[1]) / elapsed * 60 if start and elapsed > 0 else 0.0
    if remaining <= 0:
        return Eta(velocity_per_min=round(velocity, 2), window_s=window_s, sold_out_in_s=0.0, text="sold out")
    if velocity <= 0:
        return Eta(
            velocity_per_min=0.0,
            window_s=window_s,
            sold_out_in_s=None,
            text=f"no units taken in the last {format_duration(window_s)}",
        )
    seconds = remaining / velocity * 60
    return Eta(
        velocity_per_min=round(velocity, 2),
        window_s=window_s,
        sold_out_in_s=round(seconds, 1),
        text=f"at this rate, sold out in {format_duration(seconds)}",
    )


def _scopes(figures: StockFigures) -> dict[str, int]:
    return {SKU_SCOPE: figures.sellable, **{f"channel:{c}": units for c, units in figures.channels.items()}}


def _record_sample(state: SkuEventState, taken: int, now: float, window_s: int) -> None:
    state.taken_total += taken
    state.samples.append((now, state.taken_total))
    state.samples = [(t, taken) for t, taken in state.samples if t >= now - window_s][-MAX_SAMPLES:]


def observe(
    state: SkuEventState, figures: StockFigures, now: float, window_s: int
) -> tuple[SkuEventState, list[EventDetail]]:
    """The state after seeing `figures`, and the events that this observation raises.
    No change in the figures raises nothing (a replayed batch lands here)."""
    if state.figures == figures:
        return state, []
    new = state.model_copy(deep=True)
    new.sequence += 1
    new.figures = figures
    sku_id = state.sku_id
    events: list[EventDetail] = [
        StockChanged(
            event_id=f"{sku_id}:StockChanged:{new.sequence}",
            sku_id=sku_id,
            occurred_at=now,
            sequence=new.sequence,
            figures=figures,
        )
    ]
    previous = state.figures
    _record_sample(new, max(0, previous.sellable - figures.sellable) if previous else 0, now, window_s)
    eta = eta_of(new, figures.sellable, now, window_s)
    config = new.config
    common = {
        "sku_id": sku_id,
        "occurred_at": now,
        "baseline": config.baseline if config else None,
        "channels": figures.channels,
        "eta": eta,
    }

    if config is not None:
        for pct in config.tiers_pct:
            threshold = threshold_of(config.baseline, pct)
            if pct not in new.fired_tiers and figures.sellable <= threshold:
                new.fired_tiers.append(pct)
                low = StockLow(
                    event_id=f"{sku_id}:StockLow:{new.sequence}:{pct}",
                    tier_pct=pct,
                    threshold=threshold,
                    remaining=figures.sellable,
                    **common,
                )
                events += [low, _raised(low, "StockLow")]
            elif pct in new.fired_tiers and figures.sellable > threshold:
                new.fired_tiers.remove(pct)

    for scope, units in _scopes(figures).items():
        if scope in new.sold_out:
            if units > 0:
                new.sold_out.remove(scope)
            continue
        if units > 0:
            continue
        new.sold_out.append(scope)
        if previous is None:
            continue  # a SKU first seen empty was never "sold" out
        channel = None if scope == SKU_SCOPE else scope.removeprefix("channel:")
        sold_out = SoldOut(
            event_id=f"{sku_id}:SoldOut:{new.sequence}:{scope}",
            scope="sku" if channel is None else "channel",
            channel=channel,
            tier_pct=None,
            threshold=None,
            remaining=units,
            **common,
        )
        events += [sold_out, _raised(sold_out, "SoldOut")]
    return new, events


def _raised(alert: StockLow | SoldOut, kind: Literal["StockLow", "SoldOut"]) -> AlertRaised:
    if isinstance(alert, SoldOut):
        severity: Literal["info", "warn", "critical"] = "critical" if alert.scope == "sku" else "warn"
        where = "every channel" if alert.channel is None else f"channel {alert.channel}"
        message = f"{alert.sku_id} is sold out on {where}"
    else:
        soon = alert.eta.sold_out_in_s is not None and alert.eta.sold_out_in_s <= WARN_ETA_S
        severity = "warn" if alert.tier_pct <= WARN_TIER_PCT or soon else "info"
        message = (
            f"{alert.sku_id} is at {alert.remaining} units, below {alert.tier_pct}% of {alert.baseline}; "
            f"{alert.eta.text}"
        )
    fields = alert.model_dump(exclude={"event_id", "version", "scope", "channel"})
    return AlertRaised(
        event_id=f"{alert.event_id}:AlertRaised",
        alert=kind,
        severity=severity,
        message=message,
        cause_event_id=alert.event_id,
        **fields,
    )


def configure(
    state: SkuEventState,
    tiers_pct: list[int],
    baseline: int,
    mode: Literal["opening", "units"],
    sellable: int,
    now: float,
) -> SkuEventState:
    """New tiers. A tier the stock is already at or below counts as crossed: it fires after the
    stock has risen above it and fallen again, never on the setting itself."""
    new = state.model_copy(deep=True)
    ordered = sorted(set(tiers_pct), reverse=True)
    new.config = AlertConfig(tiers_pct=ordered, baseline=baseline, baseline_mode=mode, set_at=now)
    new.fired_tiers = [pct for pct in ordered if sellable <= threshold_of(baseline, pct)]
    return new
