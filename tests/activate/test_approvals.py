"""Activation modes (MBO_ACTIVATION), approval thresholds, and approving or rejecting waiting changes."""

from __future__ import annotations

import dagster as dg
import psycopg
import pytest
from activate_helpers import TODAY, insert_plan, ledger_rows, market_rows, sandbox_change_count, scale

from mbo_pipelines import operations
from mbo_pipelines.defs.activate import ActivationResource, push_plan
from mbo_pipelines.defs.activate.modes import ApprovalThresholds
from mbo_pipelines.definitions import build_definitions
from mbo_pipelines.resources import MboResource


def _key(row):
    return (row.platform, row.account_id, row.campaign_id)


def _defs(database_url, market):
    kwargs = {"database_url": database_url, "sandbox_seed": market.seed, "sandbox_today": TODAY.isoformat()}
    return build_definitions(mbo=MboResource(**kwargs), activation=ActivationResource(**kwargs))


def test_approve_mode_holds_every_change_until_approved_then_pushes_the_approved_ones(
        database_url, market, connectors, monkeypatch):
    monkeypatch.setenv("MBO_ACTIVATION", "approve")
    rows = scale(market_rows(market), {0: 1.2, 1: 0.9, 2: 1.1})
    plan_id = insert_plan(database_url, rows)
    writes = sandbox_change_count(database_url, market.seed)

    summary = push_plan(database_url, plan_id, connectors)

    assert summary.ok and summary.counts["pending_approval"] == 3 and summary.counts["applied"] == 0
    assert sandbox_change_count(database_url, market.seed) == writes
    assert "mbo approve" in operations.changes_report(database_url, plan_id)

    with dg.DagsterInstance.ephemeral() as instance:
        defs = _defs(database_url, market)
        approved = operations.decide(defs, instance, database_url, plan_id, True, [rows[0].campaign_id])
        rejected = operations.decide(defs, instance, database_url, plan_id, False, None)
        again = operations.decide(defs, instance, database_url, plan_id, True, None)
    assert approved.ok and approved.message.startswith(f"plan {plan_id}: 1 change(s) approved; plan {plan_id}: ")
    assert rejected.ok and rejected.message == f"plan {plan_id}: 2 change(s) rejected"
    assert not again.ok and "no change waiting for approval" in again.message
    ledger = ledger_rows(database_url, plan_id)
    first = ledger[_key(rows[0])]
    assert first["status"] == "applied" and first["decided_by"].endswith("(mbo approve)")
    assert [ledger[_key(r)]["status"] for r in rows[1:3]] == ["rejected", "rejected"]
    assert ledger[_key(rows[1])]["error"].startswith("rejected by ")
    assert sandbox_change_count(database_url, market.seed) == writes + 1


def test_auto_mode_holds_only_changes_above_a_threshold(database_url, market, connectors, monkeypatch):
    monkeypatch.setenv("MBO_APPROVAL_ABOVE_CHANGE", "0.15")
    rows = scale(market_rows(market), {0: 1.10, 1: 1.25, 2: 0.80})
    summary = push_plan(database_url, insert_plan(database_url, rows), connectors)
    ledger = ledger_rows(database_url, summary.plan_id)
    assert ledger[_key(rows[0])]["status"] == "applied"
    for row in rows[1:3]:
        assert ledger[_key(row)]["status"] == "pending_approval"
        assert "above the approval threshold of ±15%" in ledger[_key(row)]["error"]
    assert summary.ok  # waiting is not failing


def test_the_kill_switch_records_and_sends_nothing(database_url, market, connectors, monkeypatch):
    monkeypatch.setenv("MBO_ACTIVATION", "off")
    writes = sandbox_change_count(database_url, market.seed)
    summary = push_plan(database_url, insert_plan(database_url, scale(market_rows(market), {0: 1.2})), connectors)
    assert ledger_rows(database_url, summary.plan_id) == {} and not summary.rehearsals
    assert sandbox_change_count(database_url, market.seed) == writes


def test_the_approval_job_decides_from_the_dagster_ui(database_url, market, connectors, monkeypatch):
    monkeypatch.setenv("MBO_ACTIVATION", "approve")
    rows = scale(market_rows(market), {0: 1.2})
    plan_id = insert_plan(database_url, rows)
    push_plan(database_url, plan_id, connectors)
    monkeypatch.delenv("MBO_ACTIVATION")
    result = _defs(database_url, market).resolve_job_def("decide_budget_changes_job").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"decide_budget_changes": {"config": {"plan_id": plan_id, "approve": True}}}},
    )
    assert result.success
    row = ledger_rows(database_url, plan_id)[_key(rows[0])]
    assert row["status"] == "applied" and row["decided_by"].startswith("dagster run ")


def test_thresholds_and_modes_are_read_and_checked():
    thresholds = ApprovalThresholds(relative_change=0.2, reporting_amount=100.0)
    from decimal import Decimal

    assert thresholds.holds(Decimal(100), Decimal(119), 100.0, 119.0) is None
    assert "±20%" in thresholds.holds(Decimal(100), Decimal(121), 100.0, 121.0)
    assert "above the approval threshold of 100.00" in thresholds.holds(Decimal(1000), Decimal(1150), 1000.0, 1150.0)


def test_a_bad_mode_is_refused_with_its_variable_named(database_url, market, connectors, monkeypatch):
    monkeypatch.setenv("MBO_ACTIVATION", "yolo")
    with pytest.raises(ValueError, match="MBO_ACTIVATION must be one of off, dry_run, approve, auto, got 'yolo'"):
        push_plan(database_url, insert_plan(database_url, market_rows(market)), connectors)


def test_the_demo_holds_its_largest_move_for_approval_and_says_how_to_approve_it(
        database_url, market, connectors, monkeypatch):
    from mbo_pipelines import warehouse
    from mbo_pipelines.demo import _demo_approval_threshold, report

    rows = scale(market_rows(market), {0: 1.05, 1: 0.9, 2: 1.29})
    plan_id = insert_plan(database_url, rows)
    threshold = _demo_approval_threshold(database_url, plan_id)
    moves = sorted(abs(float(r.recommended - r.current)) for r in rows if r.recommended != r.current)
    assert moves[-2] < threshold < moves[-1]
    monkeypatch.setenv("MBO_APPROVAL_ABOVE_AMOUNT", f"{threshold:.2f}")
    push_plan(database_url, plan_id, connectors)
    ledger = ledger_rows(database_url, plan_id)
    largest = max(rows[:3], key=lambda r: abs(r.recommended - r.current))
    assert {_key(r): ledger[_key(r)]["status"] for r in rows[:3]} == {
        _key(r): "pending_approval" if r is largest else "applied" for r in rows[:3]}
    with warehouse.connect(database_url) as conn:
        text = report(conn, plan_id)
    assert "Waiting for approval:" in text and f"`.venv/bin/mbo approve {plan_id}`" in text
    # A user who set approvals up themselves keeps their own settings.
    assert _demo_approval_threshold(database_url, plan_id) is None


def test_a_low_confidence_recommendation_waits_for_approval_whatever_the_mode(database_url, market, connectors):
    """MBO_ALERT_ACTION=approve: the plan moves a campaign with an open alert on its data, marked low-confidence;
    the push applies the others and keeps that change waiting, saying which alert."""
    rows = scale(market_rows(market), {0: 1.2, 1: 0.9})
    plan_id = insert_plan(database_url, rows)
    reason = "alert alert-0123456789abcdef (tracking_break since 2026-02-27): 0.00 conversions from 300 clicks"
    with psycopg.connect(database_url) as conn:
        conn.execute("update marts.budget_recommendations set low_confidence_reason = %s where plan_id = %s and "
                     "campaign_id = %s", (reason, plan_id, rows[0].campaign_id))

    summary = push_plan(database_url, plan_id, connectors)

    ledger = ledger_rows(database_url, plan_id)
    assert ledger[_key(rows[0])]["status"] == "pending_approval"
    assert "low confidence" in ledger[_key(rows[0])]["error"] and "alert-0123456789abcdef" in ledger[_key(rows[0])]["error"]
    assert ledger[_key(rows[1])]["status"] == "applied"
    assert summary.counts["pending_approval"] == 1
