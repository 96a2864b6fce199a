"""Freshness: dbt source freshness on the raw tables and Dagster freshness checks on the marts and the plan.

The source checks run ``dbt source freshness`` once (module fixture) against a
database of their own whose raw tables were loaded 80, 40 and 1 hours ago, on
a temporary Dagster instance the sensor then reads. The mart and plan checks
run on an ephemeral instance holding materializations reported in the past.
"""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from dagster._core.test_utils import freeze_time

from mbo_pipelines import asset_keys
from mbo_pipelines.definitions import build_definitions
from mbo_pipelines.defs.ingest.assets import extract_assets_for_environment
from mbo_pipelines.defs.ingest.raw_tables import ALL_TABLES, ensure_raw_tables
from mbo_pipelines.defs.optimize.assets import budget_recommendations
from mbo_pipelines.defs.quality.freshness import (
    FRESHNESS_SENSOR,
    freshness_definitions,
    last_update_freshness_checks,
    mart_keys,
)
from mbo_pipelines.defs.quality.source_freshness import SOURCE_FRESHNESS_CHECK
from mbo_pipelines.defs.transform.assets import mbo_dbt_models
from mbo_pipelines.defs.transform.project import dbt_project, dbt_resource
from mbo_pipelines.resources import MboResource

ENV_VARS = ["MBO_SOURCE", "MBO_IMPORT_DIR", "MBO_MARTS_MAX_AGE_HOURS", "MBO_PLAN_MAX_AGE_HOURS"]
SANDBOX_RAW = [
    *(dg.AssetKey(["raw", f"{platform}_{entity}"])
      for platform in ("google_ads", "meta_ads", "tiktok_ads") for entity in ("campaign_daily", "campaigns")),
    dg.AssetKey(["raw", "ga4_traffic_daily"]),
]
# Hours since each table was loaded; google_ads_campaigns stays empty. Sources warn after 36 h, error after 72 h.
LOADED_HOURS_AGO = {"google_ads_campaign_daily": 80, "meta_ads_campaign_daily": 40, "tiktok_ads_campaign_daily": 1}
CHECKED = [*LOADED_HOURS_AGO, "google_ads_campaigns"]
# A value for a column of each non-numeric SQL type; numbers get 0.
DUMMY = {"text": "'x'", "date": "current_date", "boolean": "false", "jsonb": "'[]'", "timestamptz": "now()"}


def _key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", table])


def _insert_row_loaded_hours_ago(conn, table_name: str, hours: float) -> None:
    table = next(t for t in ALL_TABLES if t.name == f"raw.{table_name}")
    columns = ", ".join(name for name, _ in table.columns)
    values = ", ".join(DUMMY.get(sql_type.split()[0], "0") for _, sql_type in table.columns)
    conn.execute(f"insert into {table.name} ({columns}, _loaded_at) values ({values}, now() - interval '{hours} hours')")


def _freshness_artifacts() -> set[Path]:
    return set((dbt_project.project_dir / dbt_project.target_path).glob("*/sources.json"))


@pytest.fixture
def sandbox_env(monkeypatch):
    """The default sandbox deployment: its three platforms, no CSV import, default max ages."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def source_run(new_database):
    """dbt source freshness of four raw tables, run through the ``source_freshness`` checks on a temporary instance."""
    url = new_database("freshness")
    with psycopg.connect(url) as conn:
        ensure_raw_tables(conn)
        for table, hours in LOADED_HOURS_AGO.items():
            _insert_row_loaded_hours_ago(conn, table, hours)
    with pytest.MonkeyPatch.context() as mp, dg.instance_for_test() as instance:
        for name in ENV_VARS:
            mp.delenv(name, raising=False)
        raw_assets = extract_assets_for_environment()
        checks, [sensor] = freshness_definitions(raw_assets)
        artifacts_before = _freshness_artifacts()
        selected = [dg.AssetCheckKey(_key(t), SOURCE_FRESHNESS_CHECK) for t in CHECKED]
        result = dg.materialize(
            [*raw_assets, mbo_dbt_models, budget_recommendations, *checks],
            selection=dg.AssetSelection.checks(*selected),
            resources={"dbt": dbt_resource(), "mbo": MboResource(database_url=url)},
            instance=instance,
        )
        evaluations = {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()}
        yield {"evaluations": evaluations, "checks": checks, "sensor": sensor, "instance": instance,
               "new_artifacts": _freshness_artifacts() - artifacts_before}


def _meta(evaluation) -> dict:
    return {name: value.value for name, value in evaluation.metadata.items()}


def test_raw_table_older_than_error_after_fails_with_error_naming_table_and_age(source_run):
    stale = source_run["evaluations"]["google_ads_campaign_daily"]
    meta = _meta(stale)
    assert not stale.passed
    assert stale.severity == dg.AssetCheckSeverity.ERROR
    assert meta["table"] == "raw.google_ads_campaign_daily"
    assert meta["age_hours"] == pytest.approx(80, abs=0.5)
    assert (meta["warn_after"], meta["error_after"], meta["dbt_status"]) == ("36 hours", "72 hours", "error")
    assert "raw.google_ads_campaign_daily is stale: last loaded 80 hours ago" in stale.description


def test_raw_table_older_than_warn_after_fails_with_warn(source_run):
    late = source_run["evaluations"]["meta_ads_campaign_daily"]
    assert not late.passed
    assert late.severity == dg.AssetCheckSeverity.WARN
    assert _meta(late)["age_hours"] == pytest.approx(40, abs=0.5)


def test_recent_raw_table_passes_and_says_when_it_could_turn_stale(source_run):
    fresh = source_run["evaluations"]["tiktok_ads_campaign_daily"]
    meta = _meta(fresh)
    assert fresh.passed
    assert meta["age_hours"] == pytest.approx(1, abs=0.5)
    assert meta["dagster/fresh_until_timestamp"] == pytest.approx(meta["last_loaded_at"] + 36 * 3600)


def test_empty_raw_table_fails_as_never_loaded(source_run):
    empty = source_run["evaluations"]["google_ads_campaigns"]
    assert (empty.passed, empty.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert _meta(empty)["last_loaded_at"] == "never"
    assert "never loaded" in empty.description


def test_only_the_selected_raw_tables_are_checked(source_run):
    assert sorted(source_run["evaluations"]) == sorted(CHECKED)


def test_dbt_artifacts_of_a_clean_run_are_removed(source_run):
    assert source_run["new_artifacts"] == set()


def test_sensor_asks_for_unevaluated_checks_and_for_passed_ones_once_they_may_be_stale(source_run):
    instance, sensor = source_run["instance"], source_run["sensor"]
    all_keys = {spec.key for checks in source_run["checks"] for spec in checks.check_specs}

    def requested_at(moment: datetime) -> set[dg.AssetCheckKey]:
        with freeze_time(moment):
            result = sensor(dg.build_sensor_context(instance=instance))
        return set(result.asset_check_keys) if isinstance(result, dg.RunRequest) else set()

    now = datetime.now(timezone.utc)
    evaluated = {dg.AssetCheckKey(_key(t), SOURCE_FRESHNESS_CHECK) for t in CHECKED}
    assert requested_at(now) == all_keys - evaluated
    # tiktok_ads_campaign_daily (loaded 1 h ago) may be stale once its 36 h warn_after is past; failed ones
    # wait for their extract to run again.
    tiktok = dg.AssetCheckKey(_key("tiktok_ads_campaign_daily"), SOURCE_FRESHNESS_CHECK)
    assert requested_at(now + timedelta(hours=36)) == (all_keys - evaluated) | {tiktok}


def _run_last_update_checks(instance: dg.DagsterInstance) -> dict[dg.AssetKey, dg.AssetCheckEvaluation]:
    checks = last_update_freshness_checks()
    keys = {spec.asset_key for c in checks for spec in c.check_specs}
    result = dg.materialize([*(dg.AssetSpec(k) for k in keys), *checks], instance=instance,
                            selection=dg.AssetSelection.checks(*checks))
    return {e.asset_key: e for e in result.get_asset_check_evaluations()}


def _materialized_hours_ago(instance: dg.DagsterInstance, key: dg.AssetKey, hours: float) -> None:
    with freeze_time(datetime.now(timezone.utc) - timedelta(hours=hours)):
        instance.report_runless_asset_event(dg.AssetMaterialization(key))


def test_mart_older_than_max_age_fails_and_a_fresh_one_passes(sandbox_env):
    fct, dim, pacing, *others = mart_keys()
    plan = asset_keys.RECOMMENDATIONS
    instance = dg.DagsterInstance.ephemeral()
    for key, hours in ((fct, 31), (dim, 29), (pacing, 1), (plan, 2), *((key, 3) for key in others)):
        _materialized_hours_ago(instance, key, hours)
    evaluations = _run_last_update_checks(instance)
    assert set(evaluations) == {fct, dim, pacing, plan, *others}
    assert {key.path[-1] for key in others} == {"fct_campaign_attribution", "fct_platform_daily",
                                                "fct_budget_pacing", "opt_campaign_inputs"}
    assert not evaluations[fct].passed and evaluations[fct].severity == dg.AssetCheckSeverity.WARN
    assert all(evaluations[key].passed for key in (dim, pacing, plan, *others))


def test_plan_max_age_follows_its_env_var(sandbox_env, monkeypatch):
    plan = asset_keys.RECOMMENDATIONS
    instance = dg.DagsterInstance.ephemeral()
    for key in mart_keys():
        _materialized_hours_ago(instance, key, 1)
    _materialized_hours_ago(instance, plan, 13)
    assert _run_last_update_checks(instance)[plan].passed
    monkeypatch.setenv("MBO_PLAN_MAX_AGE_HOURS", "12")
    evaluations = _run_last_update_checks(instance)
    assert not evaluations[plan].passed
    assert all(evaluations[key].passed for key in mart_keys())


def test_never_materialized_plan_fails(sandbox_env):
    assert not _run_last_update_checks(dg.DagsterInstance.ephemeral())[asset_keys.RECOMMENDATIONS].passed


@pytest.mark.parametrize("value", ["0", "-3", "soon"])
def test_max_age_must_be_a_positive_number_of_hours(sandbox_env, monkeypatch, value):
    monkeypatch.setenv("MBO_MARTS_MAX_AGE_HOURS", value)
    with pytest.raises(ValueError, match="MBO_MARTS_MAX_AGE_HOURS"):
        last_update_freshness_checks()


def _checks_by_name(defs: dg.Definitions) -> dict[str, set[dg.AssetKey]]:
    by_name: dict[str, set[dg.AssetKey]] = {}
    for key in defs.resolve_asset_graph().asset_check_keys:
        by_name.setdefault(key.name, set()).add(key.asset_key)
    return by_name


def test_definitions_check_every_enabled_raw_asset_the_marts_and_the_plan(sandbox_env, monkeypatch, tmp_path):
    monkeypatch.setenv("MBO_IMPORT_DIR", str(tmp_path))
    defs = build_definitions()
    checks = _checks_by_name(defs)
    assert checks[SOURCE_FRESHNESS_CHECK] == {*SANDBOX_RAW, _key("csv_campaign_daily")}
    assert checks["freshness_check"] == {*mart_keys(), asset_keys.RECOMMENDATIONS}
    sensor = defs.resolve_sensor_def(FRESHNESS_SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_definitions_check_only_the_enabled_live_platform(sandbox_env, monkeypatch):
    monkeypatch.setenv("MBO_SOURCE", "live")
    monkeypatch.setenv("MBO_META_AD_ACCOUNT_IDS", "123")
    for name in ("MBO_GOOGLE_ADS_CUSTOMER_IDS", "MBO_TIKTOK_ADVERTISER_IDS", "MBO_GA4_PROPERTY_IDS"):
        monkeypatch.delenv(name, raising=False)
    checks = _checks_by_name(build_definitions())
    assert checks[SOURCE_FRESHNESS_CHECK] == {_key("meta_ads_campaign_daily"), _key("meta_ads_campaigns")}
