"""The guardrails as pure functions, and the reading of each platform's budget vocabulary."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from activate_helpers import cents

from mbo_pipelines.defs.activate import guardrails as g
from mbo_pipelines.sandbox.market import PLATFORMS

NOW = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)


def live(budget: str, currency: str = "USD") -> g.LiveCampaign:
    return g.LiveCampaign("acct", "cmp", currency, Decimal(budget))


def test_max_change_allows_exactly_the_limit_and_refuses_beyond():
    assert g.check_max_change(Decimal("100.00"), Decimal("130.00"), 0.30) is None
    assert g.check_max_change(Decimal("100.00"), Decimal("70.00"), 0.30) is None
    up = g.check_max_change(Decimal("100.00"), Decimal("130.01"), 0.30)
    assert up.startswith("max_change:") and "100.00 -> 130.01" in up and "±30%" in up
    assert g.check_max_change(Decimal("100.00"), Decimal("69.99"), 0.30).startswith("max_change:")
    assert g.check_max_change(Decimal("0"), Decimal("10"), 0.30).startswith("max_change:")


@pytest.mark.parametrize("new", [Decimal("0"), Decimal("-5"), Decimal("NaN"), float("nan"), float("inf"), None])
def test_new_budget_must_be_finite_and_positive(new):
    problems = g.change_problems(Decimal("100"), new, "USD", live("100"))
    assert len(problems) == 1 and problems[0].startswith("positive_budget:")


def test_stale_plan_is_refused_but_an_already_applied_budget_is_not():
    assert g.check_stale(Decimal("100"), Decimal("120"), Decimal("100.99")) is None
    stale = g.check_stale(Decimal("100"), Decimal("120"), Decimal("101.50"))
    assert stale.startswith("stale_plan:") and "101.50" in stale and "100.00" in stale
    # An interrupted push already set the new budget: setting it again is harmless.
    assert g.check_stale(Decimal("100"), Decimal("120"), Decimal("120")) is None


def test_change_problems_name_each_rule():
    assert g.change_problems(Decimal("100"), Decimal("120"), "USD", live("100")) == []
    assert g.change_problems(Decimal("100"), Decimal("120"), "USD", None)[0].startswith("campaign_exists:")
    assert g.change_problems(Decimal("100"), Decimal("120"), "EUR", live("100"))[0].startswith("currency:")
    # The budget in force now is the base too: 100 -> 120 is +20% of the plan's view but +50% of 80.
    rules = [p.split(":")[0] for p in g.change_problems(Decimal("100"), Decimal("120"), "USD", live("80"))]
    assert rules == ["stale_plan", "max_change"]


def test_plan_rules():
    plan = {"plan_id": "p", "solver_success": True, "solver_message": "ok", "created_at": NOW - timedelta(hours=1),
            "total_daily_budget_reporting": 300.0, "optimality_gap": None}
    recs = [{"platform": "google_ads", "account_id": "a", "campaign_id": str(i), "currency": "EUR",
             "recommended_daily_budget_reporting": 100.0, "current_daily_budget": Decimal("90.00"),
             "current_daily_budget_reporting": 81.0, "recommended_daily_budget": Decimal("111.11")}
            for i in range(3)]  # EUR at 0.9 reporting units
    assert g.plan_problems(plan, recs, NOW, None) == []
    assert g.plan_problems(plan, recs, NOW, "newer")[0].startswith("latest_plan: plan p is superseded by")
    assert g.plan_problems({**plan, "created_at": NOW - timedelta(hours=37)}, recs, NOW, None)[0].startswith(
        "plan_age: plan is 37.0 hours old")
    assert g.plan_problems({**plan, "total_daily_budget_reporting": 300.02}, recs, NOW, None)[0].startswith(
        "plan_total: recommended budgets sum to 300.00 over 3 campaigns, but the plan total is 300.02")
    assert g.plan_problems({**plan, "total_daily_budget_reporting": 300.009}, recs, NOW, None) == []
    assert g.plan_problems({**plan, "solver_success": False}, recs, NOW, None)[0].startswith("solver_success:")
    nan_recs = [*recs[:2], {**recs[2], "current_daily_budget": Decimal("NaN")}]
    assert g.plan_problems(plan, nan_recs, NOW, None)[0].startswith(
        "finite_numbers: recommendation google_ads/a/2 has non-finite values: current_daily_budget=NaN")
    inf_recs = [*recs[:2], {**recs[2], "recommended_daily_budget_reporting": math.inf}]
    rules = {p.split(":")[0] for p in g.plan_problems(plan, inf_recs, NOW, None)}
    assert rules == {"finite_numbers", "plan_total"}
    # 100.00 sent as EUR where the plan allocated 100.00 reporting units: the conversion back was forgotten.
    unconverted = [*recs[:2], {**recs[2], "recommended_daily_budget": Decimal("100.00")}]
    assert g.plan_problems(plan, unconverted, NOW, None) == [
        "currency_conversion: recommendation google_ads/a/2 of 100.00 EUR is 90.00  at the plan's rate 0.9, "
        "not the 100.00 the plan allocated"]
    off_by_rounding = [*recs[:2], {**recs[2], "recommended_daily_budget": Decimal("111.12")}]
    assert g.plan_problems(plan, off_by_rounding, NOW, None) == []


def test_limits_from_env(monkeypatch):
    assert g.limits_from_env() == g.Limits(0.30, 36.0)
    monkeypatch.setenv("MBO_MAX_BUDGET_CHANGE", "0.5")
    monkeypatch.setenv("MBO_PLAN_MAX_AGE_HOURS", "12")
    assert g.limits_from_env() == g.Limits(0.5, 12.0)
    assert g.limits_from_env(max_change=0.1).max_change == 0.1
    monkeypatch.setenv("MBO_MAX_BUDGET_CHANGE", "lots")
    with pytest.raises(ValueError, match="MBO_MAX_BUDGET_CHANGE"):
        g.limits_from_env()
    with pytest.raises(ValueError, match="fraction"):
        g.limits_from_env(max_change=2.0)


def test_live_budgets_in_each_platform_vocabulary_are_currency_units(market):
    for platform in PLATFORMS:
        connector = market.connector(platform)
        read = g.live_campaigns(platform, connector.fetch_campaigns())
        expected = market.current_budgets(platform)
        currencies = {c.campaign_id: c.currency for c in market.campaigns(platform)}
        assert read, platform
        for (account_id, campaign_id), campaign in read.items():
            assert campaign.daily_budget == cents(expected[campaign_id]), (platform, campaign_id)
            assert campaign.currency == currencies[campaign_id]
    with pytest.raises(ValueError, match="no budget vocabulary"):
        g.live_campaign("snapchat_ads", {})


def _google_row(campaign_id: str, budget_id: str, micros: int, shared: bool, count: int) -> dict:
    return {"customer_id": "1234567890", "campaign_id": campaign_id, "customer_currency_code": "USD",
            "campaign_budget_amount_micros": micros, "campaign_budget_id": budget_id,
            "campaign_budget_explicitly_shared": shared, "campaign_budget_reference_count": count}


def test_a_shared_google_budget_counts_each_campaign_once_and_moves_only_with_all_its_campaigns():
    live = g.live_campaigns("google_ads", [
        _google_row("1", "900", 300_000_000, True, 3), _google_row("2", "900", 300_000_000, True, 3),
        _google_row("3", "900", 300_000_000, True, 3), _google_row("4", "901", 50_000_000, False, 1),
    ])
    assert live[("1234567890", "1")].daily_budget == Decimal(100)  # an even share of the 300
    assert live[("1234567890", "4")].daily_budget == Decimal(50) and not live[("1234567890", "4")].shared_budget
    in_plan = {("1234567890", c) for c in ("1", "2", "4")}
    problem = g.check_shared_budget(live[("1234567890", "1")], live, in_plan)
    assert problem.startswith("shared_budget: budget 900 is shared by campaigns 1, 2, 3; 3 is not in this plan")
    assert g.check_shared_budget(live[("1234567890", "1")], live, in_plan | {("1234567890", "3")}) is None
    assert g.check_shared_budget(live[("1234567890", "4")], live, set()) is None


def test_a_meta_campaign_without_its_own_budget_is_refused():
    row = {"account_id": "123", "campaign_id": "9", "account_currency": "EUR", "daily_budget": None}
    campaign = g.live_campaign("meta_ads", row)
    assert campaign.account_id == "act_123" and campaign.daily_budget is None
    assert g.change_problems(Decimal(10), Decimal(11), "EUR", campaign) == [
        "own_budget: the campaign has no daily budget of its own (its ad sets carry the budgets)"]
    jpy = g.live_campaign("meta_ads", {**row, "account_currency": "JPY", "daily_budget": 1500})
    assert jpy.daily_budget == Decimal(1500)


def test_the_rolling_limit_measures_against_the_budget_a_day_ago():
    live = g.LiveCampaign("a", "c", "USD", Decimal("130.00"))
    # MBO already moved 100 -> 130 today: another +30% is +69% on the day.
    problems = g.change_problems(Decimal("130.00"), Decimal("169.00"), "USD", live, day_ago=Decimal("100.00"))
    assert problems == ["max_change_24h: 100.00 -> 169.00 is a +69.0% change of the budget in force 24 hours ago, "
                        "beyond the allowed ±30%"]
    # Undoing today's change is always allowed, and so is any move inside both bands.
    assert g.change_problems(Decimal("130.00"), Decimal("100.00"), "USD", live, day_ago=Decimal("100.00")) == []
    assert g.change_problems(Decimal("130.00"), Decimal("125.00"), "USD", live, day_ago=Decimal("100.00")) == []


def test_undoing_a_full_cut_of_today_is_allowed_but_only_back_to_the_budget_a_day_ago():
    live = g.LiveCampaign("a", "c", "USD", Decimal("70.00"))
    # MBO cut 100 -> 70 today: going back is +42.9 % of the budget now, and allowed.
    assert g.change_problems(Decimal("70.00"), Decimal("100.00"), "USD", live, day_ago=Decimal("100.00")) == []
    # Past it is not an undo: measured against the budget now (and the day's limit: 100 -> 120 is fine).
    problems = g.change_problems(Decimal("70.00"), Decimal("120.00"), "USD", live, day_ago=Decimal("100.00"))
    assert [p.split(":")[0] for p in problems] == ["max_change", "max_change"]
    # Without a change of MBO's today there is nothing to undo: +42.9 % is refused.
    assert g.change_problems(Decimal("70.00"), Decimal("100.00"), "USD", live)[0].startswith("max_change: ")
