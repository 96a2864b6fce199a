"""The sandbox's GA4 property: deterministic, over-claimed by the platforms, realistic names, and loaded by Dagster."""

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import dagster as dg
import psycopg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from mbo_pipelines.defs.ingest.assets import extract_assets_for_environment
from mbo_pipelines.defs.ingest.raw_tables import GA4_TRAFFIC_DAILY
from mbo_pipelines.defs.quality.rules import VolumeBand, rules_for
from mbo_pipelines.defs.quality.validate import check_batch
from mbo_pipelines.resources import MboResource
from mbo_pipelines.sandbox.fx import rate_to_usd
from mbo_pipelines.sandbox.ga4 import NOT_SET, SandboxGA4
from mbo_pipelines.sandbox.market import PLATFORMS
from mbo_pipelines.sandbox.platforms import SandboxMarket

SEED = 43  # campaigns of its own
TODAY = date(2026, 3, 1)
START, END = date(2026, 1, 1), TODAY - timedelta(days=1)
PAID = {
    "google / cpc": "google_ads", "facebook / paid_social": "meta_ads", "instagram / paid_social": "meta_ads",
    "tiktok / paid_social": "tiktok_ads",
}
NON_PAID = {"google / organic": "(organic)", "(direct) / (none)": "(direct)", "facebook / referral": "(referral)",
            "newsletter / email": None}
GA4_KEY = dg.AssetKey(["raw", "ga4_traffic_daily"])


@pytest.fixture(scope="module")
def market(new_database) -> SandboxMarket:
    return SandboxMarket(new_database("sandbox_ga4"), seed=SEED, today=TODAY)


@pytest.fixture(scope="module")
def rows(market) -> list[dict]:
    return SandboxGA4(market).fetch_traffic_daily(START, END)


def _claims(market: SandboxMarket) -> dict[tuple[date, str], float]:
    """Conversions each platform claims per day, read from the connectors' raw rows."""
    claims: dict[tuple[date, str], float] = defaultdict(float)
    for row in market.connector("google_ads").fetch_campaign_daily(START, END):
        claims[(row["segments_date"], "google_ads")] += row["metrics_conversions"]
    for row in market.connector("meta_ads").fetch_campaign_daily(START, END):
        claims[(row["date_start"], "meta_ads")] += sum(float(a["value"]) for a in row["actions"])
    for row in market.connector("tiktok_ads").fetch_campaign_daily(START, END):
        claims[(row["stat_time_day"], "tiktok_ads")] += row["conversion"]
    return claims


def _paid_key_events(rows: list[dict]) -> dict[tuple[date, str], float]:
    observed: dict[tuple[date, str], float] = defaultdict(float)
    for row in rows:
        if row["session_source_medium"] in PAID:
            observed[(row["date"], PAID[row["session_source_medium"]])] += row["key_events"]
    return observed


def _row(rows, day, source_medium, name) -> dict:
    [found] = [r for r in rows if (r["date"], r["session_source_medium"], r["session_campaign_name"])
               == (day, source_medium, name)]
    return found


def test_same_seed_same_rows_and_a_day_does_not_depend_on_the_window(market, rows):
    again = SandboxGA4(SandboxMarket(market.database_url, seed=SEED, today=TODAY)).fetch_traffic_daily(START, END)
    assert again == rows
    day = date(2026, 2, 10)
    assert SandboxGA4(market).fetch_traffic_daily(day, day) == [r for r in rows if r["date"] == day]
    assert SandboxGA4(SandboxMarket(market.database_url, seed=SEED + 1, today=TODAY)).fetch_traffic_daily(
        day, day) != [r for r in rows if r["date"] == day]


def test_rows_are_ga4_rows_of_the_sandbox_property_for_complete_days_only(market, rows):
    assert all(list(r) == list(GA4_TRAFFIC_DAILY.column_names) for r in rows)
    assert {(r["property_id"], r["currency_code"], r["time_zone"]) for r in rows} == {
        ("400000001", "USD", "America/New_York")}
    assert {r["date"] for r in rows} == {START + timedelta(days=n) for n in range((END - START).days + 1)}
    assert all(type(r["sessions"]) is int and type(r["key_events"]) is float and r["key_events"].is_integer()
               and type(r["total_revenue"]) is float for r in rows)
    assert {r["session_source_medium"] for r in rows} == set(PAID) | set(NON_PAID)
    keys = [(r["date"], r["session_source_medium"], r["session_campaign_name"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert SandboxGA4(market).fetch_traffic_daily(TODAY, TODAY + timedelta(days=3)) == []


def test_platforms_over_claim_every_day_and_ga4_paid_total_is_clearly_below_their_sum(market, rows):
    claims, observed = _claims(market), _paid_key_events(rows)
    assert set(claims) == set(observed)
    for key, claimed in claims.items():
        assert claimed > observed[key], key
    days = {day for day, _ in claims}
    for day in days:
        total_claims = sum(claims[(day, p)] for p in PLATFORMS)
        assert sum(observed[(day, p)] for p in PLATFORMS) < 0.85 * total_claims, day
    ratio = {p: sum(observed[(d, p)] for d in days) / sum(claims[(d, p)] for d in days) for p in PLATFORMS}
    assert 0.7 < ratio["google_ads"] < 0.95 and 0.4 < ratio["meta_ads"] < 0.7 and 0.3 < ratio["tiktok_ads"] < 0.6


def test_each_campaign_is_seen_at_its_share_landing_rate_and_the_days_usd_rate(market, rows):
    traits = SandboxGA4(market).traits()
    seen = defaultdict(lambda: [0, 0.0, 0.0])  # per (platform, GA4 campaign name): sessions, key events, revenue
    for r in rows:
        if r["session_source_medium"] in PAID:
            totals = seen[(PAID[r["session_source_medium"]], r["session_campaign_name"])]
            for n, metric in enumerate(("sessions", "key_events", "total_revenue")):
                totals[n] += r[metric]
    checked = set()
    for platform in PLATFORMS:
        for c, out in market.connector(platform).simulated(START, END):
            t = traits[(platform, c.account_id, c.campaign_id)]
            if t.session_campaign_name == NOT_SET:
                continue
            sessions, key_events, revenue = seen[(platform, t.session_campaign_name)]
            value_usd = sum(v * rate_to_usd(SEED, c.currency, d) for v, d in zip(out.conversion_value, out.dates))
            assert sessions / out.clicks.sum() == pytest.approx(t.landing_rate, rel=0.05), c
            assert key_events / out.conversions.sum() == pytest.approx(t.observed_share, rel=0.1), c
            assert revenue / value_usd == pytest.approx(t.observed_share, rel=0.05), c
            checked.add(c.currency)
    assert checked == {"USD", "EUR", "PLN"}


def test_one_untagged_campaign_per_account_lands_in_one_not_set_row_per_source_medium(market, rows, new_database):
    traits = SandboxGA4(market).traits()
    untagged = [key for key, t in traits.items() if t.session_campaign_name == NOT_SET]
    accounts = {(c.platform, c.account_id) for c in market.campaigns()}
    assert sorted((p, a) for p, a, _ in untagged) == sorted(accounts)
    assert {r["session_source_medium"] for r in rows if r["session_campaign_name"] == NOT_SET} == set(PAID)

    # The two Google accounts' untagged campaigns share the `google / cpc` (not set) row: it is their sum.
    url = new_database("sandbox_ga4_not_set")
    own = SandboxMarket(url, seed=SEED, today=TODAY)
    own.campaigns()  # creates the sandbox's state
    first, second = sorted(k for k in untagged if k[0] == "google_ads")
    day = date(2026, 2, 20)

    def not_set_row(paused: tuple | None) -> dict:
        with psycopg.connect(url) as conn:
            conn.execute("update sandbox.campaigns set status = 'active' where seed = %s", (SEED,))
            if paused:
                conn.execute("update sandbox.campaigns set status = 'paused' where seed = %s and platform = %s and "
                             "account_id = %s and campaign_id = %s", (SEED, *paused))
        return _row(SandboxGA4(own).fetch_traffic_daily(day, day), day, "google / cpc", NOT_SET)

    both, only_first, only_second = not_set_row(None), not_set_row(second), not_set_row(first)
    assert both == _row(rows, day, "google / cpc", NOT_SET)
    for metric in ("sessions", "key_events"):
        assert both[metric] == only_first[metric] + only_second[metric] > only_first[metric] > 0
    assert both["total_revenue"] == pytest.approx(only_first["total_revenue"] + only_second["total_revenue"], abs=0.011)


def test_campaign_names_are_typed_variants_that_normalise_back_to_the_campaigns(market, rows):
    names = defaultdict(set)
    for c in market.campaigns():
        names[c.platform].add(c.campaign_name)
    tagged = [r for r in rows if r["session_source_medium"] in PAID and r["session_campaign_name"] != NOT_SET]
    normalised = {p: {n.strip().lower() for n in ns} for p, ns in names.items()}
    assert all(r["session_campaign_name"].strip().lower() in normalised[PAID[r["session_source_medium"]]]
               for r in tagged)
    seen = {r["session_campaign_name"] for r in tagged}
    exact = {n for ns in names.values() for n in ns}
    assert seen & exact, "most campaigns keep their name"
    assert any(n != n.strip() for n in seen), "some names carry surrounding spaces"
    assert any(n not in exact and n == n.strip() and n == n.lower() for n in seen), "some names are lower-cased"
    # Every tagged campaign appears, under one name, on every day.
    traits = SandboxGA4(market).traits()
    expected = {t.session_campaign_name for t in traits.values() if t.session_campaign_name != NOT_SET}
    assert seen == expected
    per_day = defaultdict(set)
    for r in tagged:
        per_day[r["date"]].add((r["session_source_medium"], r["session_campaign_name"]))
    assert len(set(map(frozenset, per_day.values()))) == 1


def test_non_paid_traffic_arrives_every_day_matched_to_no_campaign(rows):
    days = {r["date"] for r in rows}
    for day in days:
        found = {r["session_source_medium"]: r for r in rows if r["date"] == day and r["session_source_medium"] in NON_PAID}
        assert set(found) == set(NON_PAID)
        for source_medium, name in NON_PAID.items():
            assert found[source_medium]["sessions"] > 0
            assert found[source_medium]["session_campaign_name"] == (name or f"weekly_digest_{day.isocalendar()[0]}_w"
                                                                     f"{day.isocalendar()[1]:02d}")
    organic = sum(r["key_events"] for r in rows if r["session_source_medium"] in NON_PAID)
    assert organic > 0 and sum(r["total_revenue"] for r in rows if r["session_source_medium"] in NON_PAID) > 0


def test_a_budget_pushed_to_the_sandbox_moves_ga4_sessions_from_that_day_on(new_database):
    url = new_database("sandbox_ga4_budget")
    later = TODAY + timedelta(days=5)
    ga4 = SandboxGA4(SandboxMarket(url, seed=SEED, today=later))
    window = (TODAY - timedelta(days=3), later - timedelta(days=1))
    traits = ga4.traits()
    google = SandboxMarket(url, seed=SEED, today=TODAY).connector("google_ads")
    campaign = next(c for c in google.market.campaigns("google_ads")
                    if traits[(c.platform, c.account_id, c.campaign_id)].session_campaign_name != NOT_SET)
    name = traits[(campaign.platform, campaign.account_id, campaign.campaign_id)].session_campaign_name
    before = ga4.fetch_traffic_daily(*window)

    budget = google.market.current_budgets("google_ads")[campaign.campaign_id]
    google.set_daily_budget(campaign.account_id, campaign.campaign_id, Decimal(str(round(budget * 3, 2))))
    after = ga4.fetch_traffic_daily(*window)

    def sessions(rows, day):
        return _row(rows, day, "google / cpc", name)["sessions"]

    assert [r for r in after if r["date"] < TODAY] == [r for r in before if r["date"] < TODAY]
    for n in range((later - TODAY).days):
        day = TODAY + timedelta(days=n)
        assert sessions(after, day) > 2 * sessions(before, day)


def test_rows_pass_the_ga4_quality_checks_including_the_volume_band(rows):
    rules = rules_for(GA4_TRAFFIC_DAILY)
    last_week = (END - timedelta(days=6), END)
    history = defaultdict(lambda: (0, 0.0))
    for r in rows:
        if r["date"] < last_week[0]:
            count, volume = history[(r["date"], r["property_id"])]
            history[(r["date"], r["property_id"])] = (count + 1, volume + r["sessions"])
    batch = [r for r in rows if r["date"] >= last_week[0]]
    report = check_batch(rules, batch, last_week, dict(history), VolumeBand())
    assert report.findings == [] and report.row_reasons == {} and report.held_days == {}
    assert len(report.rows_to_load()) == len(batch)
    assert all("too little history" not in line for line in report.volume_lines.values())


def test_the_sandbox_ga4_asset_loads_the_property_into_raw(new_database, monkeypatch):
    monkeypatch.setenv("MBO_SOURCE", "sandbox")
    monkeypatch.delenv("MBO_GA4_PROPERTY_IDS", raising=False)
    assets = extract_assets_for_environment()
    assert GA4_KEY in {key for asset in assets for key in asset.keys}
    url = new_database("sandbox_ga4_asset")
    first, last = date(2026, 2, 20), date(2026, 2, 22)
    result = dg.materialize(
        assets, selection=dg.AssetSelection.assets(GA4_KEY),
        resources={"mbo": MboResource(database_url=url, sandbox_seed=SEED, sandbox_today=TODAY.isoformat())},
        tags={ASSET_PARTITION_RANGE_START_TAG: first.isoformat(), ASSET_PARTITION_RANGE_END_TAG: last.isoformat()},
    )
    assert result.success
    assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()} == {
        "valid_rows": True, "valid_table": True, "volume": True}
    expected = SandboxGA4(SandboxMarket(url, seed=SEED, today=TODAY)).fetch_traffic_daily(first, last)
    columns = ", ".join(GA4_TRAFFIC_DAILY.column_names)
    with psycopg.connect(url) as conn:
        loaded = conn.execute(f"select {columns} from raw.ga4_traffic_daily").fetchall()
    assert len(loaded) == len(expected) > 0
    assert sorted(loaded) == sorted(tuple(r.values()) for r in expected)


def test_the_resource_reads_the_sandbox_property_in_sandbox_mode_and_ga4_in_live_mode(market, monkeypatch):
    sandbox = MboResource(database_url=market.database_url, sandbox_seed=SEED, sandbox_today=TODAY.isoformat())
    reader = sandbox.ga4_reader()
    assert isinstance(reader, SandboxGA4) and reader.platform == "ga4"
    assert (reader.market.database_url, reader.market.seed, reader.market.today) == (market.database_url, SEED, TODAY)
    monkeypatch.setenv("MBO_GA4_PROPERTY_IDS", "314159265")
    monkeypatch.setenv("MBO_GA4_ENDPOINT", "http://127.0.0.1:9")  # a loopback test endpoint: nothing is called
    live = MboResource(database_url=market.database_url, source="live").ga4_reader()
    assert type(live).__name__ == "GA4Reader" and live.property_ids == ("314159265",)
