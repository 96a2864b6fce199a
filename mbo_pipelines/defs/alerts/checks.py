"""Asset checks that show open alerts on the assets they are about, WARN or ERROR as the worst alert.

They run after ``marts/alerts`` (an additional dependency) and read the open alerts from marts.alerts:
a check passes when no open alert falls in its scope.
"""


from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg

from mbo_pipelines import asset_keys, warehouse
from mbo_pipelines.defs.alerts import model, store
from mbo_pipelines.defs.alerts.dagster_defs import alerts_markdown
from mbo_pipelines.resources import MboResource

CAMPAIGN_KINDS = frozenset({model.SPEND_SPIKE, model.SPEND_DROP, model.ZERO_DELIVERY, model.TRACKING_BREAK,
                            model.EFFICIENCY_SHIFT})


@dataclass(frozen=True)
class AlertCheck:
    """One check: its name, the asset it is on, and which open alerts it reports."""

    name: str
    asset: dg.AssetKey
    description: str
    selects: Callable[[model.Alert], bool]


def alert_checks_for(platforms: tuple[str, ...]) -> list[AlertCheck]:
    """The checks for the enabled ad ``platforms`` (each platform's raw daily asset gets one)."""
    checks = [
        AlertCheck("no_open_campaign_alerts", dg.AssetKey(["marts", "fct_campaign_daily"]),
                   "No open spend, delivery, tracking or efficiency alert on any campaign (marts.alerts).",
                   lambda a: a.kind in CAMPAIGN_KINDS or (a.kind == model.OVERSPEND and a.campaign_id is not None)),
        AlertCheck("no_overspent_month", dg.AssetKey(["marts", "account_pacing"]),
                   "No account's month-to-date spend above MBO_ALERT_PACING_RATIO x its even pace (marts.alerts).",
                   lambda a: a.kind == model.OVERSPEND and a.campaign_id is None),
        AlertCheck("ga4_in_line", dg.AssetKey(["marts", "fct_campaign_attribution"]),
                   "GA4 sessions per platform click within their usual range (marts.alerts).",
                   lambda a: a.kind == model.GA4_MISMATCH),
    ]
    for platform in platforms:
        checks.append(AlertCheck(
            "no_missing_or_restated_days", dg.AssetKey(["raw", f"{platform}_campaign_daily"]),
            f"No {platform} day missing, and none restated by more than MBO_ALERT_RESTATEMENT_RATIO (marts.alerts).",
            lambda a, p=platform: a.platform == p and a.kind in (model.MISSING_DAY, model.RESTATEMENT)))
    return checks


def check_result(check: AlertCheck, open_alerts: list[model.Alert]) -> dg.AssetCheckResult:
    """The check's verdict on the open alerts: passed without any in scope, else WARN or ERROR (the worst)."""
    mine = [a for a in open_alerts if check.selects(a)]
    worst = dg.AssetCheckSeverity.ERROR if any(a.severity == model.ERROR for a in mine) else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        asset_key=check.asset, check_name=check.name, passed=not mine, severity=worst,
        description=(f"{len(mine)} open alert(s): " + "; ".join(f"{a.kind} {a.scope}" for a in mine[:5])
                     + (" ..." if len(mine) > 5 else "")) if mine else None,
        metadata={"open_alerts": dg.MetadataValue.int(len(mine)), "alerts": dg.MetadataValue.md(alerts_markdown(mine))},
    )


def build_alert_checks(platforms: tuple[str, ...]) -> dg.AssetChecksDefinition:
    """One multi-asset check evaluating every alert check after ``marts/alerts``."""
    checks = alert_checks_for(platforms)

    @dg.multi_asset_check(
        name="alert_checks",
        specs=[dg.AssetCheckSpec(c.name, asset=c.asset, description=c.description,
                                 additional_deps=[asset_keys.ALERTS]) for c in checks],
        can_subset=True,
    )
    def _alert_checks(context: dg.AssetCheckExecutionContext, mbo: MboResource):
        with warehouse.connect(mbo.url()) as conn:
            open_alerts = store.open_alert_objects(conn)
        selected = context.selected_asset_check_keys
        for check in checks:
            if dg.AssetCheckKey(check.asset, check.name) in selected:
                yield check_result(check, open_alerts)

    return _alert_checks
