"""The Dagster wiring: the sensor turns a budget_recommendations materialization into one run per plan; the job pushes."""

from __future__ import annotations

import dagster as dg
import pytest
from activate_helpers import TODAY, cents, insert_plan, ledger_rows, market_rows, scale
from dagster import DagsterInstance

from mbo_pipelines import asset_keys
from mbo_pipelines.connectors import ConnectorError
from mbo_pipelines.defs.activate import (
    ActivationResource,
    budget_recommendations_sensor,
    push_budget_changes,
    push_budget_changes_job,
    push_job_with,
)
from mbo_pipelines.defs.activate.dagster_defs import run_config_for


def _report(instance: DagsterInstance, metadata: dict) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key=asset_keys.RECOMMENDATIONS, metadata=metadata)
    )


def _evaluate(instance: DagsterInstance, activation: ActivationResource, cursor: str | None = None):
    """One tick of the sensor, as the daemon runs it (calling it directly does not pass an asset sensor its
    resources); the tick's data: run_requests, skip_message, cursor."""
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"activation": activation})
    return budget_recommendations_sensor.evaluate_tick(context)


def test_the_sensor_requests_one_run_per_plan(database_url):
    with DagsterInstance.ephemeral() as instance:
        _report(instance, {"plan_id": dg.MetadataValue.text("plan-123"), "campaigns": 12})
        tick = _evaluate(instance, ActivationResource(database_url=database_url))

        [request] = tick.run_requests
        assert request.run_key == "plan-123"
        assert request.run_config == {"ops": {"push_budget_changes": {"config": {"plan_id": "plan-123"}}}}
        assert budget_recommendations_sensor.job_name == push_budget_changes_job.name
        assert budget_recommendations_sensor.default_status == dg.DefaultSensorStatus.RUNNING

        # Nothing new since the cursor: no second request for the same materialization.
        again = _evaluate(instance, ActivationResource(database_url=database_url), tick.cursor)
        assert not again.run_requests and again.skip_message


def test_the_sensor_skips_a_materialization_without_plan_id(database_url):
    with DagsterInstance.ephemeral() as instance:
        _report(instance, {"campaigns": 12})
        tick = _evaluate(instance, ActivationResource(database_url=database_url))
    assert not tick.run_requests and "no 'plan_id'" in tick.skip_message


def test_the_sensor_does_not_push_a_plan_already_in_the_ledger(database_url, market):
    """The demo and `mbo push` push a plan without the sensor: on the first `make dev` it must not push it again."""
    plan_id = insert_plan(database_url, scale(market_rows(market), {0: 1.1}))
    assert push_job_with(_resource(database_url, market)).execute_in_process(run_config=run_config_for(plan_id)).success
    with DagsterInstance.ephemeral() as instance:
        _report(instance, {"plan_id": dg.MetadataValue.text(plan_id)})
        tick = _evaluate(instance, _resource(database_url, market))
    assert not tick.run_requests
    assert f"plan {plan_id} was pushed already (1 changes in activation.budget_changes" in tick.skip_message


def test_the_definitions_load():
    defs = dg.Definitions(
        assets=[push_budget_changes],
        jobs=[push_budget_changes_job],
        sensors=[budget_recommendations_sensor],
        resources={"activation": ActivationResource()},
    )
    dg.Definitions.validate_loadable(defs)


def _resource(database_url: str, market) -> ActivationResource:
    return ActivationResource(database_url=database_url, sandbox_seed=market.seed, sandbox_today=TODAY.isoformat())


def test_the_job_pushes_a_plan_and_records_metadata(database_url, market):
    rows = scale(market_rows(market), {0: 1.1, 1: 0.9})
    plan_id = insert_plan(database_url, rows)

    result = push_job_with(_resource(database_url, market)).execute_in_process(
        run_config=run_config_for(plan_id)
    )

    assert result.success
    assert {r["status"] for r in ledger_rows(database_url, plan_id).values()} == {"applied"}
    assert cents(market.current_budgets(rows[0].platform)[rows[0].campaign_id]) == rows[0].recommended
    [materialization] = result.asset_materializations_for_node("push_budget_changes")
    assert materialization.asset_key == asset_keys.BUDGET_CHANGES
    metadata = materialization.metadata
    assert metadata["applied_count"].value == 2 and metadata["refused_count"].value == 0
    assert metadata["dry_run"].value is False and metadata["plan_id"].value == plan_id
    # Totals per account: the two changes are in one Google Ads account.
    before, after = sum(r.current for r in rows[:2]), sum(r.recommended for r in rows[:2])
    account_line = next(line for line in metadata["per_account"].value.splitlines() if f"| {rows[0].account_id} |" in line)
    assert account_line == (f"| {rows[0].platform} | {rows[0].account_id} | {rows[0].currency} | 2 applied "
                            f"| {before:,.2f} | {after:,.2f} |")


def test_the_job_fails_when_a_change_is_blocked_after_recording_it(database_url, market):
    rows = scale(market_rows(market), {0: 1.1, 1: 2.0})
    plan_id = insert_plan(database_url, rows)

    with DagsterInstance.ephemeral() as instance:
        result = push_job_with(_resource(database_url, market)).execute_in_process(
            run_config=run_config_for(plan_id), raise_on_error=False, instance=instance,
        )
        # The ledger changed all the same: the push shows on the activation/budget_changes asset's page.
        event = instance.get_latest_materialization_event(asset_keys.BUDGET_CHANGES)

    assert not result.success
    failure = result.failure_data_for_node("push_budget_changes").error
    assert "1 refused" in failure.message and "activation.budget_changes" in failure.message
    assert event is not None and event.run_id == result.run_id
    metadata = event.asset_materialization.metadata
    assert metadata["applied_count"].value == 1 and metadata["refused_count"].value == 1
    statuses = sorted(r["status"] for r in ledger_rows(database_url, plan_id).values())
    assert statuses == ["applied", "refused"]


def test_an_unknown_source_is_refused_with_its_variable_named():
    with pytest.raises(ValueError, match="MBO_SOURCE must be 'sandbox' or 'live', got 'google_ads'"):
        ActivationResource(database_url="postgresql://x/y", source="google_ads").connectors()


def test_live_source_pushes_only_to_enabled_platforms(monkeypatch):
    for name in ("MBO_GOOGLE_ADS_CUSTOMER_IDS", "MBO_META_AD_ACCOUNT_IDS", "MBO_TIKTOK_ADVERTISER_IDS"):
        monkeypatch.delenv(name, raising=False)
    assert ActivationResource(database_url="postgresql://x/y", source="live").connectors() == {}


def test_a_live_platform_missing_its_token_fails_only_its_own_changes(monkeypatch):
    for name in ("MBO_GOOGLE_ADS_CUSTOMER_IDS", "MBO_TIKTOK_ADVERTISER_IDS", "META_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MBO_META_AD_ACCOUNT_IDS", "act_123")
    [(platform, connector)] = ActivationResource(database_url="postgresql://x/y", source="live").connectors().items()
    assert platform == "meta_ads" and connector.is_live
    with pytest.raises(ConnectorError, match="meta_ads is enabled but META_ACCESS_TOKEN is not set"):
        connector.fetch_campaigns()


def test_a_plan_held_for_approval_shows_on_the_run_and_in_its_metadata(database_url, market, monkeypatch):
    monkeypatch.setenv("MBO_ACTIVATION", "approve")
    rows = scale(market_rows(market), {0: 1.1, 1: 0.9})
    plan_id = insert_plan(database_url, rows)

    with DagsterInstance.ephemeral() as instance:
        result = push_job_with(_resource(database_url, market)).execute_in_process(
            run_config=run_config_for(plan_id),
            instance=instance,
        )
        tags = instance.get_run_by_id(result.run_id).tags

    assert result.success and tags["mbo/waiting_for_approval"] == "2"
    [materialization] = result.asset_materializations_for_node("push_budget_changes")
    assert materialization.asset_key == asset_keys.BUDGET_CHANGES
    metadata = materialization.metadata
    assert metadata["pending_approval_count"].value == 2
    assert f"`mbo approve {plan_id}`" in metadata["waiting_for_approval"].value
