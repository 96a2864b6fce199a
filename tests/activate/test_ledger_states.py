"""The ledger's states and its audit trail: every transition is one committed row update plus one event."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from activate_helpers import TODAY, CREATED_PLANS, insert_plan, ledger_rows, market_rows, scale

from mbo_pipelines import warehouse
from mbo_pipelines.defs.activate import ledger, push_plan


def _events(database_url, change_id):
    with warehouse.connect(database_url) as conn:
        return ledger.events(conn, change_id)


def test_an_applied_change_has_one_event_per_transition_with_who_and_the_request_id(database_url, market, connectors):
    rows = scale(market_rows(market), {0: 1.2})
    plan_id = insert_plan(database_url, rows)

    push_plan(database_url, plan_id, connectors, run_id="run-42")

    row = ledger_rows(database_url, plan_id)[(rows[0].platform, rows[0].account_id, rows[0].campaign_id)]
    events = _events(database_url, row["change_id"])
    assert [(e[0], e[1]) for e in events] == [
        (None, "proposed"), ("proposed", "approved"), ("approved", "applying"), ("applying", "applied")]
    assert [e[2] for e in events] == ["push run-42", "push run-42 (auto)", "push run-42", "push run-42"]
    assert [e[6] for e in events] == sorted(e[6] for e in events)  # in the order they happened
    assert row["status"] == "applied" and row["updated_by"] == "push run-42" and row["attempts"] == 1
    assert row["requested_daily_budget"] == row["new_daily_budget"] == rows[0].recommended
    assert row["decided_by"] == "push run-42 (auto)"
    # The write's receipt: the sandbox platform's request id and answer, on the row and on its event.
    assert events[-1][4] == row["request_id"] and row["request_id"].startswith("sandbox-")
    assert events[-1][5] == row["response"] and f"daily_budget={rows[0].recommended}" in row["response"]


def test_a_refused_change_is_decided_without_an_applying_step(database_url, market, connectors):
    rows = scale(market_rows(market), {0: 1.9})  # beyond the ±30% limit
    plan_id = insert_plan(database_url, rows)

    push_plan(database_url, plan_id, connectors)

    row = ledger_rows(database_url, plan_id)[(rows[0].platform, rows[0].account_id, rows[0].campaign_id)]
    events = _events(database_url, row["change_id"])
    assert [(e[0], e[1]) for e in events] == [(None, "proposed"), ("proposed", "approved"), ("approved", "refused")]
    assert events[-1][3].startswith("max_change: ") and row["attempts"] == 0


def test_a_row_moves_only_from_the_states_it_is_expected_in(database_url, market, connectors):
    rows = scale(market_rows(market), {0: 1.2})
    plan_id = insert_plan(database_url, rows)
    push_plan(database_url, plan_id, connectors)
    row = ledger_rows(database_url, plan_id)[(rows[0].platform, rows[0].account_id, rows[0].campaign_id)]

    with warehouse.connect(database_url, autocommit=True) as conn:
        # An applied change is never moved back to sending, nor refused after the fact.
        assert ledger.move(conn, [row["change_id"]], ledger.APPLYING, expect=ledger.OPEN, by="test") == 0
        assert ledger.move(conn, [row["change_id"]], ledger.REFUSED, expect=ledger.OPEN, by="test") == 0
        with pytest.raises(ValueError, match="not a ledger status"):
            ledger.move(conn, [row["change_id"]], "blocked", expect=ledger.OPEN, by="test")
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("update activation.budget_changes set applied_at = null where change_id = %s",
                         (row["change_id"],))
    assert len(_events(database_url, row["change_id"])) == 4


def test_a_ledger_written_under_the_first_state_names_is_brought_up_to_date(database_url):
    plan_id = f"legacy-{TODAY.isoformat()}"
    CREATED_PLANS.append(plan_id)
    legacy = [("c-pending", "pending", 0, None), ("c-sent", "pending", 1, None),
              ("c-stale", "blocked", 0, "stale_plan: budget changed"), ("c-newer", "blocked", 0, "latest_plan: newer"),
              ("c-paused", "blocked", 0, "campaign_status: the campaign is paused")]
    with warehouse.connect(database_url, autocommit=True) as conn:
        ledger.ensure_ledger(conn)
        conn.execute("alter table activation.budget_changes drop constraint budget_changes_status_check")
        for campaign, status, attempts, error in legacy:
            conn.execute(
                "insert into activation.budget_changes (plan_id, platform, account_id, campaign_id, currency,"
                " old_daily_budget, new_daily_budget, status, attempts, error) values (%s, 'google_ads', 'a', %s,"
                " 'USD', 10, 11, %s, %s, %s)", (plan_id, campaign, status, attempts, error))
        ledger.ensure_ledger(conn)
        statuses = dict(conn.execute("select campaign_id, status from activation.budget_changes where plan_id = %s",
                                     (plan_id,)).fetchall())
    assert statuses == {"c-pending": "approved", "c-sent": "applying", "c-stale": "refused",
                        "c-newer": "superseded", "c-paused": "skipped"}
    assert Decimal("11") == ledger_rows(database_url, plan_id)[("google_ads", "a", "c-sent")]["new_daily_budget"]
