"""The issue's acceptance, against fake Google Ads (gRPC), Meta, TikTok and GA4 servers on 127.0.0.1.

Through the `mbo` command, as an operator runs it:

1. `mbo extract` with a truncated TikTok page fails, naming the platform and advertiser, and loads nothing
   half; then `mbo refresh` over 16 days, with rate limits and a broken stream injected, loads exactly
   what the fakes serve into `raw`, and `marts.fct_campaign_daily` matches it per platform, account,
   campaign and day.
2. `mbo push` in dry-run changes no budget and sends only validate-only requests (a rehearsal, recorded apart
   from the ledger); then `mbo push` of the same plan with MBO_ALLOW_LIVE_BUDGET_CHANGES=1 leaves every
   fake's budgets equal to the recommended ones, in the right units.
3. No token appears in the command output, the Dagster event log or any table.
"""

from __future__ import annotations

import contextlib
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import grpc
import pytest

from mbo_pipelines.defs.activate.budget_limits import platform_minimum
from tests.fakes.ad_world import FakeAccount, make_world
from tests.fakes.ecb_rates import write_ecb_history
from tests.fakes.fake_ga4 import FakeGA4, ga4_rows_from_world
from tests.fakes.fake_google_ads import FakeGoogleAds
from tests.fakes.fake_meta import FakeMeta
from tests.fakes.fake_tiktok import FakeTikTok
from tests.live.live_helpers import mbo_env, query, run_mbo

END = date(2026, 9, 28)
START = END - timedelta(days=15)  # 16 days
#: Rates from before the first month of the shipped monthly budgets (seed account_monthly_budgets), as the
#: ECB history file (from 1999) would have: account_pacing converts every budget month at its own rate.
RATES_FROM = date(2025, 12, 1)
GOOGLE_TOKEN, META_TOKEN, TIKTOK_TOKEN = "gdt-SECRET-7f3a9c1e", "EAAB-SECRET-meta-55d0e2", "tt-SECRET-b81c44aa"
ZERO_DECIMAL = {"JPY", "KRW"}


def _worlds():
    google = make_world([FakeAccount("1234567890", "USD", "America/New_York"),
                         FakeAccount("9876543210", "JPY", "Asia/Tokyo")], START, END, seed=1, id_base=1000)
    # Two campaigns of the JPY customer share one budget (both are in every plan).
    shared = [c for c in google.campaigns if c.account_id == "9876543210"][:2]
    for c in shared:
        c.shared_budget_id, c.daily_budget = "555", shared[0].daily_budget
    meta = make_world([FakeAccount("111222333", "EUR", "Europe/Berlin"),
                       FakeAccount("444555666", "JPY", "Asia/Tokyo")], START, END, seed=2, id_base=2000)
    tiktok = make_world([FakeAccount("7200000000001", "PLN", "Europe/Warsaw"),
                         FakeAccount("7200000000002", "USD", "America/Chicago")], START, END, seed=3, id_base=3000)
    # TikTok refuses campaign budgets under its minimum (50 USD or the equivalent), so real ones sit above it,
    # far enough that a 30 % cut stays above it too.
    for c in tiktok.campaigns:
        currency = "PLN" if c.account_id == "7200000000001" else "USD"
        c.daily_budget = max(c.daily_budget, platform_minimum("tiktok_ads", currency) * Decimal("1.5"))
    return google, meta, tiktok


@pytest.fixture(scope="module")
def live(new_database, tmp_path_factory):
    google_world, meta_world, tiktok_world = _worlds()
    ga4_rows = ga4_rows_from_world(google_world)
    with contextlib.ExitStack() as stack:
        google = stack.enter_context(FakeGoogleAds(google_world, developer_token=GOOGLE_TOKEN, batch_size=3))
        meta = stack.enter_context(FakeMeta(meta_world, access_token=META_TOKEN, page_size=4))
        tiktok = stack.enter_context(FakeTikTok(tiktok_world, access_token=TIKTOK_TOKEN))
        ga4 = stack.enter_context(FakeGA4({"314159265": ga4_rows}, currency="USD", time_zone="America/New_York"))
        url = new_database("live_e2e")
        env = mbo_env(
            url, tmp_path_factory.mktemp("live-e2e"), MBO_SOURCE="live", MBO_LOOKBACK_DAYS="3",
            MBO_GOOGLE_ADS_ENDPOINT=google.endpoint, GOOGLE_ADS_DEVELOPER_TOKEN=GOOGLE_TOKEN,
            MBO_GOOGLE_ADS_CUSTOMER_IDS="123-456-7890,987-654-3210",
            **meta.env(),
            MBO_TIKTOK_API_URL=tiktok.url, TIKTOK_ACCESS_TOKEN=TIKTOK_TOKEN,
            MBO_TIKTOK_ADVERTISER_IDS="7200000000001,7200000000002",
            MBO_GA4_PROPERTY_IDS="314159265", MBO_GA4_ENDPOINT=ga4.url,
            MBO_FX_RATES_CSV=str(write_ecb_history(tmp_path_factory.mktemp("ecb") / "eurofxref-hist.csv",
                                                   RATES_FROM, END)),
        )
        runs = {}
        tiktok.truncate_page(1)
        runs["broken_extract"] = run_mbo("extract", "--start", START.isoformat(), "--end", END.isoformat(),
                                         "--platform", "tiktok_ads", env=env)
        runs["raw_after_broken"] = query(url, "select count(*) from raw.tiktok_ads_campaign_daily")[0][0]

        google.fail_next("SearchStream", grpc.StatusCode.RESOURCE_EXHAUSTED, retry_delay=0.05)
        google.break_stream_after(2)
        meta.rate_limit_next(code=17)
        meta.rate_limit_next(code=80000, page=2)
        tiktok.error_next(code=40100)
        tiktok.error_next(code=50000)
        ga4.fail_next(status=429)
        runs["refresh"] = run_mbo("refresh", "--start", START.isoformat(), "--end", END.isoformat(), env=env)
        budgets_before = {"google": google.budgets(), "meta": meta.budgets(), "tiktok": tiktok.budgets()}
        marks = {"google": len(google.requests), "meta": len(meta.requests), "tiktok": len(tiktok.requests)}
        runs["dry_push"] = run_mbo("push", env=env)
        dry_requests = {"google": google.requests[marks["google"]:], "meta": meta.requests[marks["meta"]:],
                        "tiktok": tiktok.requests[marks["tiktok"]:]}
        budgets_after_dry = {"google": google.budgets(), "meta": meta.budgets(), "tiktok": tiktok.budgets()}
        ledger_exists = query(url, "select to_regclass('activation.budget_changes') is not null")[0][0]
        runs["ledger_rows_after_dry"] = (
            query(url, "select count(*) from activation.budget_changes")[0][0] if ledger_exists else None)

        runs["push"] = run_mbo("push", env={**env, "MBO_ALLOW_LIVE_BUDGET_CHANGES": "1"})
        yield {
            "url": url, "runs": runs, "worlds": (google_world, meta_world, tiktok_world), "ga4_rows": ga4_rows,
            "budgets_before": budgets_before, "budgets_after_dry": budgets_after_dry, "dry_requests": dry_requests,
            "budgets_after": {"google": google.budgets(), "meta": meta.budgets(), "tiktok": tiktok.budgets()},
            "home": env["DAGSTER_HOME"],
        }


def _served(world, account_prefix: str = "") -> dict[tuple, tuple]:
    """What a fake serves: (account, campaign, day) -> (spend, impressions, clicks, conversions, value)."""
    return {
        (account_prefix + c.account_id, c.campaign_id, d.day): (d.spend, d.impressions, d.clicks, d.conversions,
                                                                d.conversion_value)
        for a in world.accounts for c, d in world.rows(a.account_id, START, END)
    }


def test_a_truncated_page_fails_the_extract_and_loads_nothing_half(live):
    broken = live["runs"]["broken_extract"]
    assert broken.returncode == 1
    assert "tiktok" in broken.stderr.lower() and "7200000000001" in broken.stderr
    assert len(broken.stderr.strip().splitlines()) == 1  # one line, the reason
    assert live["runs"]["raw_after_broken"] == 0


def test_refresh_loads_exactly_what_the_fakes_serve(live):
    refresh = live["runs"]["refresh"]
    assert refresh.returncode == 0, refresh.stderr
    # It ran through Dagster: the run is in the instance's run storage, as the UI would list it.
    run_id = refresh.stdout.rsplit("(run ", 1)[1].split(")")[0]
    assert query(live["url"], "select status from runs where run_id = %s", (run_id,)) == [("SUCCESS",)]
    # The rows it reports are the rows the raw tables hold (the range's partitions counted once, not per day).
    reported = int(refresh.stdout.split(": ", 1)[1].split(" raw rows written")[0].replace(",", ""))
    raw_tables = ("google_ads_campaign_daily", "google_ads_campaigns", "meta_ads_campaign_daily", "meta_ads_campaigns",
                  "tiktok_ads_campaign_daily", "tiktok_ads_campaigns", "ga4_traffic_daily", "fx_rates")
    assert reported == sum(query(live["url"], f"select count(*) from raw.{t}")[0][0] for t in raw_tables)
    google, meta, tiktok = live["worlds"]
    url = live["url"]
    raw_google = {(a, c, d): (Decimal(cost) / 1_000_000, i, k, conv, value) for a, c, d, cost, i, k, conv, value in query(
        url, "select customer_id, campaign_id, segments_date, metrics_cost_micros, metrics_impressions, metrics_clicks, "
             "metrics_conversions, metrics_conversions_value from raw.google_ads_campaign_daily")}
    assert raw_google == _served(google)
    raw_meta = {(a, c, d): (spend, i, k, _action(actions), _action(values)) for a, c, d, spend, i, k, actions, values in query(
        url, "select account_id, campaign_id, date_start, spend, impressions, clicks, actions, action_values "
             "from raw.meta_ads_campaign_daily")}
    assert raw_meta == _served(meta)
    raw_tiktok = {(a, c, d): (spend, i, k, conv, value) for a, c, d, spend, i, k, conv, value in query(
        url, "select advertiser_id, campaign_id, stat_time_day, spend, impressions, clicks, conversion, "
             "total_purchase_value from raw.tiktok_ads_campaign_daily")}
    assert raw_tiktok == _served(tiktok)
    raw_ga4 = {(d, sm, name): (s, k, r) for d, sm, name, s, k, r in query(
        url, "select date, session_source_medium, session_campaign_name, sessions, key_events, total_revenue "
             "from raw.ga4_traffic_daily")}
    assert raw_ga4 == {(r.day, r.source_medium, r.campaign_name): (r.sessions, r.key_events, r.total_revenue)
                       for r in live["ga4_rows"]}


def _action(items: list[dict]) -> float:
    [item] = [i for i in items if i["action_type"] == "omni_purchase"]
    return float(item["value"])


def test_the_mart_matches_raw_per_platform_account_campaign_and_day(live):
    google, meta, tiktok = live["worlds"]
    expected = {("google_ads", *k): v for k, v in _served(google).items()}
    expected |= {("meta_ads", *k): v for k, v in _served(meta, "act_").items()}
    expected |= {("tiktok_ads", *k): v for k, v in _served(tiktok).items()}
    mart = {(p, a, c, d): (spend, i, k, conv, value) for p, a, c, d, spend, i, k, conv, value in query(
        live["url"], "select platform, account_id, campaign_id, date_day, spend, impressions, clicks, conversions, "
                     "conversion_value from marts.fct_campaign_daily")}
    assert mart.keys() == expected.keys()
    for key, (spend, impressions, clicks, conversions, value) in expected.items():
        got = mart[key]
        assert (got[0], got[1], got[2]) == (spend, impressions, clicks), key
        assert float(got[3]) == pytest.approx(conversions, abs=1e-6) and float(got[4]) == pytest.approx(value, abs=1e-6), key


def test_the_real_ga4_reader_feeds_the_attribution_mart(live):
    """The fake property serves Google's campaigns as `google / cpc` traffic: every Google campaign-day is
    matched, GA4's key events reach the mart in full, and Meta and TikTok (absent from GA4) keep their claims."""
    per_day_ga4 = {}
    for row in live["ga4_rows"]:
        if START <= row.day <= END:
            per_day_ga4[row.day] = per_day_ga4.get(row.day, 0.0) + row.key_events
    rows = query(live["url"], "select platform, date_day, is_ga4_matched, ga4_key_events, platform_conversions, "
                              "dedup_conversions from marts.fct_campaign_attribution")
    google = [r for r in rows if r[0] == "google_ads"]
    assert google and all(matched for _, _, matched, *_ in google)
    mart_per_day = {}
    for _, day, _, key_events, _, _ in google:
        mart_per_day[day] = mart_per_day.get(day, 0.0) + float(key_events)
    assert mart_per_day == pytest.approx(per_day_ga4, abs=1e-4)
    others = [r for r in rows if r[0] != "google_ads"]
    assert others and all(not matched and dedup == claimed for _, _, matched, _, claimed, dedup in others)


def test_dry_run_push_sends_only_validate_only_requests_and_changes_nothing(live):
    push = live["runs"]["dry_push"]
    assert push.returncode == 0, push.stderr
    assert live["budgets_after_dry"] == live["budgets_before"]
    requests = live["dry_requests"]
    google_writes = [r for r in requests["google"] if r.method == "MutateCampaignBudgets"]
    meta_writes = [r for r in requests["meta"] if r.method == "POST"]
    assert google_writes and all(r.validate_only for r in google_writes)
    assert meta_writes and all(r.validate_only for r in meta_writes)
    assert not [r for r in requests["tiktok"] if r.endpoint.startswith("campaign/update")]
    plan_id = live["runs"]["refresh"].stdout.split("plan ")[1].split()[0]
    outcomes = dict(query(live["url"], "select platform || ':' || validated::text || ':' || outcome, count(*) "
                                       "from activation.budget_rehearsals where plan_id = %s group by 1", (plan_id,)))
    # Google and Meta validated every change; TikTok has no validate-only request and was sent nothing.
    assert set(outcomes) == {"google_ads:true:rehearsed", "meta_ads:true:rehearsed", "tiktok_ads:false:rehearsed"}
    assert f"{sum(outcomes.values())} rehearsed" in push.stdout
    assert live["runs"]["ledger_rows_after_dry"] == 0  # the rehearsal left the ledger to the real push


def _minimum_unit(amount: Decimal, currency: str) -> Decimal:
    step = Decimal("1") if currency in ZERO_DECIMAL else Decimal("0.01")
    return amount.quantize(step, rounding=ROUND_HALF_UP)


def test_push_with_writes_allowed_leaves_the_recommended_budgets_on_every_platform(live):
    push = live["runs"]["push"]
    assert push.returncode == 0, push.stderr
    plan_id = live["runs"]["refresh"].stdout.split("plan ")[1].split()[0]  # the plan rehearsed above
    rows = query(live["url"], "select platform, account_id, campaign_id, currency, status, old_daily_budget, "
                              "new_daily_budget from activation.budget_changes where plan_id = %s", (plan_id,))
    assert rows and {r[4] for r in rows} == {"applied"}, rows
    assert {r[0] for r in rows} == {"google_ads", "meta_ads", "tiktok_ads"}
    after = live["budgets_after"]
    google_world = live["worlds"][0]
    shared = {c.campaign_id for c in google_world.campaigns if c.shared_budget_id}
    recommended = dict(((p, a, c), new) for p, a, c, *_rest, new in rows)
    for platform, account, campaign, currency, _status, old, new in rows:
        fake = {"google_ads": "google", "meta_ads": "meta", "tiktok_ads": "tiktok"}[platform]
        key = (account.removeprefix("act_"), campaign)
        if platform == "google_ads" and campaign in shared:
            # One budget for both campaigns: their recommendations summed (each is in the plan).
            siblings = [recommended.get(("google_ads", account, c), None) for c in sorted(shared)]
            current = live["budgets_before"]["google"][key] / 2
            expected = sum((s if s is not None else current) for s in siblings)
        else:
            expected = new
        assert after[fake][key] == _minimum_unit(Decimal(expected), currency), (platform, account, campaign)
    # Campaigns the plan did not change keep their budgets.
    for fake, budgets in live["budgets_before"].items():
        changed = {(a.removeprefix("act_"), c) for p, a, c, *_ in rows
                   if {"google": "google_ads", "meta": "meta_ads", "tiktok": "tiktok_ads"}[fake] == p}
        if fake == "google":
            changed |= {(a, c) for (a, c) in budgets if c in shared}
        assert {k: v for k, v in after[fake].items() if k not in changed} == \
               {k: v for k, v in budgets.items() if k not in changed}


def test_no_secret_in_output_event_log_or_tables(live):
    secrets = (GOOGLE_TOKEN, META_TOKEN, TIKTOK_TOKEN)
    for name, run in live["runs"].items():
        if hasattr(run, "stdout"):
            for secret in secrets:
                assert secret not in run.stdout + run.stderr, name
    url = live["url"]
    tables = query(url, "select table_schema || '.' || table_name from information_schema.tables "
                        "where table_schema not in ('pg_catalog', 'information_schema') and table_type = 'BASE TABLE'")
    assert len(tables) > 10  # raw, marts, activation and Dagster's run and event storage
    for (table,) in tables:
        for secret in secrets:
            hits = query(url, f"select count(*) from {table} t where t::text like %s", (f"%{secret}%",))[0][0]
            assert hits == 0, f"{secret[:8]}... found in {table}"
