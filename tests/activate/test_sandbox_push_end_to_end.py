"""End to end on the sandbox, through the same Dagster jobs as `mbo push`, `mbo approve`, `mbo reject` and
`mbo rollback`: a rehearsal, then the real push of the same plan, approvals, a rejection and a rollback, with
the platform's budgets and every change's event trail checked at each step."""

from __future__ import annotations

import dagster as dg
from activate_helpers import CREATED_PLANS, TODAY, cents, insert_plan, ledger_rows, market_rows, sandbox_change_count, scale

from mbo_pipelines import operations, warehouse
from mbo_pipelines.defs.activate import ActivationResource, ledger
from mbo_pipelines.definitions import build_definitions
from mbo_pipelines.resources import MboResource


def _key(row):
    return (row.platform, row.account_id, row.campaign_id)


def _budget(market, row):
    return cents(market.current_budgets(row.platform)[row.campaign_id])


def test_rehearse_push_approve_reject_and_roll_back_a_plan(database_url, market, monkeypatch):
    kwargs = {"database_url": database_url, "sandbox_seed": market.seed, "sandbox_today": TODAY.isoformat()}
    defs = build_definitions(mbo=MboResource(**kwargs), activation=ActivationResource(**kwargs))
    rows = market_rows(market)
    small_up, small_down, big_up, big_down = 0, 1, 2, 3
    scale(rows, {small_up: 1.1, small_down: 0.9, big_up: 1.3, big_down: 0.7})
    before = {_key(r): r.current for r in rows}
    plan_id = insert_plan(database_url, rows)
    monkeypatch.setenv("MBO_APPROVAL_ABOVE_CHANGE", "0.2")
    writes = sandbox_change_count(database_url, market.seed)

    with dg.DagsterInstance.ephemeral() as instance:
        # 1. A rehearsal: every change checked, nothing written, the ledger left to the real push.
        monkeypatch.setenv("MBO_ACTIVATION", "dry_run")
        rehearsal = operations.push(defs, instance, database_url, plan_id)
        assert rehearsal.ok and "4 rehearsed" in rehearsal.message
        assert sandbox_change_count(database_url, market.seed) == writes and ledger_rows(database_url, plan_id) == {}

        # 2. The real push of the same plan: the small moves apply, the big ones wait for a person.
        monkeypatch.delenv("MBO_ACTIVATION")
        pushed = operations.push(defs, instance, database_url, plan_id)
        assert pushed.ok, pushed.message
        status = {k: r["status"] for k, r in ledger_rows(database_url, plan_id).items()}
        assert status == {_key(rows[small_up]): "applied", _key(rows[small_down]): "applied",
                          _key(rows[big_up]): "pending_approval", _key(rows[big_down]): "pending_approval"}
        assert "wait for approval" in operations.changes_report(database_url, plan_id)

        # 3. One approved (and pushed), one rejected.
        assert operations.decide(defs, instance, database_url, plan_id, True, [rows[big_up].campaign_id]).ok
        assert operations.decide(defs, instance, database_url, plan_id, False, [rows[big_down].campaign_id]).ok
        assert [_budget(market, rows[i]) for i in (small_up, small_down, big_up)] == [
            rows[i].recommended for i in (small_up, small_down, big_up)]
        assert _budget(market, rows[big_down]) == before[_key(rows[big_down])]

        # 4. The rollback goes through the same approvals: the big undo waits, and is approved too.
        rolled = operations.rollback(defs, instance, database_url, plan_id)
        CREATED_PLANS.append(rolled.plan_id)
        assert rolled.ok, rolled.message
        waiting = ledger_rows(database_url, rolled.plan_id)[_key(rows[big_up])]
        assert waiting["status"] == "pending_approval" and "approval threshold" in waiting["error"]
        assert operations.decide(defs, instance, database_url, rolled.plan_id, True).ok

    assert [_budget(market, r) for r in rows[:4]] == [before[_key(r)] for r in rows[:4]]
    final = ledger_rows(database_url, plan_id)
    assert [final[_key(rows[i])]["status"] for i in range(4)] == ["rolled_back"] * 3 + ["rejected"]
    assert sandbox_change_count(database_url, market.seed) == writes + 3 + 3
    with warehouse.connect(database_url) as conn:
        trail = [(e[0], e[1]) for e in ledger.events(conn, final[_key(rows[big_up])]["change_id"])]
    assert trail == [(None, "proposed"), ("proposed", "pending_approval"), ("pending_approval", "approved"),
                     ("approved", "applying"), ("applying", "applied"), ("applied", "rolled_back")]
