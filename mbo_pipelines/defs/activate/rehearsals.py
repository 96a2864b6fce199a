"""Rehearsals, ``activation.budget_rehearsals``: what a dry-run push would have sent, kept apart from the ledger.

A dry run (the default for live platforms) checks every change against the
guardrails and the platform's fresh budgets, sends the platform's validate-only
request where it has one, and records the outcome here, one row per rehearsal
and change. The ledger (``activation.budget_changes``) is untouched, so a
rehearsed plan can still be pushed for real.

Outcomes: ``rehearsed`` (it would be sent, as ``new_daily_budget``; ``validated``
says whether the platform checked it too), ``refused`` (a guardrail refused it;
``error`` names the rule), ``skipped`` (paused, removed or gone on the platform),
``superseded`` (a newer plan exists), ``failed`` (the platform's validation
refused it, or it could not be read).
"""

from __future__ import annotations

from decimal import Decimal

import psycopg

from mbo_pipelines import warehouse
from mbo_pipelines.defs.activate import ledger
from mbo_pipelines.defs.activate.ledger import APPLIED, FAILED, MANUAL, REFUSED, SKIPPED, SUPERSEDED, LedgerRow

REHEARSED = "rehearsed"
OUTCOMES = (REHEARSED, REFUSED, SKIPPED, SUPERSEDED, FAILED)
#: A rehearsal's outcome for the ledger status the same change would have reached.
_OUTCOME = {APPLIED: REHEARSED, MANUAL: REHEARSED, REFUSED: REFUSED, SKIPPED: SKIPPED, SUPERSEDED: SUPERSEDED, FAILED: FAILED}
_OUTCOME_CHECK = "outcome in (" + ", ".join(f"'{o}'" for o in OUTCOMES) + ")"

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
  outcome text not null,
  error text,
  validated boolean not null default false,
  rehearsed_at timestamptz not null default now()
)
"""


#: Columns added after the first release, name -> type.
REHEARSALS_ADDED_COLUMNS = {"guardrail_notes": "text"}


def ensure_rehearsals(conn: psycopg.Connection) -> None:
    """Create the rehearsal table, if missing, or bring an older one up to date (left alone when it is)."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('mbo.activation.ddl'))")
        warehouse.ensure_schemas(conn, ("activation",))
        conn.execute(REHEARSALS_DDL)
        present = {name for (name,) in conn.execute(
            "select column_name from information_schema.columns"
            " where table_schema = 'activation' and table_name = 'budget_rehearsals'").fetchall()}
        for name, kind in REHEARSALS_ADDED_COLUMNS.items():
            if name not in present:
                conn.execute(f"alter table activation.budget_rehearsals add column {name} {kind}")
        check = conn.execute(
            "select pg_get_constraintdef(oid) from pg_constraint where conrelid = 'activation.budget_rehearsals'::regclass"
            " and conname = 'budget_rehearsals_outcome_check'").fetchone()
        if check and all(f"'{o}'" in check[0] for o in OUTCOMES):
            return
        conn.execute("alter table activation.budget_rehearsals drop constraint if exists budget_rehearsals_outcome_check")
        # Rehearsals stored under the first outcome names, in today's words.
        conn.execute("update activation.budget_rehearsals set outcome = case outcome when 'would_apply' then 'rehearsed'"
                     " else 'refused' end where outcome in ('would_apply', 'blocked')")
        conn.execute(f"alter table activation.budget_rehearsals add constraint budget_rehearsals_outcome_check"
                     f" check ({_OUTCOME_CHECK})")


class RehearsalRecorder:
    """Records the fate of rehearsed changes (the same calls as ``LedgerRecorder``), then writes them at once."""

    dry_run = True

    def __init__(self, conn: psycopg.Connection, run_id: str, validated_platforms: set[str]):
        self.conn, self.run_id, self.validated_platforms = conn, run_id, validated_platforms
        self.rows: list[tuple] = []

    def finish(self, row: LedgerRow, status: str, *, error: str | None = None,
               live_daily_budget: Decimal | None = None, **_ignored) -> int:
        """Record the outcome of one rehearsed change (``status``: the ledger status a real push would reach)."""
        validated = status in (APPLIED, FAILED) and row.platform in self.validated_platforms
        self.rows.append((self.run_id, row.plan_id, row.platform, row.account_id, row.campaign_id, row.currency,
                          row.old_daily_budget, row.new_daily_budget, live_daily_budget, _OUTCOME[status], error,
                          validated, row.guardrail_notes))
        return 1

    def start(self, row: LedgerRow, live_daily_budget: Decimal | None) -> bool:
        """Nothing is attempted in a rehearsal."""
        return True

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
                   live_daily_budget, outcome, error, validated, guardrail_notes)
                values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
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
    """Records the fate of real changes in the ledger, each move by ``actor`` (the push run)."""

    dry_run = False

    def __init__(self, conn: psycopg.Connection, actor: str, rollback_of: str | None = None):
        self.conn, self.actor, self.rollback_of = conn, actor, rollback_of

    def finish(self, row: LedgerRow, status: str, **kwargs) -> int:
        """Move an open row to ``status``; 0 when it was no longer open (another push settled it)."""
        moved = ledger.move(self.conn, [row.change_id], status, expect=ledger.OPEN, by=self.actor,
                            **{"guardrail_notes": row.guardrail_notes, **kwargs})
        if moved and status == APPLIED and self.rollback_of:
            # The budget before ``rollback_of`` is back: its change of this campaign is undone.
            ledger.mark_rolled_back(self.conn, self.rollback_of, row.platform, row.account_id, row.campaign_id,
                                    by=f"{self.actor} (rollback {row.plan_id})")
        return moved

    def start(self, row: LedgerRow, live_daily_budget: Decimal | None) -> bool:
        """``applying``, the attempt counted, durably, before the platform is called; False when the row was
        no longer open (then it must not be sent)."""
        return bool(ledger.move(self.conn, [row.change_id], ledger.APPLYING, expect=(ledger.APPROVED, ledger.APPLYING),
                                by=self.actor, attempt=True, live_daily_budget=live_daily_budget,
                                new_daily_budget=row.new_daily_budget, guardrail_notes=row.guardrail_notes))
