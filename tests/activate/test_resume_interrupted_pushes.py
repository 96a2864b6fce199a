"""An interrupted push is resumed: by the resume sensor, or by `mbo push --resume`, reading the platform first."""

from __future__ import annotations

import dagster as dg
import pytest
from activate_helpers import TODAY, insert_plan, ledger_rows, market_rows, sandbox_change_count, scale

from mbo_pipelines import operations
from mbo_pipelines.defs.activate import ActivationResource, push_plan, resume_interrupted_pushes_sensor
from mbo_pipelines.definitions import build_definitions
from mbo_pipelines.resources import MboResource


class Crash(BaseException):
    """The push process dying right after the platform took a write."""


class DiesAfterFirstWrite:
    def __init__(self, inner):
        self.inner, self.platform, self.is_live = inner, inner.platform, inner.is_live

    def fetch_campaigns(self):
        return self.inner.fetch_campaigns()

    def set_daily_budget(self, account_id, campaign_id, amount):
        self.inner.set_daily_budget(account_id, campaign_id, amount)
        raise Crash()


@pytest.fixture
def interrupted(database_url, market, connectors):
    """A plan of three changes whose push died after the platform took the first write."""
    rows = scale(market_rows(market), {0: 1.2, 1: 0.9, 2: 1.1})
    plan_id = insert_plan(database_url, rows)
    platform = rows[0].platform
    with pytest.raises(Crash):
        push_plan(database_url, plan_id, {**connectors, platform: DiesAfterFirstWrite(connectors[platform])})
    assert {r["status"] for r in ledger_rows(database_url, plan_id).values()} == {"approved", "applying"}
    return plan_id, rows


def _activation(database_url, market) -> ActivationResource:
    return ActivationResource(database_url=database_url, sandbox_seed=market.seed, sandbox_today=TODAY.isoformat())


def test_the_resume_sensor_requests_one_push_per_interrupted_plan(database_url, market, connectors, interrupted,
                                                                  monkeypatch):
    plan_id, _ = interrupted
    monkeypatch.setenv("MBO_RESUME_AFTER_MINUTES", "0")
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"activation": _activation(database_url, market)})
        requests = [r for r in resume_interrupted_pushes_sensor(context) if isinstance(r, dg.RunRequest)]
        assert [r.tags["mbo/plan_id"] for r in requests] == [plan_id]
        assert requests[0].run_key.startswith(f"resume:{plan_id}:")
        assert requests[0].run_config == {"ops": {"push_budget_changes": {"config": {"plan_id": plan_id}}}}

        push_plan(database_url, plan_id, connectors)  # what the requested run does
        context = dg.build_sensor_context(instance=instance, resources={"activation": _activation(database_url, market)})
        assert all(isinstance(r, dg.SkipReason) for r in resume_interrupted_pushes_sensor(context))


def test_a_push_still_running_is_not_taken_for_an_interrupted_one(database_url, market, interrupted, monkeypatch):
    monkeypatch.setenv("MBO_RESUME_AFTER_MINUTES", "15")  # the rows changed seconds ago
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"activation": _activation(database_url, market)})
        assert all(isinstance(r, dg.SkipReason) for r in resume_interrupted_pushes_sensor(context))


def test_mbo_push_resume_finishes_the_plan_without_a_second_write(database_url, market, interrupted):
    plan_id, rows = interrupted
    writes = sandbox_change_count(database_url, market.seed)
    defs = build_definitions(
        mbo=MboResource(database_url=database_url, sandbox_seed=market.seed, sandbox_today=TODAY.isoformat()),
        activation=_activation(database_url, market),
    )
    with dg.DagsterInstance.ephemeral() as instance:
        outcome = operations.resume(defs, instance, database_url)
    assert outcome.ok and outcome.message.startswith("resumed ") and plan_id in outcome.message
    ledger = ledger_rows(database_url, plan_id)
    first = ledger[(rows[0].platform, rows[0].account_id, rows[0].campaign_id)]
    assert first["status"] == "applied" and first["reconciled"] is True and first["attempts"] == 1
    assert {r["status"] for r in ledger.values()} == {"applied"}
    assert sandbox_change_count(database_url, market.seed) == writes + 2  # only the two never sent
