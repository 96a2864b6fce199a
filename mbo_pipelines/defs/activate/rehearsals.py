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

    def start(self, rows: list[tuple[LedgerRow, Decimal | None]]) -> set[int]:
        """Nothing is attempted in a rehearsal: every row may be "sent" (validated)."""
        return {row.change_id for row, _ in rows}

    def flush(self) -> int:
        """Nothing to write before ``write``."""
        return 0

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
    """Records the fate of real changes in the ledger, each move by ``actor`` (the push run).

    Outcomes (``finish``) are queued and written together by ``flush``, one statement per batch; ``start``
    first writes what is queued, then marks its changes ``applying``, in one committed transaction, before
    the platform is called. ``settled``: how many rows this recorder moved to a status other than ``applying``.
    """

    dry_run = False

    def __init__(self, conn: psycopg.Connection, actor: str, rollback_of: str | None = None):
        self.conn, self.actor, self.rollback_of = conn, actor, rollback_of
        self.settled = 0
        self._queued: dict[int, tuple[LedgerRow, ledger.Transition]] = {}

    def finish(self, row: LedgerRow, status: str, *, error: str | None = None,
               live_daily_budget: Decimal | None = None, reconciled: bool = False, request_id: str | None = None,
               response: str | None = None, new_daily_budget: Decimal | None = None) -> int:
        """Queue the move of an open row to ``status`` (written by the next ``flush`` or ``start``); returns 1."""
        if row.change_id in self._queued:
            self.flush()
        self._queued[row.change_id] = (row, ledger.Transition(
            row.change_id, status, error=error, live_daily_budget=live_daily_budget, new_daily_budget=new_daily_budget,
            guardrail_notes=row.guardrail_notes, reconciled=reconciled, request_id=request_id, response=response))
        return 1

    def flush(self) -> int:
        """Write every queued outcome (rows no longer open are left alone: another push settled them), and
        mark the originals of the rollback's applied changes ``rolled_back``, in one transaction; returns how
        many rows moved."""
        if not self._queued:
            return 0
        queued, self._queued = self._queued, {}
        with self.conn.transaction():
            moved = ledger.move_each(self.conn, [t for _, t in queued.values()], expect=ledger.OPEN, by=self.actor)
            self.settled += sum(1 for i in moved if queued[i][1].to != ledger.APPLYING)
            undone = [(r.platform, r.account_id, r.campaign_id) for i, (r, t) in queued.items()
                      if i in moved and t.to == APPLIED]
            if undone and self.rollback_of:
                # The budgets before ``rollback_of`` are back: its changes of these campaigns are undone.
                ledger.mark_rolled_back_many(self.conn, self.rollback_of, undone,
                                             by=f"{self.actor} (rollback {queued[next(iter(queued))][0].plan_id})")
        return len(moved)

    def start(self, rows: list[tuple[LedgerRow, Decimal | None]]) -> set[int]:
        """``applying``, the attempt counted, for each (row, live daily budget), durably, before the platform is
        called (queued outcomes are written first, in the same transaction); returns the ids of the rows that
        were still open (only those may be sent)."""
        with self.conn.transaction():
            self.flush()
            return ledger.move_each(self.conn, [
                ledger.Transition(row.change_id, ledger.APPLYING, live_daily_budget=live,
                                  new_daily_budget=row.new_daily_budget, guardrail_notes=row.guardrail_notes)
                for row, live in rows], expect=(ledger.APPROVED, ledger.APPLYING), by=self.actor, attempt=True)
