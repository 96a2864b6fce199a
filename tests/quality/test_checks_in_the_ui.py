"""The quality checks as the Dagster UI shows them: its GraphQL API, on the code location loaded from workspace.yaml.

The UI's asset page lists an asset's checks and, for each, the latest evaluation with its metadata; this test asks
the same GraphQL queries of the same workspace the UI loads (`dagster dev -w workspace.yaml`), in its own process.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

from mbo_pipelines.defs.ingest.assets import extract_assets_for_environment
from mbo_pipelines.resources import MboResource

WORKSPACE = str(Path(__file__).resolve().parents[2] / "workspace.yaml")
HEADER = ("date,platform,account_id,campaign_id,campaign_name,currency,spend,impressions,clicks,conversions,"
          "conversion_value,daily_budget,status\n")

CHECKS_QUERY = """
query {
  assetNodes {
    assetKey { path }
    assetChecksOrError {
      ... on AssetChecks {
        checks {
          name
          blocking
          description
          executionForLatestMaterialization {
            status
            evaluation {
              severity
              description
              metadataEntries {
                label
                ... on MarkdownMetadataEntry { mdStr }
                ... on TextMetadataEntry { text }
                ... on IntMetadataEntry { intValue }
              }
            }
          }
        }
      }
    }
  }
}
"""


@pytest.fixture(scope="module")
def ui(new_database, tmp_path_factory):
    home = tmp_path_factory.mktemp("checks-ui")
    imports = home / "imports"
    imports.mkdir()
    (imports / "linkedin.csv").write_text(
        HEADER
        + "2026-04-01,linkedin_ads,508123456,1,Brand,USD,10.00,100,3,1,20.00,15.00,active\n"
        + f"2026-04-01,linkedin_ads,508123456,2,{'Q' * 1200},USD,10.00,100,3,1,20.00,15.00,active\n",
        encoding="utf-8",
    )
    url = new_database("checks_ui")
    with pytest.MonkeyPatch.context() as env:
        # The code location process inherits this environment, as `dagster dev` would.
        env.setenv("MBO_DATABASE_URL", url)
        env.setenv("MBO_SOURCE", "sandbox")
        env.setenv("MBO_IMPORT_DIR", str(imports))
        (home / "dagster").mkdir()
        with dg.instance_for_test(temp_dir=str(home / "dagster")) as instance:
            result = dg.materialize(
                extract_assets_for_environment(), instance=instance,
                resources={"mbo": MboResource(database_url=url)},
                tags={ASSET_PARTITION_RANGE_START_TAG: "2026-04-01", ASSET_PARTITION_RANGE_END_TAG: "2026-04-01"},
                selection=dg.AssetSelection.assets(dg.AssetKey(["raw", "csv_campaign_daily"])),
            )
            assert result.success  # valid_rows is not blocking: the good row loads
            with define_out_of_process_context(WORKSPACE, None, instance) as context:
                answer = execute_dagster_graphql(context, CHECKS_QUERY)
    assert not answer.errors, answer.errors
    return {"/".join(node["assetKey"]["path"]): node["assetChecksOrError"]["checks"]
            for node in answer.data["assetNodes"] if node["assetChecksOrError"].get("checks")}


def test_every_extract_asset_shows_its_quality_checks(ui):
    extracts = {key: checks for key, checks in ui.items() if key.startswith("raw/") and key != "raw/fx_rates"}
    # The FX rates load whole or not at all: one blocking check, no quarantine or volume.
    assert {c["name"]: c["blocking"] for c in ui["raw/fx_rates"]} == {"valid_rates": True}
    assert set(extracts) == {*(f"raw/{p}_{t}" for p in ("google_ads", "meta_ads", "tiktok_ads")
                               for t in ("campaign_daily", "campaigns")), "raw/ga4_traffic_daily",
                             "raw/csv_campaign_daily"}
    for key, checks in extracts.items():
        shown = {c["name"]: c["blocking"] for c in checks}
        assert shown["valid_rows"] is False and shown["valid_table"] is True, key
        assert ("volume" in shown) == key.endswith("_daily"), key
        assert all(c["description"] for c in checks if c["name"] in ("valid_rows", "valid_table", "volume"))


def test_a_failed_check_shows_the_expectation_count_and_sample(ui):
    checks = {c["name"]: c for c in ui["raw/csv_campaign_daily"]}
    rows = checks["valid_rows"]["executionForLatestMaterialization"]
    assert rows["status"] == "FAILED" and rows["evaluation"]["severity"] == "WARN"
    metadata = {m["label"]: m for m in rows["evaluation"]["metadataEntries"]}
    assert metadata["rows_quarantined"]["intValue"] == 1
    assert metadata["quarantine_table"]["text"] == "quarantine.csv_campaign_daily"
    table = metadata["failing_expectations"]["mdStr"]
    assert "| expect_column_value_lengths_to_be_between | campaign_name | 1 |" in table
    assert "| linkedin_ads | 508123456 | 2 | 2026-04-01 |" in metadata["quarantined_sample"]["mdStr"]
    assert "campaign_name is empty or longer than 1000 characters" in rows["evaluation"]["description"]
    for name in ("valid_table", "volume"):
        assert checks[name]["executionForLatestMaterialization"]["status"] == "SUCCEEDED"
