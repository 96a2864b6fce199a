"""The real budget_recommendations asset on small synthetic marts: its metadata, and the plan columns it writes.

The database starts with a budget_plans table in its first-release shape, so the
upgrade (ALTER TABLE ... ADD COLUMN IF NOT EXISTS) is exercised too.
"""

import base64
import math
import re

import dagster as dg
import psycopg
import pytest
from optimize_helpers import plan_metadata, synthetic_marts, write_synthetic_marts

from mbo_pipelines.defs.optimize.assets import budget_recommendations
from mbo_pipelines.defs.optimize.tables import PLANS_DDL
from mbo_pipelines.resources import MboResource

NEW_KEYS = {
    "outlier_days", "target_marginal_roas", "budget_at_target_marginal_roas", "details", "optimality_gap",
    "dual_upper_bound", "expected_uplift", "expected_uplift_low", "expected_uplift_high", "response_curves",
    "allocation_by_platform",
}
OLD_PLAN = ("plan-old", "USD", 100.0, 50.0, 55.0, 1, "2026-01-01", "2026-01-31", True, "ok", 0.0, "text", "deterministic")


@pytest.fixture(scope="module")
def database(new_database):
    url = new_database("optimize")
    daily, campaigns = synthetic_marts()
    write_synthetic_marts(url, daily, campaigns)
    with psycopg.connect(url) as conn:
        # One tracking glitch: a day reporting eight times its conversion value.
        conn.execute(
            "update marts.opt_campaign_inputs "
            "set platform_conversion_value_reporting = platform_conversion_value_reporting * 8 "
            "where (campaign_id, date_day) = (select campaign_id, date_day from marts.opt_campaign_inputs "
            "order by campaign_id, date_day offset 20 limit 1)"
        )
        conn.execute(PLANS_DDL)  # the first-release shape, without the uplift interval columns
        conn.execute(
            "insert into marts.budget_plans (plan_id, reporting_currency, total_daily_budget_reporting, "
            "expected_value_current_reporting, expected_value_recommended_reporting, campaign_count, history_start, "
            "history_end, solver_success, solver_message, optimality_gap, explanation, explanation_source) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            OLD_PLAN,
        )
    return url


@pytest.fixture(scope="module")
def materialized(database):
    with pytest.MonkeyPatch.context() as env:
        env.delenv("ANTHROPIC_API_KEY", raising=False)
        env.delenv("MBO_MAX_BUDGET_CHANGE", raising=False)
        result = dg.materialize([budget_recommendations], resources={"mbo": MboResource(database_url=database)})
    assert result.success
    return plan_metadata(result)


def _embedded_svg(markdown: str) -> bytes:
    match = re.fullmatch(r"!\[[^\]]+\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert match, markdown[:200]
    return base64.b64decode(match.group(1))


def test_metadata_has_the_certificate_uplift_interval_and_charts(materialized):
    assert NEW_KEYS <= set(materialized)
    point = materialized["expected_uplift"].value
    low, high = materialized["expected_uplift_low"].value, materialized["expected_uplift_high"].value
    assert low <= point <= high
    assert materialized["dual_upper_bound"].value >= materialized["expected_value_recommended"].value - 0.01
    assert math.isfinite(materialized["optimality_gap"].value)
    assert materialized["outlier_days"].value == 1  # the glitch, left out of the fit
    assert materialized["target_marginal_roas"].value == 1.0
    assert re.search(
        r"Spending until the next USD returns 1\.00 USD \(each campaign within ±30% of its budget\): "
        r"[\d,]+ USD/day in total, against [\d,]+ in this plan\.",
        materialized["details"].value,
    )
    assert ", 1 outlier day(s) ignored;" in materialized["details"].value
    for key in ("response_curves", "allocation_by_platform"):
        assert isinstance(materialized[key], dg.MarkdownMetadataValue)
        # An SVG small enough for the asset page to show in place (the UI folds Markdown of 1 000 characters).
        assert _embedded_svg(materialized[key].value).startswith(b"<svg xmlns='http://www.w3.org/2000/svg'")
        assert len(materialized[key].value) < 1000
    # A short set, headline first, in the order the UI shows; the rest in "facts"; no formatted copies of numbers
    # that are already there (the old "uplift" text beside expected_uplift, "spend_scenario", ...).
    assert list(materialized)[:14] == [
        "plan_id", "total_daily_budget", "current_total_daily_budget", "expected_value_current",
        "expected_value_recommended", "expected_uplift", "expected_uplift_low", "expected_uplift_high",
        "optimality_gap", "explanation", "details", "recommendations", "inputs_unchanged", "facts"]
    assert not {"uplift", "spend_scenario", "paced_accounts"} & set(materialized)


def test_plan_row_has_the_interval_and_old_databases_are_upgraded(materialized, database):
    with psycopg.connect(database) as conn:
        rows = {
            plan_id: values for plan_id, *values in conn.execute(
                "select plan_id, expected_uplift_low_reporting, expected_uplift_high_reporting, "
                "target_marginal_roas, budget_at_target_marginal_roas_reporting from marts.budget_plans"
            )
        }
    new_plan = materialized["plan_id"].value
    assert set(rows) == {"plan-old", new_plan}
    assert rows["plan-old"] == [None, None, None, None]
    low, high, target, budget = (float(v) for v in rows[new_plan])  # money is numeric: read as Decimal
    assert low == pytest.approx(materialized["expected_uplift_low"].value, abs=0.01)
    assert high == pytest.approx(materialized["expected_uplift_high"].value, abs=0.01)
    assert target == materialized["target_marginal_roas"].value == 1.0
    assert budget == pytest.approx(materialized["budget_at_target_marginal_roas"].value, abs=0.01)
