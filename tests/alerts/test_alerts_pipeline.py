"""Alerts through the real Definitions: a tracking break injected in the sandbox is found the day it starts,
stored in marts.alerts, shown as a failed asset check, explained by Claude (the fake Messages API), posted once to
the webhook (a local HTTP server), and its campaign's budget is held in the plan; the next morning it is the same
alert, and nothing is posted or explained again."""

from datetime import date, timedelta

import dagster as dg
import psycopg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from mbo_pipelines import asset_keys
from mbo_pipelines.definitions import build_definitions
from mbo_pipelines.defs.activate import ActivationResource
from mbo_pipelines.defs.alerts.notify import alert_notifications
from mbo_pipelines.resources import MboResource
from mbo_pipelines.sandbox.platforms import SandboxMarket
from tests.fakes.fake_anthropic import FakeAnthropic
from tests.fakes.fake_webhook import FakeWebhook

TODAY = date(2026, 3, 1)
END = TODAY - timedelta(days=1)
START = END - timedelta(days=69)  # 70 days: the detector's 8 weeks of same-weekday history and more
API_KEY = "sk-ant-alerts-test"
CLAUDE_TEXT = "Conversion tracking on this campaign seems to have stopped while its clicks kept coming."


def busiest_google_campaign(url: str) -> str:
    """``platform/account/campaign`` of the Google Ads campaign with the most conversions a day (clean market):
    enough that one day without any is beyond doubt."""
    pairs = SandboxMarket(url, today=TODAY).connector("google_ads").simulated(END - timedelta(days=13), END)
    best = max(pairs, key=lambda pair: float(pair[1].conversions.mean()))
    return f"{best[0].platform}/{best[0].account_id}/{best[0].campaign_id}"


def refresh(url: str, today: date, start: date, end: date, faults: str, instance):
    mbo = MboResource(database_url=url, sandbox_today=today.isoformat(), sandbox_faults=faults)
    defs = build_definitions(mbo=mbo, activation=ActivationResource(database_url=url, sandbox_today=today.isoformat()))
    tags = {ASSET_PARTITION_RANGE_START_TAG: start.isoformat(), ASSET_PARTITION_RANGE_END_TAG: end.isoformat()}
    result = defs.resolve_job_def("daily_refresh").execute_in_process(instance=instance, tags=tags)
    assert result.success
    return result, mbo


def tick(mbo: MboResource) -> None:
    """One evaluation of the notification sensor."""
    with dg.build_sensor_context(resources={"mbo": mbo}) as context:
        alert_notifications(context)


def alert_requests(claude: FakeAnthropic) -> int:
    """Requests that asked Claude to explain an alert (the plan's explanation asks too)."""
    return sum(r.body["messages"][0]["content"] == "Explain this alert." for r in claude.requests)


def metadata_of(result, key):
    return next(e.materialization.metadata for e in result.get_asset_materialization_events()
                if e.materialization.asset_key == key)


@pytest.fixture(scope="module")
def broken(new_database):
    """Two mornings of a market whose busiest Google campaign stops reporting conversions on END."""
    url = new_database("alerts_pipeline")
    target = busiest_google_campaign(url)
    faults = f"tracking_break@{END}={target}"
    instance = dg.DagsterInstance.ephemeral()
    with pytest.MonkeyPatch.context() as env, FakeAnthropic(api_key=API_KEY) as claude, FakeWebhook() as webhook:
        env.setenv("ANTHROPIC_API_KEY", API_KEY)
        env.setenv("ANTHROPIC_BASE_URL", claude.url)
        env.setenv("MBO_ALERT_WEBHOOK_URL", webhook.url)
        claude.reply(CLAUDE_TEXT)
        first, mbo = refresh(url, TODAY, START, END, faults, instance)
        with psycopg.connect(url) as conn:
            first_alerts = conn.execute("select alert_id, kind, platform, account_id, campaign_id, first_day, "
                                        "last_day, status, explanation, explanation_source from marts.alerts").fetchall()
        tick(mbo)
        tick(mbo)  # nothing new: nothing posted
        posted_after_first = list(webhook.bodies)
        claude_calls_after_first = alert_requests(claude)
        second, mbo = refresh(url, TODAY + timedelta(days=1), TODAY, TODAY, faults, instance)
        tick(mbo)
        yield {
            "url": url, "target": tuple(target.split("/")), "first": first, "second": second,
            "first_alerts": first_alerts, "posted_after_first": posted_after_first,
            "posted": list(webhook.bodies), "claude_calls_after_first": claude_calls_after_first,
            "claude_calls": alert_requests(claude),
        }


def test_the_break_is_found_on_the_day_it_starts(broken):
    (alert,) = broken["first_alerts"]
    alert_id, kind, platform, account, campaign, first_day, last_day, status, _, _ = alert
    assert (kind, (platform, account, campaign)) == ("tracking_break", broken["target"])
    assert first_day == last_day == END
    assert status == "open"


def test_claude_explains_the_new_alert_and_its_usage_is_in_the_metadata(broken):
    (alert,) = broken["first_alerts"]
    assert (alert[8], alert[9]) == (CLAUDE_TEXT, "claude")
    metadata = metadata_of(broken["first"], asset_keys.ALERTS)
    assert metadata["new_alerts"].value == 1
    assert metadata["claude_tokens"].value["output_tokens"] > 0
    assert metadata["claude_estimated_cost_usd"].value > 0


def test_the_campaign_is_held_and_its_explanation_names_the_alert(broken):
    alert_id = broken["first_alerts"][0][0]
    plan_id = metadata_of(broken["first"], asset_keys.RECOMMENDATIONS)["plan_id"].value
    with psycopg.connect(broken["url"]) as conn:
        rows = conn.execute(
            "select platform, account_id, campaign_id, current_daily_budget, recommended_daily_budget, "
            "low_confidence_reason, explanation from marts.budget_recommendations where plan_id = %s", (plan_id,)
        ).fetchall()
    held = [r for r in rows if tuple(r[:3]) == broken["target"]]
    (row,) = held
    assert row[3] == row[4]
    assert alert_id in row[5] and "tracking_break" in row[5]
    assert alert_id in row[6]
    others = [r for r in rows if tuple(r[:3]) != broken["target"]]
    assert all(r[5] is None for r in others)
    assert any(r[3] != r[4] for r in others)  # the plan still moves the others


def test_the_asset_check_on_the_campaign_mart_fails_with_error_severity(broken):
    evaluations = {(e.asset_key, e.check_name): e for e in broken["first"].get_asset_check_evaluations()}
    campaign_check = evaluations[(dg.AssetKey(["marts", "fct_campaign_daily"]), "no_open_campaign_alerts")]
    assert not campaign_check.passed
    assert campaign_check.severity == dg.AssetCheckSeverity.ERROR
    assert evaluations[(dg.AssetKey(["raw", "google_ads_campaign_daily"]), "no_missing_or_restated_days")].passed


def test_the_webhook_gets_one_message_for_the_new_alert_and_none_for_it_continuing(broken):
    alert_id = broken["first_alerts"][0][0]
    (message,) = broken["posted_after_first"]
    assert alert_id in str(message) and "tracking_break" in message["text"]
    assert broken["posted"] == broken["posted_after_first"]


def test_the_next_morning_it_is_the_same_alert_not_explained_again(broken):
    with psycopg.connect(broken["url"]) as conn:
        rows = conn.execute("select alert_id, first_day, last_day, status from marts.alerts").fetchall()
    assert rows == [(broken["first_alerts"][0][0], END, TODAY, "open")]
    assert metadata_of(broken["second"], asset_keys.ALERTS)["new_alerts"].value == 0
    assert broken["claude_calls"] == broken["claude_calls_after_first"] == 1
