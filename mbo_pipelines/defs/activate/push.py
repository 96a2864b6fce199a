"""Push a budget plan to the ad platforms: the only code path in MBO that changes money.

``push_plan`` records every change of a plan in the ledger
(``activation.budget_changes``) before it does anything, checks each one
against the guardrails, and only then calls the platform. Every outcome is
written back to the ledger, so the ledger always says what was sent.

Safety properties:

- A change is recorded once (unique per plan and campaign) and only open rows
  (``approved``, or ``applying`` left by a push that died) are processed, so
  re-running a push never applies a change twice.
- Right before each write the campaign's budget and status are read from the
  platform and every guardrail is checked against that read. A row that may
  have reached the platform is read back before anything else is decided: if
  the platform runs its new budget it is ``applied`` (reconciled), never sent
  again. Sending again is safe anyway: ``set_daily_budget`` sets an absolute amount.
- One push per plan at a time: a PostgreSQL advisory lock keyed on the plan.
- Live platforms default to dry-run; changing live budgets needs
  ``MBO_ALLOW_LIVE_BUDGET_CHANGES=1``. A dry run sends only validate-only
  requests, to the platforms that have them, and nothing to the others.
- A platform without a connector (CSV imports) gets ``manual`` rows: a person applies them.
- A change is ``applying`` (its attempt counted), committed, before its write is sent; the outcomes of a
  batch are committed together right after the batch's writes, before anything else is sent.
- Only the latest plan is pushed; this, and the kill switch, are checked again before every batch of writes.

Batches: the changes go out platform by platform in batches of at most ``batch_size`` (``MBO_PUSH_BATCH_SIZE``,
default 200), an account's changes together. Each batch is one fresh read of every campaign in the accounts it
changes (``fetch_campaigns_of``: only those accounts, when the connector can scope its read), one check of every guardrail against it, one
"kill switch? newer plan?" check, one ledger transaction marking its changes ``applying``, its writes, and one
ledger transaction with their outcomes. A platform that takes many changes per request (``BatchBudgetWriter``)
gets one request per batch; one that writes one change at a time gets a batch only when it offers it
(``reads_per_batch = True``: its budgets may be read once per batch of writes, as for a batch request);
otherwise it is read, checked and written one change at a time. A newer plan or the kill switch appearing
mid-push therefore stops the push at the next batch boundary.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

import psycopg
from psycopg.rows import dict_row

from mbo_pipelines import warehouse
from mbo_pipelines.connectors import (
    BatchBudgetWriter,
    BudgetChange,
    PlatformConnector,
    WriteReceipt,
    fetch_campaigns_of,
    last_write,
    send_budget_changes,
)
from mbo_pipelines.defs.activate import budget_limits, guardrails, kill_switch, ledger, modes
from mbo_pipelines.defs.activate.ledger import (
    APPLIED,
    APPLYING,
    APPROVED,
    FAILED,
    MANUAL,
    OPEN,
    PENDING_APPROVAL,
    REFUSED,
    SKIPPED,
    SUPERSEDED,
    LedgerRow,
)
from mbo_pipelines.defs.activate.policy import LiveChangesNotAllowed, Policy, load_policy
from mbo_pipelines.defs.activate.rehearsals import LedgerRecorder, RehearsalRecorder
from mbo_pipelines.defs.activate.push_log import BatchLog
from mbo_pipelines.defs.quality import gates
from mbo_pipelines.platform_setup import NATIVE_PLATFORMS
from mbo_pipelines.redaction import redact

Recorder = LedgerRecorder | RehearsalRecorder
__all__ = ["LiveChangesNotAllowed", "PushInProgress", "PushSummary", "push_plan"]

logger = logging.getLogger(__name__)

ALLOW_LIVE_ENV = modes.ALLOW_LIVE_ENV
#: A recommendation closer than this to the current budget is not a change.
MIN_CHANGE = Decimal("0.01")
#: How long a push waits for another push of the same plan to finish.
DEFAULT_LOCK_WAIT_SECONDS = 300
#: Longest error text stored in the ledger.
MAX_ERROR_CHARS = 1000
#: How many changes one batch (one fresh read, one request or run of writes, two ledger transactions) holds:
#: big enough that the ledger's per-batch work vanishes per change, small enough that a newer plan, the kill
#: switch or a budget edited on the platform is seen within a few seconds of writes.
DEFAULT_BATCH_SIZE = 200
BATCH_SIZE_ENV = "MBO_PUSH_BATCH_SIZE"
#: A one-at-a-time connector with this attribute True may be read once per batch of writes (module docstring).
READS_PER_BATCH = "reads_per_batch"
#: How the log names a change a dead push had already applied (found on the platform, not sent again).
RECONCILED = "reconciled (the platform already runs the new budget)"


class PushInProgress(RuntimeError):
    """Another push of the same plan held the plan's lock for longer than we were willing to wait."""


@dataclass(frozen=True)
class PushSummary:
    """What a push did: the plan's ledger rows after it, and counts per status."""

    plan_id: str
    counts: dict[str, int]
    changes: list[LedgerRow]
    #: Changes this run added to the ledger (0 on a re-run).
    recorded: int
    #: Changes this run settled (moved to a terminal status).
    processed: int
    #: Whole-plan guardrail failures (empty when the plan as a whole may be pushed).
    plan_problems: list[str] = field(default_factory=list)
    #: Platforms this run only rehearsed.
    dry_run_platforms: list[str] = field(default_factory=list)
    #: Rehearsed changes per outcome (``activation.budget_rehearsals``): rehearsed, refused, skipped, ...
    rehearsal_counts: dict[str, int] = field(default_factory=dict)
    #: This run's rehearsal rows, as written to ``activation.budget_rehearsals``.
    rehearsals: list[tuple] = field(default_factory=list)

    @property
    def problems(self) -> dict[str, int]:
        """The changes that did not go through, per status: failed, refused, superseded, or left open (and
        rehearsed ones that would not), zero counts left out."""
        bad = {s: self.counts[s] for s in (FAILED, REFUSED, SUPERSEDED, *OPEN) if self.counts[s]}
        bad |= {f"rehearsed {s}": n for s, n in self.rehearsal_counts.items()
                if s in (FAILED, REFUSED, SUPERSEDED) and n}
        return bad

    @property
    def ok(self) -> bool:
        """True when every change went through, waits for a person, or had nothing to change (``skipped``)."""
        return not self.problems


def error_text(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """An exception as ``Class: message`` for the ledger, any of ``secrets`` (and every configured token)
    masked, length capped."""
    text = f"{type(exc).__name__}: {exc}"
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return redact(text)[:MAX_ERROR_CHARS]


def _url_secrets(database_url: str) -> tuple[str, ...]:
    password = urlparse(database_url).password
    return (database_url, password) if password else (database_url,)


@contextmanager
def _plan_lock(conn: psycopg.Connection, plan_id: str, wait_seconds: float) -> Iterator[None]:
    """Hold a session-level advisory lock on the plan (released on exit, or when the connection dies)."""
    # lock_timeout 0 would mean "wait forever": wait at least a millisecond.
    conn.execute(f"set lock_timeout = '{max(1, int(wait_seconds * 1000))}ms'")
    try:
        conn.execute("select pg_advisory_lock(hashtext('mbo.activation.push'), hashtext(%s))", (plan_id,))
    except psycopg.errors.LockNotAvailable:
        raise PushInProgress(f"another push of plan {plan_id} is still running after {wait_seconds:g}s") from None
    finally:
        conn.execute("set lock_timeout = 0")
    try:
        yield
    finally:
        conn.execute("select pg_advisory_unlock(hashtext('mbo.activation.push'), hashtext(%s))", (plan_id,))


def _load_plan(conn: psycopg.Connection, plan_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if not warehouse.table_exists(conn, "marts.budget_plans"):
        raise LookupError("no plans yet: marts.budget_plans does not exist")
    with conn.cursor(row_factory=dict_row) as cur:
        plan = cur.execute("select * from marts.budget_plans where plan_id = %s", (plan_id,)).fetchone()
        if plan is None:
            raise LookupError(f"no plan {plan_id!r} in marts.budget_plans")
        recommendations = cur.execute(
            "select * from marts.budget_recommendations where plan_id = %s order by platform, account_id, campaign_id",
            (plan_id,),
        ).fetchall()
    return plan, recommendations


def _newer_plan(conn: psycopg.Connection, plan_id: str) -> str | None:
    """The id of the newest plan created after ``plan_id``, if any."""
    row = conn.execute(
        """
        select newer.plan_id from marts.budget_plans newer, marts.budget_plans this
        where this.plan_id = %s and newer.plan_id <> this.plan_id
          and (newer.created_at, newer.plan_id) > (this.created_at, this.plan_id)
        order by newer.created_at desc, newer.plan_id desc limit 1
        """,
        (plan_id,),
    ).fetchone()
    return row[0] if row else None


def batch_size_from_env(batch_size: int | None = None) -> int:
    """``batch_size``, else ``MBO_PUSH_BATCH_SIZE``, else ``DEFAULT_BATCH_SIZE``; a whole number of at least 1."""
    raw = batch_size if batch_size is not None else os.environ.get(BATCH_SIZE_ENV, "").strip() or DEFAULT_BATCH_SIZE
    try:
        size = int(raw)
    except (TypeError, ValueError):
        size = 0
    if size < 1 or str(raw).strip() != str(size):
        raise ValueError(f"the push's batch size must be a whole number of at least 1 ({BATCH_SIZE_ENV}), not {raw!r}")
    return size


def _is_change(current: Decimal, recommended: Decimal) -> bool:
    """True when the recommendation moves the budget (a non-finite number always counts: it must be refused)."""
    if not (current.is_finite() and recommended.is_finite()):
        return True
    return abs(recommended - current) >= MIN_CHANGE


def push_plan(
    database_url: str,
    plan_id: str,
    connectors: Mapping[str, PlatformConnector],
    dry_run: bool | None = None,
    max_change: float | None = None,
    log: Any = None,
    *,
    max_plan_age_hours: float | None = None,
    lock_wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS,
    run_id: str | None = None,
    batch_size: int | None = None,
) -> PushSummary:
    """Record, check and apply the budget changes of plan ``plan_id``; return what became of them.

    ``connectors`` maps platform name to its connector. ``dry_run``: see
    ``resolve_dry_run``. ``max_change`` / ``max_plan_age_hours`` default to
    ``MBO_MAX_BUDGET_CHANGE`` (0.30) / ``MBO_PLAN_MAX_AGE_HOURS`` (36).
    ``log`` is anything with ``info``/``warning``/``error`` (a Dagster
    ``context.log``); by default this module's logger. ``batch_size``: see the module docstring. Raises ``LookupError``
    for an unknown plan, and ``QualityGateClosed`` (recording nothing, sending
    nothing) when a blocking data-quality check failed on a day of the plan's
    history; a refused or failed change is not an exception but a ledger row
    (see ``PushSummary.ok``).
    """
    log = log or logger
    limits = guardrails.limits_from_env(max_change, max_plan_age_hours)
    size = batch_size_from_env(batch_size)
    for platform, connector in connectors.items():
        if connector.platform != platform:
            raise ValueError(f"connector for {platform!r} says it is for {connector.platform!r}")
    policy = load_policy({p for p, c in connectors.items() if c.is_live}, dry_run, max_change)
    secrets = _url_secrets(database_url)
    actor = f"push {run_id}" if run_id else "push"

    # Autocommit: every ledger transition is durable the moment it is made, before the next platform call.
    with warehouse.connect(database_url, autocommit=True) as conn:
        ledger.ensure_ledger(conn)
        if stop := kill_switch.reason_to_stop(conn):
            policy = dataclasses.replace(policy, kill_switch=stop)
            log.warning(f"plan {plan_id}: {stop}")
        with _plan_lock(conn, plan_id, lock_wait_seconds):
            plan, recommendations = _load_plan(conn, plan_id)
            gates.require_clean_plan(conn, plan_id)
            moves = [r for r in recommendations if _is_change(r["current_daily_budget"], r["recommended_daily_budget"])]
            mode_of = {_key(r): policy.mode(r["platform"], r["account_id"]) for r in moves}
            switched_off = sorted({f"{r['platform']}/{r['account_id']}" for r in moves if mode_of[_key(r)] == modes.OFF})
            moves = [r for r in moves if mode_of[_key(r)] != modes.OFF]
            changes = [(r["platform"], r["account_id"], r["campaign_id"], r["currency"],
                        r["current_daily_budget"], r["recommended_daily_budget"]) for r in moves]
            # Rehearsed accounts leave the ledger alone: a rehearsal never blocks the real push of the plan.
            rehearsed = [c for c in changes if mode_of[c[:3]] == modes.DRY_RUN]
            real = [c for c in changes if mode_of[c[:3]] != modes.DRY_RUN]
            recorded = ledger.record_proposed(conn, plan_id, real, by=actor)
            held = {_key(r): why for r in moves if mode_of[_key(r)] != modes.DRY_RUN and (why := policy.held(r))}
            waiting = _decide_proposed(conn, plan_id, held, actor)
            if switched_off:
                log.warning(f"plan {plan_id}: activation is off: nothing recorded or sent for {', '.join(switched_off)}"
                            + (f" ({policy.kill_switch})" if policy.kill_switch else ""))
            if waiting:
                log.warning(f"plan {plan_id}: {waiting} change(s) wait for approval: `mbo changes {plan_id}`, "
                            f"then `mbo approve {plan_id}` or `mbo reject {plan_id}`")
            now = conn.execute("select now()").fetchone()[0]
            problems = guardrails.plan_problems(plan, recommendations, now, _newer_plan(conn, plan_id), limits)
            open_rows = ledger.plan_rows(conn, plan_id, (APPROVED, APPLYING))
            # Switched off or to rehearsal since the rows were approved: they wait, unsent, for a mode that writes.
            parked = [r for r in open_rows if policy.mode(r.platform, r.account_id) in (modes.OFF, modes.DRY_RUN)]
            if parked:
                log.warning(f"plan {plan_id}: {len(parked)} approved change(s) not sent: their accounts are now "
                            f"off or rehearsing" + (f" ({policy.kill_switch})" if policy.kill_switch else ""))
                open_rows = [r for r in open_rows if r not in parked]
            log.info(f"plan {plan_id}: {len(recommendations)} campaigns, {recorded} changes recorded now, "
                     f"{len(open_rows)} to send, {len(rehearsed)} rehearsed")

            context = _Context(conn, plan_id, connectors, limits, secrets, log, problems,
                               plan_campaigns={(r["account_id"], r["campaign_id"]) for r in recommendations},
                               day_ago=ledger.budgets_in_force_before(conn, hours=24), policy=policy,
                               last_changes=ledger.last_changes(conn), now=now, batch_size=size)
            recorder = LedgerRecorder(conn, actor, plan.get("rollback_of"))
            _process(context, recorder, open_rows, dry=False)
            processed = recorder.settled
            rehearsal = RehearsalRecorder(conn, run_id or f"push-{now.isoformat()}",
                                          {p for p, c in connectors.items() if _validates(c)})
            _process(context, rehearsal, _rehearsal_rows(plan_id, rehearsed, now), dry=True)
            rehearsal.write()

            counts = ledger.status_counts(conn, plan_id)
            changes_after = ledger.plan_rows(conn, plan_id)
    log.info(f"plan {plan_id}: " + ", ".join(f"{s} {n}" for s, n in counts.items() if n)
             + (f"; rehearsed: {rehearsal.counts()}" if rehearsal.rows else ""))
    return PushSummary(
        plan_id=plan_id, counts=counts, changes=changes_after, recorded=recorded, processed=processed,
        plan_problems=problems,
        dry_run_platforms=sorted({p for p in connectors if policy.mode(p) == modes.DRY_RUN} | {c[0] for c in rehearsed}),
        rehearsal_counts=rehearsal.counts(), rehearsals=rehearsal.rows,
    )


def _decide_proposed(conn: psycopg.Connection, plan_id: str, held: Mapping[tuple[str, str, str], str],
                     actor: str) -> int:
    """Move the plan's ``proposed`` rows on: to ``pending_approval`` (held, with the reason) or ``approved``;
    returns how many wait for approval now."""
    proposed = ledger.plan_rows(conn, plan_id, ledger.PROPOSED)
    waits: dict[str, list[int]] = {}
    for row in proposed:
        why = held.get((row.platform, row.account_id, row.campaign_id))
        if why:
            waits.setdefault(why, []).append(row.change_id)
    for why, ids in waits.items():
        ledger.move(conn, ids, PENDING_APPROVAL, expect=(ledger.PROPOSED,), by=actor, error=f"waiting for approval: {why}")
    waiting = {i for ids in waits.values() for i in ids}
    ledger.move(conn, [r.change_id for r in proposed if r.change_id not in waiting], APPROVED,
                expect=(ledger.PROPOSED,), by=f"{actor} (auto)", decided=True)
    return len(waiting)


@dataclass(frozen=True)
class _Context:
    """What every step of one push needs."""

    conn: psycopg.Connection
    plan_id: str
    connectors: Mapping[str, PlatformConnector]
    limits: guardrails.Limits
    secrets: tuple[str, ...]
    log: Any
    problems: list[str]
    plan_campaigns: set[tuple[str, str]]
    day_ago: Mapping[tuple[str, str, str], Decimal]
    policy: Policy
    #: Per campaign, when MBO's latest applied change took effect and the budget before it (the cooldown's base).
    last_changes: Mapping[tuple[str, str, str], tuple[datetime, Decimal]]
    now: datetime
    batch_size: int = DEFAULT_BATCH_SIZE


def _key(rec: Mapping[str, Any]) -> tuple[str, str, str]:
    return rec["platform"], rec["account_id"], rec["campaign_id"]


def outcome_of(problems: list[str]) -> str:
    """The ledger status of a change the guardrails stopped: ``skipped`` when there is nothing to change
    (campaign gone, paused, without a budget of its own), ``superseded`` for a newer plan, else ``refused``."""
    rules = {p.split(":", 1)[0] for p in problems}
    if rules & {"campaign_exists", "campaign_status", "own_budget"}:
        return SKIPPED
    if rules == {"latest_plan"}:
        return SUPERSEDED
    return REFUSED


def _process(ctx: _Context, record: Recorder, rows: list[LedgerRow], dry: bool) -> int:
    """Settle ``rows`` (real changes, or rehearsed ones when ``dry``): refused whole, or platform by platform."""
    if not rows:
        return 0
    if ctx.problems:
        reason = "; ".join(ctx.problems)
        ctx.log.error(f"plan {ctx.plan_id} refused: {reason}")
        attempted = [r for r in rows if r.attempts > 0 and not dry]
        # A change a crashed push may have sent is read back, never just refused.
        done = _reconcile_attempted(record, attempted, ctx.connectors, ctx.log, outcome_of(ctx.problems), reason)
        tried = {r.change_id for r in attempted}
        done += sum(record.finish(row, outcome_of(ctx.problems), error=reason)
                    for row in rows if dry or row.change_id not in tried)
        record.flush()
        return done
    by_platform: dict[str, list[LedgerRow]] = {}
    for row in rows:
        by_platform.setdefault(row.platform, []).append(row)
    done = 0
    for platform, platform_rows in by_platform.items():
        done += _push_platform(ctx, record, platform, platform_rows, dry)
        record.flush()
    return done


def _validates(connector: PlatformConnector) -> bool:
    return isinstance(connector, BatchBudgetWriter) and connector.supports_validate_only


def _rehearsal_rows(plan_id: str, changes: list[tuple], now: datetime) -> list[LedgerRow]:
    """The rehearsed changes in the ledger's shape (never stored in the ledger)."""
    return [LedgerRow(change_id=0, plan_id=plan_id, platform=p, account_id=a, campaign_id=c, currency=cur,
                      old_daily_budget=old, new_daily_budget=new, status=APPROVED, error=None, dry_run=True,
                      live_daily_budget=None, attempts=0, created_at=now, updated_at=now, applied_at=None,
                      requested_daily_budget=new)
            for p, a, c, cur, old, new in changes]


def _push_platform(ctx: _Context, record: Recorder, platform: str, rows: list[LedgerRow], dry: bool) -> int:
    """Check and send one platform's open changes; returns how many were settled."""
    connector = ctx.connectors.get(platform)
    if connector is None and platform not in NATIVE_PLATFORMS:
        return _record_manual(ctx, record, platform, rows)
    if connector is None:
        reason = f"no connector configured for platform {platform} (see `mbo platforms`)"
        ctx.log.error(f"plan {ctx.plan_id}: {reason}")
        # Rows a dead push may have sent stay open until a connector can read them back.
        return sum(record.finish(r, FAILED, error=reason) for r in rows if r.attempts == 0 or dry)
    batch = isinstance(connector, BatchBudgetWriter) or getattr(connector, READS_PER_BATCH, False) is True
    # A platform that takes many changes per request, or may be read once per batch, gets batches; the others
    # one change at a time. A dry run is one read and one validation request per batch, whatever the platform.
    # One at a time, each change is checked against a read taken after the ones before it landed.
    # An account's changes go out together (sorted, stable): each batch reads only the accounts it changes.
    rows = sorted(rows, key=lambda r: r.account_id)
    chunks = [rows] if dry or batch else [[row] for row in rows]
    chunks = [chunk[i:i + ctx.batch_size] for chunk in chunks for i in range(0, len(chunk), ctx.batch_size)]
    notes = BatchLog(ctx.log, platform)
    try:
        return _push_chunks(ctx, record, platform, chunks, connector, dry, notes)
    finally:
        notes.emit()


def _push_chunks(ctx: _Context, record: Recorder, platform: str, chunks: list[list[LedgerRow]],
                 connector: PlatformConnector, dry: bool, notes: BatchLog) -> int:
    """Read, check and send each batch of one platform's changes in turn; returns how many were settled."""
    done = 0
    for chunk in chunks:
        # Read right before each write, and check every guardrail against that read: a budget changed on
        # the platform during the push is never overwritten from a stale view. The read covers every campaign
        # of the batch's accounts (the account caps sum them), and nothing else.
        try:
            live = _read(connector, platform, chunk)
        except Exception as exc:  # noqa: BLE001 - any failure to read the platform fails these changes
            reason = f"could not read current budgets from {platform}: {error_text(exc, ctx.secrets)}"
            ctx.log.error(f"plan {ctx.plan_id}: {reason}")
            # An attempted row is not failed blind: it stays open for the next push to read back.
            done += sum(record.finish(r, FAILED, error=reason) for r in chunk if r.attempts == 0 or dry)
            continue
        settled, sendable = _check(ctx, record, platform, chunk, live, dry, notes)
        done += settled
        if sendable:
            done += _send(record, ctx.conn, ctx.plan_id, platform, sendable, connector, dry, ctx.secrets, ctx.log,
                          notes)
        # The batch's outcomes are durable before the next batch is read.
        record.flush()
    return done


def _reached(campaign: guardrails.LiveCampaign | None, row: LedgerRow) -> bool:
    """True when the platform already runs the change's new budget (to the cent)."""
    return (campaign is not None and campaign.daily_budget is not None
            and abs(campaign.daily_budget - row.new_daily_budget) < Decimal("0.005"))


def _check(
    ctx: _Context,
    record: Recorder,
    platform: str,
    rows: list[LedgerRow],
    live: dict[tuple[str, str], guardrails.LiveCampaign],
    dry: bool,
    notes: BatchLog,
) -> tuple[int, list[tuple[LedgerRow, guardrails.LiveCampaign]]]:
    """Settle what the fresh read decides (refused, skipped; already applied by a dead push); return the rest,
    each clipped by the account's limits."""
    done = 0
    sendable: list[tuple[LedgerRow, guardrails.LiveCampaign]] = []
    # Each account's budgets as they will be once the changes accepted so far land: the daily cap's base.
    planned = _PlannedBudgets((key, c.daily_budget) for key, c in live.items())
    decided: dict[int, tuple[LedgerRow, list[str]]] = {}
    # Decreases first: they free room under an account's daily cap for the increases.
    for i in sorted(range(len(rows)), key=lambda i: _increase(rows[i])):
        row = rows[i]
        if not (row.attempts > 0 and not dry and _reached(live.get((row.account_id, row.campaign_id)), row)):
            decided[i] = _limited(ctx, platform, row, live, planned)
            if not decided[i][1]:
                planned[(row.account_id, row.campaign_id)] = decided[i][0].new_daily_budget
    for i, row in enumerate(rows):
        campaign = live.get((row.account_id, row.campaign_id))
        if i not in decided:
            # A push that died after the platform took the change: record it, do not send it again. Its
            # live_daily_budget stays the one read before the write: what a rollback and the 24-hour limit go back to.
            notes.info(RECONCILED, _what(platform, row))
            done += record.finish(row, APPLIED, reconciled=True)
            continue
        row, problems = decided[i]
        if problems:
            reason = "; ".join(problems)
            status = outcome_of(problems)
            notes.warning(status, f"{_what(platform, row)}: {reason}")
            done += record.finish(row, status, error=reason,
                                  live_daily_budget=campaign.daily_budget if campaign else None)
        else:
            sendable.append((row, campaign))
    return done, sendable


class _PlannedBudgets(dict):
    """(account_id, campaign_id) -> budget as it will be once the changes accepted so far land, also kept per
    account (one change's daily-cap base, without scanning every campaign of the platform)."""

    def __init__(self, items=()):
        super().__init__()
        self._accounts: dict[str, dict[str, Decimal | None]] = {}
        for key, value in items:
            self[key] = value

    def __setitem__(self, key: tuple[str, str], value: Decimal | None) -> None:
        super().__setitem__(key, value)
        self._accounts.setdefault(key[0], {})[key[1]] = value

    def of_account(self, account_id: str) -> Mapping[str, Decimal | None]:
        """The account's budgets by campaign id."""
        return self._accounts.get(account_id, {})


def _clipped(row: LedgerRow, result: budget_limits.LimitResult) -> LedgerRow:
    """The change as the account's limits let it through: their amount, and their notes on how they clipped it."""
    return dataclasses.replace(row, new_daily_budget=result.amount, guardrail_notes="; ".join(result.notes) or None)


def _increase(row: LedgerRow) -> Decimal:
    """How much a change raises its budget (a non-finite one counts as none: the rules refuse it anyway)."""
    return row.new_daily_budget - row.old_daily_budget if row.new_daily_budget.is_finite() else Decimal(0)


def _limited(ctx: _Context, platform: str, row: LedgerRow, live: Mapping[tuple[str, str], guardrails.LiveCampaign],
             planned: _PlannedBudgets) -> tuple[LedgerRow, list[str]]:
    """The change clipped by the account's limits (``new_daily_budget``, ``guardrail_notes``), and every rule
    it still breaks measured against the platform's budget now (empty: it may be sent)."""
    key = (platform, row.account_id, row.campaign_id)
    campaign = live.get((row.account_id, row.campaign_id))
    limits = ctx.policy.limits(platform, row.account_id, ctx.limits)
    day_ago = ctx.day_ago.get(key)
    requested = row.requested_daily_budget if row.requested_daily_budget is not None else row.new_daily_budget
    if campaign is None or campaign.status != "active" or campaign.daily_budget is None:
        return row, guardrails.change_problems(row.old_daily_budget, requested, row.currency, campaign, limits, day_ago)
    last = ctx.last_changes.get(key)
    result = budget_limits.apply_limits(
        platform=platform, currency=row.currency, current=campaign.daily_budget, requested=requested,
        settings=ctx.policy.settings(platform, row.account_id),
        other_budgets=planned.of_account(row.account_id),
        campaign_id=row.campaign_id, last_change=budget_limits.LastChange(*last) if last else None, now=ctx.now,
        platform_rules=ctx.connectors[platform].is_live,
    )
    if result.refused:
        return row, [result.refusal]
    row = _clipped(row, result)
    problems = guardrails.change_problems(row.old_daily_budget, row.new_daily_budget, row.currency, campaign, limits,
                                          day_ago)
    if not problems:
        problems = [p for p in [guardrails.check_shared_budget(campaign, live, ctx.plan_campaigns)] if p]
    return row, problems


def _send(
    record: Recorder,
    conn: psycopg.Connection,
    plan_id: str,
    platform: str,
    batch: list[tuple[LedgerRow, guardrails.LiveCampaign]],
    connector: PlatformConnector,
    dry: bool,
    secrets: tuple[str, ...],
    log: Any,
    notes: BatchLog,
) -> int:
    """Send one request's changes (or validate them, in a dry run) and record each outcome."""
    done = 0
    if not dry:
        # Checked again just before each write: a plan superseded mid-push sends nothing more.
        # The kill switch, pulled while this push runs, stops it before its next write; the rest stay approved.
        if stop := kill_switch.reason_to_stop(conn):
            log.warning(f"plan {plan_id}: not sent: {stop}")
            return 0
        if problem := guardrails.check_latest(plan_id, _newer_plan(conn, plan_id)):
            log.warning(f"plan {plan_id}: {problem}")
            return sum(record.finish(r, SUPERSEDED, error=problem, live_daily_budget=c.daily_budget)
                       for r, c in batch)
        # ``applying`` is durable before the calls: a crash after it leaves the rows open with attempts > 0,
        # and the next run reads the platform before deciding to send again.
        started = record.start([(row, campaign.daily_budget) for row, campaign in batch])
        batch = [(row, campaign) for row, campaign in batch if row.change_id in started]
        if not batch:
            return 0
    sent = _requests(connector, [BudgetChange(r.account_id, r.campaign_id, r.new_daily_budget, c.daily_budget)
                                 for r, c in batch], dry, secrets)
    errors = [redact(error, secrets) if error else None for error, _ in sent]
    # After a failed call, ask the platform what it runs now before deciding failed (a timeout may come
    # after the platform took the write).
    read_back = _read_back(connector, platform, [row for row, _ in batch]) if any(errors) and not dry else {}
    for (row, campaign), error, (_, receipt) in zip(batch, errors, sent, strict=True):
        request_id, response = (receipt.request_id, receipt.response) if receipt else (None, None)
        if error and read_back is None:
            # Neither the write's answer nor the platform says whether the money moved: the row stays applying
            # (its error noted) and the next push, or the resume sensor, reads it back before anything else.
            notes.error(f"left applying (the call failed and {platform} could not be read back; the next push "
                        "settles them)", f"{_what(platform, row)}: {error}")
            record.finish(row, APPLYING, error=f"unsettled: {error}"[:MAX_ERROR_CHARS], request_id=request_id,
                          response=response)
        elif error and _reached(read_back.get((row.account_id, row.campaign_id)), row):
            notes.warning("applied though the call failed (the platform runs the new budget)",
                          f"{_what(platform, row)}: {error}")
            done += record.finish(row, APPLIED, error=f"reconciled after: {error}"[:MAX_ERROR_CHARS],
                                  reconciled=True, request_id=request_id, response=response)
        elif error:
            notes.error("failed validation" if dry else "failed", f"{_what(platform, row)}: {error}")
            done += record.finish(row, FAILED, error=error[:MAX_ERROR_CHARS], live_daily_budget=campaign.daily_budget,
                                  request_id=request_id, response=response)
        else:
            notes.info("rehearsed" if dry else "applied", _what(platform, row))
            done += record.finish(row, APPLIED, live_daily_budget=campaign.daily_budget if dry else None,
                                  request_id=request_id, response=response)
    return done


def _requests(connector: PlatformConnector, batch: list[BudgetChange], dry: bool,
              secrets: tuple[str, ...]) -> list[tuple[str | None, WriteReceipt | None]]:
    """Send a batch's changes (or validate them, in a dry run): one request for a platform that takes many
    (and for any dry run), else one per change, so each keeps its own receipt. One (error or None, receipt)
    per change, in order."""
    one_request = dry or isinstance(connector, BatchBudgetWriter)
    sent: list[tuple[str | None, WriteReceipt | None]] = []
    for changes in ([batch] if one_request else [[change] for change in batch]):
        try:
            results = send_budget_changes(connector, changes, validate_only=dry)
        except Exception as exc:  # noqa: BLE001 - the whole request failed: every change in it failed
            results = [error_text(exc, secrets)] * len(changes)
        receipt = last_write(connector)
        sent += [(result, receipt) for result in results]
    return sent


def _read(connector: PlatformConnector, platform: str,
          rows: list[LedgerRow]) -> dict[tuple[str, str], guardrails.LiveCampaign]:
    """The platform's campaigns, as it runs them now, in every account ``rows`` change."""
    return guardrails.live_campaigns(platform, fetch_campaigns_of(connector, sorted({r.account_id for r in rows})))


def _read_back(connector: PlatformConnector, platform: str,
               rows: list[LedgerRow]) -> dict[tuple[str, str], guardrails.LiveCampaign] | None:
    """The platform's budgets (in the accounts of ``rows``) after a failed write, to tell a refused change from
    one that went through; None when the platform cannot be read either."""
    try:
        return _read(connector, platform, rows)
    except Exception:  # noqa: BLE001 - unreadable: the caller leaves the outcome open
        return None


def _reconcile_attempted(record: Recorder, rows: list[LedgerRow], connectors: Mapping[str, PlatformConnector],
                         log: Any, otherwise: str, reason: str) -> int:
    """Rows whose write was attempted, on a plan that may no longer be pushed: ``applied`` (reconciled) where
    the platform runs the new budget, ``otherwise`` where it does not, left open where it cannot be read."""
    done = 0
    for platform in sorted({r.platform for r in rows}):
        connector = connectors.get(platform)
        try:
            live = _read(connector, platform, [r for r in rows if r.platform == platform]) if connector else None
        except Exception as exc:  # noqa: BLE001 - unread: these rows stay open for a later push
            log.error(f"could not read {platform} back ({type(exc).__name__}); its attempted changes stay open")
            continue
        if live is None:
            continue
        notes = BatchLog(log, platform)
        for row in (r for r in rows if r.platform == platform):
            campaign = live.get((row.account_id, row.campaign_id))
            if _reached(campaign, row):
                notes.info(RECONCILED, _what(platform, row))
                done += record.finish(row, APPLIED, reconciled=True)
            else:
                done += record.finish(row, otherwise, error=reason,
                                      live_daily_budget=campaign.daily_budget if campaign else None)
        notes.emit()
    return done


def _what(platform: str, row: LedgerRow) -> str:
    return f"{platform}/{row.account_id}/{row.campaign_id} {row.old_daily_budget} -> {row.new_daily_budget}"


def _record_manual(ctx: _Context, record: Recorder, platform: str, rows: list[LedgerRow]) -> int:
    """Changes for a platform without a connector (CSV imports): checked as far as MBO can without reading the
    platform (limits against the plan's current budget; no daily cap), left to a person."""
    done = 0
    notes = BatchLog(ctx.log, platform)
    for row in rows:
        last = ctx.last_changes.get((platform, row.account_id, row.campaign_id))
        limits = ctx.policy.limits(platform, row.account_id, ctx.limits)
        result = budget_limits.apply_limits(
            platform=platform, currency=row.currency, current=row.old_daily_budget,
            requested=row.requested_daily_budget if row.requested_daily_budget is not None else row.new_daily_budget,
            settings=ctx.policy.settings(platform, row.account_id),
            last_change=budget_limits.LastChange(*last) if last else None, now=ctx.now,
        )
        problems = [result.refusal] if result.refused else []
        if not problems:
            row = _clipped(row, result)
            problems = [p for p in (
                guardrails.check_positive_budget(row.new_daily_budget),
                guardrails.check_max_change(row.old_daily_budget, row.new_daily_budget, limits.max_change,
                                            "plan's current budget"),
            ) if p]
        if problems:
            reason = "; ".join(problems)
            notes.warning("refused", f"{_what(platform, row)}: {reason}")
            done += record.finish(row, REFUSED, error=reason)
        else:
            done += record.finish(row, MANUAL, new_daily_budget=row.new_daily_budget,
                                  error=f"{platform} has no connector: set this budget by hand in {platform}")
    notes.emit()
    ctx.log.info(f"plan {ctx.plan_id}: {len(rows)} {platform} change(s) recorded as manual")
    return done
