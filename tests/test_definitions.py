"""The code location loads, and its graph is extract → staging → marts → recommendations → push."""

import dagster as dg

from mbo_pipelines.definitions import defs

RAW_DAILY = [dg.AssetKey(["raw", f"{p}_campaign_daily"]) for p in ("google_ads", "meta_ads", "tiktok_ads")]


def _graph():
    return defs.resolve_asset_graph()


def _upstream(key: dg.AssetKey) -> set[dg.AssetKey]:
    graph, seen, todo = _graph(), set(), [key]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def test_definitions_load_and_validate():
    dg.Definitions.validate_loadable(defs)


def test_extract_feeds_staging_feeds_marts_feeds_recommendations():
    graph = _graph()
    for platform, raw in zip(("google_ads", "meta_ads", "tiktok_ads"), RAW_DAILY):
        staging = dg.AssetKey(["staging", f"stg_{platform}__campaign_daily"])
        assert raw in graph.get(staging).parent_keys
        assert graph.get(raw).is_partitioned
        assert staging in _upstream(dg.AssetKey(["marts", "fct_campaign_daily"]))
    recommendations = graph.get(dg.AssetKey("budget_recommendations"))
    assert {dg.AssetKey(["marts", "opt_campaign_inputs"]), dg.AssetKey(["marts", "dim_campaign"]),
            dg.AssetKey(["raw", "fx_rates"])} <= recommendations.parent_keys
    assert set(RAW_DAILY) <= _upstream(dg.AssetKey("budget_recommendations"))


def test_dbt_groups_follow_folders():
    graph = _graph()
    assert graph.get(dg.AssetKey(["staging", "stg_google_ads__campaign_daily"])).group_name == "staging"
    assert graph.get(dg.AssetKey(["intermediate", "int_campaign_daily__unioned"])).group_name == "intermediate"
    assert graph.get(dg.AssetKey(["marts", "fct_campaign_daily"])).group_name == "marts"


def test_dbt_tests_are_asset_checks():
    checks = {key.name for key in _graph().asset_check_keys if key.asset_key == dg.AssetKey(["marts", "fct_campaign_daily"])}
    assert any("not_null" in name for name in checks)
    assert any("non_negative" in name for name in checks)


def test_sensor_targets_the_push_job():
    sensor = defs.resolve_sensor_def("budget_recommendations_sensor")
    assert sensor.job_name == "push_budget_changes_job"
    assert sensor.asset_key == dg.AssetKey("budget_recommendations")


def test_daily_schedule_refreshes_everything():
    schedule = defs.resolve_schedule_def("daily_refresh_schedule")
    assert schedule.job_name == "daily_refresh"


def test_consistency_test_guards_the_mart():
    checks = {key.name: key.asset_key for key in _graph().asset_check_keys}
    assert checks["assert_mart_spend_matches_raw"] == dg.AssetKey(["marts", "fct_campaign_daily"])


def test_every_singular_dbt_test_is_an_asset_check():
    """A singular test that is not attached to an asset runs as a bare observation and warns in every run."""
    from mbo_pipelines.defs.transform.project import DBT_PROJECT_DIR

    singular = {path.stem for path in (DBT_PROJECT_DIR / "tests").glob("*.sql")}
    checks = {key.name for key in _graph().asset_check_keys}
    assert singular and singular <= checks


#: The daily FX rates: in the ingest group whatever the platforms.
FX_RATES = dg.AssetKey(["raw", "fx_rates"])


def _extract_keys(monkeypatch, **env) -> set[dg.AssetKey]:
    """The ingest assets ``build_definitions`` makes under ``env`` (every platform variable cleared first)."""
    from mbo_pipelines.definitions import build_definitions
    from mbo_pipelines.platform_setup import live_setups

    for setup in live_setups({}).values():
        monkeypatch.delenv(setup.accounts_variable, raising=False)
    monkeypatch.delenv("MBO_IMPORT_DIR", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    graph = build_definitions().resolve_asset_graph()
    return {key for key in graph.get_all_asset_keys() if graph.get(key).group_name == "ingest"}


def test_live_mode_shows_only_the_enabled_platforms_assets(monkeypatch):
    keys = _extract_keys(monkeypatch, MBO_SOURCE="live", MBO_META_AD_ACCOUNT_IDS="act_123", MBO_IMPORT_DIR="/tmp/imports")
    assert keys == {dg.AssetKey(["raw", "meta_ads_campaign_daily"]), dg.AssetKey(["raw", "meta_ads_campaigns"]),
                    dg.AssetKey(["raw", "csv_campaign_daily"]), FX_RATES}


def test_live_mode_with_every_platform_and_ga4(monkeypatch):
    keys = _extract_keys(monkeypatch, MBO_SOURCE="live", MBO_GOOGLE_ADS_CUSTOMER_IDS="123-456-7890",
                         MBO_META_AD_ACCOUNT_IDS="1", MBO_TIKTOK_ADVERTISER_IDS="2", MBO_GA4_PROPERTY_IDS="3")
    assert keys == {*RAW_DAILY, *(dg.AssetKey(["raw", f"{p}_campaigns"]) for p in ("google_ads", "meta_ads", "tiktok_ads")),
                    dg.AssetKey(["raw", "ga4_traffic_daily"]), FX_RATES}


def test_sandbox_mode_reads_the_three_simulated_platforms_and_the_sandbox_ga4(monkeypatch):
    keys = _extract_keys(monkeypatch, MBO_SOURCE="sandbox", MBO_GA4_PROPERTY_IDS="3")
    assert keys == {*RAW_DAILY, *(dg.AssetKey(["raw", f"{p}_campaigns"]) for p in ("google_ads", "meta_ads", "tiktok_ads")),
                    dg.AssetKey(["raw", "ga4_traffic_daily"]), FX_RATES}
