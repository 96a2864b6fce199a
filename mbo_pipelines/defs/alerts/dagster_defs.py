"""The alerts in Dagster: the asset ``marts/alerts``, asset checks on the assets alerts are about, and the
sensor that posts new alerts to the webhook.

The asset runs in every refresh after the marts and before the plan (which
reads the open alerts to hold the budgets of campaigns whose data is in
doubt). Its checks turn WARN or ERROR on the affected assets while an alert is
open: campaign problems on ``marts/fct_campaign_daily``, a platform's missing
or restated days on its raw daily asset, overspent months on
``marts/account_pacing``, GA4 out of line on ``marts/fct_campaign_attribution``.
"""


import dataclasses
from collections import Counter
from datetime import date

import dagster as dg

from mbo_pipelines import asset_keys, settings, warehouse
from mbo_pipelines.defs.alerts import model, store
from mbo_pipelines.defs.alerts.after_failure import AS_OF_TAG
from mbo_pipelines.defs.alerts.detect import detect
from mbo_pipelines.defs.alerts.inputs import latest_day, read_inputs
from mbo_pipelines.defs.alerts.thresholds import thresholds_from_env
from mbo_pipelines.defs.optimize.assets import run_history_end
from mbo_pipelines.resources import MboResource

#: Marts the detector reads.
ALERT_INPUTS = [
    dg.AssetKey(["marts", "fct_campaign_daily"]),
    dg.AssetKey(["marts", "dim_campaign"]),
    dg.AssetKey(["marts", "account_pacing"]),
    dg.AssetKey(["marts", "fct_campaign_attribution"]),
]
#: Open alerts listed in the asset's metadata (marts.alerts and `mbo alerts` have all of them).
LISTED = 20


def alerts_markdown(alerts: list[model.Alert], limit: int = LISTED) -> str:
    """The alerts as a Markdown table, errors first."""
    if not alerts:
        return "*No open alert.*"
    header = "| severity | kind | scope | campaign | days | what |\n|---|---|---|---|---|---|\n"
    body = "\n".join(
        f"| {a.severity} | {a.kind} | {a.scope} | {_cell(a.campaign_name or '')} | {a.first_day}..{a.last_day} | "
        f"{_cell(a.message)} |" for a in alerts[:limit])
    more = f"\n\n*{len(alerts) - limit} more in marts.alerts.*" if len(alerts) > limit else ""
    return header + body + more


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _thresholds():
    try:
        return thresholds_from_env()
    except ValueError as error:
        raise dg.Failure(description=str(error)) from None


@dg.asset(
    key=asset_keys.ALERTS,
    deps=ALERT_INPUTS,
    group_name="alerts",
    kinds={"python", "postgres"},
    description=(
        "One row per alert in marts.alerts: spend spikes and drops, overspend, zero delivery, tracking breaks, "
        "efficiency shifts, missing or restated platform days and GA4 out of line, found after each refresh "
        "against each campaign's own same-weekday history (thresholds: MBO_ALERT_*). New error alerts are "
        "explained (Claude when configured); the plan holds the budgets of campaigns with an open input-data alert."
    ),
)
def alerts(context: dg.AssetExecutionContext, mbo: MboResource) -> dg.MaterializeResult:
    """Detect, store (new, continuing, resolved) and explain the new alerts."""
    from mbo_pipelines.defs.alerts.explain import explain_alerts

    thresholds = _thresholds()
    currency = settings.reporting_currency()
    with warehouse.connect(mbo.url()) as conn:
        tagged = context.run.tags.get(AS_OF_TAG)
        as_of: date | None = run_history_end(context) or (date.fromisoformat(tagged) if tagged else latest_day(conn))
        if as_of is None:
            store.ensure_alerts_table(conn)
            return dg.MaterializeResult(metadata={"status": dg.MetadataValue.text("no data loaded yet: nothing to examine"),
                                                  "open_alerts": dg.MetadataValue.int(0)})
        data = read_inputs(conn, as_of, currency, thresholds)
    found = detect(data, thresholds)
    with warehouse.connect(mbo.url()) as conn:
        result = store.sync(conn, found)
    explained = explain_alerts(result.new, action=thresholds.action)
    with warehouse.connect(mbo.url()) as conn:
        store.record_explanations(conn, [(e.alert_id, e.text, e.source, e.fallback_reason)
                                         for e in explained.explanations])
    for e in explained.explanations:
        if e.fallback_reason:
            context.log.warning(f"alert {e.alert_id}: Claude explanation not used: {e.fallback_reason}")
    for alert in result.new:
        log = context.log.error if alert.severity == model.ERROR else context.log.warning
        log(f"new alert {alert.alert_id} ({alert.kind}, {alert.scope}): {alert.message}")
    opened = result.open
    kinds = Counter(a.kind for a in opened)
    usage = explained.usage
    return dg.MaterializeResult(metadata={
        "as_of": dg.MetadataValue.text(as_of.isoformat()),
        "open_alerts": dg.MetadataValue.int(len(opened)),
        "new_alerts": dg.MetadataValue.int(len(result.new)),
        "resolved_alerts": dg.MetadataValue.int(len(result.resolved)),
        "dagster/row_count": dg.MetadataValue.int(len(opened)),
        "dagster/table_name": dg.MetadataValue.text("marts.alerts"),
        "open_by_kind": dg.MetadataValue.json(dict(sorted(kinds.items()))),
        "alerts": dg.MetadataValue.md(alerts_markdown(opened)),
        "campaign_days_examined": dg.MetadataValue.int(int(len(data.daily))),
        "claude_tokens": dg.MetadataValue.json(dataclasses.asdict(usage)),
        "claude_estimated_cost_usd": dg.MetadataValue.float(
            float("nan") if explained.cost_usd is None else round(float(explained.cost_usd), 6)),
        "thresholds": dg.MetadataValue.json({k: v for k, v in thresholds.__dict__.items()}),
    })
