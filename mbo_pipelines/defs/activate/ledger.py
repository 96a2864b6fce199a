"""The activation ledger, ``activation.budget_changes``: every budget change MBO means to make, and what became of it.

One row per (plan, platform, account, campaign): the unique key makes
recording a change idempotent, so a re-run of a push never records (or
applies) the same change twice. A row starts ``pending`` and ends in exactly
one of:

- ``applied``  -- the platform accepted the new budget (``applied_at`` set);
- ``dry_run``  -- only in ledgers written before rehearsals had a table of their own: dry runs now
  go to ``activation.budget_rehearsals`` and leave the ledger to the real push;
- ``failed``   -- the platform call (or reading the platform) raised; ``error`` says what;
- ``blocked``  -- a guardrail refused it before anything was sent; ``error`` names the rule;
- ``manual``   -- a platform MBO has no connector for (CSV imports): it passed the guardrails MBO can
  check without the platform, and a person applies it;
- ``rejected`` -- a person rejected it (``mbo reject``) while it waited.

A change may also wait, before ``pending``: ``pending_approval`` (``MBO_ACTIVATION=approve``, or above an
approval threshold) until ``mbo approve`` makes it ``pending`` or ``mbo reject`` makes it ``rejected``;
``decided_by`` and ``decided_at`` say who and when.

Only ``pending`` rows are ever processed. The columns ``plan_id`` through
``applied_at`` are a contract other steps read; the others are bookkeeping.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg

from mbo_pipelines import warehouse

PENDING, APPLIED, DRY_RUN, FAILED, BLOCKED, MANUAL = "pending", "applied", "dry_run", "failed", "blocked", "manual"
PENDING_APPROVAL, REJECTED = "pending_approval", "rejected"
STATUSES = (PENDING, APPLIED, DRY_RUN, FAILED, BLOCKED, MANUAL, PENDING_APPROVAL, REJECTED)
_STATUS_CHECK = "status in (" + ", ".join(f"'{s}'" for s in STATUSES) + ")"

LEDGER_DDL = """
create table if not exists activation.budget_changes (
  change_id bigserial primary key,
  plan_id text not null,
  platform text not null,
  account_id text not null,
  campaign_id text not null,
  currency text not null,
  old_daily_budget numeric(18, 2) not null,
  new_daily_budget numeric(18, 2) not null,
  status text not null default 'pending'
    constraint budget_changes_status_check check ({status_check}),
  error text,
  dry_run boolean not null default false,
  live_daily_budget numeric(18, 2),
  attempts integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  applied_at timestamptz,
  reconciled boolean not null default false,
  decided_by text,
  decided_at timestamptz,
  unique (plan_id, platform, account_id, campaign_id),
  check ((status = 'applied') = (applied_at is not null))
)
""".replace("{status_check}", _STATUS_CHECK)

_COLUMNS = (
    "change_id, plan_id, platform, account_id, campaign_id, currency, old_daily_budget, new_daily_budget,"
    " status, error, dry_run, live_daily_budget, attempts, created_at, updated_at, applied_at, reconciled,"
    " decided_by, decided_at"
)


@dataclass(frozen=True)
class LedgerRow:
    """One row of ``activation.budget_changes``."""

    change_id: int
    plan_id: str
    platform: str
    account_id: str
    campaign_id: str
    currency: str
    old_daily_budget: Decimal
    new_daily_budget: Decimal
    status: str
    error: str | None
    dry_run: bool
    live_daily_budget: Decimal | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    applied_at: datetime | None
    reconciled: bool = False
    decided_by: str | None = None
    decided_at: datetime | None = None


def ensure_ledger(conn: psycopg.Connection) -> None:
    """Create the ``activation`` schema and the ledger table, if missing."""
    with conn.transaction():
        # Serialise concurrent first runs: CREATE ... IF NOT EXISTS still races in the catalog.
        conn.execute("select pg_advisory_xact_lock(hashtext('mbo.activation.ddl'))")
        warehouse.ensure_schemas(conn, ("activation",))
        conn.execute(LEDGER_DDL)
        conn.execute("alter table activation.budget_changes add column if not exists reconciled boolean not null default false")
        conn.execute("alter table activation.budget_changes add column if not exists decided_by text")
        conn.execute("alter table activation.budget_changes add column if not exists decided_at timestamptz")
        # A ledger created before a status existed: widen its check (the old rows all still pass it).
        conn.execute("alter table activation.budget_changes drop constraint if exists budget_changes_status_check")
        conn.execute(f"alter table activation.budget_changes add constraint budget_changes_status_check check ({_STATUS_CHECK})")


def record_pending(
    conn: psycopg.Connection,
    plan_id: str,
    changes: list[tuple[str, str, str, str, Decimal, Decimal]],
    held: Mapping[tuple[str, str, str], str] | None = None,
) -> int:
    """Insert (platform, account_id, campaign_id, currency, old, new) changes as ``pending``, or as
    ``pending_approval`` (with the reason in ``error``) for those in ``held``.

    A change already in the ledger for this plan, whatever its status, is left
    as it is. Returns how many rows were new.
    """
    held = held or {}
    inserted = 0
    with conn.transaction(), conn.cursor() as cur:
        for platform, account_id, campaign_id, currency, old, new in changes:
            why = held.get((platform, account_id, campaign_id))
            cur.execute(
                """
                insert into activation.budget_changes
                  (plan_id, platform, account_id, campaign_id, currency, old_daily_budget, new_daily_budget, status,
                   error)
                values (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                on conflict (plan_id, platform, account_id, campaign_id) do nothing
                """,
                (plan_id, platform, account_id, campaign_id, currency, old, new,
                 PENDING_APPROVAL if why else PENDING, f"waiting for approval: {why}" if why else None),
            )
            inserted += cur.rowcount
    return inserted


def decide(conn: psycopg.Connection, plan_id: str, approve: bool, by: str,
           campaign_ids: Collection[str] | None = None) -> int:
    """Approve (``pending``) or reject (``rejected``) a plan's changes waiting for approval, all or those of
    ``campaign_ids``; returns how many were decided. Changes in any other state are left alone."""
    with conn.transaction():
        cur = conn.execute(
            """
            update activation.budget_changes
            set status = %s, decided_by = %s, decided_at = now(), updated_at = now(),
                error = case when %s then null else 'rejected by ' || %s end
            where plan_id = %s and status = 'pending_approval'
              and (%s::text[] is null or campaign_id = any(%s::text[]))
            """,
            (PENDING if approve else REJECTED, by, approve, by, plan_id,
             None if campaign_ids is None else list(campaign_ids), None if campaign_ids is None else list(campaign_ids)),
        )
        return cur.rowcount


def plan_rows(conn: psycopg.Connection, plan_id: str, status: str | None = None) -> list[LedgerRow]:
    """The ledger rows of a plan (optionally only those in ``status``), in a stable order."""
    rows = conn.execute(
        f"""
        select {_COLUMNS} from activation.budget_changes
        where plan_id = %s and (%s::text is null or status = %s)
        order by platform, account_id, campaign_id
        """,
        (plan_id, status, status),
    ).fetchall()
    return [LedgerRow(*row) for row in rows]


def note_attempt(conn: psycopg.Connection, change_id: int, live_daily_budget: Decimal | None) -> None:
    """Count an attempt on a pending row just before the platform is called (durably, before the call)."""
    with conn.transaction():
        conn.execute(
            """
            update activation.budget_changes
            set attempts = attempts + 1, live_daily_budget = %s, updated_at = now()
            where change_id = %s and status = 'pending'
            """,
            (live_daily_budget, change_id),
        )


def finish(
    conn: psycopg.Connection,
    change_id: int,
    status: str,
    *,
    error: str | None = None,
    dry_run: bool = False,
    live_daily_budget: Decimal | None = None,
    reconciled: bool = False,
) -> bool:
    """Move a pending row to its final ``status``; False when it was no longer pending.

    ``reconciled``: the outcome was read back from the platform, not taken from a write's answer.
    """
    if status not in STATUSES or status == PENDING:
        raise ValueError(f"not a final ledger status: {status!r}")
    with conn.transaction():
        cur = conn.execute(
            """
            update activation.budget_changes
            set status = %s, error = %s, dry_run = %s,
                live_daily_budget = coalesce(%s, live_daily_budget),
                applied_at = case when %s = 'applied' then now() end,
                reconciled = %s,
                updated_at = now()
            where change_id = %s and status = 'pending'
            """,
            (status, error, dry_run, live_daily_budget, status, reconciled, change_id),
        )
        return cur.rowcount == 1


def status_counts(conn: psycopg.Connection, plan_id: str) -> dict[str, int]:
    """Number of ledger rows of a plan in each status (every status present, zero when none)."""
    counts = dict.fromkeys(STATUSES, 0)
    rows = conn.execute(
        "select status, count(*) from activation.budget_changes where plan_id = %s group by status", (plan_id,)
    ).fetchall()
    counts.update({status: int(n) for status, n in rows})
    return counts


def budgets_in_force_before(conn: psycopg.Connection, hours: float = 24.0) -> dict[tuple[str, str, str], Decimal]:
    """For each campaign MBO changed in the last ``hours``, the budget in force before the first of those changes.

    Keyed by (platform, account_id, campaign_id). This is the base of the rolling limit: measured against
    it, re-runs within a day cannot stack their changes, and undoing a change is always allowed.
    """
    if not warehouse.table_exists(conn, "activation.budget_changes"):
        return {}
    rows = conn.execute(
        """
        select distinct on (platform, account_id, campaign_id)
               platform, account_id, campaign_id, coalesce(live_daily_budget, old_daily_budget)
        from activation.budget_changes
        where status = 'applied' and applied_at > now() - make_interval(secs => %s)
        order by platform, account_id, campaign_id, applied_at, change_id
        """,
        (hours * 3600,),
    ).fetchall()
    return {(p, a, c): Decimal(b) for p, a, c, b in rows}


def unfinished_plans(conn: psycopg.Connection, idle_minutes: float = 0.0) -> list[tuple[str, datetime]]:
    """Plans with ``pending`` rows untouched for at least ``idle_minutes`` (a push that died), oldest first,
    each with the time its ledger rows last changed."""
    if not warehouse.table_exists(conn, "activation.budget_changes"):
        return []
    return [tuple(row) for row in conn.execute(
        """
        select plan_id, max(updated_at) from activation.budget_changes
        where status = 'pending'
        group by plan_id
        having max(updated_at) <= now() - make_interval(secs => %s)
        order by min(created_at), plan_id
        """,
        (idle_minutes * 60,),
    ).fetchall()]
