"""How much should we spend at all? The budget at a target marginal ROAS, on the plan's own curves."""

import pytest
from optimize_helpers import synthetic_marts

from mbo_pipelines.defs.optimize.planning import budget_for_marginal_roas, build_plan


@pytest.fixture(scope="module")
def plan():
    daily, campaigns = synthetic_marts()
    return build_plan(daily, campaigns, "USD")


def test_at_the_plans_own_marginal_roas_the_budget_is_the_plans_total(plan):
    assert plan.marginal_roas is not None
    budget = budget_for_marginal_roas(plan, plan.marginal_roas, 0.3)
    assert budget == pytest.approx(plan.total_daily_budget_reporting, rel=1e-3)


def test_a_higher_bar_means_spending_less_within_the_guardrails(plan):
    current = plan.rows["current_daily_budget_reporting"].sum()
    budgets = [budget_for_marginal_roas(plan, target, 0.3) for target in (0.01, 1.0, 2.0, 4.0, 1e6)]
    assert budgets == sorted(budgets, reverse=True)
    assert budgets[0] == pytest.approx(1.3 * current)  # everything returns more than 0.01: every campaign at +30 %
    assert budgets[-1] == pytest.approx(0.7 * current)  # nothing returns 1e6: every campaign at -30 %
