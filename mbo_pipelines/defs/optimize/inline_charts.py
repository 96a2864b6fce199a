"""Charts small enough for the Dagster UI to show on the asset page itself, not behind "[Show Markdown]".

The UI renders a Markdown metadata value in place only when it is shorter than 1 000 characters; a PNG never is.
These charts are hand-written SVG (a few hundred bytes), embedded as ``![alt](data:image/svg+xml;base64,...)``:
the budget per platform, current against recommended, and the response curves of the three largest campaigns with
their current and recommended spend. ``mbo report`` has the full-size pictures.
"""

from __future__ import annotations

import base64
from xml.sax.saxutils import escape

import numpy as np

from mbo_pipelines.defs.optimize.planning import Plan

#: The Dagster UI shows Markdown metadata inline below this many characters.
INLINE_LIMIT = 1000
CURRENT, RECOMMENDED = "#888", "#17b"
# Bars and dots are thick strokes of short paths: the shortest SVG that draws them.
_STYLE = (f"<style>path{{fill:none;stroke:#000}}.c{{stroke:{CURRENT}}}.r{{stroke:{RECOMMENDED}}}"
          ".c,.r{stroke-width:6;stroke-linecap:round}</style>")
_CURVE_PANELS, _CURVE_POINTS = 3, 9
_PANEL_W, _PANEL_H = 100, 60
_BAR_W = 150


def svg_markdown(svg: str, alt: str) -> str:
    """``![alt](data:image/svg+xml;base64,...)``."""
    alt = alt.replace("[", "(").replace("]", ")").replace("\n", " ")
    return f"![{alt}](data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode('ascii')})"


def platform_bars_markdown(plan: Plan) -> str:
    """``platform_bars`` as Markdown metadata, with its legend as the image's text."""
    return svg_markdown(platform_bars(plan), f"Daily budget per platform ({plan.reporting_currency}): grey now, "
                                             "blue recommended")


def response_curves_markdown(plan: Plan) -> str:
    """``response_curves`` as Markdown metadata, with its legend as the image's text; drawn with fewer points
    should the finest one not fit inline."""
    alt = f"Value vs spend ({plan.reporting_currency}/day), 3 largest campaigns: grey now, blue recommended"
    for points in range(_CURVE_POINTS, 4, -1):
        markdown = svg_markdown(response_curves(plan, points), alt)
        if len(markdown) < INLINE_LIMIT:
            break
    return markdown


def _svg(width: int, height: int, body: str) -> str:
    return f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-size='9'>{_STYLE}{body}</svg>"


def platform_bars(plan: Plan) -> str:
    """Two bars per platform: today's total daily budget (grey) and the recommended one (blue), with the change.
    Inline-sized for up to about four platforms."""
    totals = plan.rows.groupby("platform", sort=True)[
        ["current_daily_budget_reporting", "recommended_daily_budget_reporting"]].sum()
    current_totals, recommended_totals = (totals[column].to_numpy(float) for column in totals.columns)
    top = float(max(current_totals.max(initial=0), recommended_totals.max(initial=0))) or 1.0
    rows = []
    for i, (platform, current, recommended) in enumerate(zip(totals.index, current_totals, recommended_totals)):
        change = recommended / current - 1 if current > 0 else 0.0
        wc, wr, y = round(_BAR_W * current / top), round(_BAR_W * recommended / top), 20 * i
        rows.append(f"<text y='{y + 13}'>{escape(str(platform)[:14])}</text>"
                    f"<path class='c' d='M70 {y + 6}h{wc}'/><path class='r' d='M70 {y + 12}h{wr}'/>"
                    f"<text x='{74 + max(wc, wr)}' y='{y + 13}'>{change:+.0%}</text>")
    return _svg(260, 20 * len(rows) + 2, "".join(rows))


def response_curves(plan: Plan, points: int = _CURVE_POINTS) -> str:
    """The fitted curves (value against spend) of the three campaigns with the largest budgets, each with its
    current (grey) and recommended (blue) spend marked."""
    if plan.curves is None or plan.curve_index is None:
        raise ValueError("the plan carries no fitted curves (build it with build_plan)")
    current_all = plan.rows["current_daily_budget_reporting"].to_numpy(float)
    recommended_all = plan.rows["recommended_daily_budget_reporting"].to_numpy(float)
    shown = np.argsort(-np.maximum(current_all, recommended_all), kind="stable")[:_CURVE_PANELS]
    positions = np.asarray(plan.curve_index)[shown]
    current, recommended = current_all[shown], recommended_all[shown]
    top = np.where(np.maximum(current, recommended) > 0, np.maximum(current, recommended) * 1.5, 1.0)
    grid = np.linspace(0.0, 1.0, points)[:, None] * top
    curves = plan.curves.take(positions)
    values = np.asarray(curves.value(grid))
    marks = np.asarray(curves.value(np.vstack([current, recommended])))
    # Pixel coordinates: x = spend, y = value (downwards), per panel scaled to its own curve.
    height = np.maximum(values.max(axis=0), marks.max(axis=0))
    height = np.where(height > 0, height, 1.0)
    xs = np.rint(_PANEL_W * grid / top).astype(int)
    ys = np.rint(_PANEL_H * (1 - values / height)).astype(int)
    mark_x = np.rint(_PANEL_W * np.vstack([current, recommended]) / top).astype(int)
    mark_y = np.rint(_PANEL_H * (1 - marks / height)).astype(int)
    panels = []
    for i in range(len(shown)):
        steps = " ".join(f"{dx}{dy:+d}" for dx, dy in zip(np.diff(xs[:, i]), np.diff(ys[:, i])))
        panels.append(f"<g transform='translate({110 * i + 4},4)'><path d='M{xs[0, i]} {ys[0, i]}l{steps}'/>"
                      f"<path class='c' d='M{mark_x[0, i]} {mark_y[0, i]}h0'/>"
                      f"<path class='r' d='M{mark_x[1, i]} {mark_y[1, i]}h0'/></g>")
    return _svg(110 * len(panels), _PANEL_H + 8, "".join(panels))
