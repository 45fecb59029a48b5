"""The review as CSV (one row per SKU x platform) and as a self-contained HTML page.

The page carries its charts as inline SVG drawn by matplotlib (no script, no CDN, no network): a
per-minute curve per SKU with stage releases, reserve releases, quota moves, alerts and sell-outs
marked, and forecast against actual for the session. Rendering is deterministic (fixed SVG ids per
chart, no dates in the SVG), so a rebuild of the same review gives the same bytes.
"""

import csv
import io
from typing import Any

from livestock.logic.review import duration_text, epoch
from livestock.models.review import Review, SkuReview

# Additive per-platform columns: summed over the rows they give the session's totals.
CSV_ADDITIVE = (
    "held_units",
    "sold_units",
    "refunded_units",
    "expired_units",
    "cancelled_units",
    "still_held_units",
    "refused_sold_out",
    "refused_over_limit",
    "refused_paused",
)
CSV_COLUMNS = (
    "session_id",
    "sku_id",
    "sku_name",
    "platform",
    "opening_sellable",
    "made_available",
    *CSV_ADDITIVE,
    "unpaid_rate",
    "sell_through",
    "sold_out_at",
    "time_to_sell_out_s",
    "peak_units_per_min",
    # The SKU's own figures, repeated on each of its rows (not to be summed over platforms).
    "sku_opening_sellable",
    "sku_reserve_used",
    "sku_staged_units",
    "sku_stages_released_at",
    "sku_alerts_fired",
    "sku_sold_out_at",
    "sku_time_to_sell_out_s",
    "sku_forecast_units",
    "sku_actual_units",
    "sku_forecast_miss_units",
    "sku_forecast_miss_pct",
    "sku_oversold",
    "sku_reconciled",
)


# A text cell a spreadsheet would run as a formula (a SKU's name is the merchant's free text).
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value  # read as text; numbers (a negative forecast miss) are not strings here
    return str(value)


def to_csv(review: Review) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for sku in review.skus:
        for platform in sku.platforms:
            row: dict[str, Any] = {
                "session_id": review.session_id,
                "sku_id": sku.sku_id,
                "sku_name": sku.name,
                "platform": platform.channel,
                **{name: getattr(platform, name) for name in CSV_COLUMNS if hasattr(platform, name)},
                "sku_opening_sellable": sku.opening_sellable,
                "sku_reserve_used": sku.reserve_used,
                "sku_staged_units": sku.staged_units,
                "sku_stages_released_at": " ".join(s.at for s in sku.stages),
                "sku_alerts_fired": " ".join(f"{a.at}:{a.severity}" for a in sku.alerts),
                "sku_sold_out_at": sku.sold_out_at,
                "sku_time_to_sell_out_s": sku.time_to_sell_out_s,
                "sku_forecast_units": sku.forecast_units,
                "sku_actual_units": sku.actual_units,
                "sku_forecast_miss_units": sku.forecast_miss_units,
                "sku_forecast_miss_pct": sku.forecast_miss_pct,
                "sku_oversold": sku.oversold,
                "sku_reconciled": sku.reconciliation.consistent,
            }
            writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


# --- charts -------------------------------------------------------------------------------------

MARKERS = {
    "stage": ("#2a9d8f", "--", "stage released"),
    "reserve": ("#7b2cbf", "-.", "reserve released"),
    "quota": ("#8d99ae", ":", "quota moved"),
    "alert": ("#f4a261", ":", "alert"),
    "critical": ("#e63946", ":", "critical alert"),
    "sold_out": ("#d00000", "-", "sold out"),
}


def _svg(figure: Any, salt: str) -> str:
    import matplotlib as mpl  # noqa: PLC0415 - heavy; only the review function draws

    buffer = io.StringIO()
    with mpl.rc_context({"svg.hashsalt": salt, "svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _new_figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_svg import FigureCanvasSVG  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasSVG(figure)
    return figure


def sales_chart(review: Review, sku: SkuReview) -> str:
    """Units held and paid per minute, with the live's moments marked."""
    started = epoch(review.started_at)
    figure = _new_figure(9, 3.4)
    axes = figure.add_subplot()
    # Each curve starts at the session's start (nothing sold yet), so a live shorter than a minute
    # still draws a line rather than a lone point.
    xs = [0.0] + [m.minute + 0.5 for m in sku.minutes]
    (held,) = axes.plot(xs, [0] + [m.held_units for m in sku.minutes], marker="o", markersize=3, color="#1d3557")
    held.set_gid("held-line")
    held.set_label("units held / min")
    (sold,) = axes.plot(xs, [0] + [m.sold_units for m in sku.minutes], marker="s", markersize=3, color="#457b9d")
    sold.set_gid("sold-line")
    sold.set_label("units paid / min")
    marks: list[tuple[str, str]] = [("stage", s.at) for s in sku.stages]
    marks += [("reserve", r.at) for r in sku.reserve_releases]
    marks += [("quota", q.at) for q in sku.quota_moves]
    marks += [("critical" if a.severity == "critical" else "alert", a.at) for a in sku.alerts]
    marks += [("sold_out", at) for at in sku.sell_outs]
    labelled: set[str] = set()
    for kind, at in marks:
        color, style, label = MARKERS[kind]
        line = axes.axvline((epoch(at) - started) / 60, color=color, linestyle=style, linewidth=1.2)
        line.set_gid(f"marker-{kind}")
        if kind not in labelled:
            line.set_label(label)
            labelled.add(kind)
    axes.set_xlim(0, max(len(sku.minutes), 1))
    axes.set_ylim(bottom=0)
    axes.set_xlabel("minutes since the start")
    axes.set_ylabel("units")
    axes.set_title(f"{sku.name} ({sku.sku_id})", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="upper right")
    return _svg(figure, f"{review.session_id}-{sku.sku_id}")


def forecast_chart(review: Review) -> str:
    figure = _new_figure(9, 1.6 + 0.5 * len(review.skus))
    axes = figure.add_subplot()
    names = [s.sku_id for s in review.skus]
    ys = list(range(len(names)))
    actual = axes.barh([y + 0.2 for y in ys], [s.actual_units for s in review.skus], height=0.4, color="#1d3557")
    for sku, bar in zip(review.skus, actual, strict=True):
        bar.set_gid(f"actual-{sku.sku_id}")
    actual.set_label("sold (net of refunds)")
    forecast = axes.barh(
        [y - 0.2 for y in ys], [s.forecast_units or 0 for s in review.skus], height=0.4, color="#a8dadc"
    )
    for sku, bar in zip(review.skus, forecast, strict=True):
        bar.set_gid(f"forecast-{sku.sku_id}")
    forecast.set_label("forecast")
    axes.set_yticks(ys, names)
    axes.set_xlabel("units")
    axes.legend(fontsize=7, loc="lower right")
    axes.grid(alpha=0.3, axis="x")
    return _svg(figure, f"{review.session_id}-forecast")


def to_html(review: Review) -> str:
    # Imported here: only the review builder renders, and only it has the review-charts layer.
    from jinja2 import Environment, PackageLoader, select_autoescape  # noqa: PLC0415

    environment = Environment(
        loader=PackageLoader("livestock", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        keep_trailing_newline=True,
    )
    environment.filters["duration"] = lambda s: "" if s is None else duration_text(float(s))
    environment.filters["pct"] = lambda r: "" if r is None else f"{r * 100:.1f}%"
    template = environment.get_template("review.html.j2")
    charts = {sku.sku_id: sales_chart(review, sku) for sku in review.skus}
    return template.render(review=review, charts=charts, forecast_chart=forecast_chart(review))
