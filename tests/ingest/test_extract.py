"""Extract assets: partitions reload idempotently, bad rows are refused and what landed stays."""

from datetime import date

import dagster as dg
import psycopg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from mbo_pipelines import warehouse
from mbo_pipelines.defs.ingest.assets import extract_assets_for_environment
from mbo_pipelines.defs.ingest.raw_tables import GOOGLE_ADS_CAMPAIGN_DAILY
from mbo_pipelines.resources import MboResource

SEED = 21  # its own sandbox campaigns, apart from other tests


def _materialize(database_url, start: str, end: str | None = None):
    tags = {ASSET_PARTITION_RANGE_START_TAG: start, ASSET_PARTITION_RANGE_END_TAG: end or start}
    resource = MboResource(database_url=database_url, sandbox_seed=SEED, sandbox_today="2026-03-01")
    return dg.materialize(extract_assets_for_environment(), resources={"mbo": resource}, tags=tags,
                          selection=dg.AssetSelection.assets(dg.AssetKey(["raw", "google_ads_campaign_daily"])))


def _rows(database_url, day_from, day_to):
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "select segments_date, customer_id, campaign_id, metrics_cost_micros from raw.google_ads_campaign_daily "
            "where segments_date between %s and %s and campaign_name like %s order by 1, 2, 3",
            (day_from, day_to, "%"),
        ).fetchall()


@pytest.fixture(scope="module")
def database_url(new_database):
    """A database of this module's own, so other tests' raw rows never mix in."""
    return new_database("ingest")


@pytest.fixture(scope="module")
def loaded_week(database_url):
    result = _materialize(database_url, "2026-02-01", "2026-02-07")
    assert result.success
    return result


def test_range_run_reports_rows_and_dates(loaded_week):
    [event] = loaded_week.get_asset_materialization_events()[:1]
    metadata = event.materialization.metadata
    assert metadata["date_range"].value == "2026-02-01..2026-02-07"
    assert metadata["days"].value == 7
    assert metadata["row_count"].value == metadata["campaigns"].value * 7 > 0


def test_reloading_one_day_leaves_every_other_day_as_it_was(database_url, loaded_week, monkeypatch):
    monkeypatch.setenv("MBO_LOOKBACK_DAYS", "0")
    week = _rows(database_url, date(2026, 2, 1), date(2026, 2, 7))
    with psycopg.connect(database_url) as conn:  # mark Feb 3 so its reload is visible
        conn.execute("update raw.google_ads_campaign_daily set metrics_cost_micros = 0 where segments_date = '2026-02-03'")
    assert _materialize(database_url, "2026-02-03").success
    # Checked right after the one-day reload: the other six days are untouched, and Feb 3 is the platform's again.
    assert _rows(database_url, date(2026, 2, 1), date(2026, 2, 7)) == week


def test_failed_load_leaves_landed_rows_untouched(database_url, loaded_week):
    before = _rows(database_url, date(2026, 2, 1), date(2026, 2, 7))
    table = GOOGLE_ADS_CAMPAIGN_DAILY
    bad = [["2026-02-02", "1", "2", "x", "USD", "UTC", "not-a-number", 1, 1, 1.0, 1.0]]
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.DataError):
        warehouse.replace_date_range(conn, table.name, table.date_column, date(2026, 2, 1), date(2026, 2, 7),
                                     table.column_names, bad)
    assert _rows(database_url, date(2026, 2, 1), date(2026, 2, 7)) == before


def test_each_run_rereads_the_lookback_days_so_restated_numbers_win(database_url, loaded_week, monkeypatch):
    day6 = _rows(database_url, date(2026, 2, 6), date(2026, 2, 6))
    with psycopg.connect(database_url) as conn:  # what the platform said first, before late conversions
        conn.execute("update raw.google_ads_campaign_daily set metrics_cost_micros = 1 where segments_date = '2026-02-06'")
    monkeypatch.setenv("MBO_LOOKBACK_DAYS", "3")
    result = _materialize(database_url, "2026-02-08")
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["restated_days"].value == 3
    assert metadata["extracted_window"].value == "2026-02-05..2026-02-08"
    assert _rows(database_url, date(2026, 2, 6), date(2026, 2, 6)) == day6


def test_no_lookback_before_the_first_loaded_day(database_url, monkeypatch):
    monkeypatch.setenv("MBO_LOOKBACK_DAYS", "7")
    result = _materialize(database_url, "2026-01-20")  # nothing loaded in the week before
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["restated_days"].value == 0
    assert metadata["extracted_window"].value == "2026-01-20..2026-01-20"
