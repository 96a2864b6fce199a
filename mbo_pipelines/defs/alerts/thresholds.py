"""The detector's thresholds, from ``MBO_ALERT_*`` environment variables (README "Alerts" explains each)."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from mbo_pipelines import settings

HOLD, APPROVE = "hold", "approve"
ACTIONS = (HOLD, APPROVE)


@dataclass(frozen=True)
class Thresholds:
    """How far from its expected band a metric must be, and how much volume it needs, to raise an alert."""

    #: Robust z-score (median and 1.4826 x MAD) beyond which spend, ROAS, CPA or GA4 sessions per click is unusual.
    z: float = 5.0
    #: ...and the factor off the expected value it must also be (a spike: above x ratio; a drop: below / ratio).
    ratio: float = 2.5
    #: Expected daily spend (reporting currency) below which a campaign is too small for spend and efficiency alerts.
    min_spend: float = 20.0
    #: Daily clicks below which a campaign is too small for tracking-break alerts.
    min_clicks: float = 30.0
    #: A day's spend above this multiple of the daily budget is overspend (Google Ads itself allows up to 2x).
    overspend_ratio: float = 2.0
    #: Month-to-date spend above this multiple of an even pace's target is overspend against the month's budget.
    pacing_ratio: float = 1.2
    #: A day's spend restated by more than this share of what was first reported is a restatement.
    restatement_ratio: float = 0.2
    #: Same weekdays of history behind a day's expected band.
    weeks: int = 8
    #: Recent days re-examined on each refresh (a problem found in them stays one alert).
    scan_days: int = 7
    #: Chance, on the expected conversion rate, of seeing as few conversions as observed, below which a
    #: tracking break is declared (with conversions also below expected / tracking_factor).
    p_value: float = 1e-4
    tracking_factor: float = 4.0
    #: What an open input-data alert does to its campaign's recommendation: ``hold`` its budget in the plan,
    #: or ``approve``: plan as usual, but the push waits for a person.
    action: str = HOLD

    @property
    def min_history(self) -> int:
        """Same-weekday days needed before a band applies (half the weeks, at least 3)."""
        return max(3, self.weeks // 2)


#: Each threshold's environment variable.
ENV_NAMES = {
    "z": "MBO_ALERT_Z",
    "ratio": "MBO_ALERT_RATIO",
    "min_spend": "MBO_ALERT_MIN_SPEND",
    "min_clicks": "MBO_ALERT_MIN_CLICKS",
    "overspend_ratio": "MBO_ALERT_OVERSPEND_RATIO",
    "pacing_ratio": "MBO_ALERT_PACING_RATIO",
    "restatement_ratio": "MBO_ALERT_RESTATEMENT_RATIO",
    "weeks": "MBO_ALERT_WEEKS",
    "scan_days": "MBO_ALERT_SCAN_DAYS",
    "p_value": "MBO_ALERT_P_VALUE",
    "tracking_factor": "MBO_ALERT_TRACKING_FACTOR",
    "action": "MBO_ALERT_ACTION",
}


def thresholds_from_env() -> Thresholds:
    """The thresholds as configured (defaults for unset or blank variables); ValueError naming a bad one."""
    defaults = Thresholds()
    values: dict = {}
    for field in fields(Thresholds):
        name, default = ENV_NAMES[field.name], getattr(defaults, field.name)
        if field.name == "action":
            values["action"] = (os.environ.get(name) or "").strip().lower() or default
            if values["action"] not in ACTIONS:
                raise ValueError(f"{name} must be one of {', '.join(ACTIONS)}, got {values['action']!r}")
        elif isinstance(default, int):
            values[field.name] = settings.env_int(name, default, minimum=1)
        else:
            values[field.name] = settings.env_float(name, default)
            floor = 1.0 if field.name in ("ratio", "overspend_ratio", "pacing_ratio", "tracking_factor") else 0.0
            if values[field.name] <= floor:
                raise ValueError(f"{name} must be a number above {floor:g}, got {values[field.name]:g}")
    return Thresholds(**values)
