"""The activation ledger, ``activation.budget_changes``: every budget change MBO means to make, and what became of it.

One row per (plan, platform, account, campaign): the unique key makes
recording a change idempotent, so a re-run of a push never records (or
applies) the same change twice. Its life:

- ``proposed``: recorded from the plan, not yet decided;
- ``pending_approval``: waits for a person (``MBO_ACTIVATION=approve``, or above an approval threshold);
  ``mbo approve`` makes it ``approved``, ``mbo reject`` makes it ``rejected``;
- ``approved``: may be sent (decided automatically in ``auto`` mode, or by a person);
- ``applying``: the write is about to be sent (or was sent and its answer never recorded: a push died);
  the next push reads the platform before doing anything else with it;
- ``applied``: the platform runs the new budget (``applied_at`` set; ``reconciled`` when that was read back
  from the platform rather than taken from the write's answer);
- ``failed``: the write, or reading the platform, failed; ``error`` says what;
- ``refused``: a guardrail refused it; ``error`` names the rule and the numbers;
- ``skipped``: the campaign is paused, removed or ended on the platform, gone, or has no daily budget of
  its own: there is nothing to change;
- ``superseded``: a newer plan exists, so this one's unsent changes are dropped;
- ``rolled_back``: it was applied and a later rollback plan (``mbo rollback``) restored the budget before it;
- ``rejected``: a person rejected it; ``manual``: a platform without a connector (CSV imports), for a
  person to apply; ``dry_run``: only in ledgers from before rehearsals had their own table.

A row that may have reached the platform (``applying``, or any with ``attempts`` > 0) is never made
``refused``, ``skipped`` or ``superseded`` without reading the platform first.

Every transition is one committed update of the row together with one row of
``activation.budget_change_events`` (from, to, who or what caused it, the platform's
request id and response or error, when). The row itself keeps the latest of those.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg

from mbo_pipelines import warehouse

PROPOSED, PENDING_APPROVAL, APPROVED, APPLYING = "proposed", "pending_approval", "approved", "applying"
APPLIED, FAILED, REFUSED, SKIPPED, SUPERSEDED = "applied", "failed", "refused", "skipped", "superseded"
ROLLED_BACK, REJECTED, MANUAL, DRY_RUN = "rolled_back", "rejected", "manual", "dry_run"
STATUSES = (PROPOSED, PENDING_APPROVAL, APPROVED, APPLYING, APPLIED, FAILED, REFUSED, SKIPPED, SUPERSEDED,
            ROLLED_BACK, REJECTED, MANUAL, DRY_RUN)
#: A push is not done with a row in one of these (a push that died leaves them; the next one finishes them).
OPEN = (PROPOSED, APPROVED, APPLYING)
#: Waits for a person.
WAITING = (PENDING_APPROVAL,)
#: Nothing more happens to these (``applied`` may still become ``rolled_back``).
TERMINAL = tuple(s for s in STATUSES if s not in OPEN + WAITING)
#: Statuses of a change the platform took (``applied_at`` is set exactly for these).
TOOK_EFFECT = (APPLIED, ROLLED_BACK)

_STATUS_CHECK = "status in (" + ", ".join(f"'{s}'" for s in STATUSES) + ")"
_APPLIED_CHECK = "(status in ('applied', 'rolled_back')) = (applied_at is not null)"

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
  status text not null default 'proposed',
  error text,
  dry_run boolean not null default false,
  live_daily_budget numeric(18, 2),
  attempts integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  applied_at timestamptz,
  unique (plan_id, platform, account_id, campaign_id)
)
"""

#: Columns added after the first release (a ledger from then gains them), name -> type.
LEDGER_ADDED_COLUMNS = {
    "reconciled": "boolean not null default false",
    "decided_by": "text",
    "decided_at": "timestamptz",
    # The plan's recommendation, before a guardrail clipped it into ``new_daily_budget``.
    "requested_daily_budget": "numeric(18, 2)",
    # Which guardrails clipped the change, and by how much.
    "guardrail_notes": "text",
    "updated_by": "text",
    "request_id": "text",
    "response": "text",
}

EVENTS_DDL = """
create table if not exists activation.budget_change_events (
  event_id bigserial primary key,
  change_id bigint not null references activation.budget_changes (change_id),
  plan_id text not null,
  from_status text,
  to_status text not null,
  actor text not null,
  detail text,
  request_id text,
  response text,
  at timestamptz not null default clock_timestamp()
)
"""

# Rows written under the first status names, in today's words.
_RENAME_OLD_STATUSES = """
update activation.budget_changes set status = case
  when status = 'pending' and attempts > 0 then 'applying'
  when status = 'pending' then 'approved'
  when status = 'blocked' and error like 'latest_plan:%%' then 'superseded'
  when status = 'blocked' and (error like 'campaign_status:%%' or error like 'own_budget:%%'
                               or error like 'campaign_exists:%%') then 'skipped'
  else 'refused' end
where status in ('pending', 'blocked')
"""

_COLUMNS = (
    "change_id, plan_id, platform, account_id, campaign_id, currency, old_daily_budget, new_daily_budget,"
    " status, error, dry_run, live_daily_budget, attempts, created_at, updated_at, applied_at, reconciled,"
    " decided_by, decided_at, requested_daily_budget, guardrail_notes, updated_by, request_id, response"
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
    requested_daily_budget: Decimal | None = None
    guardrail_notes: str | None = None
    updated_by: str | None = None
    request_id: str | None = None
    response: str | None = None


def ensure_ledger(conn: psycopg.Connection) -> None:
    """Create the ``activation`` schema, the ledger and its event table; bring an older ledger up to date.

    A ledger already up to date is only read here: ALTER TABLE would lock it against running pushes.
    """
    with conn.transaction():
        # Serialise concurrent first runs: CREATE ... IF NOT EXISTS still races in the catalog.
        conn.execute("select pg_advisory_xact_lock(hashtext('mbo.activation.ddl'))")
        warehouse.ensure_schemas(conn, ("activation",))
        conn.execute(LEDGER_DDL)
        conn.execute(EVENTS_DDL)
        conn.execute("create index if not exists budget_change_events_change on activation.budget_change_events (change_id)")
        present = {name for (name,) in conn.execute(
            "select column_name from information_schema.columns"
            " where table_schema = 'activation' and table_name = 'budget_changes'").fetchall()}
        for name, kind in LEDGER_ADDED_COLUMNS.items():
            if name not in present:
                conn.execute(f"alter table activation.budget_changes add column {name} {kind}")
        checks = dict(conn.execute(
            "select conname, pg_get_constraintdef(oid) from pg_constraint"
            " where conrelid = 'activation.budget_changes'::regclass and contype = 'c'").fetchall())
        status_check = checks.get("budget_changes_status_check", "")
        if all(f"'{s}'" in status_check for s in STATUSES) and "budget_changes_applied_at_check" in checks:
            return
        conn.execute("alter table activation.budget_changes drop constraint if exists budget_changes_status_check")
        conn.execute("alter table activation.budget_changes drop constraint if exists budget_changes_check")
        conn.execute("alter table activation.budget_changes drop constraint if exists budget_changes_applied_at_check")
        conn.execute(_RENAME_OLD_STATUSES)
        conn.execute("alter table activation.budget_changes alter column status set default 'proposed'")
        conn.execute(f"alter table activation.budget_changes add constraint budget_changes_status_check check ({_STATUS_CHECK})")
        conn.execute(f"alter table activation.budget_changes add constraint budget_changes_applied_at_check check ({_APPLIED_CHECK})")


_INSERT_EVENTS = """
insert into activation.budget_change_events (change_id, plan_id, from_status, to_status, actor, detail,
                                             request_id, response)
select change_id, plan_id, from_status, to_status, %s, %s, %s, %s from moved
"""


def record_proposed(
    conn: psycopg.Connection,
    plan_id: str,
    changes: list[tuple[str, str, str, str, Decimal, Decimal]],
    by: str,
) -> int:
    """Insert (platform, account_id, campaign_id, currency, old, new) changes as ``proposed``, in one statement.

    A change already in the ledger for this plan, whatever its status, is left as it is. Returns how many
    rows were new.
    """
    if not changes:
        return 0
    columns = list(zip(*changes, strict=True))
    sql = """
        with moved as (
        insert into activation.budget_changes
          (plan_id, platform, account_id, campaign_id, currency, old_daily_budget, new_daily_budget,
           requested_daily_budget, status, updated_by)
        select %s, c.platform, c.account_id, c.campaign_id, c.currency, c.old, c.new, c.new, 'proposed', %s
        from unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::numeric[], %s::numeric[])
          with ordinality as c(platform, account_id, campaign_id, currency, old, new, n)
        order by c.n
        on conflict (plan_id, platform, account_id, campaign_id) do nothing
        returning change_id, plan_id, null::text as from_status, status as to_status)
        """ + _INSERT_EVENTS
    with conn.transaction():
        return conn.execute(sql, (plan_id, by, *(list(c) for c in columns),
                                  by, "recorded from the plan", None, None)).rowcount


@dataclass(frozen=True)
class Transition:
    """One row's move for ``move_each``: where it goes and what its ledger row (and event) records."""

    change_id: int
    to: str
    error: str | None = None
    live_daily_budget: Decimal | None = None
    new_daily_budget: Decimal | None = None
    guardrail_notes: str | None = None
    reconciled: bool = False
    request_id: str | None = None
    response: str | None = None


_MOVE_EACH = """
with v as (
  select * from unnest(%s::bigint[], %s::text[], %s::text[], %s::numeric[], %s::numeric[], %s::text[],
                       %s::boolean[], %s::text[], %s::text[])
    as v(change_id, to_status, error, live, new, notes, reconciled, request_id, response)
), old as (
  select t.change_id, t.status from activation.budget_changes t join v on v.change_id = t.change_id
  where t.status = any(%s) order by t.change_id for update of t
), moved as (
  update activation.budget_changes t
  set status = v.to_status, error = v.error, updated_by = %s, updated_at = clock_timestamp(),
      live_daily_budget = coalesce(v.live, t.live_daily_budget),
      new_daily_budget = coalesce(v.new, t.new_daily_budget),
      guardrail_notes = coalesce(v.notes, t.guardrail_notes),
      reconciled = v.reconciled,
      request_id = coalesce(v.request_id, t.request_id),
      response = coalesce(v.response, t.response),
      attempts = t.attempts + %s,
      applied_at = case when v.to_status = 'applied' then clock_timestamp()
                        when v.to_status = 'rolled_back' then t.applied_at end
  from old, v where t.change_id = old.change_id and v.change_id = t.change_id
  returning t.change_id, t.plan_id, old.status as from_status, t.status as to_status,
            coalesce(v.error, v.notes) as detail, v.request_id, v.response
)
insert into activation.budget_change_events (change_id, plan_id, from_status, to_status, actor, detail,
                                             request_id, response)
select change_id, plan_id, from_status, to_status, %s, detail, request_id, response from moved
order by change_id
returning change_id
"""


def move_each(
    conn: psycopg.Connection,
    transitions: Collection[Transition],
    *,
    expect: Collection[str],
    by: str,
    attempt: bool = False,
) -> set[int]:
    """Move many rows, each to its own status with its own details (see ``Transition``), and one event each,
    in one committed statement; returns the ids that moved (rows no longer in an ``expect`` status are left
    alone). ``attempt``: count a write attempt on each (made durable before the platform is called)."""
    if not transitions:
        return set()
    bad = {t.to for t in transitions} - set(STATUSES)
    if bad:
        raise ValueError(f"not a ledger status: {', '.join(sorted(bad))}")
    ids = [t.change_id for t in transitions]
    if len(set(ids)) != len(ids):
        raise ValueError("move_each: a change may move only once per statement")
    columns = [ids, [t.to for t in transitions], [t.error for t in transitions],
               [t.live_daily_budget for t in transitions], [t.new_daily_budget for t in transitions],
               [t.guardrail_notes for t in transitions], [t.reconciled for t in transitions],
               [t.request_id for t in transitions], [t.response for t in transitions]]
    with conn.transaction():
        rows = conn.execute(_MOVE_EACH, (*columns, list(expect), by, 1 if attempt else 0, by)).fetchall()
    return {change_id for (change_id,) in rows}


def move(
    conn: psycopg.Connection,
    change_ids: Collection[int],
    to: str,
    *,
    expect: Collection[str],
    by: str,
    error: str | None = None,
    live_daily_budget: Decimal | None = None,
    reconciled: bool = False,
    request_id: str | None = None,
    response: str | None = None,
    new_daily_budget: Decimal | None = None,
    guardrail_notes: str | None = None,
    attempt: bool = False,
    decided: bool = False,
) -> int:
    """Move the rows ``change_ids`` that are in one of the ``expect`` statuses to ``to``, each with its event,
    in one committed statement; returns how many moved (rows in another status are left alone).

    ``attempt``: count a write attempt (made durable before the platform is called). ``decided``: a person's
    (or the mode's) decision: ``by`` is also stored as ``decided_by``.
    """
    if to not in STATUSES:
        raise ValueError(f"not a ledger status: {to!r}")
    if not change_ids:
        return 0
    sql = """
        with old as (
          select change_id, status from activation.budget_changes
          where change_id = any(%s) and status = any(%s) for update
        ), moved as (
          update activation.budget_changes t
          set status = %s, error = %s, updated_by = %s, updated_at = clock_timestamp(),
              live_daily_budget = coalesce(%s, t.live_daily_budget),
              new_daily_budget = coalesce(%s, t.new_daily_budget),
              guardrail_notes = coalesce(%s, t.guardrail_notes),
              reconciled = %s,
              request_id = coalesce(%s, t.request_id),
              response = coalesce(%s, t.response),
              attempts = t.attempts + %s,
              applied_at = case when %s = 'applied' then clock_timestamp()
                                when %s = 'rolled_back' then t.applied_at end,
              decided_by = case when %s then %s else t.decided_by end,
              decided_at = case when %s then clock_timestamp() else t.decided_at end
          from old where t.change_id = old.change_id
          returning t.change_id, t.plan_id, old.status as from_status, t.status as to_status
        )
        """ + _INSERT_EVENTS
    params = (list(change_ids), list(expect), to, error, by, live_daily_budget, new_daily_budget, guardrail_notes,
              reconciled, request_id, response, 1 if attempt else 0, to, to, decided, by, decided,
              by, error or guardrail_notes, request_id, response)
    with conn.transaction():
        return conn.execute(sql, params).rowcount


def plan_rows(conn: psycopg.Connection, plan_id: str, statuses: Collection[str] | str | None = None) -> list[LedgerRow]:
    """The ledger rows of a plan (optionally only those in ``statuses``), in a stable order."""
    wanted = [statuses] if isinstance(statuses, str) else None if statuses is None else list(statuses)
    rows = conn.execute(
        f"""
        select {_COLUMNS} from activation.budget_changes
        where plan_id = %s and (%s::text[] is null or status = any(%s::text[]))
        order by platform, account_id, campaign_id
        """,
        (plan_id, wanted, wanted),
    ).fetchall()
    return [LedgerRow(*row) for row in rows]


def decide(conn: psycopg.Connection, plan_id: str, approve: bool, by: str,
           campaign_ids: Collection[str] | None = None) -> int:
    """Approve (``approved``) or reject (``rejected``) a plan's changes waiting for approval, all or those of
    ``campaign_ids``; returns how many were decided. Changes in any other state are left alone."""
    waiting = [r.change_id for r in plan_rows(conn, plan_id, PENDING_APPROVAL)
               if campaign_ids is None or r.campaign_id in campaign_ids]
    return move(conn, waiting, APPROVED if approve else REJECTED, expect=WAITING, by=by, decided=True,
                error=None if approve else f"rejected by {by}")


def changes_recorded(conn: psycopg.Connection, plan_id: str) -> int:
    """How many budget changes of ``plan_id`` the ledger holds (0 also when there is no ledger yet)."""
    if conn.execute("select to_regclass('activation.budget_changes') is null").fetchone()[0]:
        return 0
    return conn.execute("select count(*) from activation.budget_changes where plan_id = %s", (plan_id,)).fetchone()[0]


def status_counts(conn: psycopg.Connection, plan_id: str) -> dict[str, int]:
    """Number of ledger rows of a plan in each status (every status present, zero when none)."""
    counts = dict.fromkeys(STATUSES, 0)
    rows = conn.execute(
        "select status, count(*) from activation.budget_changes where plan_id = %s group by status", (plan_id,)
    ).fetchall()
    counts.update({status: int(n) for status, n in rows})
    return counts


def events(conn: psycopg.Connection, change_id: int) -> list[tuple]:
    """The transitions of one change, oldest first: (from_status, to_status, actor, detail, request_id, response, at)."""
    return conn.execute(
        """
        select from_status, to_status, actor, detail, request_id, response, at
        from activation.budget_change_events where change_id = %s order by event_id
        """,
        (change_id,),
    ).fetchall()


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
        where applied_at > now() - make_interval(secs => %s)
        order by platform, account_id, campaign_id, applied_at, change_id
        """,
        (hours * 3600,),
    ).fetchall()
    return {(p, a, c): Decimal(b) for p, a, c, b in rows}


def last_changes(conn: psycopg.Connection) -> dict[tuple[str, str, str], tuple[datetime, Decimal]]:
    """For each campaign MBO ever changed: when the latest applied change took effect, and the budget before it.

    Keyed by (platform, account_id, campaign_id); the base of the cooldown (an undo of that change is allowed).
    """
    if not warehouse.table_exists(conn, "activation.budget_changes"):
        return {}
    rows = conn.execute(
        """
        select distinct on (platform, account_id, campaign_id)
               platform, account_id, campaign_id, applied_at, coalesce(live_daily_budget, old_daily_budget)
        from activation.budget_changes
        where applied_at is not null
        order by platform, account_id, campaign_id, applied_at desc, change_id desc
        """
    ).fetchall()
    return {(p, a, c): (at, Decimal(before)) for p, a, c, at, before in rows}


def mark_rolled_back(conn: psycopg.Connection, plan_id: str, platform: str, account_id: str, campaign_id: str,
                     by: str) -> int:
    """Mark ``plan_id``'s applied change of one campaign ``rolled_back`` (its rollback was applied)."""
    rows = conn.execute(
        """
        select change_id from activation.budget_changes
        where plan_id = %s and platform = %s and account_id = %s and campaign_id = %s and status = 'applied'
        """,
        (plan_id, platform, account_id, campaign_id),
    ).fetchall()
    return move(conn, [r[0] for r in rows], ROLLED_BACK, expect=(APPLIED,), by=by)


def mark_rolled_back_many(conn: psycopg.Connection, plan_id: str, campaigns: Collection[tuple[str, str, str]],
                          by: str) -> int:
    """Mark ``plan_id``'s applied changes of ``campaigns`` (platform, account_id, campaign_id) ``rolled_back``
    (their rollback was applied), in one statement."""
    if not campaigns:
        return 0
    platforms, accounts, campaign_ids = (list(c) for c in zip(*campaigns, strict=True))
    rows = conn.execute(
        """
        select t.change_id from activation.budget_changes t
        join unnest(%s::text[], %s::text[], %s::text[]) as c(platform, account_id, campaign_id)
          on (t.platform, t.account_id, t.campaign_id) = (c.platform, c.account_id, c.campaign_id)
        where t.plan_id = %s and t.status = 'applied'
        """,
        (platforms, accounts, campaign_ids, plan_id),
    ).fetchall()
    return move(conn, [r[0] for r in rows], ROLLED_BACK, expect=(APPLIED,), by=by)


def unfinished_plans(conn: psycopg.Connection, idle_minutes: float = 0.0) -> list[tuple[str, datetime]]:
    """Plans with rows still open (proposed, approved, applying) untouched for at least ``idle_minutes``
    (a push that died), oldest first, each with the time its ledger rows last changed."""
    if not warehouse.table_exists(conn, "activation.budget_changes"):
        return []
    return [tuple(row) for row in conn.execute(
        """
        select plan_id, max(updated_at) from activation.budget_changes
        where status = any(%s)
        group by plan_id
        having max(updated_at) <= now() - make_interval(secs => %s)
        order by min(created_at), plan_id
        """,
        (list(OPEN), idle_minutes * 60),
    ).fetchall()]
