"""build_plan keeps what the charts and the metadata need: curves, their order, the dual bound, the uplift interval."""

import numpy as np
import pytest
from optimize_helpers import synthetic_marts

from mbo_pipelines.defs.optimize.planning import build_plan


@pytest.fixture(scope="module")
def plan():
    daily, campaigns = synthetic_marts()
    return build_plan(daily, campaigns, "USD")


def test_uplift_interval_brackets_the_point_estimate(plan):
    point = plan.expected_value_recommended_reporting - plan.expected_value_current_reporting
    low, high = plan.uplift_interval
    assert isinstance(low, float) and isinstance(high, float)
    assert low <= point <= high
    assert high - low > 0  # the history is noisy: the uplift is not known exactly


def test_uplift_interval_is_reproducible(plan):
    daily, campaigns = synthetic_marts()
    assert build_plan(daily, campaigns, "USD").uplift_interval == pytest.approx(plan.uplift_interval)


def test_plan_keeps_curves_in_row_order(plan):
    curves, index = plan.curves, plan.curve_index
    assert len(index) == len(plan.rows) and sorted(index) == list(range(len(curves)))
    ids = plan.rows[["platform", "account_id", "campaign_id"]].astype(str).agg("|".join, axis=1)
    assert list(curves.campaign_ids[index]) == list(ids)
    # the curve at a row's current budget gives that row's expected value
    current = np.empty(len(curves))
    current[index] = plan.rows["current_daily_budget_reporting"].to_numpy()
    np.testing.assert_allclose(curves.value(current)[index], plan.rows["expected_value_current_reporting"])


def test_plan_keeps_the_dual_bound_and_the_observed_days(plan):
    assert plan.upper_bound >= plan.expected_value_recommended_reporting - 1e-6
    assert plan.upper_bound == pytest.approx(
        plan.expected_value_recommended_reporting * (1 + plan.optimality_gap), rel=1e-9, abs=1e-6
    )
    assert len(plan.observed) == 60 * len(plan.rows)
    assert (plan.observed["curve_index"] >= 0).all()
