"""The deterministic alert text: what happened where and when, the numbers, and what it means for budgets.

Used for every alert Claude is not asked about, and whenever Claude's text cannot
be used. Every number it prints is one of ``Alert.facts()``.
"""

from __future__ import annotations

from mbo_pipelines.defs.alerts import model as alert_model
from mbo_pipelines.defs.alerts.model import Alert
from mbo_pipelines.defs.alerts.thresholds import HOLD

_WHAT_HAPPENED = {
    alert_model.SPEND_SPIKE: "Spend jumped far above its usual level",
    alert_model.SPEND_DROP: "Spend fell far below its usual level",
    alert_model.OVERSPEND: "Spend ran over its budget",
    alert_model.ZERO_DELIVERY: "Delivery stopped",
    alert_model.TRACKING_BREAK: "Conversion tracking looks broken",
    alert_model.EFFICIENCY_SHIFT: "Efficiency moved outside its usual range",
    alert_model.MISSING_DAY: "Data is missing",
    alert_model.RESTATEMENT: "The platform restated days already loaded",
    alert_model.GA4_MISMATCH: "GA4 and the platform disagree",
}
_TRUSTED_DATA_MEANING = {
    alert_model.OVERSPEND:
        "The data is trusted, so the recommendation stands; check the budget caps and pacing settings on the platform.",
    alert_model.EFFICIENCY_SHIFT:
        "The data is trusted, so the recommendation stands and follows the change as new days arrive; check recent "
        "changes to bids, creatives or landing pages.",
}  # fmt: skip
_PLATFORM_NAMES = {"google_ads": "Google Ads", "meta_ads": "Meta Ads", "tiktok_ads": "TikTok Ads", "ga4": "GA4"}
_METRIC_NAMES = {"spend_vs_daily_budget": "spend against the daily budget", "spend_mtd": "month-to-date spend",
                 "rows": "rows loaded", "ga4_sessions_per_click": "GA4 sessions per click", "roas": "ROAS",
                 "cpa": "CPA"}  # fmt: skip


def deterministic_alert_text(alert: Alert, action: str = HOLD) -> str:
    """Two or three sentences from the alert's facts alone: what happened where and when, the numbers, and
    what it means for budgets under ``action`` (``Thresholds.action``). Every number in it is one of
    ``alert.facts()``."""
    sentences = [f"{_WHAT_HAPPENED[alert.kind]} for {_scope(alert)} {_when(alert)}."]
    if not (alert.kind == alert_model.MISSING_DAY and alert.expected is None):  # "0 rows observed" adds nothing
        sentences.append(_numbers(alert))
    sentences.append(_meaning(alert, action))
    return " ".join(sentences)


def _scope(alert: Alert) -> str:
    platform = _PLATFORM_NAMES.get(alert.platform, alert.platform)
    if alert.campaign_id is None:
        return f"{platform} account {alert.account_id}" if alert.account_id else f"all of {platform}"
    name = f'"{alert.campaign_name}"' if alert.campaign_name else alert.campaign_id
    account = f" account {alert.account_id}" if alert.account_id else ""
    return f"campaign {name} ({platform}{account})"


def _when(alert: Alert) -> str:
    if alert.days == 1:
        return f"on {alert.first_day.isoformat()}"
    return f"from {alert.first_day.isoformat()} to {alert.last_day.isoformat()} ({alert.days} days)"


def _numbers(alert: Alert) -> str:
    """``Observed spend: 1,250.00 EUR, expected 400.00 EUR (normal range 300.00 to 520.00 EUR).``"""
    metric = _METRIC_NAMES.get(alert.metric, alert.metric.replace("_", " "))
    unit = f" {alert.currency}" if alert.currency else ""
    money = bool(alert.currency)
    text = f"Observed {metric}: {_number(alert.observed, money)}{unit}"
    if alert.expected is not None:
        text += f", expected {_number(alert.expected, money)}{unit}"
        low, high = (None if end is None else _number(end, money) + unit
                     for end in (alert.expected_low, alert.expected_high))
        if low and high:
            text += f" (normal range {low.removesuffix(unit)} to {high})"
        elif low or high:
            text += f" (normal: at least {low})" if low else f" (normal: at most {high})"
    return text + "."


def _number(value: float, money: bool) -> str:
    """Money with two decimals; counts whole; ratios with two decimals, or up to four below 1."""
    if money:
        return f"{value:,.2f}"
    if float(value).is_integer():
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.4f}".rstrip("0")


def _meaning(alert: Alert, action: str) -> str:
    if not alert.is_input_data:
        return _TRUSTED_DATA_MEANING[alert.kind]
    if action == HOLD:
        held = "its budget is" if alert.campaign_id else "the budgets of its campaigns are"
        return (f"The input data cannot be trusted, so {held} held until the data is trusted again and the "
                "recommendation is low-confidence.")  # fmt: skip
    changes = "its budget change waits" if alert.campaign_id else "budget changes for its campaigns wait"
    return (f"The input data cannot be trusted, so the recommendation is low-confidence and {changes} for "
            "approval until the data is trusted again.")  # fmt: skip
