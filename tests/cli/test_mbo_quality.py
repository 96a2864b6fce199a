"""``mbo quality``: the latest result per table, partition and check, failing ones first; ``mbo quality accept``."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from mbo_pipelines.defs.ingest.raw_tables import META_ADS_CAMPAIGN_DAILY
from mbo_pipelines.defs.quality.load import check_and_load
from tests.live.live_helpers import mbo_env, query, run_mbo

DAY = date(2026, 5, 4)


def _row(day: date, campaign: str, **overrides) -> dict:
    row = {"date_start": day, "account_id": "42", "campaign_id": campaign, "campaign_name": f"Campaign {campaign}",
           "account_currency": "EUR", "account_timezone_name": "Europe/Berlin", "spend": Decimal("10.00"),
           "impressions": 100, "clicks": 3, "actions": [], "action_values": []}
    row.update(overrides)
    return row


@pytest.fixture(scope="module")
def env(new_database, tmp_path_factory):
    url = new_database("mbo_quality_cli")
    previous = DAY - timedelta(days=1)
    check_and_load(url, META_ADS_CAMPAIGN_DAILY, [_row(previous, "1"), _row(previous, "2")], (previous, previous),
                   previous.isoformat(), "run-a")
    # DAY: one row with a negative spend (quarantined), and account 42's other campaign in USD: mixed currencies.
    check_and_load(url, META_ADS_CAMPAIGN_DAILY,
                   [_row(DAY, "1", spend=Decimal("-3")), _row(DAY, "2"), _row(DAY, "3", account_currency="USD")],
                   (DAY, DAY), DAY.isoformat(), "run-b")
    return mbo_env(url, tmp_path_factory.mktemp("quality-cli"))


def test_failing_results_come_first_with_what_failed(env):
    shown = run_mbo("quality", env=env)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    statuses = [line.split()[0] for line in lines[1:] if line.split() and line.split()[0] in ("FAILED", "WARN", "ok")]
    assert statuses == ["FAILED", "WARN"] + ["ok"] * 4  # volume on DAY, and the day before's three
    failed = lines[1]
    assert f"raw.meta_ads_campaign_daily  {DAY}  valid_table" in failed
    assert "an account reports more than one currency" in failed
    assert "spend is negative" in lines[2]
    assert "quarantined rows: quarantine.meta_ads_campaign_daily 3" in shown.stdout  # 1 bad + 2 held back
    assert "mbo quality accept" in shown.stdout


def test_accept_opens_the_gate_and_shows_as_accepted(env):
    refused = run_mbo("quality", "accept", "meta_ads_campaign_daily", "valid_table", DAY.isoformat(), env=env)
    assert refused.returncode == 2 and "--reason" in refused.stderr
    accepted = run_mbo("quality", "accept", "meta_ads_campaign_daily", "valid_table", DAY.isoformat(),
                       "--reason", "USD test campaign", env=env)
    assert accepted.returncode == 0, accepted.stderr
    assert "accepted the failed valid_table of raw.meta_ads_campaign_daily" in accepted.stdout
    shown = run_mbo("quality", env=env).stdout
    assert f"ACCEPTED  raw.meta_ads_campaign_daily  {DAY}  valid_table" in shown
    assert query(env["MBO_DATABASE_URL"], "select count(*) from quality.latest_check_results "
                 "where blocking and not passed")[0][0] == 0
    again = run_mbo("quality", "accept", "meta_ads_campaign_daily", "valid_table", DAY.isoformat(), "--reason", "x",
                    env=env)
    assert "nothing to accept" in again.stdout


def test_mbo_extract_says_which_blocking_check_failed_and_where_to_look(new_database, tmp_path):
    imports = tmp_path / "imports"
    imports.mkdir()
    (imports / "x.csv").write_text(
        "date,platform,account_id,campaign_id,campaign_name,currency,spend,impressions,clicks,conversions,"
        "conversion_value,daily_budget,status\n"
        "2026-04-01,x_ads,18ce54d4x5t,1,One,USD,10.00,100,3,1,20.00,15.00,active\n"
        "2026-04-01,x_ads,99zz,2,Two,EUR,10.00,100,3,1,20.00,15.00,active\n"
        "2026-04-02,x_ads,18ce54d4x5t,1,One,USD,10.00,100,3,1,20.00,15.00,active\n", encoding="utf-8")
    env = mbo_env(new_database("mbo_extract_gate"), tmp_path, MBO_SOURCE="live", MBO_IMPORT_DIR=str(imports))
    extracted = run_mbo("extract", "--start", "2026-04-01", "--end", "2026-04-02", "--platform", "csv", env=env)
    assert extracted.returncode == 1
    assert "blocking asset check failed" in extracted.stderr
    assert "raw/csv_campaign_daily volume: an account that spent the day before sent no rows" in extracted.stderr
    assert "accounts x_ads/99zz spent on 2026-04-01 and sent nothing" in extracted.stderr
    assert "`mbo quality`" in extracted.stderr
    # The day that passed loaded; the day held back did not.
    assert query(env["MBO_DATABASE_URL"], "select date, count(*) from raw.csv_campaign_daily group by 1") == [
        (date(2026, 4, 1), 2)]
