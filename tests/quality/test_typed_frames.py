"""Count columns that are plain ints are judged as one int64 column (vectorized), and every other count column
as before: a value beyond what int64 (or a float) holds exactly is still judged, and exactly."""

from __future__ import annotations

from datetime import date

from mbo_pipelines.defs.ingest.raw_tables import GOOGLE_ADS_CAMPAIGN_DAILY
from mbo_pipelines.defs.quality.frames import row_frame
from mbo_pipelines.defs.quality.rules import MAX_COUNT, VolumeBand, rules_for
from mbo_pipelines.defs.quality.validate import check_batch

DAY = date(2026, 3, 1)
GOOGLE = rules_for(GOOGLE_ADS_CAMPAIGN_DAILY)


def _row(campaign: str, **overrides) -> dict:
    row = {
        "segments_date": DAY, "customer_id": "123", "campaign_id": campaign, "campaign_name": "c",
        "customer_currency_code": "EUR", "customer_time_zone": "Europe/Berlin", "metrics_cost_micros": 10_000_000,
        "metrics_impressions": 100, "metrics_clicks": 3, "metrics_conversions": 1.0, "metrics_conversions_value": 25.0,
    }
    row.update(overrides)
    return row


def test_plain_int_counts_make_an_int64_column_anything_else_stays_as_sent():
    rows = [_row("1"), _row("2", metrics_impressions=2**53 + 1), _row("3", metrics_clicks=None)]
    plain = row_frame(GOOGLE, rows, [0])
    mixed = row_frame(GOOGLE, rows, [0, 1, 2])
    assert {str(plain[c].dtype) for c in GOOGLE.count_columns} == {"int64"}
    assert str(mixed["metrics_cost_micros"].dtype) == "int64"
    assert mixed["metrics_impressions"].dtype == object and mixed.loc[1, "metrics_impressions"] == 2**53 + 1
    assert mixed["metrics_clicks"].dtype == object and mixed.loc[2, "metrics_clicks"] is None


def test_counts_beyond_int64_and_beyond_the_bound_by_one_are_quarantined():
    rows = [_row("good"), _row("huge", metrics_impressions=10**20),
            _row("one-over", metrics_impressions=MAX_COUNT + 1, metrics_clicks=MAX_COUNT),
            _row("at-bound", metrics_impressions=MAX_COUNT, metrics_clicks=1)]
    report = check_batch(GOOGLE, rows, (DAY, DAY), {}, VolumeBand())
    assert sorted(report.row_reasons) == [1, 2]
    assert all(any("metrics_impressions is negative, infinite or absurdly large" in r for r in report.row_reasons[i])
               for i in (1, 2))
    assert [r["campaign_id"] for r in report.rows_to_load()] == ["good", "at-bound"]
