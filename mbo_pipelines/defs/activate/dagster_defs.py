"""Dagster wiring of activation: the push asset and its job, the resource it needs, and the sensors that start it.

The push is the asset ``activation/budget_changes`` (the ledger), downstream of the plan's
``marts/budget_recommendations``: each push is a materialization whose metadata says what was applied, held,
refused and failed. ``budget_recommendations_sensor`` watches ``marts/budget_recommendations``: each new
materialization carries its ``plan_id`` in metadata and becomes one run of ``push_budget_changes_job`` (run_key =
plan_id, so a plan is pushed by the sensor at most once; a plan already in the ledger, pushed by the demo or
``mbo push``, is skipped). The asset's op calls ``push_plan`` with the connectors of the ``activation`` resource.
"""

import dagster as dg

from mbo_pipelines import asset_keys, settings, warehouse
from mbo_pipelines.connectors import PlatformConnector
from mbo_pipelines.defs.activate import ledger
from mbo_pipelines.defs.activate.ledger import APPLIED, PENDING_APPROVAL, SKIPPED
from mbo_pipelines.defs.activate.push import PushSummary, push_plan
from mbo_pipelines.defs.quality import gates
from mbo_pipelines.report_link import refresh_report
from mbo_pipelines.resources import MboResource

RECOMMENDATIONS_ASSET = asset_keys.RECOMMENDATIONS
OP_NAME = "push_budget_changes"


class ActivationResource(MboResource):
    """The warehouse and connectors of ``MboResource``, plus how activation treats live platforms."""

    dry_run: bool | None = None
    """None: live platforms rehearse unless MBO_ALLOW_LIVE_BUDGET_CHANGES=1; True: only rehearse; False: apply."""

    def connectors(self, log=None) -> dict[str, PlatformConnector]:
        """One connector per enabled platform (all three on the sandbox). A live platform whose connector
        cannot be built (a missing token) gets a stand-in that fails its changes with the reason."""
        if not self.is_live():
            return {platform: self.connector(platform, log=log) for platform in self.platforms()}
        from mbo_pipelines.defs.ingest.live_connectors import live_connector_or_reason

        return {platform: live_connector_or_reason(platform, log=log) for platform in self.platforms()}


class PushBudgetChangesConfig(dg.Config):
    """Which plan to push."""

    plan_id: str


def run_config_for(plan_id: str) -> dict:
    """Run config of ``push_budget_changes_job`` for one plan."""
    return {"ops": {OP_NAME: {"config": {"plan_id": plan_id}}}}


#: Changes listed in a push's metadata: a 20,000-row table took 14 s and ~1 GB to store as a Dagster event, and
#: no one reads it in the UI (activation.budget_changes has every change).
LISTED_CHANGES = 200
_ROUTINE = (APPLIED, SKIPPED)  # went through, or had nothing to change


def _changes_table(summary: PushSummary, limit: int = LISTED_CHANGES) -> str:
    """The plan's changes in ledger order; beyond ``limit``, the ``limit`` that need a look first (not applied
    or skipped), then the largest moves, and a line saying where the rest are."""
    changes = summary.changes
    if len(changes) > limit:
        changes = sorted(changes, key=lambda c: (c.status in _ROUTINE, -abs(c.new_daily_budget - c.old_daily_budget)))
    lines = ["| platform | account | campaign | old | new | status | request id | error / guardrail |",
             "|---|---|---|---|---|---|---|---|"]
    for c in changes[:limit]:
        note = "; ".join(n for n in (c.error, c.guardrail_notes) if n).replace("|", "/").replace("\n", " ")
        lines.append(f"| {c.platform} | {c.account_id} | {c.campaign_id} | {c.old_daily_budget} "
                     f"| {c.new_daily_budget} | {c.status} | {c.request_id or ''} | {note} |")
    if len(changes) > limit:
        lines.append(f"\n*{len(changes) - limit:,} more changes (applied or skipped, smaller moves) in "
                     f"activation.budget_changes where plan_id = '{summary.plan_id}'.*")
    return "\n".join(lines)


def _rehearsal_table(summary: PushSummary, limit: int = 200) -> str:
    lines = ["| platform | account | campaign | old | new | budget now | outcome | validated | error |",
             "|---|---|---|---|---|---|---|---|---|"]
    for (_run, _plan, platform, account, campaign, _cur, old, new, live, outcome, error, validated, _notes) in summary.rehearsals[:limit]:
        error = (error or "").replace("|", "/").replace("\n", " ")
        lines.append(f"| {platform} | {account} | {campaign} | {old} | {new} | {live if live is not None else ''} "
                     f"| {outcome} | {'yes' if validated else 'no'} | {error} |")
    if len(summary.rehearsals) > limit:
        lines.append(f"\n*{len(summary.rehearsals) - limit} more in activation.budget_rehearsals.*")
    return "\n".join(lines)


def _per_account_table(summary: PushSummary) -> str:
    """Per platform and account: changes in each status, and the daily budget before and after the applied ones."""
    totals: dict[tuple[str, str, str], dict] = {}
    for c in summary.changes:
        row = totals.setdefault((c.platform, c.account_id, c.currency), {"statuses": {}, "old": 0, "new": 0})
        row["statuses"][c.status] = row["statuses"].get(c.status, 0) + 1
        if c.status == "applied":
            row["old"] += c.old_daily_budget
            row["new"] += c.new_daily_budget
    lines = ["| platform | account | currency | changes | applied: budget before | applied: budget after |",
             "|---|---|---|---|---:|---:|"]
    for (platform, account, currency), row in sorted(totals.items()):
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(row["statuses"].items()))
        lines.append(f"| {platform} | {account} | {currency} | {statuses} | {row['old']:,.2f} | {row['new']:,.2f} |")
    return "\n".join(lines)


def _rehearsal_key(outcome: str) -> str:
    """``rehearsed``, ``rehearsed_refused``, ...: rehearsal outcomes named apart from the ledger's statuses."""
    return outcome if outcome == "rehearsed" else f"rehearsed_{outcome}"


def _metadata(summary: PushSummary) -> dict[str, dg.MetadataValue]:
    metadata: dict[str, dg.MetadataValue] = {
        "plan_id": dg.MetadataValue.text(summary.plan_id),
        "dry_run": dg.MetadataValue.bool(bool(summary.dry_run_platforms)),
        "dry_run_platforms": dg.MetadataValue.text(", ".join(summary.dry_run_platforms) or "none"),
        "recorded": dg.MetadataValue.int(summary.recorded),
        "processed": dg.MetadataValue.int(summary.processed),
        "changes": dg.MetadataValue.md(_changes_table(summary)),
        "per_account": dg.MetadataValue.md(_per_account_table(summary)),
    }
    metadata.update({f"{status}_count": dg.MetadataValue.int(n) for status, n in summary.counts.items()})
    if summary.rehearsals:
        metadata.update({f"{_rehearsal_key(outcome)}_count": dg.MetadataValue.int(n)
                         for outcome, n in summary.rehearsal_counts.items()})
        metadata["rehearsal"] = dg.MetadataValue.md(_rehearsal_table(summary))
    if summary.plan_problems:
        metadata["plan_problems"] = dg.MetadataValue.text("; ".join(summary.plan_problems))
    return metadata


@dg.multi_asset(
    name=OP_NAME,
    group_name="activate",
    specs=[dg.AssetSpec(
        asset_keys.BUDGET_CHANGES, deps=[asset_keys.RECOMMENDATIONS], kinds={"python", "postgres"},
        description=(
            "The ledger of budget changes pushed to the ad platforms: each plan's changes checked against the "
            "guardrails, then applied, held for approval, refused, failed or rehearsed (dry-run). A materialization "
            "is one push of one plan (run config: plan_id), its metadata the outcome per status and account."
        ),
    )],
)
def push_budget_changes(
    context: dg.AssetExecutionContext, config: PushBudgetChangesConfig, activation: ActivationResource
) -> dg.MaterializeResult:
    counts, metadata = _push(context, activation, config.plan_id)
    return dg.MaterializeResult(metadata=metadata)


def _push(context, activation: ActivationResource, plan_id: str) -> tuple[dict, dict]:
    """Push the plan: its counts per status and the metadata of the ``activation/budget_changes`` materialization.

    When not all went through, the materialization is recorded (the ledger did change) and the run fails with a
    ``Failure`` so that someone looks at it."""
    summary = push_plan(activation.url(), plan_id, activation.connectors(log=context.log), dry_run=activation.dry_run,
                        log=context.log, run_id=context.run.run_id)
    metadata = _metadata(summary)
    metadata.update(refresh_report(context.log, activation.url(), plan_id, len(summary.changes)))
    if not summary.ok:
        context.log_event(dg.AssetMaterialization(asset_key=asset_keys.BUDGET_CHANGES, metadata=metadata))
        # Everything is in the ledger by now; the run fails so that someone looks at it.
        bad = summary.problems
        raise dg.Failure(
            description=(
                f"plan {plan_id}: not every budget change went through ("
                + ", ".join(f"{n} {s}" for s, n in bad.items())
                + "); see activation.budget_changes (and activation.budget_rehearsals) for the reasons"
            ),
            metadata=metadata,
            allow_retries=False,
        )
    if summary.counts[PENDING_APPROVAL]:
        waiting = summary.counts[PENDING_APPROVAL]
        how = f"`mbo approve {plan_id}` / `mbo reject {plan_id}`, or launch decide_budget_changes_job with this plan_id"
        context.log.warning(f"plan {plan_id}: {waiting} change(s) wait for approval: {how}")
        # A tag shows in the Runs list, so a plan held for approval is visible without opening the run.
        context.instance.add_run_tags(context.run_id, {"mbo/waiting_for_approval": str(waiting)})
        metadata["waiting_for_approval"] = dg.MetadataValue.md(f"**{waiting} change(s) wait for approval**: {how}.")
    rehearsed = {_rehearsal_key(outcome): n for outcome, n in summary.rehearsal_counts.items()}
    return {**summary.counts, **rehearsed}, metadata


class DecideBudgetChangesConfig(dg.Config):
    """A decision on a plan's changes waiting for approval."""

    plan_id: str
    approve: bool = True
    #: Only these campaigns; empty: every waiting change of the plan.
    campaign_ids: list[str] = []


@dg.op(name="decide_budget_changes",
       description="Approve (and push) or reject a plan's budget changes that wait for approval.")
def decide_budget_changes(
    context: dg.OpExecutionContext, config: DecideBudgetChangesConfig, activation: ActivationResource
) -> dg.Output[dict]:
    with warehouse.connect(activation.url()) as conn:
        ledger.ensure_ledger(conn)
        decided = ledger.decide(conn, config.plan_id, config.approve, f"dagster run {context.run.run_id}",
                                config.campaign_ids or None)
        conn.commit()
    if not decided:
        raise dg.Failure(f"plan {config.plan_id} has no change waiting for approval"
                         + (f" for campaigns {', '.join(config.campaign_ids)}" if config.campaign_ids else ""),
                         allow_retries=False)
    context.log.info(f"plan {config.plan_id}: {decided} change(s) {'approved' if config.approve else 'rejected'}")
    if not config.approve:
        return dg.Output({"rejected": decided}, metadata={"rejected": dg.MetadataValue.int(decided)})
    counts, metadata = _push(context, activation, config.plan_id)
    # The push changed the ledger: it shows on the activation/budget_changes asset like any push.
    context.log_event(dg.AssetMaterialization(asset_key=asset_keys.BUDGET_CHANGES, metadata=metadata))
    return dg.Output(counts, metadata=metadata)


@dg.job(description="Approve (and push) or reject a plan's waiting budget changes (run config: plan_id, approve, campaign_ids).")
def decide_budget_changes_job():
    decide_budget_changes()


push_budget_changes_job = dg.define_asset_job(
    "push_budget_changes_job",
    selection=dg.AssetSelection.assets(asset_keys.BUDGET_CHANGES),
    description="Push one budget plan's changes to the ad platforms (run config: the plan_id).",
)


def push_job_with(activation: ActivationResource) -> dg.JobDefinition:
    """``push_budget_changes_job`` on its own, with ``activation`` as its resource (tests, the benchmark)."""
    defs = dg.Definitions(assets=[push_budget_changes], jobs=[push_budget_changes_job],
                          resources={"activation": activation})
    return defs.resolve_job_def(push_budget_changes_job.name)


def resume_after_minutes() -> float:
    """How long a plan's open rows (proposed, approved, applying) must sit untouched before a push counts as interrupted
    (``MBO_RESUME_AFTER_MINUTES``, default 15: longer than a push waits for another push's lock)."""
    return settings.env_float("MBO_RESUME_AFTER_MINUTES", 15.0)


@dg.sensor(
    job=push_budget_changes_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Resume interrupted pushes: a plan whose ledger still has open rows (proposed, approved, applying), untouched for "
        "MBO_RESUME_AFTER_MINUTES, is pushed again (attempted changes are read back from the platform first)."
    ),
)
def resume_interrupted_pushes_sensor(context: dg.SensorEvaluationContext, activation: ActivationResource):
    with warehouse.connect(activation.url()) as conn:
        unfinished = ledger.unfinished_plans(conn, resume_after_minutes())
        closed = {plan_id: failures for plan_id, _ in unfinished if (failures := gates.plan_failures(conn, plan_id))}
    for plan_id, failures in closed.items():
        context.log.warning(str(gates.QualityGateClosed(f"not resuming plan {plan_id}", failures)))
    unfinished = [(plan_id, last) for plan_id, last in unfinished if plan_id not in closed]
    if not unfinished:
        yield dg.SkipReason(
            f"plans {', '.join(closed)} have open budget changes, but blocking data-quality checks failed on their "
            "history: see `mbo quality`" if closed else "no plan has open budget changes left by an interrupted push")
        return
    for plan_id, last_change in unfinished:
        # One resume per stuck state: a resume that itself dies changes updated_at, and gets its own.
        yield dg.RunRequest(run_key=f"resume:{plan_id}:{last_change.isoformat()}", run_config=run_config_for(plan_id),
                            tags={"mbo/plan_id": plan_id, "mbo/resume": "true"})


@dg.asset_sensor(
    asset_key=RECOMMENDATIONS_ASSET,
    job=push_budget_changes_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Push each new budget plan once: one run per plan_id of a budget_recommendations materialization.",
)
def budget_recommendations_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry,
                                  activation: ActivationResource):
    materialization = asset_event.asset_materialization
    value = materialization.metadata.get("plan_id") if materialization else None
    plan_id = value.value if isinstance(value, dg.MetadataValue) else value
    if not isinstance(plan_id, str) or not plan_id.strip():
        yield dg.SkipReason(
            f"the latest materialization of {RECOMMENDATIONS_ASSET.to_user_string()} has no 'plan_id' "
            "text metadata, so there is no plan to push"
        )
        return
    with warehouse.connect(activation.url()) as conn:
        pushed = ledger.changes_recorded(conn, plan_id)
    if pushed:
        yield dg.SkipReason(f"plan {plan_id} was pushed already ({pushed} changes in activation.budget_changes: "
                            "by the demo, `mbo push` or an earlier run); resume_interrupted_pushes_sensor finishes "
                            "a push that stopped half-way")
        return
    yield dg.RunRequest(run_key=plan_id, run_config=run_config_for(plan_id), tags={"mbo/plan_id": plan_id})
