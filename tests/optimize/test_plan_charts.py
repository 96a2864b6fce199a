"""charts.py: valid, small PNGs of a synthetic plan, and Markdown that embeds them."""

import base64
import io
import re
from dataclasses import replace

import matplotlib.image
import PIL.Image
import pytest
from optimize_helpers import synthetic_marts

from mbo_pipelines.defs.optimize import charts, inline_charts
from mbo_pipelines.defs.optimize.planning import build_plan

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def plan():
    daily, campaigns = synthetic_marts(campaigns_per_account=3)  # 18 campaigns: more than the panels shown
    return build_plan(daily, campaigns, "USD")


def _decoded(png: bytes):
    assert png.startswith(PNG_SIGNATURE)
    assert 2_000 < len(png) < 60_000  # a palette PNG: matplotlib's RGBA one of the 12 panels is ~120 KB
    with PIL.Image.open(io.BytesIO(png)) as image:
        assert image.mode == "P" and len(image.getcolors()) <= charts.PALETTE_COLOURS
    image = matplotlib.image.imread(io.BytesIO(png), format="png")
    height, width = image.shape[:2]
    assert 200 <= width <= 1200 and 150 <= height <= 900
    assert image.std() > 0.01  # something is drawn
    return image


def test_response_curves_png_is_a_small_valid_png(plan):
    _decoded(charts.response_curves_png(plan))


def test_response_curves_show_the_largest_campaigns_capped(plan):
    shown = charts.largest_campaigns(plan)
    assert len(shown) == charts.MAX_PANELS < len(plan.rows)
    budget = plan.rows[["current_daily_budget_reporting", "recommended_daily_budget_reporting"]].max(axis=1)
    assert budget.iloc[shown].min() >= budget.drop(budget.index[shown]).max()


def test_response_curves_with_fewer_campaigns_than_panels_and_no_observed_days():
    daily, campaigns = synthetic_marts(campaigns_per_account=1)
    small = replace(build_plan(daily, campaigns, "USD"), observed=None)  # the points are optional
    _decoded(charts.response_curves_png(small))


def test_response_curves_need_the_fitted_curves(plan):
    with pytest.raises(ValueError, match="no fitted curves"):
        charts.response_curves_png(replace(plan, curves=None))


def test_allocation_by_platform_png_is_a_small_valid_png(plan):
    _decoded(charts.allocation_by_platform_png(plan))


def test_charts_leave_no_pyplot_figures_behind(plan):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    charts.response_curves_png(plan)
    charts.allocation_by_platform_png(plan)
    assert plt.get_fignums() == before


def test_markdown_image_round_trips_base64(plan):
    svg = inline_charts.platform_bars(plan)
    text = inline_charts.svg_markdown(svg, "a [chart]\nof budgets")
    match = re.fullmatch(r"!\[([^\]\n]*)\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", text)
    assert match, text[:200]
    assert match.group(1) == "a (chart) of budgets"
    assert base64.b64decode(match.group(2)) == svg.encode()