"""``mbo alerts``: the open alerts in the terminal, errors first, with what was seen and the explanation."""

from datetime import date

import pytest

from mbo_pipelines import warehouse
from mbo_pipelines.defs.alerts import model, store
from mbo_pipelines.defs.alerts.model import Alert
from tests.live.live_helpers import mbo_env, run_mbo

DAY = date(2026, 5, 4)
BREAK = Alert(kind=model.TRACKING_BREAK, severity=model.ERROR, platform="google_ads", account_id="123",
              campaign_id="9", metric="conversions", observed=0.0, expected=14.2, expected_low=3.55,
              expected_high=None, first_day=DAY, last_day=DAY, campaign_name="Brand Search",
              message="0.00 conversions from 612 clicks on 2026-05-04; expected 14.20, at least 3.55.")
SHIFT = Alert(kind=model.EFFICIENCY_SHIFT, severity=model.WARN, platform="meta_ads", account_id="act_1",
              campaign_id="7", metric="roas", observed=0.8, expected=3.1, expected_low=1.24, expected_high=7.75,
              first_day=DAY, last_day=DAY, campaign_name="Prospecting", message="ROAS 0.80 on 2026-05-04; expected 3.10.")
GONE = Alert(kind=model.SPEND_DROP, severity=model.WARN, platform="tiktok_ads", account_id="7", campaign_id="3",
             metric="spend", observed=5.0, expected=90.0, expected_low=36.0, expected_high=225.0,
             first_day=DAY, last_day=DAY, message="Spend 5.00 USD on 2026-05-04; expected 90.00.")


@pytest.fixture(scope="module")
def env(new_database, tmp_path_factory):
    url = new_database("mbo_alerts_cli")
    with warehouse.connect(url) as conn:
        store.sync(conn, [SHIFT, BREAK, GONE])
        store.record_explanations(conn, [(BREAK.alert_id, "Tracking on Brand Search stopped.", "claude", None)])
        store.sync(conn, [SHIFT, BREAK])  # the drop is over: resolved
    return mbo_env(url, tmp_path_factory.mktemp("alerts-cli"))


def test_open_alerts_errors_first_with_message_and_explanation(env):
    shown = run_mbo("alerts", env=env)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "Open alerts: 2"
    assert lines[1].startswith("  [ERROR] tracking_break google_ads/123/9 \"Brand Search\" (2026-05-04)")
    assert BREAK.alert_id in lines[1]
    assert BREAK.message in lines[2] and "Tracking on Brand Search stopped." in lines[3]
    assert "[WARN] efficiency_shift meta_ads/act_1/7" in shown.stdout
    assert GONE.alert_id not in shown.stdout


def test_resolved_alerts_on_request(env):
    shown = run_mbo("alerts", "--resolved", env=env)
    assert shown.returncode == 0, shown.stderr
    resolved = shown.stdout.split("Recently resolved: 1", 1)[1]
    assert GONE.alert_id in resolved and "spend_drop tiktok_ads/7/3" in resolved
