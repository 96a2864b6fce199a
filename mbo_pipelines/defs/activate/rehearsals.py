"""Rehearsals, ``activation.budget_rehearsals``: what a dry-run push would have sent, kept apart from the ledger.

A dry run (the default for live platforms) checks every change against the
guardrails and the platform's fresh budgets, sends the platform's validate-only
request where it has one, and records the outcome here, one row per rehearsal
and change. The ledger (``activation.budget_changes``) is untouched, so a
rehearsed plan can still be pushed for real.

Outcomes: ``would_apply`` (passed; ``validated`` says whether the platform
checked it too), ``blocked`` (a guardrail refused it; ``error`` names the
rule), ``failed`` (the platform's validation refused it, or it could not be read).
"""

from __future__ import annotations

from decimal import Decimal

import psycopg

from mbo_pipelines import warehouse
from mbo_pipelines.defs.activate import ledger
from mbo_pipelines.defs.activate.ledger import BLOCKED, DRY_RUN, FAILED, LedgerRow

WOULD_APPLY = "would_apply"
OUTCOMES = (WOULD_APPLY, BLOCKED, FAILED)
_OUTCOME = {DRY_RUN: WOULD_APPLY, BLOCKED: BLOCKED, FAILED: FAILED}

REHEARSALS_DDL = """
create table if not exists activation.budget_rehearsals (
  rehearsal_id bigserial primary key,
  run_id text not null,
  plan_id text not null,
  platform text not null,
  account_id text not null,
  campaign_id text not null,
  currency text not null,
  old_daily_budget numeric(18, 2) not null,
  new_daily_budget numeric(18, 2) not null,
  live_daily_budget numeric(18, 2),
  outcome text not null check (outcome in ('would_apply', 'blocked', 'failed')),
  error text,
  validated boolean not null default false,
  rehearsed_at timestamptz not null default now()
)
"""


def ensure_rehearsals(conn: psycopg.Connection) -> None:
    """Create the rehearsal table, if missing."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('mbo.activation.ddl'))")
        warehouse.ensure_schemas(conn, ("activation",))
        conn.execute(REHEARSALS_DDL)


class RehearsalRecorder:
    """Records the fate of rehearsed changes (the same calls as ``LedgerRecorder``), then writes them at once."""

    dry_run = True

    def __init__(self, conn: psycopg.Connection, run_id: str, validated_platforms: set[str]):
        self.conn, self.run_id, self.validated_platforms = conn, run_id, validated_platforms
        self.rows: list[tuple] = []

    def finish(self, row: LedgerRow, status: str, *, error: str | None = None, dry_run: bool = True,
               live_daily_budget: Decimal | None = None, reconciled: bool = False) -> int:
        """Record the outcome of one rehearsed change."""
        validated = status != BLOCKED and row.platform in self.validated_platforms
        self.rows.append((self.run_id, row.plan_id, row.platform, row.account_id, row.campaign_id, row.currency,
                          row.old_daily_budget, row.new_daily_budget, live_daily_budget, _OUTCOME[status], error,
                          validated))
        return 1

    def note_attempt(self, row: LedgerRow, live_daily_budget: Decimal | None) -> None:
        """Nothing is attempted in a rehearsal."""

    def write(self) -> None:
        """Store every recorded outcome in one transaction."""
        if not self.rows:
            return
        ensure_rehearsals(self.conn)
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(
                """
                insert into activation.budget_rehearsals
                  (run_id, plan_id, platform, account_id, campaign_id, currency, old_daily_budget, new_daily_budget,
                   live_daily_budget, outcome, error, validated)
                values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                """,
                self.rows,
            )

    def counts(self) -> dict[str, int]:
        """Rehearsed changes per outcome (every outcome present)."""
        counts = dict.fromkeys(OUTCOMES, 0)
        for row in self.rows:
            counts[row[9]] += 1
        return counts


class LedgerRecorder:
    """Records the fate of real changes in the ledger."""

    dry_run = False

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn

    def finish(self, row: LedgerRow, status: str, **kwargs) -> int:
        """Move the row to its final status."""
        return int(ledger.finish(self.conn, row.change_id, status, **kwargs))

    def note_attempt(self, row: LedgerRow, live_daily_budget: Decimal | None) -> None:
        """Count the attempt, durably, before the platform is called."""
        ledger.note_attempt(self.conn, row.change_id, live_daily_budget)
