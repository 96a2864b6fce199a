"""When a refresh stops (a blocking data-quality check held a day back, so the marts and the plan did not run),
the sensor ``alerts_after_failed_refresh`` still runs the detector: a platform's missing day must reach the
alerts (and the webhook) the same morning, not only the run's failure."""

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, PARTITION_NAME_TAG

from mbo_pipelines import asset_keys

#: The run tag naming the last day the detector examines (the failed refresh's last day).
AS_OF_TAG = "mbo/alerts_as_of"


def build_alerts_job(alert_checks: dg.AssetChecksDefinition):
    """``alerts_job``: the detector and its checks alone, on the marts and raw tables as they stand."""
    return dg.define_asset_job(
        "alerts_job",
        selection=dg.AssetSelection.assets(asset_keys.ALERTS) | dg.AssetSelection.checks(alert_checks),
        description="Detect alerts on the data as it stands (after a refresh that stopped, or by hand).",
    )


def build_alerts_after_failure_sensor(refresh_job, alerts_job) -> dg.SensorDefinition:
    """The run-failure sensor that launches ``alerts_job`` once per failed run of ``refresh_job``."""

    @dg.run_failure_sensor(
        name="alerts_after_failed_refresh",
        monitored_jobs=[refresh_job],
        request_job=alerts_job,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="After a daily_refresh run fails (e.g. a platform's day held back), run the alerts detector on "
                    "the data as it stands, so the problem becomes an alert and reaches the webhook.",
    )
    def alerts_after_failed_refresh(context: dg.RunFailureSensorContext):
        tags = context.dagster_run.tags
        as_of = tags.get(ASSET_PARTITION_RANGE_END_TAG) or tags.get(PARTITION_NAME_TAG)
        return dg.RunRequest(run_key=f"alerts-after-{context.dagster_run.run_id}",
                             tags={AS_OF_TAG: as_of} if as_of else {})

    return alerts_after_failed_refresh
