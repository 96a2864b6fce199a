"""What open alerts do to a plan: each campaign with an open alert on its input data is low-confidence, and
(``MBO_ALERT_ACTION``) either keeps its budget in the plan or has its change wait for approval."""

from __future__ import annotations

import pandas as pd

from mbo_pipelines.defs.alerts.model import GA4_MISMATCH, Alert
from mbo_pipelines.defs.alerts.thresholds import HOLD

CampaignKey = tuple[str, str, str]


def alert_reason(alert: Alert) -> str:
    """How a recommendation names the alert behind it: id, kind, since when, and what was seen."""
    return f"alert {alert.alert_id} ({alert.kind} since {alert.first_day}): {alert.message}"


def about_ga4(alert: Alert) -> bool:
    """Whether the alert is about GA4's numbers (its sessions or key events), not the platform's."""
    return alert.kind == GA4_MISMATCH or alert.metric.startswith("ga4_")


def low_confidence_reasons(open_alerts: list[Alert], campaigns: pd.DataFrame,
                           conversion_source: str = "platform") -> dict[CampaignKey, str]:
    """(platform, account_id, campaign_id) -> the reasons of the input-data alerts covering that campaign.

    Alerts about GA4 count only when the plan fits on de-duplicated values (``conversion_source``), the only
    plan GA4's numbers go into.
    """
    doubtful = [a for a in open_alerts if a.is_input_data and (conversion_source == "deduplicated" or not about_ga4(a))]
    reasons: dict[CampaignKey, str] = {}
    if not doubtful:
        return reasons
    for key in campaigns[["platform", "account_id", "campaign_id"]].astype(str).itertuples(index=False, name=None):
        mine = [alert_reason(a) for a in doubtful if a.covers(*key)]
        if mine:
            reasons[key] = "; ".join(mine)
    return reasons


def split_by_action(reasons: dict[CampaignKey, str], action: str) -> tuple[dict, dict]:
    """(holds, low_confidence) for ``build_plan``: held campaigns are also low-confidence."""
    return (dict(reasons) if action == HOLD else {}), dict(reasons)
