"""Full-size pictures of a plan (`mbo report`): PNG bytes. The asset page shows the small SVG ones of
``inline_charts``.

Pure functions: each builds its own ``matplotlib.figure.Figure`` on an Agg canvas
(no pyplot, so no global figure state and no display backend), renders it to PNG
and lets it go. Amounts are in the plan's reporting currency, in which the curves
were fitted and the solver works.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter
from PIL import Image

from mbo_pipelines.defs.optimize.planning import Plan

MAX_PANELS = 12
DPI = 80
# Colours of the palette PNGs are stored as: the charts use a handful of colours plus their
# anti-aliasing shades, and a palette PNG is about a third the size of matplotlib's RGBA one.
# Every plan's pictures are stored in Dagster's event log, base64-encoded, so size adds up.
PALETTE_COLOURS = 64
CURRENT_COLOUR = "#7f7f7f"
RECOMMENDED_COLOUR = "#1f77b4"
_GRID_POINTS = 120
_COMPACT = FuncFormatter(lambda x, _: _compact(x))


def largest_campaigns(plan: Plan, limit: int = MAX_PANELS) -> np.ndarray:
    """Row positions of the ``limit`` campaigns with the largest current or recommended budget (reporting)."""
    budget = np.maximum(
        plan.rows["current_daily_budget_reporting"].to_numpy(float),
        plan.rows["recommended_daily_budget_reporting"].to_numpy(float),
    )
    return np.argsort(-budget, kind="stable")[:limit]


def response_curves_png(plan: Plan, limit: int = MAX_PANELS) -> bytes:
    """Small multiples of the fitted curves of the ``limit`` largest campaigns, current and recommended spend marked.

    Each panel: expected value per day against spend per day (reporting currency),
    the observed days as dots (when the plan carries them), the current spend as a
    grey circle, the recommended spend as a blue diamond. The title says how many of
    the plan's campaigns are shown.
    """
    if plan.curves is None or plan.curve_index is None:
        raise ValueError("the plan carries no fitted curves (build it with build_plan)")
    shown = largest_campaigns(plan, limit)
    rows = plan.rows.iloc[shown]
    positions = np.asarray(plan.curve_index)[shown]
    current = rows["current_daily_budget_reporting"].to_numpy(float)
    recommended = rows["recommended_daily_budget_reporting"].to_numpy(float)
    observed = _observed_by_curve(plan, positions)

    top = np.maximum(current, recommended) * 1.6
    for i, p in enumerate(positions):
        if p in observed:
            top[i] = max(top[i], observed[p][0].max() * 1.05)
    top = np.where(top > 0, top, 1.0)
    grid = np.linspace(0.0, 1.0, _GRID_POINTS)[:, None] * top  # (points, panels)
    curves = plan.curves.take(positions)
    values = np.asarray(curves.value(grid))
    value_current = np.asarray(curves.value(current))
    value_recommended = np.asarray(curves.value(recommended))

    n = len(shown)
    columns = min(4, n)
    lines = -(-n // columns)
    fig = Figure(figsize=(2.6 * columns, 2.1 * lines + 0.7), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(lines, columns, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_axis_off()
            continue
        row, p = rows.iloc[i], positions[i]
        if p in observed:
            ax.scatter(*observed[p], s=5, color="#bbbbbb", linewidths=0, zorder=1)
        ax.plot(grid[:, i], values[:, i], color="black", linewidth=1.2, zorder=2)
        ax.plot(current[i], value_current[i], "o", color=CURRENT_COLOUR, markersize=6, zorder=3)
        ax.plot(recommended[i], value_recommended[i], "D", color=RECOMMENDED_COLOUR, markersize=5, zorder=4)
        change = recommended[i] / current[i] - 1 if current[i] > 0 else 0.0
        # parse_math=False: a name such as "Save $5 off $20" is text, not TeX between two dollar signs.
        ax.set_title(f"{_shorten(str(row.campaign_name), 24)}\n{row.platform} · {change:+.0%}", fontsize=8,
                     parse_math=False)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_formatter(_COMPACT)
        ax.yaxis.set_major_formatter(_COMPACT)
        ax.set_xlim(0, top[i])
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3, linewidth=0.5)
    currency = plan.reporting_currency
    fig.suptitle(
        f"Response curves: {n} largest of {len(plan.rows)} campaigns "
        f"(x: spend, y: expected value, {currency}/day)",
        fontsize=10,
    )
    legend = [
        Line2D([], [], color="black", linewidth=1.2, label="fitted curve"),
        Line2D([], [], marker="o", linestyle="", color=CURRENT_COLOUR, label="current budget"),
        Line2D([], [], marker="D", linestyle="", color=RECOMMENDED_COLOUR, label="recommended budget"),
    ]
    if observed:
        legend.append(Line2D([], [], marker=".", linestyle="", color="#bbbbbb", label="observed days"))
    fig.legend(handles=legend, loc="outside lower center", ncols=len(legend), fontsize=8, frameon=False)
    return _png(fig)


def allocation_by_platform_png(plan: Plan) -> bytes:
    """Grouped bars: current and recommended total daily budget per platform (reporting currency)."""
    totals = (
        plan.rows.groupby("platform", sort=True)[["current_daily_budget_reporting", "recommended_daily_budget_reporting"]]
        .sum()
    )
    platforms = list(totals.index)
    current = totals["current_daily_budget_reporting"].to_numpy(float)
    recommended = totals["recommended_daily_budget_reporting"].to_numpy(float)
    x = np.arange(len(platforms))
    width = 0.38

    fig = Figure(figsize=(max(4.0, 1.6 * len(platforms) + 1.5), 3.2), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.bar(x - width / 2, current, width, color=CURRENT_COLOUR, label="current")
    bars = ax.bar(x + width / 2, recommended, width, color=RECOMMENDED_COLOUR, label="recommended")
    for bar, before, after in zip(bars, current, recommended):
        change = after / before - 1 if before > 0 else 0.0
        ax.annotate(
            f"{_compact(after)} ({change:+.1%})", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            xytext=(0, 2), textcoords="offset points", ha="center", va="bottom", fontsize=7,
        )
    ax.set_xticks(x, platforms, fontsize=8, parse_math=False)
    ax.tick_params(axis="y", labelsize=7)
    ax.yaxis.set_major_formatter(_COMPACT)
    ax.set_ylabel(f"daily budget ({plan.reporting_currency})", fontsize=8)
    ax.set_ylim(0, max(current.max(initial=0), recommended.max(initial=0)) * 1.15 or 1.0)
    ax.set_title("Daily budget per platform: current vs recommended", fontsize=9)
    fig.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3, linewidth=0.5)
    return _png(fig)


def _observed_by_curve(plan: Plan, positions) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Observed (spend, value) days of the curves at ``positions``, if the plan carries its history."""
    if plan.observed is None or plan.observed.empty:
        return {}
    days = plan.observed[plan.observed["curve_index"].isin(positions)]
    return {
        int(p): (g["spend"].to_numpy(float), g["conversion_value"].to_numpy(float))
        for p, g in days.groupby("curve_index")
    }


def _png(fig: Figure) -> bytes:
    """The figure as a palette PNG of ``PALETTE_COLOURS`` colours."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    with Image.open(buffer) as image:
        palette = image.convert("RGB").quantize(colors=PALETTE_COLOURS, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    palette.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _compact(x: float) -> str:
    """1234 → ``1.2k``, 2_500_000 → ``2.5M``; small numbers as they are."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= size:
            return f"{x / size:.3g}{suffix}"
    return f"{x:.4g}"


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
