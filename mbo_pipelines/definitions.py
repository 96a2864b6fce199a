"""The MBO code location: extract → dbt → alerts → optimize → activate, all assets (raw → staging → intermediate →
marts → marts/alerts → marts/budget_plans, marts/budget_recommendations → activation/budget_changes), with their resources, jobs, schedule
and sensors."""

import dagster as dg

from mbo_pipelines.known_warnings import silence_known

silence_known()  # before the assets below are defined: their decorators raise some of them

from mbo_pipelines.defs.activate import (
    ActivationResource,
    decide_budget_changes_job,
    budget_recommendations_sensor,
    push_budget_changes,
    push_budget_changes_job,
    resume_interrupted_pushes_sensor,
)
from mbo_pipelines.defs.alerts.after_failure import build_alerts_after_failure_sensor, build_alerts_job
from mbo_pipelines.defs.alerts.checks import build_alert_checks
from mbo_pipelines.defs.alerts.dagster_defs import alerts
from mbo_pipelines.defs.alerts.notify import alert_notifications
from mbo_pipelines.defs.ingest.assets import extract_assets_for_environment
from mbo_pipelines.defs.ingest.fx_rates import fx_rates
from mbo_pipelines.defs.ingest.partitions import daily_partitions
from mbo_pipelines.defs.optimize.assets import budget_recommendations
from mbo_pipelines.defs.quality.freshness import freshness_definitions
from mbo_pipelines.defs.transform.assets import dbt_resource, mbo_dbt_models
from mbo_pipelines.resources import mbo_resource_from_env

#: Yesterday's data, the marts and a new plan: the loop a deployment runs every morning.
daily_refresh_job = dg.define_asset_job(
    "daily_refresh",
    # Everything but the push, which the sensor starts once per new plan (push_budget_changes_job).
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("activate"),
    # Inferred from the extract assets when any is enabled; stated so the job (and its schedule) stays partitioned
    # when none is (live mode before any platform is configured).
    partitions_def=daily_partitions,
    description="Extract one day from every platform, rebuild the marts, and plan budgets.",
)

daily_refresh_schedule = dg.build_schedule_from_partitioned_job(
    daily_refresh_job, hour_of_day=6, minute_of_hour=0, default_status=dg.DefaultScheduleStatus.STOPPED
)


def build_definitions(**resource_overrides) -> dg.Definitions:
    """The Definitions, with resources configured from env vars unless overridden (tests pass their own).

    The extract assets follow the environment too (``MBO_SOURCE``, the platforms' account lists,
    ``MBO_IMPORT_DIR``): only enabled platforms appear in the Dagster UI.
    """
    mbo = mbo_resource_from_env()
    resources = {
        "mbo": mbo,
        "dbt": dbt_resource(),
        "activation": ActivationResource(**mbo.model_dump()),
    }
    resources.update(resource_overrides)
    extract_assets = extract_assets_for_environment()
    alert_checks = build_alert_checks(mbo.platforms())
    alerts_job = build_alerts_job(alert_checks)
    freshness_checks, freshness_sensors = freshness_definitions(extract_assets)
    return dg.Definitions(
        assets=[*extract_assets, fx_rates, mbo_dbt_models, alerts, budget_recommendations, push_budget_changes],
        asset_checks=[*freshness_checks, alert_checks],
        jobs=[daily_refresh_job, push_budget_changes_job, decide_budget_changes_job, alerts_job],
        schedules=[daily_refresh_schedule],
        sensors=[budget_recommendations_sensor, resume_interrupted_pushes_sensor, alert_notifications,
                 build_alerts_after_failure_sensor(daily_refresh_job, alerts_job), *freshness_sensors],
        resources=resources,
    )


defs = build_definitions()
