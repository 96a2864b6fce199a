"""The expectations on one batch, without a database: which rows are quarantined and why, which days are held back."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from mbo_pipelines.defs.ingest.raw_tables import GOOGLE_ADS_CAMPAIGN_DAILY, META_ADS_CAMPAIGN_DAILY
from mbo_pipelines.defs.quality.rules import VolumeBand, rules_for
from mbo_pipelines.defs.quality.validate import check_batch

DAY = date(2026, 2, 1)
META = rules_for(META_ADS_CAMPAIGN_DAILY)


def _meta_row(campaign: str = "9", **overrides) -> dict:
    row = {
        "date_start": DAY, "account_id": "1", "campaign_id": campaign, "campaign_name": "c",
        "account_currency": "EUR", "account_timezone_name": "Europe/Berlin", "spend": Decimal("10.00"),
        "impressions": 100, "clicks": 3, "actions": [{"action_type": "omni_purchase", "value": "1"}],
        "action_values": [{"action_type": "omni_purchase", "value": "25.0"}],
    }
    row.update(overrides)
    return row


def _check(rows: list[dict], rules=META, history=None, band=VolumeBand()):
    return check_batch(rules, rows, (DAY, DAY), history or {}, band)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"spend": Decimal("-0.01")}, "spend is negative, infinite or absurdly large"),
        ({"spend": Decimal("NaN")}, "spend is missing or not a valid value"),
        ({"spend": float("inf")}, "spend is negative, infinite or absurdly large"),
        ({"spend": Decimal("1E+15")}, "spend is negative, infinite or absurdly large"),
        ({"spend": "12,50"}, "spend is missing or not a valid value"),
        ({"clicks": None}, "clicks is missing or not a valid value"),
        ({"impressions": 100.5}, "impressions is not a whole number"),
        ({"impressions": True}, "impressions is missing or not a valid value"),
        ({"clicks": 101}, "clicks exceeds impressions"),
        ({"actions": [{"action_type": "omni_purchase", "value": "-2"}]}, "actions has a negative value"),
        ({"actions": [{"action_type": "omni_purchase", "value": "two"}]}, "actions is missing or not a valid value"),
        ({"actions": "omni_purchase"}, "actions is missing or not a valid value"),
        ({"account_currency": "eur"}, "account_currency is not an ISO 4217 currency code"),
        ({"date_start": DAY + timedelta(days=1)}, "date_start is outside the partitions extracted"),
        ({"date_start": "yesterday"}, "date_start is missing or not a valid value"),
        ({"campaign_name": "tab\there"}, "campaign_name has control characters or is not valid UTF-8"),
        ({"campaign_name": "bell\x07"}, "campaign_name has control characters or is not valid UTF-8"),
        ({"campaign_name": "\udcff"}, "campaign_name has control characters or is not valid UTF-8"),
        ({"campaign_name": ""}, "campaign_name is empty or longer than 1000 characters"),
        ({"campaign_name": "x" * 1001}, "campaign_name is empty or longer than 1000 characters"),
        ({"campaign_id": None}, "campaign_id is missing or not a valid value (a key column)"),
    ],
)
def test_a_bad_value_quarantines_its_row_only_naming_the_field(overrides, reason):
    report = _check([_meta_row("good"), _meta_row(**overrides)])
    assert list(report.row_reasons) == [1]
    assert any(r.startswith(reason) for r in report.row_reasons[1]), report.row_reasons[1]
    assert [r["campaign_id"] for r in report.rows_to_load()] == ["good"]
    assert report.held_days == {} and report.passed("valid_table") and not report.passed("valid_rows")


def test_a_name_of_1000_characters_and_an_sql_looking_one_are_valid():
    rows = [_meta_row("a", campaign_name="x" * 1000),
            _meta_row("b", campaign_name="Robert'); DROP TABLE raw.meta_ads_campaign_daily;--")]
    assert _check(rows).row_reasons == {}


def test_duplicates_keep_one_exact_copy_and_quarantine_conflicting_keys():
    rows = [_meta_row("1"), _meta_row("1"), _meta_row("2"), _meta_row("2", spend=Decimal("11.00"))]
    report = _check(rows)
    assert report.row_reasons[1] == ["exact duplicate of row 0"]
    assert set(report.row_reasons) == {1, 2, 3}
    assert all("another row has the same key" in report.row_reasons[i][0] for i in (2, 3))
    assert [r["campaign_id"] for r in report.rows_to_load()] == ["1"]


def test_micros_columns_have_a_bound_a_million_times_larger():
    google = rules_for(GOOGLE_ADS_CAMPAIGN_DAILY)
    row = {"segments_date": DAY, "customer_id": "1", "campaign_id": "2", "campaign_name": "c",
           "customer_currency_code": "JPY", "customer_time_zone": "Asia/Tokyo", "metrics_cost_micros": 5 * 10**15,
           "metrics_impressions": 10, "metrics_clicks": 1, "metrics_conversions": 0.0,
           "metrics_conversions_value": 0.0}
    assert _check([row], google).row_reasons == {}  # 5 billion yen in micros
    assert _check([dict(row, metrics_cost_micros=2 * 10**18)], google).row_reasons


def _history(rows_per_day: int, spend: float, weeks: int = 4) -> dict:
    return {(DAY - timedelta(days=7 * k), "1"): (rows_per_day, spend) for k in range(1, weeks + 1)}


@pytest.mark.parametrize(
    ("rows", "spend", "held"),
    [(10, 100.0, False), (5, 50.0, False), (4, 100.0, True), (10, 49.0, True), (30, 300.0, False), (31, 100.0, True),
     (10, 301.0, True)],
)
def test_the_volume_band_around_the_same_weekday_median(rows, spend, held):
    batch = [_meta_row(str(n), spend=Decimal(str(spend / rows)), impressions=1000) for n in range(rows)]
    report = _check(batch, history=_history(10, 100.0))
    assert (DAY in report.held_days) is held, report.volume_lines
    assert "median 10" in report.volume_lines[DAY]


def test_no_band_without_three_same_weekdays_of_history():
    report = _check([_meta_row(spend=Decimal("0.01"))], history=_history(10, 100.0, weeks=2))
    assert report.held_days == {} and "too little history" in report.volume_lines[DAY]


def test_an_account_that_spent_the_day_before_and_sent_nothing_holds_the_day():
    history = {(DAY - timedelta(days=1), "1"): (3, 10.0), (DAY - timedelta(days=1), "7"): (2, 0.0)}
    report = _check([_meta_row(account_id="2")], history=history)
    assert list(report.held_days) == [DAY]
    assert "accounts 1 spent on 2026-01-31 and sent nothing" in report.held_days[DAY][0]  # not 7: it spent nothing
    assert report.rows_to_load() == [] and len(report.rows_to_quarantine()) == 1


def test_an_accepted_day_is_not_held_back_again():
    history = {(DAY - timedelta(days=1), "1"): (3, 10.0)}
    report = check_batch(META, [_meta_row(account_id="2")], (DAY, DAY), history, VolumeBand(), {("volume", DAY)})
    assert report.held_days == {} and len(report.rows_to_load()) == 1


def test_ga4_revenue_net_of_refunds_may_be_negative_but_not_infinite():
    from mbo_pipelines.defs.ingest.raw_tables import GA4_TRAFFIC_DAILY

    ga4 = rules_for(GA4_TRAFFIC_DAILY)
    row = {"date": DAY, "property_id": "1", "session_source_medium": "google / cpc", "session_campaign_name": "c",
           "currency_code": "EUR", "time_zone": "UTC", "sessions": 10, "key_events": 1.0, "total_revenue": -40.0}
    report = _check([row, dict(row, session_campaign_name="d", total_revenue=float("-inf")),
                     dict(row, session_campaign_name="e", sessions=-1)], ga4)
    assert sorted(report.row_reasons) == [1, 2]
    assert report.row_reasons[1] == ["total_revenue is infinite or absurdly large (beyond ±1e+12)"]
