"""The push's metadata table of changes: every change of a small plan in ledger order; of a large one, the changes
that need a look first, then the largest moves, and where the rest are (a 20,000-row table cost 14 s to store)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from mbo_pipelines.defs.activate.dagster_defs import LISTED_CHANGES, _changes_table
from mbo_pipelines.defs.activate.ledger import APPLIED, FAILED, PENDING_APPROVAL, LedgerRow
from mbo_pipelines.defs.activate.push import PushSummary

NOW = datetime(2026, 5, 30, tzinfo=UTC)


def _row(n: int, status: str, move: int) -> LedgerRow:
    return LedgerRow(change_id=n, plan_id="plan-1", platform="google_ads", account_id="111", campaign_id=f"c{n}",
                     currency="USD", old_daily_budget=Decimal(1000), new_daily_budget=Decimal(1000 + move),
                     status=status, error="boom" if status == FAILED else None, dry_run=False,
                     live_daily_budget=None, attempts=1, created_at=NOW, updated_at=NOW, applied_at=None)


def _summary(rows: list[LedgerRow]) -> PushSummary:
    return PushSummary(plan_id="plan-1", counts={}, changes=rows, recorded=len(rows), processed=len(rows))


def _campaigns(table: str) -> list[str]:
    return [line.split(" | ")[2] for line in table.splitlines()[2:] if line.startswith("| google_ads")]


def test_a_small_plan_lists_every_change_in_ledger_order():
    rows = [_row(n, APPLIED, move=n) for n in range(5)] + [_row(5, FAILED, move=1)]
    table = _changes_table(_summary(rows))
    assert _campaigns(table) == [f"c{n}" for n in range(6)]
    assert "more changes" not in table


def test_a_large_plan_lists_what_needs_a_look_then_the_largest_moves_and_says_where_the_rest_are():
    applied = [_row(n, APPLIED, move=(-1) ** n * n) for n in range(LISTED_CHANGES + 47)]  # moves 0, -1, 2, -3, ...
    looks = [_row(1000, FAILED, move=1), _row(1001, PENDING_APPROVAL, move=-2), _row(1002, FAILED, move=0)]
    table = _changes_table(_summary(applied[:100] + looks + applied[100:]))

    listed = _campaigns(table)
    assert len(listed) == LISTED_CHANGES
    assert listed[:3] == ["c1001", "c1000", "c1002"]  # not applied: first, largest move first
    largest = sorted(applied, key=lambda r: -abs(r.new_daily_budget - r.old_daily_budget))[:LISTED_CHANGES - 3]
    assert listed[3:] == [r.campaign_id for r in largest]
    assert table.endswith("*50 more changes (applied or skipped, smaller moves) in activation.budget_changes "
                          "where plan_id = 'plan-1'.*")
