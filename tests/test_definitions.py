"""The code location loads, and its graph is extract → staging → intermediate → marts → plan → push."""

import dagster as dg

from mbo_pipelines import asset_keys
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
    plans = graph.get(asset_keys.PLANS)
    assert {dg.AssetKey(["marts", "opt_campaign_inputs"]), dg.AssetKey(["marts", "dim_campaign"]),
            dg.AssetKey(["raw", "fx_rates"])} <= plans.parent_keys
    assert set(RAW_DAILY) <= _upstream(asset_keys.RECOMMENDATIONS)


def test_the_whole_loop_is_one_lineage_from_ingest_to_activate():
    """raw (ingest) → staging → intermediate → marts → the plan (optimize) → the ledger (activate), each step a
    parent of the next, and the push is an asset the UI can show ("Downstream assets" of the plan)."""
    graph = _graph()
    chain = [
        dg.AssetKey(["raw", "google_ads_campaign_daily"]),
        dg.AssetKey(["staging", "stg_google_ads__campaign_daily"]),
        dg.AssetKey(["intermediate", "int_campaign_daily__unioned"]),
        dg.AssetKey(["marts", "fct_campaign_daily"]),
        dg.AssetKey(["marts", "opt_campaign_inputs"]),
        asset_keys.PLANS,
        asset_keys.RECOMMENDATIONS,
        asset_keys.BUDGET_CHANGES,
    ]
    for upstream, downstream in zip(chain, chain[1:]):
        assert upstream in _upstream(downstream), (upstream, downstream)
    groups = [graph.get(key).group_name for key in chain]
    assert groups == ["ingest", "staging", "intermediate", "marts", "marts", "optimize", "optimize", "activate"]
    assert graph.get(asset_keys.BUDGET_CHANGES).is_executable
    assert asset_keys.BUDGET_CHANGES in graph.get(asset_keys.RECOMMENDATIONS).child_keys
    # The daily refresh plans; only the push job (started by the sensor, once per plan) pushes.
    assert asset_keys.BUDGET_CHANGES not in defs.resolve_job_def("daily_refresh").asset_layer.executable_asset_keys
    assert defs.resolve_job_def("push_budget_changes_job").asset_layer.executable_asset_keys == {
        asset_keys.BUDGET_CHANGES}


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
    assert sensor.asset_key == asset_keys.RECOMMENDATIONS


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
