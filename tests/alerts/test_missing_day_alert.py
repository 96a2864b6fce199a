"""A platform's missing day stops the refresh (its volume check holds the day back: no marts, no plan), and the
run-failure sensor still runs the detector: the missing day becomes an alert the same morning."""

from datetime import date, timedelta

import dagster as dg
import psycopg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from mbo_pipelines.definitions import build_definitions
from mbo_pipelines.defs.activate import ActivationResource
from mbo_pipelines.defs.alerts.after_failure import AS_OF_TAG
from mbo_pipelines.resources import MboResource

TODAY = date(2026, 3, 1)
END = TODAY - timedelta(days=1)
START = END - timedelta(days=27)


@pytest.fixture(scope="module")
def stopped(new_database):
    """A refresh whose last day Meta did not send, then what the failure sensor asks for, run."""
    url = new_database("alerts_missing_day")
    mbo = MboResource(database_url=url, sandbox_today=TODAY.isoformat(), sandbox_faults=f"missing_day@{END}=meta_ads")
    defs = build_definitions(mbo=mbo, activation=ActivationResource(database_url=url, sandbox_today=TODAY.isoformat()))
    instance = dg.DagsterInstance.ephemeral()
    tags = {ASSET_PARTITION_RANGE_START_TAG: START.isoformat(), ASSET_PARTITION_RANGE_END_TAG: END.isoformat()}
    refresh = defs.resolve_job_def("daily_refresh").execute_in_process(instance=instance, tags=tags,
                                                                       raise_on_error=False)
    failure = next(e for e in refresh.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    sensor = defs.resolve_sensor_def("alerts_after_failed_refresh")
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_event=failure, dagster_instance=instance, dagster_run=refresh.dagster_run,
    ).for_run_failure()
    request = sensor(context)
    alerts = defs.resolve_job_def("alerts_job").execute_in_process(instance=instance, tags=request.tags)
    return {"url": url, "refresh": refresh, "request": request, "alerts": alerts}


def test_the_refresh_stops_before_the_marts_and_the_plan(stopped):
    assert not stopped["refresh"].success
    with psycopg.connect(stopped["url"]) as conn:
        assert conn.execute("select to_regclass('marts.budget_plans')").fetchone()[0] is None


def test_the_failure_sensor_asks_for_the_alerts_of_the_failed_day(stopped):
    assert isinstance(stopped["request"], dg.RunRequest)
    assert stopped["request"].tags[AS_OF_TAG] == END.isoformat()
    assert stopped["request"].run_key.endswith(stopped["refresh"].run_id)


def test_the_missing_day_is_an_alert_on_the_platform(stopped):
    assert stopped["alerts"].success
    with psycopg.connect(stopped["url"]) as conn:
        rows = conn.execute("select kind, platform, account_id, campaign_id, first_day, last_day, status, severity "
                            "from marts.alerts").fetchall()
    assert rows == [("missing_day", "meta_ads", None, None, END, END, "open", "error")]
    evaluations = {(e.asset_key, e.check_name): e for e in stopped["alerts"].get_asset_check_evaluations()}
    meta = evaluations[(dg.AssetKey(["raw", "meta_ads_campaign_daily"]), "no_missing_or_restated_days")]
    assert not meta.passed and meta.severity == dg.AssetCheckSeverity.ERROR
