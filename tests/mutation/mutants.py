"""The mutants `make mutants` plants, one at a time: plausible bugs across the data path that the suite must catch.

Each is a small textual edit (``old`` must occur exactly once in ``path``), why it is plausible, and the
tests to run first (the whole suite runs after them if they all pass). Grow the list with each issue: a
bug found by hand that the suite missed belongs here, with the test that now catches it.
"""

from __future__ import annotations

from dataclasses import dataclass

INGEST = "tests/ingest"
ACTIVATE = "tests/activate"
E2E = "tests/test_pipeline_end_to_end.py"
LIVE = "tests/live/test_live_end_to_end.py"
CSV_E2E = "tests/live/test_csv_import_end_to_end.py"


@dataclass(frozen=True)
class Mutant:
    """One planted bug: replace ``old`` by ``new`` in ``path``."""

    id: str
    path: str
    old: str
    new: str
    why: str
    tests: tuple[str, ...]


MUTANTS = (
    # --- ingest -----------------------------------------------------------------------------------
    Mutant("reload-deletes-history", "mbo_pipelines/warehouse.py",
           'sql.SQL("delete from {}.{} where {} between %s and %s")',
           'sql.SQL("delete from {}.{} where {} between %s and %s or true")',
           "The partition reload deletes the whole raw table, not just the reloaded days: each daily run "
           "would erase the history (a WHERE clause lost in a refactor).",
           (f"{INGEST}/test_extract.py",)),
    Mutant("no-lookback", "mbo_pipelines/defs/ingest/assets.py",
           "    return (loaded or start), end", "    return start, end",
           "The lookback window is computed but not used: late conversions are never re-read.",
           (f"{INGEST}/test_extract.py",)),
    Mutant("negative-spend-passes", "mbo_pipelines/defs/ingest/validation.py",
           "    if value < 0:", "    if value < -1:",
           "A rounding allowance on the sign check lets small negative spend (a refund row) land in raw.",
           (f"{INGEST}/test_extract.py",)),
    Mutant("csv-oldest-file-wins", "mbo_pipelines/defs/ingest/csv_import/reader.py",
           "for mtime_ns, _, path in sorted(found)]", "for mtime_ns, _, path in sorted(found, reverse=True)]",
           "Files merged newest first: a re-dropped correction is overwritten by the file it corrects.",
           (f"{INGEST}/csv_import",)),
    Mutant("jpy-has-cents", "mbo_pipelines/currencies.py",
           "return 1 if currency.strip().upper() in ZERO_DECIMAL_CURRENCIES else 100", "return 100",
           "Every currency treated as having cents: a JPY budget of 10,000 is written as 1,000,000 on Meta.",
           (f"{INGEST}/meta_ads", f"{INGEST}/google_ads", f"{INGEST}/tiktok_ads")),
    Mutant("google-validate-only-dropped", "mbo_pipelines/defs/ingest/google_ads/client.py",
           "customer_id=customer, partial_failure=True, validate_only=validate_only,",
           "customer_id=customer, partial_failure=True, validate_only=False,",
           "The dry run's validate_only flag is not passed on: a rehearsal changes real Google Ads budgets.",
           (f"{INGEST}/google_ads",)),
    Mutant("meta-validate-only-dropped", "mbo_pipelines/defs/ingest/meta_ads/client.py",
           '            params["execution_options"] = ["validate_only"]', "            pass",
           "Meta's execution_options is not sent: a rehearsal changes real Meta budgets.",
           (f"{INGEST}/meta_ads",)),
    # --- staging, marts, FX -------------------------------------------------------------------------
    Mutant("tiktok-value-over-100", "dbt_project/models/staging/tiktok_ads/stg_tiktok_ads__campaign_daily.sql",
           "total_purchase_value::numeric   as conversion_value",
           "total_purchase_value::numeric / 100 as conversion_value",
           "TikTok's conversion value treated as minor units, like Meta budgets.", (E2E,)),
    Mutant("reporting-value-without-fx", "dbt_project/models/marts/fct_campaign_daily.sql",
           "(conversion_value * fx_rate_to_reporting)::numeric(20, 6)    as conversion_value_reporting",
           "(conversion_value)::numeric(20, 6)    as conversion_value_reporting",
           "conversion_value_reporting copied without the FX conversion: EUR and PLN values read as USD.", (E2E,)),
    Mutant("google-micros-off-by-ten", "dbt_project/macros/currency.sql",
           "cast({{ column_name }} as numeric) / 1000000", "cast({{ column_name }} as numeric) / 100000",
           "A zero dropped from the micros divisor: Google spend and budgets ten times too large.", (E2E,)),
    Mutant("fx-inverted", "dbt_project/models/intermediate/int_currency_rates__to_reporting.sql",
           "(rates.rate_to_usd / nullif(reporting.reporting_rate_to_usd, 0))",
           "(reporting.reporting_rate_to_usd / nullif(rates.rate_to_usd, 0))",
           "The rate turned upside down: PLN converted at 4 USD instead of 0.25.", (E2E,)),
    Mutant("meta-conversions-from-values", "dbt_project/models/staging/meta_ads/stg_meta_ads__campaign_daily.sql",
           "{{ meta_action_sum('actions', action_type) }}        as conversions,",
           "{{ meta_action_sum('action_values', action_type) }}        as conversions,",
           "Meta's conversion count read from action_values (the money) instead of actions.", (E2E,)),
    Mutant("meta-jpy-budget-in-cents", "dbt_project/macros/currency.sql",
           "        ) then 0", "        ) then 2",
           "Staging reads Meta's JPY budgets as cents: the plan starts from 1/100 of the real budget.", (E2E, LIVE)),
    Mutant("shared-budget-counted-per-campaign", "dbt_project/models/staging/google_ads/stg_google_ads__campaigns.sql",
           "then greatest(campaign_budget_reference_count, 1) else 1 end",
           "then 1 else 1 end",
           "A shared Google budget counted once per campaign on it: the marts double its money.", (LIVE,)),
    # --- planning -----------------------------------------------------------------------------------
    Mutant("plan-not-converted-back", "mbo_pipelines/defs/optimize/planning.py",
           "recommended_local = _round_inside(spend_rep / fx,", "recommended_local = _round_inside(spend_rep,",
           "The reporting-currency plan is not converted back: EUR and PLN campaigns get USD amounts pushed.",
           (E2E,)),
    # --- guardrails ---------------------------------------------------------------------------------
    Mutant("max-change-only-vs-plan", "mbo_pipelines/defs/activate/guardrails.py",
           '        check_max_change(live.daily_budget, new, limits.max_change, "budget in force on the platform"),\n',
           "",
           "The ±30% rule compares only with the plan's own current budget, not the budget in force.",
           (ACTIVATE,)),
    Mutant("stale-tolerance-in-percent", "mbo_pipelines/defs/activate/guardrails.py",
           "abs(float(live) - float(current)) <= tolerance * float(current)",
           "abs(float(live) - float(current)) <= tolerance * 100 * float(current)",
           "The 1% stale tolerance used as a percentage: a budget changed by hand is overwritten.", (ACTIVATE,)),
    Mutant("plan-age-backwards", "mbo_pipelines/defs/activate/guardrails.py",
           "age_hours = (now - created_at).total_seconds() / 3600",
           "age_hours = (created_at - now).total_seconds() / 3600",
           "Plan age computed backwards: a plan of last week is pushed.", (ACTIVATE,)),
    Mutant("shared-budget-siblings-by-campaign", "mbo_pipelines/defs/activate/guardrails.py",
           "if c.account_id == live.account_id and c.budget_id == live.budget_id)",
           "if c.campaign_id == live.campaign_id and c.budget_id == live.budget_id)",
           "Siblings on a shared budget matched by campaign instead of account: the rule never sees them.",
           (ACTIVATE,)),
    # --- ledger and push ----------------------------------------------------------------------------
    Mutant("ledger-upsert-repends", "mbo_pipelines/defs/activate/ledger.py",
           "on conflict (plan_id, platform, account_id, campaign_id) do nothing",
           "on conflict (plan_id, platform, account_id, campaign_id) do update set status = 'pending', "
           "applied_at = null",
           "Recording a change as an upsert re-opens applied rows: pushing a plan again applies it twice.",
           (ACTIVATE,)),
    Mutant("no-recheck-before-write", "mbo_pipelines/defs/activate/push.py",
           "if problem := guardrails.check_latest(plan_id, _newer_plan(conn, plan_id)):",
           "if problem := guardrails.check_latest(plan_id, None):",
           "The newer-plan re-check before each write is lost: a plan superseded mid-push keeps writing.",
           (ACTIVATE,)),
    Mutant("dry-run-writes", "mbo_pipelines/defs/activate/push.py",
           "results = send_budget_changes(connector, changes, validate_only=dry)",
           "results = send_budget_changes(connector, changes, validate_only=False)",
           "A dry run sends real writes.", (ACTIVATE,)),
    Mutant("allow-live-any-value", "mbo_pipelines/defs/activate/modes.py",
           'return os.environ.get(ALLOW_LIVE_ENV, "").strip() == "1"',
           'return bool(os.environ.get(ALLOW_LIVE_ENV, "").strip())',
           "MBO_ALLOW_LIVE_BUDGET_CHANGES=0 read as 'allowed' (any non-empty value counts).", (ACTIVATE,)),
    Mutant("validate-only-sent-as-write", "mbo_pipelines/connectors.py",
           "    if validate_only:\n        return [None] * len(changes)\n    results: list",
           "    results: list",
           "A platform that can only write one budget at a time, and cannot validate, gets real writes in a "
           "dry run.", (ACTIVATE,)),
    Mutant("one-read-per-push", "mbo_pipelines/defs/activate/push.py",
           "chunks = [rows] if dry or batch else [[row] for row in rows]", "chunks = [rows]",
           "Budgets read once before the loop: a budget changed on the platform mid-push is overwritten.",
           (ACTIVATE,)),
    Mutant("no-read-back-after-failure", "mbo_pipelines/defs/activate/push.py",
           "read_back = _read_back(connector, platform) if any(errors) and not dry else {}", "read_back = {}",
           "A write that timed out after the platform took it is recorded failed for good, with the money moved.",
           (ACTIVATE,)),
    Mutant("paused-campaign-written", "mbo_pipelines/defs/activate/guardrails.py",
           'if live.status != "active":', 'if live.status == "removed":',
           "Only removed campaigns are skipped: one paused on the platform after planning gets its budget written.",
           (ACTIVATE,)),
    Mutant("no-rolling-limit-at-push", "mbo_pipelines/defs/activate/guardrails.py",
           "        if day_ago is not None else None,", "        if False else None,",
           "The 24-hour limit is not checked at the push: three re-runs in a day take a budget to 2.2x.",
           (ACTIVATE,)),
    Mutant("planner-ignores-yesterday", "mbo_pipelines/defs/optimize/planning.py",
           "    base = np.where(np.isfinite(day_ago), day_ago, current)", "    base = current",
           "The planner bounds each plan by today's budget only: re-runs plan changes the push must refuse.",
           ("tests/optimize", E2E)),
    Mutant("resume-forgets-pending", "mbo_pipelines/defs/activate/ledger.py",
           "        (list(OPEN), idle_minutes * 60),",
           "        (list(TERMINAL), idle_minutes * 60),",
           "The resume looks for settled rows instead of open ones: a crashed push is never finished.",
           (ACTIVATE,)),
    Mutant("rehearsed-changes-in-the-ledger", "mbo_pipelines/defs/activate/push.py",
           "real = [c for c in changes if mode_of[c[:3]] != modes.DRY_RUN]",
           "real = changes",
           "Rehearsed changes claimed in the ledger as well: the real push treats them as its own and writes them "
           "to a platform that was meant to be rehearsed.",
           (ACTIVATE,)),
    Mutant("approve-mode-applies", "mbo_pipelines/defs/activate/policy.py",
           "        if mode == modes.APPROVE:\n", "        if mode == 'approval':\n",
           "A misspelt mode name: MBO_ACTIVATION=approve applies every change without anyone approving it.",
           (ACTIVATE,)),
    Mutant("kill-switch-ignored", "mbo_pipelines/defs/activate/push.py",
           "moves = [r for r in moves if mode_of[_key(r)] != modes.OFF]",
           "moves = moves",
           "MBO_ACTIVATION=off is read but not obeyed: an account switched off is pushed anyway.", (ACTIVATE,)),
    Mutant("kill-switch-overridden", "mbo_pipelines/defs/activate/policy.py",
           "        if self.kill_switch:\n            return modes.OFF",
           "        if self.kill_switch and not self.book.accounts:\n            return modes.OFF",
           "MBO_KILL_SWITCH=1 stops writes only when no account has its own section: an accounts file "
           "saying auto wins over the kill switch.", (ACTIVATE,)),
    Mutant("undo-held-to-todays-band", "mbo_pipelines/defs/activate/guardrails.py",
           "    return min(base, day_ago) <= new <= max(base, day_ago)",
           "    return False",
           "Undoing a full cut of today is measured against the cut budget: +43 % is refused, and a rollback "
           "cannot restore what MBO did the same day.", (ACTIVATE,)),
    Mutant("kill-switch-read-once", "mbo_pipelines/defs/activate/push.py",
           "        if stop := kill_switch.reason_to_stop(conn):\n            log.warning(f\"plan {plan_id}: not sent: {stop}\")",
           "        if stop := None:\n            log.warning(f\"plan {plan_id}: not sent: {stop}\")",
           "The kill switch is read when a push starts, not before each write: pulling it cannot stop a push "
           "that is running.", (ACTIVATE,)),
    Mutant("cap-forgets-earlier-increases", "mbo_pipelines/defs/activate/push.py",
           "                planned[(row.account_id, row.campaign_id)] = decided[i][0].new_daily_budget",
           "                pass",
           "The account's daily cap is checked against the budgets before the push only: every increase of "
           "one request fits alone, together they go over the cap.", (ACTIVATE,)),
    Mutant("clipped-amount-not-sent", "mbo_pipelines/defs/activate/push.py",
           "return dataclasses.replace(row, new_daily_budget=result.amount,",
           "return dataclasses.replace(row, new_daily_budget=row.requested_daily_budget or row.new_daily_budget,",
           "A change clipped by the account's maximum is noted but sent unclipped.", (ACTIVATE,)),
    Mutant("cooldown-ignored", "mbo_pipelines/defs/activate/push.py",
           "campaign_id=row.campaign_id, last_change=budget_limits.LastChange(*last) if last else None,",
           "campaign_id=row.campaign_id, last_change=None,",
           "The push never tells the limits when a campaign last changed: the cooldown never holds.", (ACTIVATE,)),
    Mutant("applying-without-an-attempt", "mbo_pipelines/defs/activate/rehearsals.py",
           "by=self.actor, attempt=True, live_daily_budget=live_daily_budget,",
           "by=self.actor, attempt=False, live_daily_budget=live_daily_budget,",
           "A write is not counted before it is sent: after a crash the change looks untried and the resume "
           "sends it again instead of reading it back.", (ACTIVATE,)),
    Mutant("rollback-leaves-the-original-applied", "mbo_pipelines/defs/activate/rehearsals.py",
           "if moved and status == APPLIED and self.rollback_of:",
           "if moved and status == APPLIED and self.rollback_of and False:",
           "A rollback restores the budgets but the plan it undid still says applied.", (ACTIVATE,)),
    Mutant("reconciled-overwrites-the-budget-before", "mbo_pipelines/defs/activate/push.py",
           "            done += record.finish(row, APPLIED, reconciled=True)\n            continue",
           "            done += record.finish(row, APPLIED, reconciled=True, live_daily_budget=campaign.daily_budget)\n"
           "            continue",
           "A change found applied after a crash records the budget read back as the one before it: its rollback "
           "restores nothing.", (ACTIVATE,)),
    Mutant("rollback-to-the-plans-own-budgets", "mbo_pipelines/defs/activate/rollback.py",
           "coalesce(c.live_daily_budget, c.old_daily_budget) as before", "c.new_daily_budget as before",
           "A rollback that 'restores' the budgets the plan set: nothing is undone, and the run says it was.",
           (ACTIVATE,)),
    Mutant("tiny-changes-only", "mbo_pipelines/defs/activate/push.py",
           "return abs(recommended - current) >= MIN_CHANGE", "return abs(recommended - current) <= MIN_CHANGE",
           "The 'is this a change' test inverted: only non-changes reach the ledger.", (ACTIVATE,)),
)
