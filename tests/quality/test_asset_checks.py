"""The quality checks as Dagster sees them: declared on every extract asset, evaluated with each extract, readable."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import dagster as dg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from mbo_pipelines.defs.ingest.assets import extract_assets_for_environment
from mbo_pipelines.defs.ingest.raw_tables import TIKTOK_ADS_CAMPAIGN_DAILY
from mbo_pipelines.defs.quality.asset_checks import check_results
from mbo_pipelines.defs.quality.load import LoadOutcome
from mbo_pipelines.defs.quality.rules import VolumeBand, rules_for
from mbo_pipelines.defs.quality.validate import check_batch
from mbo_pipelines.resources import MboResource

LIVE_ENV = {
    "MBO_SOURCE": "live", "MBO_GOOGLE_ADS_CUSTOMER_IDS": "1234567890", "MBO_META_AD_ACCOUNT_IDS": "1",
    "MBO_TIKTOK_ADVERTISER_IDS": "2", "MBO_GA4_PROPERTY_IDS": "3",
}


def _checks(assets) -> dict[str, set[tuple[str, bool]]]:
    found: dict[str, set] = {}
    for asset in assets:
        for spec in asset.check_specs:
            found.setdefault(spec.asset_key.to_user_string(), set()).add((spec.name, spec.blocking))
    return found


def test_every_extract_asset_carries_the_checks_sandbox_and_live(monkeypatch, tmp_path):
    daily = {("valid_rows", False), ("valid_table", True), ("volume", True)}
    snapshot = {("valid_rows", False), ("valid_table", True)}
    monkeypatch.setenv("MBO_SOURCE", "sandbox")
    sandbox = _checks(extract_assets_for_environment())
    assert sandbox == {**{f"raw/{p}_campaign_daily": daily for p in ("google_ads", "meta_ads", "tiktok_ads")},
                       **{f"raw/{p}_campaigns": snapshot for p in ("google_ads", "meta_ads", "tiktok_ads")},
                       "raw/ga4_traffic_daily": daily}
    for name, value in {**LIVE_ENV, "MBO_IMPORT_DIR": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    live = _checks(extract_assets_for_environment())
    assert live["raw/ga4_traffic_daily"] == daily and live["raw/csv_campaign_daily"] == daily
    assert len(live) == 8 and all(live[key] == checks for key, checks in sandbox.items())


def test_a_sandbox_extract_reports_passing_checks_with_its_partition(new_database, monkeypatch):
    monkeypatch.setenv("MBO_SOURCE", "sandbox")
    url = new_database("asset_checks")
    resource = MboResource(database_url=url, sandbox_seed=31, sandbox_today="2026-03-01")
    result = dg.materialize(extract_assets_for_environment(), resources={"mbo": resource},
                            tags={ASSET_PARTITION_RANGE_START_TAG: "2026-02-01", ASSET_PARTITION_RANGE_END_TAG: "2026-02-03"},
                            selection=dg.AssetSelection.assets(dg.AssetKey(["raw", "meta_ads_campaign_daily"])))
    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {"valid_rows", "valid_table", "volume"}
    assert all(e.passed for e in evaluations.values())
    assert evaluations["valid_rows"].metadata["quarantine_table"].value == "quarantine.meta_ads_campaign_daily"
    assert "too little history" in evaluations["volume"].metadata["days"].value
    [materialization] = result.get_asset_materialization_events()[:1]
    metadata = materialization.materialization.metadata
    assert metadata["rows_quarantined"].value == 0 and metadata["held_back_days"].value == "none"


def _outcome(rows) -> LoadOutcome:
    day = date(2026, 3, 2)
    history = {(day - timedelta(days=1), "A9"): (1, 5.0)}
    report = check_batch(rules_for(TIKTOK_ADS_CAMPAIGN_DAILY), rows, (day, day), history, VolumeBand())
    return LoadOutcome(report, written=0, quarantined=len(report.rows_to_quarantine()))


def test_failing_checks_say_what_failed_with_counts_samples_and_what_to_do():
    day = date(2026, 3, 2)
    row = {"stat_time_day": day, "advertiser_id": "A1", "campaign_id": "c1", "campaign_name": "ok",
           "currency": "EUR", "timezone": "UTC", "spend": Decimal("5"), "impressions": 10, "clicks": 1,
           "conversion": 0.0, "total_purchase_value": 0.0}
    rows = [row, dict(row, campaign_id="c2", spend=Decimal("-4")), dict(row, campaign_id="c3", campaign_name="a|b\x00")]
    results = {r.check_name: r for r in check_results(_outcome(rows))}
    rows_check, volume = results["valid_rows"], results["volume"]
    assert not rows_check.passed and rows_check.severity == dg.AssetCheckSeverity.WARN
    table = rows_check.metadata["failing_expectations"].value
    assert "| expect_column_values_to_be_between | spend | 1 | spend is negative" in table and "| -4 |" in table
    sample = rows_check.metadata["quarantined_sample"].value
    assert "| A1 | c2 | 2026-03-02 | spend is negative" in sample
    assert "'a\\|b\\x00'" in rows_check.metadata["failing_expectations"].value  # escaped, not a broken table
    assert rows_check.metadata["rows_quarantined"].value == 2
    assert not volume.passed and volume.severity == dg.AssetCheckSeverity.ERROR
    assert volume.metadata["held_back_days"].value == "2026-03-02"
    assert "accounts A9 spent on 2026-03-01 and sent nothing" in volume.metadata["failing_expectations"].value
    assert "mbo quality accept" in volume.metadata["what_to_do"].value
    assert results["valid_table"].passed


@pytest.mark.parametrize("check", ["valid_rows", "valid_table", "volume"])
def test_passing_checks_carry_no_failure_metadata(check):
    day = date(2026, 3, 2)
    row = {"stat_time_day": day, "advertiser_id": "A1", "campaign_id": "c1", "campaign_name": "ok",
           "currency": "EUR", "timezone": "UTC", "spend": Decimal("5"), "impressions": 10, "clicks": 1,
           "conversion": 0.0, "total_purchase_value": 0.0}
    report = check_batch(rules_for(TIKTOK_ADS_CAMPAIGN_DAILY), [row], (day, day), {}, VolumeBand())
    [result] = [r for r in check_results(LoadOutcome(report, 1, 0)) if r.check_name == check]
    assert result.passed and "failing_expectations" not in result.metadata and result.description is None
