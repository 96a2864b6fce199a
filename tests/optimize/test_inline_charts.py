"""inline_charts.py: SVG charts under the 1 000 characters the Dagster UI shows in place, drawn to scale."""

import base64
import re
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest
from optimize_helpers import synthetic_marts

from mbo_pipelines.defs.optimize import inline_charts
from mbo_pipelines.defs.optimize.planning import build_plan

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def plan():
    daily, campaigns = synthetic_marts(campaigns_per_account=3)
    return build_plan(daily, campaigns, "USD")


def _parsed(markdown: str) -> ET.Element:
    match = re.fullmatch(r"!\[[^\]]*\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert match, markdown[:100]
    return ET.fromstring(base64.b64decode(match.group(1)))


def _length(path: ET.Element) -> int:
    """The length of a bar, ``M70 6h120`` → 120."""
    return int(path.get("d").split("h")[1])


def test_platform_bars_are_inline_sized_and_to_scale(plan):
    markdown = inline_charts.platform_bars_markdown(plan)
    assert len(markdown) < inline_charts.INLINE_LIMIT
    svg = _parsed(markdown)
    totals = plan.rows.groupby("platform")[["current_daily_budget_reporting", "recommended_daily_budget_reporting"]].sum()
    texts, bars = svg.findall(f"{SVG}text"), svg.findall(f"{SVG}path")
    assert [t.text for t in texts[::2]] == list(totals.index) and len(totals) >= 3
    top = totals.to_numpy(float).max()
    for i, (current, recommended) in enumerate(totals.to_numpy(float)):
        grey, blue = bars[2 * i], bars[2 * i + 1]
        assert (grey.get("class"), blue.get("class")) == ("c", "r")
        assert _length(grey) == round(150 * current / top) and _length(blue) == round(150 * recommended / top)
        assert texts[2 * i + 1].text == f"{recommended / current - 1:+.0%}"


def test_platform_bars_escape_names(plan):
    hostile = replace(plan, rows=plan.rows.assign(platform=["<b>&amp;" if i % 2 else "ok" for i in range(len(plan.rows))]))
    labels = [t.text for t in ET.fromstring(inline_charts.platform_bars(hostile)).findall(f"{SVG}text")[::2]]
    assert labels == ["<b>&amp;", "ok"]


def test_response_curves_are_inline_sized_and_mark_the_budgets(plan):
    markdown = inline_charts.response_curves_markdown(plan)
    assert len(markdown) < inline_charts.INLINE_LIMIT
    panels = _parsed(markdown).findall(f"{SVG}g")
    assert len(panels) == 3
    budgets = plan.rows[["current_daily_budget_reporting", "recommended_daily_budget_reporting"]].to_numpy(float)
    largest = budgets.max(axis=1).argsort(kind="stable")[::-1][:3]
    for panel, row in zip(panels, largest):
        current, recommended = budgets[row]
        top = max(current, recommended) * 1.5
        curve, grey, blue = panel.findall(f"{SVG}path")
        assert (grey.get("class"), blue.get("class")) == ("c", "r")
        assert int(grey.get("d")[1:].split()[0]) == round(100 * current / top)
        assert int(blue.get("d")[1:].split()[0]) == round(100 * recommended / top)
        steps = [re.fullmatch(r"(\d+)([+-]\d+)", step).groups() for step in curve.get("d").split("l")[1].split()]
        assert len(steps) == 8  # nine points: eight relative steps of (dx, dy)
        assert sum(int(dx) for dx, _ in steps) == 100  # the curve spans the panel, from 0 to 1.5 x the budget
        assert sum(int(dy) for _, dy in steps) < 0  # and rises: more spend, more value


def test_response_curves_need_the_fitted_curves(plan):
    with pytest.raises(ValueError, match="no fitted curves"):
        inline_charts.response_curves(replace(plan, curves=None))
