"""Per-account budget limits on one change: bounds, the platform's minimum, the currency unit, the daily cap, the
cooldown, and properties of ``apply_limits`` over random changes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mbo_pipelines.currencies import round_to_step, smallest_step
from mbo_pipelines.defs.activate import budget_limits as bl
from mbo_pipelines.defs.activate.account_settings import AccountSettings

NOW = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
D = Decimal


@pytest.fixture(autouse=True)
def _remove_test_plans():
    """These tests never touch a database: replace the package's plan cleanup (which needs one) with nothing."""
    yield


def limits(current, requested, platform="google_ads", currency="USD", others=None, last=None, **account):
    return bl.apply_limits(platform=platform, currency=currency, current=D(current), requested=D(requested),
                           settings=AccountSettings(**account), other_budgets=others, campaign_id="c1",
                           last_change=last, now=NOW)


# --- the platforms' minimums ----------------------------------------------------------------------------

@pytest.mark.parametrize(("platform", "currency", "minimum"), [
    ("google_ads", "USD", "0.01"), ("google_ads", "JPY", "1"), ("google_ads", "PLN", "0.01"),
    ("meta_ads", "USD", "1.00"), ("meta_ads", "EUR", "1.00"), ("meta_ads", "pln", "5.00"), ("meta_ads", "JPY", "150"),
    ("tiktok_ads", "USD", "50.00"), ("tiktok_ads", "PLN", "250.00"), ("tiktok_ads", "KRW", "70000"),
    ("tiktok_ads", "XAF", "0.01"),  # not in the table: the smallest step, and the platform's own error as backstop
    ("linkedin_ads", "USD", "0.01"),
])
def test_platform_minimum(platform, currency, minimum):
    value = bl.platform_minimum(platform, currency)
    assert value == D(minimum) and value.as_tuple().exponent == D(minimum).as_tuple().exponent


def test_platform_minimums_are_whole_steps_of_their_currency():
    for table in bl.PLATFORM_MINIMUMS.values():
        for currency, value in table.items():
            assert value % smallest_step(currency) == 0 and value > 0, (currency, value)


# --- min_daily_budget / max_daily_budget ---------------------------------------------------------------

def test_bounds_clip_and_say_by_how_much():
    assert limits("480", "612", max_daily_budget=D(500)) == bl.LimitResult(
        D("500.00"), ["max_daily_budget: clipped 612.00 -> 500.00 (by -112.00)"])
    assert limits("20", "4", min_daily_budget=D("5.50")) == bl.LimitResult(
        D("5.50"), ["min_daily_budget: clipped 4.00 -> 5.50 (by +1.50)"])
    assert limits("20", "30", min_daily_budget=D(5), max_daily_budget=D(500)) == bl.LimitResult(D("30.00"))


def test_a_budget_already_outside_the_bounds_moves_only_toward_them():
    # 600 is above the maximum: a cut toward it passes, even when it stays above.
    assert limits("600", "550", max_daily_budget=D(500)).amount == D("550.00")
    # A cut past the minimum stops at it.
    assert limits("600", "3", min_daily_budget=D(5), max_daily_budget=D(500)).amount == D("5.00")
    # A rise toward the minimum passes, though still under it: clipping never enlarges a change.
    assert limits("3", "4", min_daily_budget=D(5)).amount == D("4.00")
    refused = limits("600", "700", max_daily_budget=D(500))
    assert refused.amount is None and refused.refusal == (
        "max_daily_budget: 700.00 is above the maximum 500.00, and the budget in force (600.00) is already at or past it: "
        "no change is left")
    assert limits("3", "2", min_daily_budget=D(5)).refusal.startswith("min_daily_budget: 2.00 is below the minimum 5.00")
    # At the bound already: clipping leaves no change, which is a refusal, not a write of the same budget.
    assert limits("500", "520", max_daily_budget=D(500)).refusal.startswith("max_daily_budget: 520.00 is above")


# --- the platform's minimum -----------------------------------------------------------------------------

def test_a_budget_below_the_platform_minimum_is_raised_to_it():
    assert limits("80", "30", platform="tiktok_ads", currency="EUR") == bl.LimitResult(
        D("50.00"), ["platform_minimum: clipped 30.00 -> 50.00 (by +20.00); "
                     "the platform's minimum daily budget is 50.00 EUR"])
    assert limits("2", "0.40", platform="meta_ads").amount == D("1.00")
    assert limits("1", "0.40", platform="meta_ads").refusal == (
        "platform_minimum: 0.40 is below the platform's minimum daily budget, 1.00 USD, and the budget in force is "
        "already at it: no change is left")


def test_a_budget_in_force_under_the_platform_minimum():
    # 45 -> 48 on TikTok: raising to the 50 minimum is a +11% change, within ±30%: raised.
    assert limits("45", "48", platform="tiktok_ads").amount == D("50.00")
    # 30 -> 35: raising 30 to 50 is +66.7%, beyond ±30%: refused.
    assert limits("30", "35", platform="tiktok_ads").refusal == (
        "platform_minimum: 35.00 is below the platform's minimum daily budget, 50.00 USD; raising 30.00 to it is a "
        "+66.7% change, beyond the allowed ±30%")
    assert limits("30", "35", platform="tiktok_ads", max_change=0.7).amount == D("50.00")
    # A cut of a budget already below the minimum cannot become a rise.
    assert limits("45", "40", platform="tiktok_ads").refusal.startswith(
        "platform_minimum: 40.00 is below the platform's minimum daily budget, 50.00 USD; the budget in force (45.00) "
        "is below it too, and raising it would reverse the change")


def test_an_account_maximum_under_the_platform_minimum_refuses():
    assert limits("60", "20", platform="tiktok_ads", max_daily_budget=D(40)).refusal == (
        "platform_minimum: the platform's minimum daily budget is 50.00 USD, above this account's max_daily_budget 40.00")


# --- the currency unit ----------------------------------------------------------------------------------

def test_rounding_goes_toward_the_budget_in_force():
    assert limits("100", "120.019") == bl.LimitResult(D("120.01"), [
        "currency_unit: clipped 120.019 -> 120.01 (by -0.009); rounded to 0.01 USD, toward the budget in force"])
    assert limits("100", "80.011").amount == D("80.02")
    assert limits("1000", "1299.9", currency="JPY").amount == D("1299")
    assert limits("1000", "700.2", currency="JPY").amount == D("701")
    assert limits("100", "100.004").refusal == (
        "currency_unit: 100.00 -> 100.004 is less than one step of 0.01 USD: no change is left")
    # A budget in force between two cents (a shared Google Ads budget split three ways): no sub-cent change is sent.
    assert limits("33.333", "33.337").refusal.startswith("currency_unit:")
    assert limits("33.333", "33.347").amount == D("33.34")


# --- the account's daily cap ----------------------------------------------------------------------------

def test_an_increase_above_the_daily_cap_is_clipped_to_the_room_left():
    others = {"c2": D("1000"), "c3": D("850.50"), "c4": None, "c1": D("99999")}  # c1 is this campaign: left out
    result = limits("100", "180", others=others, daily_cap=D(2000))
    assert result == bl.LimitResult(D("149.50"), [
        "daily_cap: clipped 180.00 -> 149.50 (by -30.50); the account's other campaigns total 1850.50 a day, "
        "this one 100.00, and the cap is 2000.00"])
    assert limits("100", "140", others=others, daily_cap=D(2000)).amount == D("140.00")


def test_no_room_under_the_daily_cap_refuses_increases_but_not_decreases():
    others = {"c2": D("1950")}
    assert limits("100", "110", others=others, daily_cap=D(2000)).refusal == (
        "daily_cap: no room for an increase to 110.00: the account's other campaigns total 1950.00 a day, "
        "this one 100.00, and the cap is 2000.00")
    assert limits("100", "90", others=others, daily_cap=D(2000)).amount == D("90.00")


def test_room_under_the_cap_below_the_platform_minimum_refuses():
    result = limits("45", "48", platform="tiktok_ads", others={"c2": D("1952")}, daily_cap=D(2000))
    assert result.refusal.startswith("daily_cap: the room left, 48.00, is below the platform's minimum 50.00")
    assert result.notes == ["platform_minimum: clipped 48.00 -> 50.00 (by +2.00); "
                            "the platform's minimum daily budget is 50.00 USD"]


# --- the cooldown ---------------------------------------------------------------------------------------

def test_cooldown_refuses_a_second_change_too_soon():
    last = bl.LastChange(applied_at=NOW - timedelta(hours=2.1), budget_before=D("90"))
    assert limits("100", "120", last=last, cooldown_hours=6).refusal == (
        "cooldown: the budget changed 2.1 hours ago; the cooldown is 6 hours (next change from 2026-03-01 15:54 UTC)")
    assert limits("100", "120", last=last, cooldown_hours=2).amount == D("120.00")
    assert limits("100", "120", last=last, cooldown_hours=0).amount == D("120.00")
    assert limits("100", "120", last=None, cooldown_hours=6).amount == D("120.00")


def test_an_undo_is_allowed_within_the_cooldown():
    last = bl.LastChange(applied_at=NOW - timedelta(minutes=30), budget_before=D("90"))
    result = limits("100", "90.004", last=last, cooldown_hours=6)
    assert result.amount == D("90.01") and result.notes[0] == (
        "cooldown: allowed within the cooldown as an undo: 90.004 is the budget in force before the change 0.5 hours ago")


def test_a_refused_change_stops_at_the_first_refusal():
    last = bl.LastChange(applied_at=NOW - timedelta(hours=1), budget_before=D("90"))
    result = limits("480", "612", last=last, cooldown_hours=6, max_daily_budget=D(500))
    assert result.refusal.startswith("cooldown:") and result.notes == [] and result.amount is None


def test_notes_follow_the_documented_order():
    result = limits("400", "612.019", others={"c2": D("1400")}, max_daily_budget=D("600.005"), daily_cap=D(1950))
    assert [note.split(":")[0] for note in result.notes] == ["max_daily_budget", "currency_unit", "daily_cap"]
    assert result.amount == D("550.00")


@pytest.mark.parametrize(("current", "requested", "rule"), [
    ("100", "0", "positive_budget"), ("100", "-5", "positive_budget"), ("100", "NaN", "positive_budget"),
    ("100", "Infinity", "positive_budget"), ("-1", "10", "current_budget"), ("NaN", "10", "current_budget"),
])
def test_numbers_that_are_not_budgets_are_refused(current, requested, rule):
    assert limits(current, requested).refusal.startswith(f"{rule}: ")


def test_no_change_requested_is_left_alone():
    assert limits("600", "600", max_daily_budget=D(500)) == bl.LimitResult(D("600"))


# --- properties -----------------------------------------------------------------------------------------

CURRENCIES = ("USD", "EUR", "PLN", "JPY", "KRW")
PLATFORMS = ("google_ads", "meta_ads", "tiktok_ads", "linkedin_ads")
amounts = st.decimals(min_value=D("0.001"), max_value=D("100000"), places=3, allow_nan=False, allow_infinity=False)


@st.composite
def changes(draw):
    """A random change and account settings, in any relation to each other (budgets often near the platform's
    minimum, requests often near the budget in force)."""
    platform, currency = draw(st.sampled_from(PLATFORMS)), draw(st.sampled_from(CURRENCIES))
    near_floor = st.builds(lambda f: (bl.platform_minimum(platform, currency) * f).quantize(D("0.001")),
                           st.decimals(D("0.5"), D("1.5"), places=3))
    current = draw(st.one_of(amounts, near_floor, st.just(D(0))))
    requested = draw(st.one_of(amounts, st.builds(lambda c, f: max(c * f, D("0.001")).quantize(D("0.001")),
                                                  st.just(current), st.decimals(D("0.5"), D("1.5"), places=3))))
    bounds = sorted(draw(st.lists(amounts, min_size=2, max_size=2)))
    account = AccountSettings(
        max_change=draw(st.floats(0.05, 1.0)),
        min_daily_budget=draw(st.one_of(st.none(), st.just(bounds[0]))),
        max_daily_budget=draw(st.one_of(st.none(), st.just(bounds[1]))),
        daily_cap=draw(st.one_of(st.none(), amounts)),
        cooldown_hours=draw(st.sampled_from([0.0, 2.0, 6.0])),
    )
    others = draw(st.dictionaries(st.sampled_from(["c2", "c3", "c4"]), st.one_of(st.none(), amounts), max_size=3))
    last = draw(st.one_of(st.none(), st.builds(bl.LastChange, st.just(NOW - timedelta(hours=3)), amounts)))
    return dict(platform=platform, currency=currency, current=current, requested=requested, settings=account, other_budgets=others, campaign_id="c1",
                last_change=last, now=NOW)


RULES = ("cooldown", "min_daily_budget", "max_daily_budget", "platform_minimum", "currency_unit", "daily_cap")


@settings(max_examples=400, deadline=None)
@given(changes())
def test_apply_limits_properties(change):
    result = bl.apply_limits(**change)
    current, requested, account = change["current"], change["requested"], change["settings"]
    low, high = account.min_daily_budget, account.max_daily_budget
    assert all(note.split(":")[0] in RULES for note in result.notes)
    if result.refused:
        rule = result.refusal.split(":")[0]
        assert result.amount is None and rule in RULES
        if rule == "daily_cap":
            assert requested > current, "decreases always pass the cap"
        if rule == "cooldown":
            assert change["last_change"] is not None and account.cooldown_hours > 3
        return
    amount = result.amount
    if requested == current:
        assert amount == current
        return
    floor = bl.platform_minimum(change["platform"], change["currency"])
    assert amount % smallest_step(change["currency"]) == 0, "a whole number of minor units"
    assert amount >= floor, "never below the platform's minimum"
    if (low is None or current >= low) and (high is None or current <= high):
        assert (low is None or amount >= low) and (high is None or amount <= high), "within the account's bounds"
    if high is not None and current > high:
        assert amount < current, "a budget above the maximum only moves down"
    if low is not None and current < low:
        assert amount > current, "a budget below the minimum only moves up"
    if account.daily_cap is not None and amount > current:
        others = sum((v for v in change["other_budgets"].values() if v is not None), D(0))
        assert others + amount <= account.daily_cap, "an increase never takes the account over its cap"
    assert amount != current, "a change clipped to nothing is refused, not sent"
    raised_to_floor = current < floor and current < requested < floor and amount == floor
    if not raised_to_floor:
        assert min(current, requested) <= amount <= max(current, requested), "never further than requested"
    else:
        assert floor - current <= D(str(account.max_change)) * current + D("0.005")


@settings(max_examples=200, deadline=None)
@given(changes())
def test_a_change_within_the_cooldown_passes_only_as_an_undo(change):
    last = change["last_change"]
    account = change["settings"]
    result = bl.apply_limits(**change)
    # The last change in ``changes()`` was 3 hours ago.
    if last is None or account.cooldown_hours <= 3 or change["requested"] == change["current"]:
        assert not (result.refusal or "").startswith("cooldown:")
        return
    is_undo = round_to_step(change["requested"], change["currency"]) == round_to_step(last.budget_before,
                                                                                      change["currency"])
    assert (result.refusal or "").startswith("cooldown:") == (not is_undo)
