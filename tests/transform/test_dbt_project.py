"""Static checks of the dbt project: it parses without a database, and its
documentation and tests are complete.

``dbt parse`` runs in a subprocess with every ``MBO_DB_*`` variable removed
(so profiles.yml must fall back to its defaults) and writes its manifest to a
temporary directory, so it never touches ``dbt_project/target`` that a
concurrent ``dbt build`` may be using. No database is started or contacted.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"

PLATFORMS = ["google_ads", "meta_ads", "tiktok_ads"]
STATUSES = ["active", "paused", "removed"]

DAILY_COLUMNS = {
    "date_day", "platform", "account_id", "campaign_id", "campaign_name", "currency",
    "account_timezone", "spend", "impressions", "clicks", "conversions", "conversion_value",
}
CAMPAIGN_COLUMNS = {
    "platform", "account_id", "campaign_id", "campaign_name", "status", "currency",
    "account_timezone", "daily_budget",
}
DAILY_METRICS = ["spend", "impressions", "clicks", "conversions", "conversion_value"]

# Column names analysts' dashboards and the optimizer depend on.
FCT_CONTRACT_COLUMNS = {
    "date_day", "platform", "account_id", "campaign_id", "campaign_name", "currency",
    "spend", "spend_reporting", "conversion_value", "conversion_value_reporting",
    "reporting_currency", "impressions", "clicks", "conversions",
}
DIM_CONTRACT_COLUMNS = {
    "platform", "account_id", "campaign_id", "campaign_name", "status", "daily_budget",
    "currency", "daily_budget_reporting", "reporting_currency", "account_timezone",
    "first_date_day", "last_date_day",
}

# The native platforms plus the CSV import, which stages into the same vocabulary.
STAGED_SOURCES = [*PLATFORMS, "csv"]
STAGING_DAILY = [f"stg_{p}__campaign_daily" for p in STAGED_SOURCES]
STAGING_CAMPAIGNS = [f"stg_{p}__campaigns" for p in STAGED_SOURCES]
GA4_MODEL = "stg_ga4__traffic_daily"

# Column names the optimizer's pacing (mbo_pipelines/defs/optimize/pacing.py) and analysts read.
PACING_CONTRACT_COLUMNS = {
    "platform", "account_id", "month", "currency", "monthly_budget", "spend_mtd", "last_loaded_day",
    "days_in_month", "days_left", "remaining_budget", "paced_daily_budget", "pace_status",
    "reporting_currency", "fx_rate_to_reporting", "monthly_budget_reporting", "spend_mtd_reporting",
    "remaining_budget_reporting", "paced_daily_budget_reporting",
}
PACING_MONEY = ["monthly_budget", "spend_mtd", "remaining_budget", "paced_daily_budget"]

FX_MODEL = "int_currency_rates__to_reporting"
# Every mart with money converts it to the reporting currency through FX_MODEL.
MONEY_MARTS = ["fct_campaign_daily", "dim_campaign", "account_pacing"]

EXPECTED_MODELS = {
    *STAGING_DAILY,
    *STAGING_CAMPAIGNS,
    GA4_MODEL,
    "int_campaign_daily__unioned",
    "int_campaigns__unioned",
    FX_MODEL,
    "fct_campaign_daily",
    "dim_campaign",
    "account_pacing",
}

# model -> the columns of its grain (unique_combination_of_columns)
EXPECTED_GRAINS = {
    **{m: ["date_day", "account_id", "campaign_id"] for m in STAGING_DAILY},
    **{m: ["account_id", "campaign_id"] for m in STAGING_CAMPAIGNS},
    # CSV files hold many platforms: the platform is part of the grain.
    "stg_csv__campaign_daily": ["date_day", "platform", "account_id", "campaign_id"],
    "stg_csv__campaigns": ["platform", "account_id", "campaign_id"],
    GA4_MODEL: ["date_day", "property_id", "source_medium", "campaign_name"],
    "int_campaign_daily__unioned": ["date_day", "platform", "account_id", "campaign_id"],
    "int_campaigns__unioned": ["platform", "account_id", "campaign_id"],
    FX_MODEL: ["currency"],
    "fct_campaign_daily": ["date_day", "platform", "account_id", "campaign_id"],
    "dim_campaign": ["platform", "account_id", "campaign_id"],
    "account_pacing": ["platform", "account_id", "month"],
}

SEEDS = {"currency_rates", "account_monthly_budgets"}

RAW_TABLES = {
    "google_ads_campaign_daily", "google_ads_campaigns",
    "meta_ads_campaign_daily", "meta_ads_campaigns",
    "tiktok_ads_campaign_daily", "tiktok_ads_campaigns",
    "ga4_traffic_daily", "csv_campaign_daily",
}


def _dbt_executable() -> str:
    candidate = Path(sys.executable).parent / "dbt"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dbt")
    # dbt is a hard dependency (pyproject.toml): a missing executable is a broken install, not a skip.
    assert found, "dbt executable not found beside this Python or on PATH: reinstall with `make install`"
    return found


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The manifest of ``dbt parse`` run with no database settings at all."""
    out = tmp_path_factory.mktemp("dbt_parse")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("MBO_DB_") and key != "MBO_REPORTING_CURRENCY" and not key.startswith("DBT_")
    }
    result = subprocess.run(
        [
            _dbt_executable(), "parse",
            "--project-dir", str(PROJECT_DIR),
            "--profiles-dir", str(PROJECT_DIR),
            "--target-path", str(out / "target"),
            "--log-path", str(out / "logs"),
            "--no-partial-parse",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"dbt parse failed:\n{result.stdout}\n{result.stderr}"
    return json.loads((out / "target" / "manifest.json").read_text())


def _models(manifest: dict) -> dict[str, dict]:
    return {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["package_name"] == "mbo"
    }


def _generic_tests(manifest: dict, model_name: str, test_name: str, resource_type: str = "model") -> list[dict]:
    uid = f"{resource_type}.mbo.{model_name}"
    return [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test"
        and node.get("attached_node") == uid
        and (node.get("test_metadata") or {}).get("name") == test_name
    ]


def _tested_columns(manifest: dict, model_name: str, test_name: str) -> set[str]:
    return {node["column_name"] for node in _generic_tests(manifest, model_name, test_name)}


def test_project_has_exactly_the_expected_models(manifest: dict) -> None:
    assert set(_models(manifest)) == EXPECTED_MODELS


def test_every_model_and_column_is_documented(manifest: dict) -> None:
    problems = []
    for name, node in _models(manifest).items():
        if not node["description"].strip():
            problems.append(f"{name}: no description")
        # The yml lives beside the SQL (jaffle-shop layout).
        if not node.get("patch_path"):
            problems.append(f"{name}: no yml")
        else:
            yml = Path(node["patch_path"].split("://", 1)[1])
            if yml.parent != Path(node["original_file_path"]).parent:
                problems.append(f"{name}: yml {yml} is not beside {node['original_file_path']}")
        # The enforced contract makes dbt fail a build when the documented
        # columns differ from what the SQL returns, so "every documented
        # column is described" means "every column is described".
        if not node["config"]["contract"]["enforced"]:
            problems.append(f"{name}: contract not enforced")
        if not node["columns"]:
            problems.append(f"{name}: no columns documented")
        for column_name, column in node["columns"].items():
            if not (column.get("description") or "").strip():
                problems.append(f"{name}.{column_name}: no description")
            if not column.get("data_type"):
                problems.append(f"{name}.{column_name}: no data_type")
    assert not problems, "\n".join(problems)


def test_every_source_table_and_column_is_documented(manifest: dict) -> None:
    sources = {
        node["name"]: node for node in manifest["sources"].values() if node["source_name"] == "raw"
    }
    assert set(sources) == RAW_TABLES
    for name, node in sources.items():
        assert node["schema"] == "raw"
        assert node["description"].strip(), name
        assert node["loaded_at_field"] == "_loaded_at", name
        assert node["freshness"]["warn_after"]["count"], name
        assert node["freshness"]["error_after"]["count"], name
        assert {"_loaded_at", "_run_id"} <= set(node["columns"]), name
        for column_name, column in node["columns"].items():
            assert column["description"].strip(), f"{name}.{column_name}"


def test_layers_land_in_their_schemas_and_materializations(manifest: dict) -> None:
    for name, node in _models(manifest).items():
        if name.startswith("stg_"):
            expected = ("staging", "view")
        elif name.startswith("int_"):
            expected = ("intermediate", "view")
        else:
            expected = ("marts", "table")
        assert (node["schema"], node["config"]["materialized"]) == expected, name
    for seed in SEEDS:
        assert manifest["nodes"][f"seed.mbo.{seed}"]["schema"] == "reference", seed


def test_standard_vocabulary(manifest: dict) -> None:
    models = _models(manifest)
    for name in [*STAGING_DAILY, "int_campaign_daily__unioned"]:
        assert set(models[name]["columns"]) == DAILY_COLUMNS, name
    for name in [*STAGING_CAMPAIGNS, "int_campaigns__unioned"]:
        assert set(models[name]["columns"]) == CAMPAIGN_COLUMNS, name


def test_marts_have_the_contract_columns(manifest: dict) -> None:
    models = _models(manifest)
    fct, dim, pacing = models["fct_campaign_daily"], models["dim_campaign"], models["account_pacing"]
    assert FCT_CONTRACT_COLUMNS <= set(fct["columns"])
    assert DIM_CONTRACT_COLUMNS <= set(dim["columns"])
    assert PACING_CONTRACT_COLUMNS <= set(pacing["columns"])
    for node in (fct, dim, pacing):
        assert node["config"]["contract"]["enforced"], node["name"]


def test_every_model_has_its_grain_test(manifest: dict) -> None:
    for model_name, grain in EXPECTED_GRAINS.items():
        tests = _generic_tests(manifest, model_name, "unique_combination_of_columns")
        combinations = [t["test_metadata"]["kwargs"]["combination_of_columns"] for t in tests]
        assert grain in combinations, f"{model_name}: no unique_combination_of_columns on {grain}"
        not_null = _tested_columns(manifest, model_name, "not_null")
        for column in grain:
            assert column in not_null, f"{model_name}.{column}: no not_null test"


def test_accepted_values_on_platform_and_status(manifest: dict) -> None:
    for model_name, node in _models(manifest).items():
        if "platform" not in node["columns"]:  # e.g. the currency-rate model
            continue
        tests = {
            t["column_name"]: t["test_metadata"]["kwargs"]["values"]
            for t in _generic_tests(manifest, model_name, "accepted_values")
        }
        # A native platform's staging lists its one value; where CSV platforms (named by the files)
        # flow, the name's form is tested instead.
        if "platform" in tests:
            assert set(tests["platform"]) <= set(PLATFORMS), model_name
        else:
            assert "platform" in _tested_columns(manifest, model_name, "platform_name"), \
                f"{model_name}: neither accepted_values nor platform_name on platform"
        if "status" in node["columns"]:
            assert sorted(tests.get("status", [])) == STATUSES, f"{model_name}: status values"


def test_non_negative_on_metrics_and_budgets(manifest: dict) -> None:
    models = _models(manifest)
    for model_name, node in models.items():
        expected = {c for c in [*DAILY_METRICS, "daily_budget"] if c in node["columns"]}
        tested = _tested_columns(manifest, model_name, "non_negative")
        assert expected <= tested, f"{model_name}: non_negative missing on {expected - tested}"
    fct_tested = _tested_columns(manifest, "fct_campaign_daily", "non_negative")
    assert {"spend_reporting", "conversion_value_reporting"} <= fct_tested
    pacing_tested = _tested_columns(manifest, "account_pacing", "non_negative")
    assert {*PACING_MONEY, *(f"{c}_reporting" for c in PACING_MONEY), "days_left"} <= pacing_tested


def test_missing_currency_rates_fail_loudly(manifest: dict) -> None:
    """A currency without a rate must fail a test, never yield NULL money."""
    for model_name in ("int_campaign_daily__unioned", "int_campaigns__unioned"):
        rels = _generic_tests(manifest, model_name, "relationships")
        assert any(
            t["column_name"] == "currency" and "currency_rates" in t["test_metadata"]["kwargs"]["to"]
            for t in rels
        ), f"{model_name}: currency not tested against seed currency_rates"
    fct_not_null = _tested_columns(manifest, "fct_campaign_daily", "not_null")
    assert {"spend_reporting", "conversion_value_reporting", "fx_rate_to_reporting"} <= fct_not_null
    dim_not_null = _tested_columns(manifest, "dim_campaign", "not_null")
    assert {"daily_budget_reporting", "fx_rate_to_reporting"} <= dim_not_null
    pacing_not_null = _tested_columns(manifest, "account_pacing", "not_null")
    assert {"fx_rate_to_reporting", *(f"{c}_reporting" for c in PACING_MONEY)} <= pacing_not_null
    assert {"fx_rate_to_reporting", "reporting_currency"} <= _tested_columns(manifest, FX_MODEL, "not_null")
    assert "test.mbo.assert_reporting_currency_has_rate" in manifest["nodes"]


def test_reporting_rate_is_computed_in_one_place(manifest: dict) -> None:
    """The marts convert money through int_currency_rates__to_reporting, never from the rates seed directly."""
    models = _models(manifest)
    fx = models[FX_MODEL]
    assert fx["schema"] == "intermediate"
    assert set(fx["columns"]) == {"currency", "reporting_currency", "fx_rate_to_reporting"}
    assert "seed.mbo.currency_rates" in fx["depends_on"]["nodes"]
    for name in MONEY_MARTS:
        depends = set(models[name]["depends_on"]["nodes"])
        assert f"model.mbo.{FX_MODEL}" in depends, name
        assert "seed.mbo.currency_rates" not in depends, f"{name} reads the rates seed itself"
        assert "rate_to_usd" not in models[name]["raw_code"], f"{name} computes a rate itself"
        # A LEFT JOIN, so a currency without a rate fails not_null instead of dropping rows.
        assert "left join fx" in models[name]["raw_code"], name


def test_fct_relates_to_dim(manifest: dict) -> None:
    rels = _generic_tests(manifest, "fct_campaign_daily", "relationships")
    assert any(
        t["column_name"] == "campaign_key"
        and "dim_campaign" in t["test_metadata"]["kwargs"]["to"]
        and t["test_metadata"]["kwargs"]["field"] == "campaign_key"
        for t in rels
    )
    assert "campaign_key" in _tested_columns(manifest, "dim_campaign", "unique")


def test_spend_consistency_test_compares_mart_with_raw(manifest: dict) -> None:
    node = manifest["nodes"]["test.mbo.assert_mart_spend_matches_raw"]
    depends = set(node["depends_on"]["nodes"])
    assert "model.mbo.fct_campaign_daily" in depends
    assert {f"source.mbo.raw.{p}_campaign_daily" for p in PLATFORMS} <= depends
    assert "1000000" in node["raw_code"]  # Google micros


def test_unit_tests_pin_the_unit_conversions(manifest: dict) -> None:
    by_model = {test["model"] for test in manifest["unit_tests"].values()}
    assert {"stg_google_ads__campaign_daily", "stg_meta_ads__campaigns"} <= by_model


def test_currency_rates_seed() -> None:
    with (PROJECT_DIR / "seeds" / "currency_rates.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and set(rows[0]) == {"currency", "rate_to_usd"}
    currencies = [row["currency"] for row in rows]
    assert len(currencies) == len(set(currencies))
    assert {"USD", "EUR", "PLN", "GBP", "JPY"} <= set(currencies)
    assert all(float(row["rate_to_usd"]) > 0 for row in rows)
    assert next(float(r["rate_to_usd"]) for r in rows if r["currency"] == "USD") == 1.0


def test_profile_reads_connection_from_env_vars() -> None:
    text = (PROJECT_DIR / "profiles.yml").read_text()
    for var in ("MBO_DB_HOST", "MBO_DB_PORT", "MBO_DB_USER", "MBO_DB_PASSWORD", "MBO_DB_NAME"):
        assert f"env_var('{var}'" in text, var
    assert "env_var('MBO_DB_PORT', '54329') | as_number" in text
    project = (PROJECT_DIR / "dbt_project.yml").read_text()
    assert "env_var('MBO_REPORTING_CURRENCY', 'USD')" in project


def test_monthly_budgets_seed_is_tested(manifest: dict) -> None:
    def tested(test_name: str) -> set[str]:
        return {t["column_name"] for t in _generic_tests(manifest, "account_monthly_budgets", test_name, "seed")}

    grain = _generic_tests(manifest, "account_monthly_budgets", "unique_combination_of_columns", "seed")
    assert [t["test_metadata"]["kwargs"]["combination_of_columns"] for t in grain] == [["platform", "account_id", "month"]]
    assert {"platform", "account_id", "month", "monthly_budget", "currency"} <= tested("not_null")
    assert {"platform"} <= tested("platform_name")
    assert {"month"} <= tested("first_day_of_month")
    assert {"monthly_budget"} <= tested("non_negative")
    assert {"currency"} <= tested("relationships")
    currency_check = manifest["nodes"]["test.mbo.assert_monthly_budget_currency_is_the_accounts"]
    assert {"seed.mbo.account_monthly_budgets", "model.mbo.fct_campaign_daily"} <= set(currency_check["depends_on"]["nodes"])
    assert "edit for your accounts" in manifest["nodes"]["seed.mbo.account_monthly_budgets"]["description"].lower()


def test_monthly_budgets_seed_covers_the_sandbox_accounts() -> None:
    """Every sandbox account has a budget in its own currency for every month of 2026 and 2027."""
    from mbo_pipelines.sandbox.market import ACCOUNTS

    with (PROJECT_DIR / "seeds" / "account_monthly_budgets.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and list(rows[0]) == ["platform", "account_id", "month", "monthly_budget", "currency"]
    keys = [(r["platform"], r["account_id"], r["month"]) for r in rows]
    assert len(keys) == len(set(keys))
    months = {f"{year}-{month:02d}-01" for year in (2026, 2027) for month in range(1, 13)}
    currency_of = {(p, a): c for p, accounts in ACCOUNTS.items() for a, c, _ in accounts}
    for account, currency in currency_of.items():
        mine = [r for r in rows if (r["platform"], r["account_id"]) == account]
        assert {r["month"] for r in mine} == months, account
        assert {r["currency"] for r in mine} == {currency}, account
    assert {(r["platform"], r["account_id"]) for r in rows} == set(currency_of)
    assert all(float(r["monthly_budget"]) > 0 for r in rows)
