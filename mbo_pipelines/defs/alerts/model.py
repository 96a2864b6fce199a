"""What an alert is: one problem on one campaign, account or platform, over the days it covers.

An alert's id is stable: a hash of its kind, scope, metric and first day, so a
problem that continues is the same alert on every refresh (its ``last_day``
moves on), not one alert per day.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date

# The kinds of alert (``Alert.kind``); README "Alerts" describes each.
SPEND_SPIKE = "spend_spike"
SPEND_DROP = "spend_drop"
OVERSPEND = "overspend"
ZERO_DELIVERY = "zero_delivery"
TRACKING_BREAK = "tracking_break"
EFFICIENCY_SHIFT = "efficiency_shift"
MISSING_DAY = "missing_day"
RESTATEMENT = "restatement"
GA4_MISMATCH = "ga4_mismatch"
KINDS = (SPEND_SPIKE, SPEND_DROP, OVERSPEND, ZERO_DELIVERY, TRACKING_BREAK, EFFICIENCY_SHIFT, MISSING_DAY,
         RESTATEMENT, GA4_MISMATCH)
#: Kinds that say a campaign's input data cannot be trusted: an open one makes its recommendation low-confidence.
INPUT_DATA_KINDS = frozenset({SPEND_SPIKE, SPEND_DROP, ZERO_DELIVERY, TRACKING_BREAK, MISSING_DAY, RESTATEMENT,
                              GA4_MISMATCH})

WARN, ERROR = "warn", "error"
SEVERITIES = (WARN, ERROR)


def alert_id(kind: str, platform: str, account_id: str | None, campaign_id: str | None, metric: str,
             first_day: date) -> str:
    """``alert-<16 hex>``: the same problem (kind, scope, metric, first day) always gets the same id."""
    key = "|".join([kind, platform, account_id or "", campaign_id or "", metric, first_day.isoformat()])
    return "alert-" + hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Alert:
    """One detected problem. ``account_id`` None: the whole platform; ``campaign_id`` None: the whole account.

    ``observed`` is the metric's value on ``last_day`` (or over the days, as ``message`` says); ``expected``
    and its band [``expected_low``, ``expected_high``] what the recent history predicts (None when the kind
    has no band, e.g. a missing day). Money is in ``currency`` (the account's), or None for counts and ratios.
    """

    kind: str
    severity: str
    platform: str
    account_id: str | None
    campaign_id: str | None
    metric: str
    observed: float
    expected: float | None
    expected_low: float | None
    expected_high: float | None
    first_day: date
    last_day: date
    message: str
    campaign_name: str | None = None
    currency: str | None = None
    alert_id: str = field(default="")

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown alert kind {self.kind!r}; one of {', '.join(KINDS)}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown alert severity {self.severity!r}; one of {', '.join(SEVERITIES)}")
        if self.last_day < self.first_day:
            raise ValueError(f"an alert's last day {self.last_day} is before its first day {self.first_day}")
        if not self.alert_id:
            object.__setattr__(self, "alert_id", alert_id(self.kind, self.platform, self.account_id,
                                                          self.campaign_id, self.metric, self.first_day))

    @property
    def days(self) -> int:
        """Days the alert covers, first and last included."""
        return (self.last_day - self.first_day).days + 1

    @property
    def scope(self) -> str:
        """``platform``, ``platform/account`` or ``platform/account/campaign``."""
        return "/".join(part for part in (self.platform, self.account_id, self.campaign_id) if part)

    @property
    def is_input_data(self) -> bool:
        """Whether the alert says the scope's input data cannot be trusted (``INPUT_DATA_KINDS``)."""
        return self.kind in INPUT_DATA_KINDS

    def covers(self, platform: str, account_id: str, campaign_id: str) -> bool:
        """Whether the campaign is inside this alert's scope."""
        return (self.platform == platform and self.account_id in (None, account_id)
                and self.campaign_id in (None, campaign_id))

    def facts(self) -> dict:
        """The alert as JSON-ready facts: what a notification or an explanation may say, nothing else."""
        return {
            "alert_id": self.alert_id, "kind": self.kind, "severity": self.severity, "platform": self.platform,
            "account_id": self.account_id, "campaign_id": self.campaign_id, "campaign_name": self.campaign_name,
            "metric": self.metric, "observed": _rounded(self.observed), "expected": _rounded(self.expected),
            "expected_low": _rounded(self.expected_low), "expected_high": _rounded(self.expected_high),
            "currency": self.currency, "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(), "days": self.days, "message": self.message,
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)
