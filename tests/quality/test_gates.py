"""The gates: no plan on a history window with a failed blocking check, and no push of a plan built on one."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import dagster as dg
import psycopg
import pytest

from mbo_pipelines.defs.activate import ActivationResource, ledger, resume_interrupted_pushes_sensor
from mbo_pipelines.defs.activate.push import push_plan
from mbo_pipelines.defs.ingest.raw_tables import TIKTOK_ADS_CAMPAIGN_DAILY
from mbo_pipelines.defs.optimize.assets import budget_recommendations
from mbo_pipelines.defs.quality import store
from mbo_pipelines.defs.quality.gates import QualityGateClosed
from mbo_pipelines.defs.quality.load import check_and_load
from mbo_pipelines.resources import MboResource
from tests.optimize.optimize_helpers import synthetic_marts, write_synthetic_marts

BAD_DAY = date(2026, 2, 20)  # inside the synthetic marts' history (2026-01-01 .. 2026-03-01)


def _bad_extract(url: str, day: date) -> None:
    """A real extract of ``day`` whose rows carry a column the raw table does not have: valid_table fails."""
    row = {"stat_time_day": day, "advertiser_id": "A1", "campaign_id": "c1", "campaign_name": "x", "currency": "EUR",
           "timezone": "UTC", "spend": 1, "impressions": 1, "clicks": 0, "conversion": 0.0,
           "total_purchase_value": 0.0, "cost_per_conversion": 3}
    outcome = check_and_load(url, TIKTOK_ADS_CAMPAIGN_DAILY, [row], (day, day), day.isoformat(), "bad-run")
    assert not outcome.report.passed("valid_table")


def _plan(url: str) -> dg.ExecuteInProcessResult:
    with pytest.MonkeyPatch.context() as env:
        env.delenv("ANTHROPIC_API_KEY", raising=False)
        return dg.materialize([budget_recommendations], resources={"mbo": MboResource(database_url=url)},
                              raise_on_error=False)


def _plans(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        if conn.execute("select to_regclass('marts.budget_plans') is null").fetchone()[0]:
            return []
        return [r[0] for r in conn.execute("select plan_id from marts.budget_plans order by created_at")]


@pytest.fixture(scope="module")
def url(new_database):
    url = new_database("quality_gates")
    write_synthetic_marts(url, *synthetic_marts())
    return url


def test_no_plan_on_a_window_with_a_failed_blocking_check_and_one_once_accepted(url):
    _bad_extract(url, date(2025, 11, 3))  # outside the history window: no reason to refuse
    _bad_extract(url, BAD_DAY)
    result = _plan(url)
    assert not result.success and _plans(url) == []
    [failure] = result.get_step_failure_events()
    message = failure.step_failure_data.error.message
    assert "refusing to plan on 2026-01-01..2026-03-01" in message
    assert f"raw.tiktok_ads_campaign_daily {BAD_DAY} valid_table" in message
    assert "unexpected cost_per_conversion" in message and "mbo quality" in message
    assert "2025-11-03" not in message

    with psycopg.connect(url) as conn:
        store.accept(conn, TIKTOK_ADS_CAMPAIGN_DAILY.name, "valid_table", BAD_DAY, "ana", "column added by TikTok")
    assert _plan(url).success and len(_plans(url)) == 1


def test_no_push_of_a_plan_whose_history_failed_a_blocking_check_after_it_was_made(url):
    if not _plans(url):
        assert _plan(url).success
    plan_id = _plans(url)[-1]
    _bad_extract(url, date(2026, 2, 21))  # the day fails after the plan was made (a re-extract)
    with pytest.raises(QualityGateClosed, match=f"refusing to push plan {plan_id}.*2026-02-21 valid_table"):
        push_plan(url, plan_id, {})
    with psycopg.connect(url) as conn:
        assert conn.execute("select count(*) from activation.budget_changes where plan_id = %s",
                            (plan_id,)).fetchone()[0] == 0

    # A rollback reads no data: it restores budgets, so the gate does not hold it.
    with psycopg.connect(url) as conn:
        conn.execute("insert into marts.budget_plans (plan_id, reporting_currency, total_daily_budget_reporting, "
                      "expected_value_current_reporting, expected_value_recommended_reporting, campaign_count, "
                      "history_start, history_end, solver_success, solver_message, explanation, explanation_source, "
                      "rollback_of) select 'rollback-test', reporting_currency, 0, 0, 0, 0, history_start, history_end, "
                      "true, 'rollback', 'undo', 'rollback', plan_id from marts.budget_plans where plan_id = %s",
                      (plan_id,))
    assert push_plan(url, "rollback-test", {}).counts is not None


def test_the_resume_sensor_skips_a_plan_whose_history_failed_and_resumes_it_once_accepted(url, monkeypatch):
    if not _plans(url):
        assert _plan(url).success
    plan_id = _plans(url)[0]
    day = date(2026, 2, 22)
    _bad_extract(url, day)
    with psycopg.connect(url) as conn:  # a push that died after recording its changes
        ledger.ensure_ledger(conn)
        ledger.record_proposed(conn, plan_id, [("google_ads", "acc-usd", "go-usd-0", "USD", Decimal("100.00"),
                                                Decimal("110.00"))], by="test")
    monkeypatch.setenv("MBO_RESUME_AFTER_MINUTES", "0")
    activation = ActivationResource(database_url=url)
    with dg.instance_for_test() as instance:
        [skip] = resume_interrupted_pushes_sensor(dg.build_sensor_context(instance=instance,
                                                                          resources={"activation": activation}))
        assert isinstance(skip, dg.SkipReason) and plan_id in skip.skip_message and "data-quality" in skip.skip_message
        with psycopg.connect(url) as conn:
            for failed_day in (date(2026, 2, 21), day):
                store.accept(conn, TIKTOK_ADS_CAMPAIGN_DAILY.name, "valid_table", failed_day, "ana", "checked by hand")
        [request] = resume_interrupted_pushes_sensor(dg.build_sensor_context(instance=instance,
                                                                             resources={"activation": activation}))
        assert isinstance(request, dg.RunRequest) and request.tags["mbo/plan_id"] == plan_id
