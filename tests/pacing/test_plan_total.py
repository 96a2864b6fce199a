"""plan_total: the plan's daily total from paced and current account totals, with known answers."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mbo_pipelines.defs.optimize.pacing import plan_total

# Two accounts; google's budget is split over two campaigns (rows are summed).
CURRENT = pd.DataFrame({
    "platform": ["google_ads", "google_ads", "meta_ads"],
    "account_id": ["111", "111", "act_2"],
    "campaign_id": ["a", "b", "c"],
    "daily_budget_reporting": [60.0, 40.0, 100.0],
})  # google_ads/111: 100, meta_ads/act_2: 100, total 200 -> band [140, 260] at ±30%


def paced(*rows: tuple[str, str, float]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["platform", "account_id", "paced_daily_budget_reporting"])


NO_BUDGETS = paced()


def test_accounts_without_a_monthly_budget_keep_their_current_total():
    decision = plan_total(CURRENT, NO_BUDGETS, 0.3)
    assert decision.total_reporting == 200.0
    assert decision.paced_total_reporting == 200.0
    assert decision.current_total_reporting == 200.0
    assert decision.clipped is None and not decision.was_clipped
    assert decision.paced_accounts == ()
    assert decision.kept_accounts == (("google_ads", "111"), ("meta_ads", "act_2"))
    assert list(decision.accounts["source"]) == ["current", "current"]
    assert list(decision.accounts["target_total_reporting"]) == [100.0, 100.0]
    assert decision.message.startswith("No account has a monthly budget this month")


def test_mixed_paced_and_kept_accounts_within_the_band():
    decision = plan_total(CURRENT, paced(("google_ads", "111", 150.0)), 0.3, reporting_currency="USD")
    assert decision.total_reporting == 250.0  # 150 paced + 100 kept, inside [140, 260]
    assert decision.clipped is None
    assert decision.paced_accounts == (("google_ads", "111"),)
    assert decision.kept_accounts == (("meta_ads", "act_2"),)
    rows = decision.accounts.set_index(["platform", "account_id"])
    assert rows.loc[("google_ads", "111"), "current_total_reporting"] == 100.0
    assert rows.loc[("google_ads", "111"), "target_total_reporting"] == 150.0
    assert rows.loc[("google_ads", "111"), "source"] == "paced"
    assert rows.loc[("meta_ads", "act_2"), "target_total_reporting"] == 100.0
    assert rows.loc[("meta_ads", "act_2"), "source"] == "current"
    assert decision.message == (
        "Paced 1 of 2 accounts to their monthly budgets (1 kept at their current total): "
        "250.00 USD per day against 200.00 USD now (+25.0%)."
    )


def test_paced_total_above_the_band_is_clipped_high():
    decision = plan_total(CURRENT, paced(("google_ads", "111", 300.0), ("meta_ads", "act_2", 120.0)), 0.3)
    assert decision.paced_total_reporting == 420.0
    assert decision.upper_reporting == pytest.approx(260.0)
    assert decision.total_reporting == pytest.approx(260.0)
    assert decision.clipped == "high" and decision.was_clipped
    assert decision.kept_accounts == ()
    # Per-account targets stay as paced: only the sum is clipped.
    assert list(decision.accounts["target_total_reporting"]) == [300.0, 120.0]
    assert "clipped to 260.00" in decision.message and "+30%" in decision.message


def test_paced_total_below_the_band_is_clipped_low():
    # A monthly budget already spent: paced at 0, the other account kept at 100.
    decision = plan_total(CURRENT, paced(("meta_ads", "act_2", 0.0)), 0.25)
    assert decision.paced_total_reporting == 100.0
    assert decision.lower_reporting == pytest.approx(150.0)
    assert decision.total_reporting == pytest.approx(150.0)
    assert decision.clipped == "low"
    assert decision.paced_accounts == (("meta_ads", "act_2"),)
    assert "clipped to 150.00" in decision.message and "-25%" in decision.message


def test_totals_on_the_band_edges_are_not_clipped():
    high = plan_total(CURRENT, paced(("google_ads", "111", 160.0)), 0.3)  # 160 + 100 = 260
    low = plan_total(CURRENT, paced(("google_ads", "111", 40.0)), 0.3)  # 40 + 100 = 140
    assert (high.total_reporting, high.clipped) == (pytest.approx(260.0), None)
    assert (low.total_reporting, low.clipped) == (pytest.approx(140.0), None)


def test_paced_accounts_without_a_current_budget_are_ignored():
    decision = plan_total(CURRENT, paced(("tiktok_ads", "999", 500.0), ("meta_ads", "act_2", 110.0)), 0.3)
    assert decision.total_reporting == 210.0
    assert decision.ignored_accounts == (("tiktok_ads", "999"),)
    assert decision.paced_accounts == (("meta_ads", "act_2"),)
    assert len(decision.accounts) == 2
    assert "no active campaign" in decision.message


@pytest.mark.parametrize(
    "current, paced_rows, max_change, match",
    [
        (CURRENT, paced(("google_ads", "111", 1.0), ("google_ads", "111", 2.0)), 0.3, "several rows"),
        (CURRENT, paced(("google_ads", "111", math.nan)), 0.3, "NaN"),
        (CURRENT, paced(("google_ads", "111", -1.0)), 0.3, "negative"),
        (CURRENT.assign(daily_budget_reporting=0.0), NO_BUDGETS, 0.3, "sum to 0"),
        (CURRENT.drop(columns="daily_budget_reporting"), NO_BUDGETS, 0.3, "needs columns"),
        (CURRENT, NO_BUDGETS, 0.0, "max_change"),
        (CURRENT, NO_BUDGETS, 1.0, "max_change"),
    ],
)
def test_bad_inputs_are_refused(current, paced_rows, max_change, match):
    with pytest.raises(ValueError, match=match):
        plan_total(current, paced_rows, max_change)
