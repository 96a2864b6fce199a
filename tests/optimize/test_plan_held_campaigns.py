"""Campaigns without spend in the history window (new or re-activated) keep their budget; the rest are planned."""

import pandas as pd
import pytest
from optimize_helpers import synthetic_marts

from mbo_pipelines.defs.explain.deterministic import campaign_explanations
from mbo_pipelines.defs.optimize.assets import plan_facts
from mbo_pipelines.defs.optimize.planning import HELD_NO_SPEND, PlanError, build_plan

NEW = {"platform": "meta_ads", "account_id": "acc-usd", "campaign_id": "me-usd-new", "campaign_name": "launched today",
       "currency": "USD", "daily_budget": 250.0, "daily_budget_reporting": 250.0}


def market_with_new_and_paused():
    """``(daily, campaigns, paused campaign_id)``: one campaign paused all window, one with no rows at all."""
    daily, campaigns = synthetic_marts()
    paused = campaigns.iloc[0]
    paused_days = (daily["campaign_id"] == paused["campaign_id"]) & (daily["account_id"] == paused["account_id"])
    daily.loc[paused_days, ["spend_reporting", "conversion_value_reporting"]] = 0.0  # paused all window, re-activated
    campaigns = pd.concat([campaigns, pd.DataFrame([NEW])], ignore_index=True)
    return daily, campaigns, paused["campaign_id"]


@pytest.fixture(scope="module")
def plan_with_new_and_paused():
    daily, campaigns, paused_id = market_with_new_and_paused()
    return build_plan(daily, campaigns, "USD"), paused_id


def test_campaigns_without_spend_keep_their_budget_and_say_why(plan_with_new_and_paused):
    plan, paused_id = plan_with_new_and_paused
    rows = plan.rows.set_index("campaign_id")
    held = rows[rows["held_reason"].notna()]
    assert sorted(held.index) == sorted([paused_id, NEW["campaign_id"]])
    assert (held["held_reason"] == HELD_NO_SPEND).all()
    assert (held["recommended_daily_budget"] == held["current_daily_budget"]).all()
    assert (held["expected_value_recommended"] == held["expected_value_current"]).all()

    others = rows[rows["held_reason"].isna()]
    assert (others["recommended_daily_budget"] != others["current_daily_budget"]).any()  # the rest is planned
    assert plan.rows["recommended_daily_budget_reporting"].sum() == pytest.approx(plan.total_daily_budget_reporting)

    sentences = campaign_explanations(plan_facts(plan, 0.3))
    assert sentences[("meta_ads", "acc-usd", "me-usd-new")] == f"Keep 250.00 USD (held: {HELD_NO_SPEND})."


def test_no_campaign_with_spend_is_a_clear_error():
    daily, campaigns = synthetic_marts()
    with pytest.raises(PlanError, match="no active campaign has spend in the history window"):
        build_plan(daily.iloc[0:0], campaigns, "USD")


def test_a_total_beyond_what_unheld_campaigns_can_absorb_is_clipped_and_said(plan_with_new_and_paused):
    plan, _ = plan_with_new_and_paused
    rows = plan.rows
    held = rows["held_reason"].notna()
    fixed = rows.loc[held, "current_daily_budget_reporting"].sum()
    free = rows.loc[~held, "current_daily_budget_reporting"].sum()
    daily, campaigns, _ = market_with_new_and_paused()
    # 0.7 x everything is within +-30 % of the sum, but not once the held campaigns cannot move
    cut = build_plan(daily, campaigns, "USD", total_budget=0.7 * (fixed + free))

    assert cut.total_daily_budget_reporting == pytest.approx(fixed + 0.7 * free)
    assert cut.rows["recommended_daily_budget_reporting"].sum() == pytest.approx(fixed + 0.7 * free)
    assert cut.solver_message.startswith("Total ")
    assert "clipped to" in cut.solver_message and "held at their budgets" in cut.solver_message


def test_the_plan_stays_within_the_maximum_change_of_the_budget_24_hours_ago():
    from mbo_pipelines.defs.optimize.planning import HELD_24H_LIMIT, build_plan

    history, campaigns = synthetic_marts()
    # MBO raised the first campaign by 30% today and cut the second by 30%; the third was moved by hand far away.
    campaigns["budget_24h_ago"] = float("nan")
    campaigns.loc[0, "budget_24h_ago"] = campaigns.loc[0, "daily_budget"] / 1.3
    campaigns.loc[1, "budget_24h_ago"] = campaigns.loc[1, "daily_budget"] / 0.7
    campaigns.loc[2, "budget_24h_ago"] = campaigns.loc[2, "daily_budget"] * 3
    plan = build_plan(history, campaigns, "USD", max_change=0.3)
    rows = plan.rows.set_index("campaign_id")
    for i in (0, 1):
        cid, base = campaigns.loc[i, "campaign_id"], campaigns.loc[i, "budget_24h_ago"]
        assert base * 0.7 - 0.01 <= rows.loc[cid, "recommended_daily_budget"] <= base * 1.3 + 0.01
    third = rows.loc[campaigns.loc[2, "campaign_id"]]
    assert third["held_reason"] == HELD_24H_LIMIT
    assert third["recommended_daily_budget"] == round(campaigns.loc[2, "daily_budget"], 2)
    assert abs(plan.rows["recommended_daily_budget_reporting"].sum() - plan.total_daily_budget_reporting) <= 0.01
