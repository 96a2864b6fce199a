"""Runs the demo and the `mbo` commands execute belong to the code location, as the UI's own launches do: the job's
page lists them (runs filtered by the `mbo` location's repository label), and the run knows where its job lives."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml
from activate_helpers import TODAY, insert_plan, ledger_rows, market_rows, scale
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

from mbo_pipelines import asset_keys, job_runs, operations
from mbo_pipelines.defs.activate import ActivationResource, push_job_with
from mbo_pipelines.defs.activate.dagster_defs import run_config_for

ROOT = Path(__file__).resolve().parents[2]


def test_a_run_of_run_job_is_listed_under_its_job_in_the_mbo_location(database_url, market, tmp_path):
    plan_id = insert_plan(database_url, scale(market_rows(market), {0: 1.1, 1: 0.9}))
    activation = ActivationResource(database_url=database_url, sandbox_seed=market.seed,
                                    sandbox_today=TODAY.isoformat())
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        result = job_runs.run_job(push_job_with(activation), instance, run_config=run_config_for(plan_id))

        assert result.success
        assert {r["status"] for r in ledger_rows(database_url, plan_id).values()} == {"applied"}
        assert operations.push_counts(result)["applied"] == 2
        [materialization] = [e.materialization for e in result.get_asset_materialization_events()]
        assert materialization.asset_key == asset_keys.BUDGET_CHANGES
        # What the UI's job page asks for: the job's runs carrying the location's repository label.
        listed = instance.get_runs(dg.RunsFilter(job_name="push_budget_changes_job",
                                                 tags={REPOSITORY_LABEL_TAG: "__repository__@mbo"}))
        assert [run.run_id for run in listed] == [result.run_id]
        run = instance.get_run_by_id(result.run_id)
        assert run.remote_job_origin.location_name == job_runs.LOCATION_NAME
        assert run.job_code_origin.repository_origin.code_pointer.module == "mbo_pipelines.definitions"


def test_the_location_name_is_the_workspaces():
    """A run is re-executed from the location its origin names: the same name in both workspaces."""
    for workspace in (ROOT / "workspace.yaml", ROOT / "deploy" / "workspace.yaml"):
        [entry] = yaml.safe_load(workspace.read_text())["load_from"]
        assert next(iter(entry.values()))["location_name"] == job_runs.LOCATION_NAME, workspace
