"""The plan asset keeps `mbo report`'s page up to date and points at it; a plan too large for every run says
what to run instead; the push rewrites the page with the ledger's outcome."""

from __future__ import annotations

import dagster as dg

from mbo_pipelines import asset_keys
from mbo_pipelines.defs.activate import ActivationResource, push_job_with
from mbo_pipelines.defs.activate.dagster_defs import run_config_for
from tests.report.report_helpers import TODAY, make_plan_database


def test_the_plan_and_its_push_rewrite_the_page_the_asset_links_to(new_database, monkeypatch, tmp_path):
    monkeypatch.setenv("MBO_HOME", str(tmp_path))
    monkeypatch.delenv("MBO_REPORT_MAX_CAMPAIGNS", raising=False)
    planned = make_plan_database(new_database("report_link"))
    page = tmp_path / "report.html"
    assert planned.metadata["report"].value == str(page)
    assert planned.plan_id in page.read_text()

    # Pushing the plan again rewrites the page too, also when the push fails (one change of it was refused):
    # the materialization it records on the way points at the page.
    page.unlink()
    with dg.DagsterInstance.ephemeral() as instance:
        result = push_job_with(ActivationResource(database_url=planned.url, sandbox_today=TODAY.isoformat(),
                                                  dry_run=True)).execute_in_process(
            run_config=run_config_for(planned.plan_id), instance=instance, raise_on_error=False)
        event = instance.get_latest_materialization_event(asset_keys.BUDGET_CHANGES)
    assert not result.success and event.run_id == result.run_id
    assert event.asset_materialization.metadata["report"].value == str(page)
    assert planned.plan_id in page.read_text()


def test_a_plan_larger_than_the_limit_says_what_to_run(new_database, monkeypatch, tmp_path):
    monkeypatch.setenv("MBO_HOME", str(tmp_path))
    monkeypatch.setenv("MBO_REPORT_MAX_CAMPAIGNS", "5")
    planned = make_plan_database(new_database("report_link_large"))
    assert planned.metadata["report"].value == (
        f"`mbo report {planned.plan_id}` writes this plan's page (12 campaigns: more than MBO_REPORT_MAX_CAMPAIGNS, "
        "so not on every run).")
    assert not (tmp_path / "report.html").exists()
