"""Static checks of the dbt project: it parses without a database, and its
documentation and tests are complete.

``dbt parse`` runs in a subprocess with every ``MBO_DB_*`` variable removed
(``dbt parse`` reads no MBO_DB_*: the profile requires them only for commands that connect) and writes its manifest to a
temporary directory, so it never touches ``dbt_project/target`` that a
concurrent ``dbt build`` may be using. No database is started or contacted.
"""

from __future__ import annotations

import csv
import json
import os
import re
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

FX_MODEL = "int_fx_rates__daily"
FX_STAGING = "stg_fx__rates"
# The daily rate table every conversion reads (contract).
FX_COLUMNS = {"date_day", "currency", "rate_to_usd", "rate_published_on", "reporting_currency", "fx_rate_to_reporting"}
# Every mart that converts money itself does it through FX_MODEL (the others sum these marts' *_reporting).
MONEY_MARTS = ["fct_campaign_daily", "dim_campaign", "account_pacing"]
# fct_budget_pacing: account_pacing's columns plus the projection.
BUDGET_PACING_COLUMNS = {
    *PACING_CONTRACT_COLUMNS, "fx_rate_date", "trailing_window_start", "trailing_window_days",
    "trailing_daily_spend", "days_to_project", "projected_month_end_spend",
    "projected_month_end_spend_reporting", "projected_vs_budget",
}
PLATFORM_DAILY_COLUMNS = {
    "date_day", "platform", "reporting_currency", "campaigns", "spend_reporting", "impressions", "clicks",
    "conversions", "conversion_value_reporting", "roas", "cpa_reporting", "share_of_spend",
}
# mart -> its indexes (columns, unique) for the dashboards' date and campaign lookups.
MART_INDEXES = {
    "fct_campaign_daily": {(("date_day",), False), (("platform", "account_id", "campaign_id", "date_day"), True)},
    "dim_campaign": {(("campaign_key",), True), (("platform", "account_id", "campaign_id"), False)},
    "account_pacing": {(("platform", "account_id", "month"), True), (("month",), False)},
    "fct_budget_pacing": {(("platform", "account_id", "month"), True), (("month",), False)},
    "fct_platform_daily": {(("date_day", "platform"), True)},
    "fct_campaign_attribution": {(("platform", "account_id", "campaign_id", "date_day"), True), (("date_day",), False)},
    "opt_campaign_inputs": {(("platform", "account_id", "campaign_id", "date_day"), True), (("date_day",), False)},
}

# Attribution against GA4 (contract): platform claims, GA4's observation, the de-duplicated measure.
ATTRIBUTION_CONTRACT_COLUMNS = {
    "campaign_key", "date_day", "platform", "account_id", "campaign_id", "campaign_name", "currency",
    "account_timezone", "reporting_currency", "fx_rate_to_reporting", "spend", "spend_reporting",
    "platform_conversions", "platform_conversion_value", "platform_conversion_value_reporting",
    "ga4_sessions", "ga4_key_events", "ga4_revenue", "ga4_revenue_reporting",
    "dedup_conversions", "dedup_conversion_value", "dedup_conversion_value_reporting", "is_ga4_matched",
    "dedup_factor_conversions", "dedup_factor_value",
}
# What the planner reads (contract).
OPT_INPUTS_CONTRACT_COLUMNS = {
    "campaign_key", "date_day", "platform", "account_id", "campaign_id", "currency", "reporting_currency",
    "spend_reporting", "platform_conversion_value_reporting", "dedup_conversion_value_reporting", "is_ga4_matched",
}
ATTRIBUTION_TESTS = [
    "assert_dedup_conversions_within_ga4_paid_total", "assert_dedup_value_within_ga4_paid_total",
    "assert_attribution_rows_match_fct", "assert_unmatched_attribution_keeps_platform_numbers",
]
# GA4 source / mediums the sandbox property emits as paid traffic, and their platforms (contract).
SANDBOX_PAID_TRAFFIC = {
    ("google", "cpc"): "google_ads", ("facebook", "paid_social"): "meta_ads",
    ("instagram", "paid_social"): "meta_ads", ("tiktok", "paid_social"): "tiktok_ads",
}

EXPECTED_MODELS = {
    *STAGING_DAILY,
    *STAGING_CAMPAIGNS,
    GA4_MODEL,
    "int_campaign_daily__unioned",
    "int_campaigns__unioned",
    FX_STAGING,
    FX_MODEL,
    "fct_campaign_daily",
    "dim_campaign",
    "account_pacing",
    "fct_budget_pacing",
    "fct_platform_daily",
    "fct_campaign_attribution",
    "opt_campaign_inputs",
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
    FX_STAGING: ["date_day", "currency"],
    FX_MODEL: ["date_day", "currency"],
    "fct_campaign_daily": ["date_day", "platform", "account_id", "campaign_id"],
    "dim_campaign": ["platform", "account_id", "campaign_id"],
    "account_pacing": ["platform", "account_id", "month"],
    "fct_budget_pacing": ["platform", "account_id", "month"],
    "fct_platform_daily": ["date_day", "platform"],
    "fct_campaign_attribution": ["date_day", "platform", "account_id", "campaign_id"],
    "opt_campaign_inputs": ["date_day", "platform", "account_id", "campaign_id"],
}

SEEDS = {"account_monthly_budgets", "ga4_channel_mapping"}

RAW_TABLES = {
    "google_ads_campaign_daily", "google_ads_campaigns",
    "meta_ads_campaign_daily", "meta_ads_campaigns",
    "tiktok_ads_campaign_daily", "tiktok_ads_campaigns",
    "ga4_traffic_daily", "csv_campaign_daily", "fx_rates",
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
        elif name == FX_MODEL:
            # Every mart joins to it on (currency, date_day): a table with a unique index, not a view.
            expected = ("intermediate", "table")
        elif name.startswith("int_"):
            expected = ("intermediate", "view")
        else:
            expected = ("marts", "table")
        assert (node["schema"], node["config"]["materialized"]) == expected, name
    for seed in SEEDS:
        assert manifest["nodes"][f"seed.mbo.{seed}"]["schema"] == "reference", seed


# The fact marts a daily run updates in place, by whole days of its window, and their keys.
INCREMENTAL_MARTS = {
    "fct_campaign_daily": ["date_day", "platform", "account_id", "campaign_id"],
    "fct_campaign_attribution": ["date_day", "platform", "account_id", "campaign_id"],
    "opt_campaign_inputs": ["date_day", "platform", "account_id", "campaign_id"],
    "fct_platform_daily": ["date_day", "platform"],
}


def test_fact_marts_are_incremental_over_the_window(manifest: dict) -> None:
    """Parsed without the window vars they build as tables; their incremental config is delete+insert on their
    keys, a schema change fails (a full refresh rebuilds), and a pre-hook clears the window's days first."""
    models = _models(manifest)
    for name, key in INCREMENTAL_MARTS.items():
        config = models[name]["config"]
        assert (config["incremental_strategy"], config["unique_key"]) == ("delete+insert", key), name
        assert config["on_schema_change"] == "fail", name
        assert [hook["sql"] for hook in config["pre-hook"]] == ["{{ delete_incremental_window('date_day') }}"], name
        assert "in_incremental_window('date_day')" in models[name]["raw_code"], name


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
    budget_pacing, platform_daily = models["fct_budget_pacing"], models["fct_platform_daily"]
    # fct_budget_pacing folds in account_pacing: every one of its columns, plus the projection.
    assert set(pacing["columns"]) | BUDGET_PACING_COLUMNS == set(budget_pacing["columns"])
    assert "model.mbo.account_pacing" in budget_pacing["depends_on"]["nodes"]
    assert PLATFORM_DAILY_COLUMNS <= set(platform_daily["columns"])
    assert "fx_rate_date" in dim["columns"] and "fx_rate_date" in pacing["columns"]
    for node in (fct, dim, pacing, budget_pacing, platform_daily):
        assert node["config"]["contract"]["enforced"], node["name"]


def test_marts_are_indexed_on_their_date_and_campaign_keys(manifest: dict) -> None:
    models = _models(manifest)
    for name, expected in MART_INDEXES.items():
        indexes = {(tuple(i["columns"]), bool(i.get("unique"))) for i in models[name]["config"].get("indexes") or []}
        assert expected <= indexes, f"{name}: indexes {indexes}, expected {expected}"


def test_attribution_marts_have_the_contract_columns_and_tests(manifest: dict) -> None:
    models = _models(manifest)
    attribution, inputs = models["fct_campaign_attribution"], models["opt_campaign_inputs"]
    assert ATTRIBUTION_CONTRACT_COLUMNS <= set(attribution["columns"])
    assert OPT_INPUTS_CONTRACT_COLUMNS <= set(inputs["columns"])
    assert {"model.mbo.fct_campaign_daily", "model.mbo.stg_ga4__traffic_daily", "seed.mbo.ga4_channel_mapping",
            f"model.mbo.{FX_MODEL}"} <= set(attribution["depends_on"]["nodes"])
    assert inputs["depends_on"]["nodes"] == ["model.mbo.fct_campaign_attribution"]
    # The de-duplication formula is documented where analysts read it.
    assert "min(1, sum ga4_key_events / sum platform_conversions)" in attribution["description"]
    not_null = _tested_columns(manifest, "fct_campaign_attribution", "not_null")
    assert {"is_ga4_matched", "dedup_conversions", "dedup_conversion_value", "dedup_conversion_value_reporting",
            "ga4_revenue", "ga4_revenue_reporting"} <= not_null
    for name in ATTRIBUTION_TESTS:
        node = manifest["nodes"][f"test.mbo.{name}"]
        assert node["description"].strip(), name
        assert node["config"]["meta"]["dagster"]["ref"]["name"] == "fct_campaign_attribution", name
    # The GA4 side of the bounds is recomputed from raw and the mapping, not read from staging.
    for name in ATTRIBUTION_TESTS[:2]:
        depends = set(manifest["nodes"][f"test.mbo.{name}"]["depends_on"]["nodes"])
        assert {"source.mbo.raw.ga4_traffic_daily", "seed.mbo.ga4_channel_mapping"} <= depends, name
        assert "model.mbo.stg_ga4__traffic_daily" not in depends, name


def test_every_mart_grants_select_to_the_bi_role(manifest: dict) -> None:
    """dbt's grants config on every mart, the role created before the build and opened on marts after it."""
    marts = [node for node in _models(manifest).values() if node["schema"] == "marts"]
    assert len(marts) >= 7
    for node in marts:
        assert node["config"]["grants"] == {"select": ["mbo_bi"]}, node["name"]
    hooks = {node["name"]: node["raw_code"] for node in manifest["nodes"].values() if node["resource_type"] == "operation"}
    assert hooks == {"mbo-on-run-start-0": "{{ ensure_bi_role() }}", "mbo-on-run-end-0": "{{ grant_bi_access('marts') }}"}
    project = (PROJECT_DIR / "dbt_project.yml").read_text()
    assert "bi_role: \"{{ env_var('MBO_BI_ROLE', 'mbo_bi') }}\"" in project
    macro = (PROJECT_DIR / "macros" / "bi_access.sql").read_text().lower()
    assert "alter default privileges in schema" in macro and "grant select on all tables in schema" in macro
    assert "password '" not in macro.replace("password ''<choose one>''", "")  # never a password in dbt's SQL


def test_ga4_channel_mapping_seed(manifest: dict) -> None:
    with (PROJECT_DIR / "seeds" / "ga4_channel_mapping.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and list(rows[0]) == ["source", "medium", "platform"]
    pairs = [(r["source"], r["medium"]) for r in rows]
    assert len(pairs) == len(set(pairs))
    assert all(v == v.strip().lower() and v for r in rows for v in (r["source"], r["medium"]))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", r["platform"]) for r in rows)
    mapping = {(r["source"], r["medium"]): r["platform"] for r in rows}
    assert SANDBOX_PAID_TRAFFIC.items() <= mapping.items()
    # Organic, direct, referral and email traffic is never paid.
    assert not {("google", "organic"), ("(direct)", "(none)"), ("newsletter", "email"), ("facebook", "referral")} & set(mapping)

    def tested(test_name: str) -> set[str]:
        return {t["column_name"] for t in _generic_tests(manifest, "ga4_channel_mapping", test_name, "seed")}

    grain = _generic_tests(manifest, "ga4_channel_mapping", "unique_combination_of_columns", "seed")
    assert [t["test_metadata"]["kwargs"]["combination_of_columns"] for t in grain] == [["source", "medium"]]
    assert {"source", "medium", "platform"} <= tested("not_null")
    assert {"source", "medium"} <= tested("lower_case")
    assert {"platform"} <= tested("platform_name")
    description = manifest["nodes"]["seed.mbo.ga4_channel_mapping"]["description"].lower()
    assert "edit for your tagging" in description and "dbt seed" in description


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
    for pacing_model in ("account_pacing", "fct_budget_pacing"):
        pacing_tested = _tested_columns(manifest, pacing_model, "non_negative")
        assert {*PACING_MONEY, *(f"{c}_reporting" for c in PACING_MONEY), "days_left"} <= pacing_tested, pacing_model
    projection = {"projected_month_end_spend", "projected_month_end_spend_reporting", "trailing_daily_spend"}
    assert projection <= _tested_columns(manifest, "fct_budget_pacing", "non_negative")
    assert projection <= _tested_columns(manifest, "fct_budget_pacing", "not_null")
    platform_money = {"spend_reporting", "conversion_value_reporting", "conversions", "roas", "cpa_reporting", "share_of_spend"}
    assert platform_money <= _tested_columns(manifest, "fct_platform_daily", "non_negative")


def test_missing_currency_rates_fail_loudly(manifest: dict) -> None:
    """A (currency, day) without a rate must fail a test that names it, never yield NULL money."""
    check = manifest["nodes"]["test.mbo.assert_fx_rate_for_every_fact_day"]
    # Every fact a rate is needed for: campaign facts, GA4 revenue, and the reporting currency on their days.
    assert {
        "model.mbo.int_campaign_daily__unioned", "model.mbo.stg_ga4__traffic_daily", f"model.mbo.{FX_MODEL}",
    } <= set(check["depends_on"]["nodes"])
    assert "reporting_currency()" in check["raw_code"]
    # Its rows (the missing pairs) land in a table the failure message points to.
    assert check["config"]["store_failures"] is True
    fct_not_null = _tested_columns(manifest, "fct_campaign_daily", "not_null")
    assert {"spend_reporting", "conversion_value_reporting", "fx_rate_to_reporting"} <= fct_not_null
    dim_not_null = _tested_columns(manifest, "dim_campaign", "not_null")
    assert {"daily_budget_reporting", "fx_rate_to_reporting", "fx_rate_date"} <= dim_not_null
    for pacing_model in ("account_pacing", "fct_budget_pacing"):
        pacing_not_null = _tested_columns(manifest, pacing_model, "not_null")
        assert {"fx_rate_to_reporting", "fx_rate_date", *(f"{c}_reporting" for c in PACING_MONEY)} <= pacing_not_null
    assert {"spend_reporting", "conversion_value_reporting"} <= _tested_columns(manifest, "fct_platform_daily", "not_null")
    assert {"date_day", "currency", "reporting_currency"} <= _tested_columns(manifest, FX_MODEL, "not_null")


def test_reporting_rate_is_computed_in_one_place(manifest: dict) -> None:
    """The marts convert money at the day's rate through int_fx_rates__daily; the static seed is gone."""
    models = _models(manifest)
    fx = models[FX_MODEL]
    assert fx["schema"] == "intermediate"
    assert set(fx["columns"]) == FX_COLUMNS
    assert f"model.mbo.{FX_STAGING}" in fx["depends_on"]["nodes"]
    assert "source.mbo.raw.fx_rates" in models[FX_STAGING]["depends_on"]["nodes"]
    assert "fx_max_fill_days()" in fx["raw_code"]
    assert not any(uid.endswith(".currency_rates") for uid in [*manifest["nodes"], *manifest["sources"]])
    assert not (PROJECT_DIR / "seeds" / "currency_rates.csv").exists()
    for name in MONEY_MARTS:
        depends = set(models[name]["depends_on"]["nodes"])
        assert f"model.mbo.{FX_MODEL}" in depends, name
        assert "rate_to_usd" not in models[name]["raw_code"], f"{name} computes a rate itself"
        # A LEFT JOIN, so a day without a rate fails not_null instead of dropping rows.
        assert "left join fx" in models[name]["raw_code"], name
    # Daily money converts at its own day's rate; the budgets at the rate of a day they name.
    for name in ("fct_campaign_daily", "account_pacing"):
        assert "and fx.date_day = " in models[name]["raw_code"], name
    # Marts built on other marts reuse their *_reporting amounts instead of converting again.
    for name in ("fct_platform_daily", "fct_budget_pacing"):
        assert f"model.mbo.{FX_MODEL}" not in models[name]["depends_on"]["nodes"], name


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
    # Per platform and day, spend and conversions.
    assert "group by platform, date_day" in node["raw_code"] and "conversions" in node["raw_code"]


def test_fx_and_mart_consistency_tests_read_their_own_inputs(manifest: dict) -> None:
    """The singular tests recompute from independent inputs and are Dagster checks of the model they guard."""
    def node(name: str) -> dict:
        return manifest["nodes"][f"test.mbo.{name}"]

    rates = node("assert_reporting_columns_follow_the_rates")
    depends = set(rates["depends_on"]["nodes"])
    # The day's rate recomputed from the raw rates, not read from the model under test.
    assert "source.mbo.raw.fx_rates" in depends and f"model.mbo.{FX_MODEL}" not in depends
    assert {f"model.mbo.{m}" for m in ("fct_campaign_daily", "dim_campaign", "account_pacing", "fct_platform_daily")} <= depends
    platform = node("assert_platform_daily_matches_campaign_daily")
    assert {"model.mbo.fct_platform_daily", "model.mbo.fct_campaign_daily"} <= set(platform["depends_on"]["nodes"])
    projection = node("assert_budget_pacing_projection")
    assert {"model.mbo.fct_budget_pacing", "model.mbo.fct_campaign_daily"} <= set(projection["depends_on"]["nodes"])
    assert "model.mbo.account_pacing" not in projection["depends_on"]["nodes"]
    guarded = {
        "assert_reporting_columns_follow_the_rates": "fct_campaign_daily",
        "assert_fx_rate_for_every_fact_day": FX_MODEL,
        "assert_platform_daily_matches_campaign_daily": "fct_platform_daily",
        "assert_budget_pacing_projection": "fct_budget_pacing",
    }
    for name, model in guarded.items():
        assert node(name)["config"]["meta"]["dagster"]["ref"]["name"] == model, name
        assert node(name)["description"].strip(), name


def test_unit_tests_pin_the_unit_conversions(manifest: dict) -> None:
    by_model = {test["model"] for test in manifest["unit_tests"].values()}
    assert {"stg_google_ads__campaign_daily", "stg_meta_ads__campaigns"} <= by_model
    # The pacing projection on a hand-computed case.
    assert "fct_budget_pacing" in by_model


def test_a_bad_fx_max_fill_days_is_a_clear_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MBO_DB_", "DBT_"))}
    result = subprocess.run(
        [_dbt_executable(), "parse", "--no-partial-parse", "--project-dir", str(PROJECT_DIR),
         "--profiles-dir", str(PROJECT_DIR), "--target-path", str(tmp_path / "target"),
         "--log-path", str(tmp_path / "logs")],
        env={**env, "MBO_FX_MAX_FILL_DAYS": "7; drop table raw.fx_rates"}, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0
    assert "fx_max_fill_days (env var MBO_FX_MAX_FILL_DAYS) must be a whole number of days >= 0" in result.stdout


def test_profile_reads_connection_from_env_vars() -> None:
    text = (PROJECT_DIR / "profiles.yml").read_text()
    for var in ("MBO_DB_HOST", "MBO_DB_PORT", "MBO_DB_USER", "MBO_DB_PASSWORD", "MBO_DB_NAME"):
        assert f"env_var('{var}'" in text, var
    assert "54329" not in text  # no default that could reach another server (tests/cli/test_mbo_dbt.py runs dbt)
    project = (PROJECT_DIR / "dbt_project.yml").read_text()
    assert "env_var('MBO_REPORTING_CURRENCY', 'USD')" in project
    assert "env_var('MBO_FX_MAX_FILL_DAYS', '7')" in project


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


def test_every_model_and_seed_persists_its_descriptions_to_the_database(manifest: dict) -> None:
    """BI tools and psql's \\d+ read PostgreSQL comments, not dbt docs: dbt's persist_docs writes them."""
    nodes = [n for n in manifest["nodes"].values()
             if n["resource_type"] in ("model", "seed") and n["package_name"] == "mbo"]
    assert nodes
    assert [n["name"] for n in nodes if n["config"].get("persist_docs") != {"relation": True, "columns": True}] == []


def test_mart_money_is_numeric_with_a_fixed_scale_and_its_description_says_so(manifest: dict) -> None:
    """dbt_project/README.md, "Money": every money column of a mart (found by its name,
    tests/transform/money_columns.py) is numeric(20, 6), and its description states the rule of its currency."""
    from tests.transform.money_columns import NOT_MONEY, is_money

    rule = {kind: manifest["docs"][f"doc.mbo.money_scale_{kind}"]["block_contents"].strip()
            for kind in ("account", "reporting")}
    assert all("numeric(20, 6)" in text and "never float" in text for text in rule.values())
    marts = {name: node for name, node in _models(manifest).items() if node["schema"] == "marts"}
    problems, found = [], 0
    for name, node in marts.items():
        for column, spec in node["columns"].items():
            if column in NOT_MONEY - {"reporting_currency"} and not spec["data_type"].startswith("numeric("):
                problems.append(f"{name}.{column}: a ratio, but {spec['data_type']}")  # not money, not float either
            if not is_money(column):
                continue
            found += 1
            if spec["data_type"] != "numeric(20, 6)":
                problems.append(f"{name}.{column}: {spec['data_type']}")
            kind = "reporting" if column.endswith("_reporting") else "account"
            if rule[kind] not in spec["description"]:
                problems.append(f"{name}.{column}: description lacks the {kind} money rule")
    assert problems == []
    assert found > 40
