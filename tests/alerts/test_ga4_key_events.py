"""GA4's own conversion tag: key events of a platform's matched traffic falling to zero while its sessions
continue is a tracking break on that platform; it makes recommendations low-confidence only for plans that fit
on de-duplicated values (the only ones GA4's numbers go into)."""

from datetime import date, timedelta

import numpy as np
import pandas as pd

from mbo_pipelines.defs.alerts import model
from mbo_pipelines.defs.alerts.detect import DetectorInput, detect, history_days
from mbo_pipelines.defs.alerts.holds import low_confidence_reasons
from mbo_pipelines.defs.alerts.thresholds import Thresholds

AS_OF = date(2026, 3, 14)
DAYS = history_days(Thresholds())
CAMPAIGNS = pd.DataFrame({"platform": ["meta_ads", "google_ads"], "account_id": ["act_1", "9"],
                          "campaign_id": ["m1", "g1"]})


def ga4(rate: float = 0.05, broken_since: date | None = None, sessions: float = 400.0) -> pd.DataFrame:
    """Meta's GA4 traffic per day: steady sessions with a little noise, key events at ``rate`` of them."""
    rng = np.random.default_rng(3)
    days = [AS_OF - timedelta(days=n) for n in range(DAYS)]
    seen = sessions * rng.uniform(0.9, 1.1, len(days))
    events = seen * rate * rng.uniform(0.85, 1.15, len(days))
    frame = pd.DataFrame({"platform": "meta_ads", "date_day": days, "clicks": seen / 0.9, "sessions": seen,
                          "key_events": events})
    if broken_since is not None:
        frame.loc[frame["date_day"] >= broken_since, "key_events"] = 0.0
    return frame


def alerts(frame: pd.DataFrame) -> list[model.Alert]:
    empty = pd.DataFrame(columns=["date_day", "platform", "account_id", "campaign_id", "campaign_name", "spend",
                                  "clicks", "conversions", "conversion_value"])
    return detect(DetectorInput(as_of=AS_OF, reporting_currency="USD", daily=empty, ga4=frame))


def test_key_events_falling_to_zero_while_sessions_continue_is_a_ga4_tracking_break():
    (alert,) = alerts(ga4(broken_since=AS_OF))
    assert (alert.kind, alert.scope, alert.metric) == (model.TRACKING_BREAK, "meta_ads", "ga4_key_events")
    assert alert.first_day == alert.last_day == AS_OF and alert.observed == 0
    assert alert.expected > 9  # ~20 a day: beyond doubt on the first day
    assert "GA4 key events from" in alert.message and alert.currency is None


def test_steady_key_events_raise_nothing():
    assert alerts(ga4()) == []


def test_ga4_alerts_hold_only_plans_on_deduplicated_values():
    (alert,) = alerts(ga4(broken_since=AS_OF))
    assert low_confidence_reasons([alert], CAMPAIGNS, "platform") == {}
    reasons = low_confidence_reasons([alert], CAMPAIGNS, "deduplicated")
    assert list(reasons) == [("meta_ads", "act_1", "m1")] and alert.alert_id in reasons[("meta_ads", "act_1", "m1")]
