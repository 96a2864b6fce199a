"""Alerts through the real Definitions: faults injected in the sandbox (a tracking break, a spend spike, a
campaign that stops delivering, then an account's day restated) are found the day they start (the restatement
the morning it is re-read), stored in marts.alerts, shown as failed asset checks, explained by Claude (the fake
Messages API), posted once each to the webhook (a local HTTP server), and their campaigns' budgets are held in
the plan; the next morning the continuing ones are the same alerts, and nothing is posted or explained again."""

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


def busiest_campaign(url: str, platform: str) -> tuple[str, str, str]:
    """The campaign of ``platform`` with the most conversions a day (clean market): enough that one day without
    any is beyond doubt."""
    pairs = SandboxMarket(url, today=TODAY).connector(platform).simulated(END - timedelta(days=13), END)
    best = max(pairs, key=lambda pair: float(pair[1].conversions.mean()))[0]
    return best.platform, best.account_id, best.campaign_id


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
    """Two mornings of a market with faults on END; the second morning re-reads END restated for one account."""
    url = new_database("alerts_pipeline")
    targets = {
        "tracking_break": busiest_campaign(url, "google_ads"),
        "spend_spike": busiest_campaign(url, "meta_ads"),
        "zero_delivery": busiest_campaign(url, "tiktok_ads"),
    }
    restated = next(c.account_id for c in SandboxMarket(url, today=TODAY).campaigns("google_ads")
                    if c.account_id != targets["tracking_break"][1])
    faults = ",".join(f"{kind}@{END}={'/'.join(target)}" for kind, target in targets.items())
    faults += f",restatement@{END}=google_ads/{restated}"
    instance = dg.DagsterInstance.ephemeral()
    with pytest.MonkeyPatch.context() as env, FakeAnthropic(api_key=API_KEY) as claude, FakeWebhook() as webhook:
        env.setenv("ANTHROPIC_API_KEY", API_KEY)
        env.setenv("ANTHROPIC_BASE_URL", claude.url)
        env.setenv("MBO_ALERT_WEBHOOK_URL", webhook.url)
        claude.reply(CLAUDE_TEXT)
        first, mbo = refresh(url, TODAY, START, END, faults, instance)
        with psycopg.connect(url) as conn:
            first_alerts = conn.execute("select kind, platform, account_id, campaign_id, alert_id, first_day, "
                                        "last_day, status, explanation, explanation_source from marts.alerts "
                                        "order by kind").fetchall()
        tick(mbo)
        tick(mbo)  # nothing new: nothing posted
        posted_after_first = list(webhook.bodies)
        claude_calls_after_first = alert_requests(claude)
        second, mbo = refresh(url, TODAY + timedelta(days=1), TODAY, TODAY, faults, instance)
        tick(mbo)
        with psycopg.connect(url) as conn:
            second_alerts = conn.execute("select kind, platform, account_id, campaign_id, alert_id, first_day, "
                                         "last_day, status from marts.alerts order by kind").fetchall()
        yield {
            "url": url, "targets": targets, "restated": ("google_ads", restated, None),
            "first": first, "second": second, "first_alerts": {r[0]: r for r in first_alerts},
            "second_alerts": {r[0]: r for r in second_alerts}, "posted_after_first": posted_after_first,
            "posted": list(webhook.bodies), "claude_calls_after_first": claude_calls_after_first,
            "claude_calls": alert_requests(claude),
        }


def plan_rows(result, url: str) -> dict[tuple, tuple]:
    plan_id = metadata_of(result, asset_keys.RECOMMENDATIONS)["plan_id"].value
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select platform, account_id, campaign_id, current_daily_budget, recommended_daily_budget, "
            "low_confidence_reason, explanation from marts.budget_recommendations where plan_id = %s", (plan_id,)
        ).fetchall()
    return {tuple(r[:3]): r[3:] for r in rows}


def test_each_fault_is_found_on_the_day_it_starts_and_nothing_else(broken):
    alerts = broken["first_alerts"]
    assert sorted(alerts) == sorted(broken["targets"])
    for kind, target in broken["targets"].items():
        _, platform, account, campaign, _, first_day, last_day, status, _, _ = alerts[kind]
        assert (platform, account, campaign) == target
        assert (first_day, last_day, status) == (END, END, "open")


def test_a_restated_day_is_found_the_morning_it_is_read_again(broken):
    kind, platform, account, campaign, _, first_day, last_day, status = broken["second_alerts"]["restatement"]
    assert (platform, account, campaign) == broken["restated"]
    assert (first_day, last_day, status) == (END, END, "open")


def test_claude_explains_each_new_alert_and_its_usage_is_in_the_metadata(broken):
    assert {(a[8], a[9]) for a in broken["first_alerts"].values()} == {(CLAUDE_TEXT, "claude")}
    metadata = metadata_of(broken["first"], asset_keys.ALERTS)
    assert metadata["new_alerts"].value == 3
    assert metadata["claude_tokens"].value["output_tokens"] > 0
    assert metadata["claude_estimated_cost_usd"].value > 0


def test_the_faulty_campaigns_are_held_and_their_explanations_name_the_alerts(broken):
    rows = plan_rows(broken["first"], broken["url"])
    for kind, target in broken["targets"].items():
        current, recommended, reason, explanation = rows[target]
        alert_id = broken["first_alerts"][kind][4]
        assert current == recommended
        assert alert_id in reason and kind in reason
        assert alert_id in explanation
    others = [r for key, r in rows.items() if key not in broken["targets"].values()]
    assert all(r[2] is None for r in others)
    assert any(r[0] != r[1] for r in others)  # the plan still moves the others


def test_a_restated_account_is_held_the_morning_after(broken):
    rows = plan_rows(broken["second"], broken["url"])
    restated = [r for key, r in rows.items() if key[:2] == broken["restated"][:2]]
    assert restated and all(r[0] == r[1] and "restatement" in r[2] for r in restated)


def test_the_asset_checks_fail_with_error_severity_where_the_alerts_are(broken):
    evaluations = {(e.asset_key, e.check_name): e for e in broken["first"].get_asset_check_evaluations()}
    campaign_check = evaluations[(dg.AssetKey(["marts", "fct_campaign_daily"]), "no_open_campaign_alerts")]
    assert not campaign_check.passed
    assert campaign_check.severity == dg.AssetCheckSeverity.ERROR
    assert evaluations[(dg.AssetKey(["raw", "google_ads_campaign_daily"]), "no_missing_or_restated_days")].passed
    later = {(e.asset_key, e.check_name): e for e in broken["second"].get_asset_check_evaluations()}
    assert not later[(dg.AssetKey(["raw", "google_ads_campaign_daily"]), "no_missing_or_restated_days")].passed


def test_the_webhook_gets_one_message_per_new_alert_and_none_for_continuing_ones(broken):
    first_ids = {a[4] for a in broken["first_alerts"].values()}
    assert len(broken["posted_after_first"]) == 3
    assert {next(i for i in first_ids if i in str(m)) for m in broken["posted_after_first"]} == first_ids
    later = broken["posted"][3:]
    (message,) = later
    assert broken["second_alerts"]["restatement"][4] in str(message)


def test_the_next_morning_continuing_alerts_keep_their_ids_and_are_not_explained_again(broken):
    for kind in broken["targets"]:
        before, after = broken["first_alerts"][kind], broken["second_alerts"][kind]
        assert after[4:8] == (before[4], END, TODAY, "open")
    assert metadata_of(broken["second"], asset_keys.ALERTS)["new_alerts"].value == 1
    assert (broken["claude_calls_after_first"], broken["claude_calls"]) == (3, 4)
