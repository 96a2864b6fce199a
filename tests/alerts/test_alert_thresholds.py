"""The detector's thresholds from MBO_ALERT_* (defaults, each variable, bad values), and what open alerts do to a
plan and a push: holds or low-confidence marks (holds.py), the plan keeping held budgets, the policy's approval."""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from decimal import Decimal

import pytest

from mbo_pipelines.defs.activate.account_settings import AccountSettings, AccountSettingsBook
from mbo_pipelines.defs.activate.policy import Policy
from mbo_pipelines.defs.alerts import model
from mbo_pipelines.defs.alerts.holds import alert_reason, low_confidence_reasons, split_by_action
from mbo_pipelines.defs.alerts.model import Alert
from mbo_pipelines.defs.alerts.thresholds import APPROVE, ENV_NAMES, HOLD, Thresholds, thresholds_from_env
from mbo_pipelines.defs.optimize.planning import build_plan
from tests.optimize.optimize_helpers import synthetic_marts


@pytest.fixture(autouse=True)
def no_alert_settings(monkeypatch):
    for name in {*ENV_NAMES.values(), *(name for name, _, _ in SET.values())}:
        monkeypatch.delenv(name, raising=False)


# ---------------------------------------------------------------------------- thresholds


def test_the_defaults():
    t = thresholds_from_env()
    assert t == Thresholds()
    assert (t.z, t.ratio, t.min_spend, t.min_clicks, t.overspend_ratio, t.pacing_ratio, t.restatement_ratio, t.weeks,
            t.scan_days, t.p_value, t.tracking_factor, t.action) == (
        5.0, 2.5, 20.0, 30.0, 2.0, 1.2, 0.2, 8, 7, 1e-4, 4.0, HOLD)
    assert t.min_history == 4  # half the weeks...
    assert Thresholds(weeks=4).min_history == 3 and Thresholds(weeks=2).min_history == 3  # ...at least 3


#: field -> (its variable, spelt out: the README's names), a value to set, what it reads as.
SET = {"z": ("MBO_ALERT_Z", "3.5", 3.5), "ratio": ("MBO_ALERT_RATIO", "1.8", 1.8),
       "min_spend": ("MBO_ALERT_MIN_SPEND", "50", 50.0), "min_clicks": ("MBO_ALERT_MIN_CLICKS", "12.5", 12.5),
       "overspend_ratio": ("MBO_ALERT_OVERSPEND_RATIO", "3", 3.0),
       "pacing_ratio": ("MBO_ALERT_PACING_RATIO", "1.5", 1.5),
       "restatement_ratio": ("MBO_ALERT_RESTATEMENT_RATIO", "0.05", 0.05), "weeks": ("MBO_ALERT_WEEKS", "6", 6),
       "scan_days": ("MBO_ALERT_SCAN_DAYS", "3", 3), "p_value": ("MBO_ALERT_P_VALUE", "0.001", 0.001),
       "tracking_factor": ("MBO_ALERT_TRACKING_FACTOR", "2", 2.0), "action": ("MBO_ALERT_ACTION", " Approve ", APPROVE)}


def test_every_threshold_has_its_variable():
    assert ENV_NAMES == {field: name for field, (name, _, _) in SET.items()}
    assert set(SET) == {f.name for f in fields(Thresholds)}


@pytest.mark.parametrize("field", list(SET))
def test_each_variable_is_read(monkeypatch, field):
    name, raw, value = SET[field]
    monkeypatch.setenv(name, raw)
    t = thresholds_from_env()
    assert getattr(t, field) == value and type(getattr(t, field)) is type(value)
    others = {f.name: getattr(t, f.name) for f in fields(Thresholds) if f.name != field}
    assert others == {name: getattr(Thresholds(), name) for name in others}


def test_all_variables_at_once_and_blank_ones_are_the_defaults(monkeypatch):
    for name, raw, _ in SET.values():
        monkeypatch.setenv(name, raw)
    assert thresholds_from_env() == Thresholds(**{field: value for field, (_, _, value) in SET.items()})
    for name, _, _ in SET.values():
        monkeypatch.setenv(name, "  ")
    assert thresholds_from_env() == Thresholds()


@pytest.mark.parametrize(("field", "raw", "says"), [
    ("z", "five", "a number"),
    ("z", "0", "above 0"),
    ("min_spend", "-5", "above 0"),
    ("p_value", "nan", "finite"),
    ("ratio", "1", "above 1"),
    ("ratio", "0.5", "above 1"),
    ("overspend_ratio", "1", "above 1"),
    ("pacing_ratio", "0.9", "above 1"),
    ("tracking_factor", "1", "above 1"),
    ("weeks", "0", "at least 1"),
    ("weeks", "2.5", "whole number"),
    ("scan_days", "a week", "whole number"),
    ("action", "pause", "hold, approve"),
])
def test_a_bad_value_is_a_value_error_naming_its_variable(monkeypatch, field, raw, says):
    name = SET[field][0]
    monkeypatch.setenv(name, raw)
    with pytest.raises(ValueError, match=name) as error:
        thresholds_from_env()
    assert says in str(error.value)


# ---------------------------------------------------------------------------- holds


def _alert(kind: str, platform: str, account: str | None, campaign: str | None, first: date = date(2026, 1, 28)) -> Alert:
    return Alert(kind=kind, severity=model.ERROR, platform=platform, account_id=account, campaign_id=campaign,
                 metric="spend", observed=0.0, expected=100.0, expected_low=40.0, expected_high=250.0,
                 first_day=first, last_day=date(2026, 3, 1), message=f"{kind} on {platform}/{account}/{campaign}.")


@pytest.fixture(scope="module")
def marts():
    return synthetic_marts()


def test_only_input_data_alerts_make_their_campaigns_low_confidence(marts):
    _, campaigns = marts
    broken = _alert(model.TRACKING_BREAK, "google_ads", "acc-usd", "go-usd-0")
    account_gone = _alert(model.MISSING_DAY, "meta_ads", "acc-eur", None)
    platform_restated = _alert(model.RESTATEMENT, "tiktok_ads", None, None)
    not_input = [_alert(model.EFFICIENCY_SHIFT, "google_ads", "acc-eur", "go-eur-0"),
                 _alert(model.OVERSPEND, "google_ads", "acc-eur", "go-eur-1")]
    same_campaign = _alert(model.SPEND_SPIKE, "google_ads", "acc-usd", "go-usd-0", date(2026, 2, 27))
    reasons = low_confidence_reasons([broken, account_gone, platform_restated, same_campaign, *not_input], campaigns)
    tiktok = {tuple(k) for k in campaigns.loc[campaigns["platform"] == "tiktok_ads",
                                              ["platform", "account_id", "campaign_id"]].values}
    assert set(reasons) == {("google_ads", "acc-usd", "go-usd-0"), ("meta_ads", "acc-eur", "me-eur-0"),
                            ("meta_ads", "acc-eur", "me-eur-1"), *tiktok}
    assert reasons[("google_ads", "acc-usd", "go-usd-0")] == f"{alert_reason(broken)}; {alert_reason(same_campaign)}"
    assert reasons[("meta_ads", "acc-eur", "me-eur-1")] == alert_reason(account_gone)
    assert alert_reason(broken) == (f"alert {broken.alert_id} (tracking_break since 2026-01-28): "
                                    "tracking_break on google_ads/acc-usd/go-usd-0.")
    assert low_confidence_reasons(not_input, campaigns) == {}


def test_split_by_action():
    reasons = {("google_ads", "a", "c"): "alert x"}
    holds, low = split_by_action(reasons, HOLD)
    assert holds == low == reasons and holds is not reasons and low is not reasons
    assert split_by_action(reasons, APPROVE) == ({}, reasons)
    assert split_by_action({}, HOLD) == ({}, {})


KEY = ("google_ads", "acc-usd", "go-usd-0")


def _row(plan, key=KEY):
    rows = plan.rows.set_index(["platform", "account_id", "campaign_id"])
    return rows.loc[key]


def test_a_held_campaign_keeps_its_budget_in_the_plan_and_says_which_alert(marts):
    daily, campaigns = marts
    free = _row(build_plan(daily, campaigns, "USD"))
    assert free["recommended_daily_budget"] != free["current_daily_budget"]  # the curves would move it
    reasons = low_confidence_reasons([_alert(model.TRACKING_BREAK, *KEY)], campaigns)
    holds, low = split_by_action(reasons, HOLD)
    plan = build_plan(daily, campaigns, "USD", holds=holds, low_confidence=low)
    row = _row(plan)
    assert row["recommended_daily_budget"] == row["current_daily_budget"]
    assert row["recommended_daily_budget_reporting"] == pytest.approx(row["current_daily_budget_reporting"])
    assert row["held_reason"] == row["low_confidence_reason"] == reasons[KEY]
    others = plan.rows[plan.rows["campaign_id"] != KEY[2]]
    assert others["held_reason"].isna().all() and others["low_confidence_reason"].isna().all()
    assert (others["recommended_daily_budget"] != others["current_daily_budget"]).any()
    assert plan.rows["recommended_daily_budget_reporting"].sum() == pytest.approx(plan.total_daily_budget_reporting)


def test_with_the_approve_action_the_plan_moves_the_budget_and_the_push_waits_for_a_person(marts):
    daily, campaigns = marts
    reasons = low_confidence_reasons([_alert(model.ZERO_DELIVERY, *KEY)], campaigns)
    holds, low = split_by_action(reasons, APPROVE)
    row = _row(build_plan(daily, campaigns, "USD", holds=holds, low_confidence=low))
    assert row["recommended_daily_budget"] != row["current_daily_budget"] and row["held_reason"] is None
    assert row["low_confidence_reason"] == reasons[KEY]

    policy = Policy(AccountSettingsBook(None, AccountSettings(mode="auto")), frozenset())
    rec = {"platform": KEY[0], "account_id": KEY[1], "campaign_id": KEY[2],
           "current_daily_budget": Decimal(str(row["current_daily_budget"])),
           "recommended_daily_budget": Decimal(str(row["recommended_daily_budget"])),
           "current_daily_budget_reporting": row["current_daily_budget_reporting"],
           "recommended_daily_budget_reporting": row["recommended_daily_budget_reporting"],
           "low_confidence_reason": row["low_confidence_reason"]}
    assert policy.held(rec) == f"low confidence: {reasons[KEY]}"
    assert policy.held({**rec, "low_confidence_reason": None}) is None  # auto, no approval threshold: applied
