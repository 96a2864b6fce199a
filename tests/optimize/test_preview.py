"""The metadata's recommendations table: every campaign of a small plan, the largest moves of a big one."""

import re
from optimize_helpers import synthetic_marts

from mbo_pipelines.defs.optimize.assets import _preview
from mbo_pipelines.defs.optimize.planning import build_plan


def table_rows(markdown: str) -> list[list[str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("| ")][1:]  # without the header
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_small_plan_shows_every_campaign():
    daily, campaigns = synthetic_marts()
    plan = build_plan(daily, campaigns, "USD")
    markdown = _preview(plan)
    assert len(table_rows(markdown)) == len(plan.rows) == 12
    assert "more campaigns" not in markdown


def test_big_plan_shows_its_largest_moves_and_where_the_rest_is():
    daily, campaigns = synthetic_marts()
    plan = build_plan(daily, campaigns, "USD")
    markdown = _preview(plan, limit=5)

    rows = plan.rows.assign(move=(plan.rows["recommended_daily_budget_reporting"] - plan.rows["current_daily_budget_reporting"]).abs())
    expected = rows.sort_values("move", ascending=False, kind="stable")["campaign_name"].head(5).tolist()
    # Names as written: the table escapes Markdown's own characters (an underscore, a pipe) with a backslash.
    assert [re.sub(r"\\(.)", r"\1", row[1]) for row in table_rows(markdown)] == expected
    assert markdown.endswith("*The 5 largest moves; 7 more campaigns in marts.budget_recommendations.*")
