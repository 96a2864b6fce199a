"""What open alerts do to a plan: each campaign with an open alert on its input data is low-confidence, and
(``MBO_ALERT_ACTION``) either keeps its budget in the plan or has its change wait for approval."""

from __future__ import annotations

import pandas as pd

from mbo_pipelines.defs.alerts.model import Alert
from mbo_pipelines.defs.alerts.thresholds import HOLD

CampaignKey = tuple[str, str, str]


def alert_reason(alert: Alert) -> str:
    """How a recommendation names the alert behind it: id, kind, since when, and what was seen."""
    return f"alert {alert.alert_id} ({alert.kind} since {alert.first_day}): {alert.message}"


def low_confidence_reasons(open_alerts: list[Alert], campaigns: pd.DataFrame) -> dict[CampaignKey, str]:
    """(platform, account_id, campaign_id) -> the reasons of the input-data alerts covering that campaign."""
    doubtful = [a for a in open_alerts if a.is_input_data]
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
