"""``mbo extract``, ``mbo refresh`` and ``mbo push``: first loads, backfills and cron-less operation through Dagster.

Each launches the same jobs and assets as the Dagster UI, on the configured
Dagster instance (run records and event log included), and returns an
``Outcome``: whether the run succeeded and a one-line summary or reason.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from datetime import date

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from mbo_pipelines import asset_keys, platform_setup, warehouse
from mbo_pipelines.redaction import redact

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: Keep Dagster's per-step console logs out of the command's output; the run's event log keeps them, and
#: the command prints the one-line outcome.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass(frozen=True)
class Outcome:
    """What a command did: success, a one-line message, and the Dagster run id."""

    ok: bool
    message: str
    run_id: str | None = None
    plan_id: str | None = None


def _range_tags(start: date, end: date) -> dict[str, str]:
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    return {ASSET_PARTITION_RANGE_START_TAG: start.isoformat(), ASSET_PARTITION_RANGE_END_TAG: end.isoformat()}


def failure_reason(result: dg.ExecuteInProcessResult) -> str:
    """The first step failure of a run as one line: the step and the root error's first line, secrets masked."""
    for event in result.all_events:
        if event.is_step_failure or event.is_run_failure:
            error = getattr(event.event_specific_data, "error", None)
            # Dagster wraps what the asset raised (DagsterExecutionStepExecutionError): report the cause.
            while error is not None and error.cause is not None:
                error = error.cause
            text = (error.message if error else None) or event.message or "run failed"
            text = _ANSI.sub("", text)  # dbt colours its log lines
            line = " ".join(part.strip() for part in text.strip().splitlines() if part.strip()) or "run failed"
            line = line.removeprefix("dagster._core.definitions.events.Failure: ")
            step = f"{event.step_key}: " if event.step_key else ""
            return redact(step + line + _failed_checks(result))[:1500]
    return "run failed"


def _failed_checks(result: dg.ExecuteInProcessResult) -> str:
    """What the run's failed blocking data-quality checks said, and where to look (empty when none failed)."""
    failed = [e for e in result.get_asset_check_evaluations()
              if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR]
    if not failed:
        return ""
    said = "; ".join(f"{e.asset_key.to_user_string()} {e.description or e.check_name}"[:400] for e in failed)
    return f" ({said}). The days it names keep the rows loaded before; see `mbo quality`."


def _execute(job: dg.JobDefinition, instance: dg.DagsterInstance, log_file, run_config: dict | None = None,
             **kwargs):
    """Run ``job`` here as a run of the code location (the UI lists it under its job); its events."""
    from mbo_pipelines.job_runs import run_job

    # dbt prints progress to stdout, libraries warn on stderr: the command's own output is its outcome line.
    with contextlib.redirect_stdout(log_file), contextlib.redirect_stderr(log_file):
        return run_job(job, instance, run_config={**QUIET, **(run_config or {})}, **kwargs)


def _log_file(instance: dg.DagsterInstance, name: str):
    root = instance.root_directory or os.getcwd()
    return open(os.path.join(root, f"{name}.log"), "a")


def extract(defs: dg.Definitions, instance: dg.DagsterInstance, start: date, end: date,
            platforms: list[str] | None = None) -> Outcome:
    """Materialize the extract assets of ``platforms`` (default: every enabled one) for [start, end]."""
    from mbo_pipelines.defs.ingest.assets import extract_asset_keys

    enabled = enabled_sources()
    chosen = platforms or enabled
    unknown = [p for p in chosen if p not in enabled]
    if unknown:
        return Outcome(False, f"not enabled: {', '.join(unknown)} (enabled: {', '.join(enabled) or 'none'}); "
                              "see `mbo platforms`")
    keys = [key for p in chosen for key in extract_asset_keys(p)]
    job = defs.resolve_job_def("daily_refresh")
    with _log_file(instance, "extract") as log:
        result = _execute(job, instance, log, tags=_range_tags(start, end), asset_selection=keys)
    if not result.success:
        return Outcome(False, failure_reason(result), result.run_id)
    rows = rows_written(result)
    return Outcome(True, f"extracted {start}..{end} from {', '.join(chosen)}: {rows:,} rows written", result.run_id)


def refresh(defs: dg.Definitions, instance: dg.DagsterInstance, start: date, end: date, full: bool = False) -> Outcome:
    """The whole daily refresh over [start, end]: extract, marts, and a plan fitted on the history ending at ``end``.

    The marts rebuild only [start - lookback days, end]; ``full`` rebuilds them from all history
    (``dbt build --full-refresh``), e.g. after a backfill with ``mbo extract`` or a change of a mart's columns.
    """
    from mbo_pipelines.defs.transform.assets import FULL_REFRESH_TAG

    job = defs.resolve_job_def("daily_refresh")
    tags = {**_range_tags(start, end), **({FULL_REFRESH_TAG: "true"} if full else {})}
    with _log_file(instance, "refresh") as log:
        result = _execute(job, instance, log, tags=tags)
    if not result.success:
        return Outcome(False, failure_reason(result), result.run_id)
    plan_id = _plan_id(result)
    same = " (inputs unchanged: the plan already made from them, not pushed again)" if _inputs_unchanged(result) else ""
    return Outcome(True, f"refreshed {start}..{end}: {rows_written(result):,} raw rows written; plan {plan_id}{same}",
                   result.run_id, plan_id)


def push(defs: dg.Definitions, instance: dg.DagsterInstance, database_url: str, plan_id: str | None = None) -> Outcome:
    """Launch the push job for ``plan_id`` (default: the latest plan)."""
    from mbo_pipelines.defs.activate.dagster_defs import run_config_for

    plan_id = plan_id or latest_plan_id(database_url)
    if plan_id is None:
        return Outcome(False, "no plan to push yet: run `mbo refresh` first")
    job = defs.resolve_job_def("push_budget_changes_job")
    with _log_file(instance, "push") as log:
        result = _execute(job, instance, log, run_config=run_config_for(plan_id),
                          tags={"mbo/plan_id": plan_id})
    if not result.success:
        return Outcome(False, failure_reason(result), result.run_id, plan_id)
    counts = push_counts(result)
    summary = ", ".join(f"{n} {status.replace('rehearsed_', 'rehearsed ')}" for status, n in counts.items() if n)
    summary = summary or "no changes"
    return Outcome(True, f"plan {plan_id}: {summary}", result.run_id, plan_id)


def resume(defs: dg.Definitions, instance: dg.DagsterInstance, database_url: str) -> Outcome:
    """Push again every plan whose ledger still has open rows (an interrupted push), oldest first."""
    from mbo_pipelines.defs.activate import ledger

    with warehouse.connect(database_url) as conn:
        plans = [plan_id for plan_id, _ in ledger.unfinished_plans(conn)]
    if not plans:
        return Outcome(True, "no interrupted push: every plan's changes are settled")
    outcomes = [push(defs, instance, database_url, plan_id) for plan_id in plans]
    failed = [o for o in outcomes if not o.ok]
    message = "; ".join(o.message for o in outcomes)
    return Outcome(not failed, f"resumed {len(plans)} plan(s): {message}", outcomes[-1].run_id)


def decide(defs: dg.Definitions, instance: dg.DagsterInstance, database_url: str, plan_id: str, approve: bool,
           campaign_ids: list[str] | None = None) -> Outcome:
    """Approve (then push) or reject the plan's changes waiting for approval, all or those of ``campaign_ids``."""
    import getpass

    from mbo_pipelines.defs.activate import ledger

    who = f"{getpass.getuser()} (mbo {'approve' if approve else 'reject'})"
    with warehouse.connect(database_url) as conn:
        ledger.ensure_ledger(conn)
        decided = ledger.decide(conn, plan_id, approve, who, campaign_ids)
        conn.commit()
    if not decided:
        which = f" for campaign(s) {', '.join(campaign_ids)}" if campaign_ids else ""
        return Outcome(False, f"plan {plan_id} has no change waiting for approval{which}: see `mbo changes {plan_id}`")
    if not approve:
        return Outcome(True, f"plan {plan_id}: {decided} change(s) rejected")
    pushed = push(defs, instance, database_url, plan_id)
    return Outcome(pushed.ok, f"plan {plan_id}: {decided} change(s) approved; {pushed.message}", pushed.run_id, plan_id)


def rollback(defs: dg.Definitions, instance: dg.DagsterInstance, database_url: str, plan_id: str) -> Outcome:
    """Make the rollback plan of ``plan_id`` (its applied changes undone) and push it like any plan."""
    from mbo_pipelines.defs.activate.rollback import create_rollback_plan

    with warehouse.connect(database_url) as conn:
        try:
            rollback_id = create_rollback_plan(conn, plan_id)
        except LookupError as error:
            return Outcome(False, str(error))
        conn.commit()
    pushed = push(defs, instance, database_url, rollback_id)
    return Outcome(pushed.ok, f"rollback of {plan_id}: {pushed.message}", pushed.run_id, rollback_id)


def kill_switch(database_url: str, action: str, reason: str | None = None) -> str:
    """``mbo kill-switch on|off|status``: pull, release or show the kill switch stored in the database."""
    import getpass

    from mbo_pipelines.defs.activate import kill_switch as switch

    with warehouse.connect(database_url, autocommit=True) as conn:
        if action in ("on", "off"):
            switch.set_switch(conn, action == "on", f"{getpass.getuser()} (mbo kill-switch)", reason)
        why = switch.reason_to_stop(conn)
    return why or "kill switch off: pushes may write (within their modes and guardrails)"


def changes_report(database_url: str, plan_id: str | None = None) -> str:
    """``mbo changes``: a plan's ledger rows (the latest plan by default), those waiting for approval first."""
    plan_id = plan_id or latest_plan_id(database_url)
    if plan_id is None:
        return "no plan yet: run `mbo refresh` first"
    with warehouse.connect(database_url) as conn:
        if not warehouse.table_exists(conn, "activation.budget_changes"):
            return f"plan {plan_id}: not pushed yet"
        rows = conn.execute(
            "select status, platform, account_id, campaign_id, currency, old_daily_budget, new_daily_budget, "
            "concat_ws('; ', error, guardrail_notes) from activation.budget_changes where plan_id = %s "
            "order by status <> 'pending_approval', status, platform, account_id, campaign_id", (plan_id,)
        ).fetchall()
    if not rows:
        return f"plan {plan_id}: no budget change recorded (not pushed yet, rehearsed only, or nothing to change)"
    lines = [f"plan {plan_id}:", f"  {'status':<17} {'platform':<12} {'account':<14} {'campaign':<14} {'currency':<8} "
             f"{'old':>12} {'new':>12}  note"]
    for status, platform, account, campaign, currency, old, new, note in rows:
        lines.append(f"  {status:<17} {platform:<12} {account:<14} {campaign:<14} {currency:<8} {old:>12,.2f} "
                     f"{new:>12,.2f}  {note[:120]}")
    waiting = sum(1 for r in rows if r[0] == "pending_approval")
    if waiting:
        lines.append(f"{waiting} change(s) wait for approval: `mbo approve {plan_id} [--campaign ID ...]` "
                     f"or `mbo reject {plan_id} [--campaign ID ...]`")
    return "\n".join(lines)


def latest_plan_id(database_url: str) -> str | None:
    """The newest plan in ``marts.budget_plans``, or None."""
    with warehouse.connect(database_url) as conn:
        if not warehouse.table_exists(conn, "marts.budget_plans"):
            return None
        row = conn.execute("select plan_id from marts.budget_plans order by created_at desc, plan_id desc limit 1").fetchone()
    return row[0] if row else None


def enabled_sources() -> list[str]:
    """What ``mbo extract --platform`` accepts now: the ad platforms, ``ga4`` and ``csv`` when configured, and the
    FX rates (``fx_rates``), which every deployment needs."""
    names = list(platform_setup.ad_platforms())
    if platform_setup.ga4_enabled():
        names.append(platform_setup.GA4)
    if platform_setup.csv_enabled():
        names.append(platform_setup.CSV)
    return [*names, platform_setup.FX_RATES]


def platforms_report() -> str:
    """``mbo platforms``: which platforms are enabled, and for the others which variable is missing."""
    mode = platform_setup.source()
    lines = [f"MBO_SOURCE={mode}"]
    if mode == platform_setup.SANDBOX:
        lines.append("  sandbox: google_ads, meta_ads, tiktok_ads and ga4 (simulated market and its GA4 property; "
                     "set MBO_SOURCE=live for real accounts)")
    for setup in platform_setup.live_setups().values():
        if mode == platform_setup.SANDBOX and setup.platform == platform_setup.GA4:
            state = "the sandbox's GA4 property (MBO_GA4_PROPERTY_IDS is read in live mode)"
        elif mode == platform_setup.SANDBOX:
            state = "not used in sandbox mode" + (f" ({len(setup.accounts)} account(s) configured)" if setup.enabled else "")
        elif not setup.enabled:
            state = f"disabled: set {setup.accounts_variable}"
        elif setup.missing:
            state = f"ENABLED but missing {', '.join(setup.missing)}: its runs will fail until set"
        else:
            state = f"enabled: {len(setup.accounts)} account(s): {', '.join(setup.accounts)}"
        lines.append(f"  {setup.platform:<11} {state}")
    csv = platform_setup.csv_setup()
    lines.append(f"  {'csv':<11} " + (f"enabled: files in {csv.accounts[0]}" if csv.enabled else "disabled: set MBO_IMPORT_DIR"))
    lines.append(f"  {platform_setup.FX_RATES:<11} {platform_setup.fx_rates_state()}")
    dry = os.environ.get("MBO_ALLOW_LIVE_BUDGET_CHANGES", "").strip() != "1"
    lines.append("budget changes on live platforms: " + ("dry-run (validate only; set MBO_ALLOW_LIVE_BUDGET_CHANGES=1 to apply)"
                                                          if dry else "APPLIED (MBO_ALLOW_LIVE_BUDGET_CHANGES=1)"))
    return "\n".join(lines)


def rows_written(result: dg.ExecuteInProcessResult) -> int:
    """Raw rows the run wrote. A range run materializes every partition with the same run-wide metadata:
    each asset counts once."""
    written: dict[dg.AssetKey, int] = {}
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        value = metadata.get("rows_written") or metadata.get("rows_upserted") or metadata.get("row_count")
        if value is not None and str(event.materialization.asset_key.path[0]) == "raw":
            written[event.materialization.asset_key] = int(value.value)
    return sum(written.values())


def push_counts(result) -> dict[str, int]:
    """Changes per status (``applied``, ``pending_approval``, ``rehearsed_refused``, ...) of a push run, from its
    ``activation/budget_changes`` materialization."""
    counts: dict[str, int] = {}
    for event in result.get_asset_materialization_events():
        if event.materialization.asset_key == asset_keys.BUDGET_CHANGES:
            counts.update({key.removesuffix("_count"): int(value.value)
                           for key, value in event.materialization.metadata.items() if key.endswith("_count")})
    return counts


def _plan_id(result: dg.ExecuteInProcessResult) -> str | None:
    for event in result.get_asset_materialization_events():
        if event.materialization.asset_key == asset_keys.RECOMMENDATIONS:
            return event.materialization.metadata["plan_id"].value
    return None


def _inputs_unchanged(result: dg.ExecuteInProcessResult) -> bool:
    """True when the refresh found its plan already stored (same inputs as before)."""
    for event in result.get_asset_materialization_events():
        if event.materialization.asset_key == asset_keys.RECOMMENDATIONS:
            value = event.materialization.metadata.get("inputs_unchanged")
            return bool(value.value) if value is not None else False
    return False
