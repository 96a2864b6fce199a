"""Every dbt test's asset check says what it checks (the Dagster UI showed "No description provided")."""

import dagster as dg

from mbo_pipelines.defs.transform.assets import mbo_dbt_models
from mbo_pipelines.defs.transform.check_descriptions import describe_test


def _checks() -> dict[str, dg.AssetCheckSpec]:
    return {spec.name: spec for spec in mbo_dbt_models.check_specs}


def test_every_dbt_check_has_a_sentence_naming_its_model():
    checks = _checks()
    assert len(checks) > 300
    missing = [name for name, spec in checks.items() if not spec.description or spec.description.startswith("dbt test")]
    assert missing == []
    for spec in checks.values():
        model = spec.asset_key.path[-1]
        assert model in spec.description or spec.name.startswith("assert_"), (spec.name, spec.description)


def test_the_sentences_of_each_kind_of_test():
    checks = _checks()
    assert checks["not_null_fct_platform_daily_clicks"].description == "No row of fct_platform_daily has a null clicks."
    assert checks["non_negative_stg_tiktok_ads__campaigns_daily_budget"].description == (
        "daily_budget is never negative in stg_tiktok_ads__campaigns.")
    assert checks["accepted_values_stg_tiktok_ads__campaigns_status__active__paused__removed"].description == (
        "status of stg_tiktok_ads__campaigns is one of: active, paused, removed.")
    relationship = next(spec for name, spec in checks.items() if name.startswith("relationships_fct_campaign_daily"))
    assert relationship.description == "Every campaign_key of fct_campaign_daily exists as campaign_key in dim_campaign."
    combination = next(spec for name, spec in checks.items()
                       if name.startswith("unique_combination_of_columns_int_campaigns__unioned"))
    assert combination.description == "One row per (platform, account_id, campaign_id) in int_campaigns__unioned."
    # A singular test keeps the description written for it.
    assert checks["assert_mart_spend_matches_raw"].description.strip() != ""


def test_an_unknown_test_still_says_what_it_runs_on():
    node = {"attached_node": "model.mbo.dim_campaign", "test_metadata": {"name": "expression_is_true", "kwargs": {
        "expression": "x > 0", "model": "{{ ref('dim_campaign') }}"}}}
    assert describe_test(node) == "dbt test expression_is_true on dim_campaign (expression=x > 0)."
