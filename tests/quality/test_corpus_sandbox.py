"""The bad-input corpus of the sandbox (MBO_SOURCE=sandbox), through the real Google Ads extract assets.

The sandbox keeps its campaigns in PostgreSQL (``sandbox.campaigns``: each
campaign's name, currency and hidden response parameters in ``params``), and
every extract simulates the rows from that stored state. So a case corrupts
the state between two extracts, exactly as a broken platform would start
serving bad rows, and restores it afterwards; no sandbox code is patched.
NUL bytes and lone surrogates cannot be stored in ``jsonb``, so those cases
live in the CSV and platform-fake corpora.

Every case first loads a good extract of its own days (spaced so no case sees
another's history), then corrupts the state and extracts again, and asserts
the outcome (quarantine with a reason naming the field, or a day held back),
that the rows loaded before are unchanged, and that nothing downstream can act
on the bad data (not in raw, or a blocking failure the gates read).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import dagster as dg
import psycopg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from psycopg.types.json import Jsonb

from mbo_pipelines.defs.ingest.assets import build_campaigns_asset, build_daily_asset
from mbo_pipelines.defs.ingest.raw_tables import GOOGLE_ADS_CAMPAIGN_DAILY, GOOGLE_ADS_CAMPAIGNS
from mbo_pipelines.defs.quality import store
from mbo_pipelines.resources import MboResource
from mbo_pipelines.sandbox.platforms import SandboxMarket

SEED = 31  # this module's own sandbox market
TODAY = "2026-06-01"
FIRST_DAY = date(2025, 4, 7)
#: Each case loads its day and the days either side; six days apart, no case's day has another's on the day
#: before, nor three of the same weekday in the four weeks the volume band reads.
CASE_SPACING = 6
DAILY = build_daily_asset("google_ads")
SNAPSHOT = build_campaigns_asset("google_ads")
USD_ACCOUNT = "1234567890"


@pytest.fixture(scope="module")
def url(new_database):
    """One database for the module: the sandbox state and the raw tables, each case on its own days."""
    url = new_database("corpus_sandbox")
    SandboxMarket(url, seed=SEED).campaigns()  # create the market's stored state
    return url


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("MBO_LOOKBACK_DAYS", "0")


def _run(url: str, asset: dg.AssetsDefinition, start: date | None = None, end: date | None = None):
    """Materialize one extract asset (a daily one for [start, end]), failures returned, not raised."""
    tags = {ASSET_PARTITION_RANGE_START_TAG: start.isoformat(),
            ASSET_PARTITION_RANGE_END_TAG: (end or start).isoformat()} if start else {}
    resource = MboResource(database_url=url, sandbox_seed=SEED, sandbox_today=TODAY)
    return dg.materialize([asset], resources={"mbo": resource}, tags=tags, raise_on_error=False)


def _query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def _daily(url: str, start: date, end: date) -> dict[tuple, tuple]:
    columns = ", ".join(GOOGLE_ADS_CAMPAIGN_DAILY.column_names)
    rows = _query(url, f"select {columns} from raw.google_ads_campaign_daily where segments_date between %s and %s",
                  (start, end))
    return {(r[1], r[2], r[0]): r for r in rows}


def _snapshot(url: str) -> dict[tuple, tuple]:
    columns = ", ".join(GOOGLE_ADS_CAMPAIGNS.column_names)
    return {(r[0], r[1]): r for r in _query(url, f"select {columns} from raw.google_ads_campaigns")}


def _quarantined(url: str, table: str, day: date | None) -> dict[str, str]:
    """campaign_id -> _reason of the rows in quarantine.<table> for ``day`` (None: the snapshot's)."""
    return dict(_query(url, f"select campaign_id, _reason from quarantine.{table} where _day is not distinct from %s",
                       (day,)))


def _blocking(url: str, day: date) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return [(t, d, c) for t, d, c, _ in store.blocking_failures(conn, day, day)]


def _evaluation(result: dg.ExecuteInProcessResult, check: str):
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == check]
    return evaluation


def _campaigns(url: str, account: str = USD_ACCOUNT) -> list[str]:
    return [r[0] for r in _query(url, "select campaign_id from sandbox.campaigns where seed = %s and "
                                      "platform = 'google_ads' and account_id = %s order by campaign_id",
                                 (SEED, account))]


@contextlib.contextmanager
def corrupted(url: str, campaign_id: str, **params: Any) -> Iterator[None]:
    """The sandbox serves ``campaign_id`` with ``params`` changed (its stored state), restored afterwards."""
    [(original,)] = _query(url, "select params from sandbox.campaigns where seed = %s and platform = 'google_ads' "
                                "and campaign_id = %s", (SEED, campaign_id))
    with psycopg.connect(url) as conn:
        conn.execute("update sandbox.campaigns set params = params || %s where seed = %s and platform = 'google_ads' "
                     "and campaign_id = %s", (Jsonb(params), SEED, campaign_id))
    try:
        yield
    finally:
        with psycopg.connect(url) as conn:
            conn.execute("update sandbox.campaigns set params = %s where seed = %s and platform = 'google_ads' "
                         "and campaign_id = %s", (Jsonb(original), SEED, campaign_id))


_DAYS: list[str] = []


@pytest.fixture
def day(url, request) -> date:
    """The case's own day, loaded clean (with the days either side) before the case corrupts anything."""
    if request.node.name not in _DAYS:
        _DAYS.append(request.node.name)
    day = FIRST_DAY + timedelta(days=CASE_SPACING * _DAYS.index(request.node.name))
    assert _run(url, DAILY, day - timedelta(days=1), day + timedelta(days=1)).success
    assert len(_daily(url, day, day)) == len(_query(url, "select 1 from sandbox.campaigns where seed = %s and "
                                                         "platform = 'google_ads'", (SEED,))) > 10
    return day


QUARANTINES = [
    pytest.param({"campaign_name": "Brand \u0007 USD"}, "campaign_name has control characters or is not valid UTF-8",
                 id="control_character_in_a_name"),
    pytest.param({"campaign_name": "Spring\r\nSale"}, "campaign_name has control characters or is not valid UTF-8",
                 id="line_break_in_a_name"),
    pytest.param({"campaign_name": "x" * 10_000}, "campaign_name is empty or longer than 1000 characters",
                 id="ten_thousand_character_name"),
    pytest.param({"base_budget": -50.0}, "metrics_cost_micros is negative, infinite or absurdly large",
                 id="negative_spend"),
    pytest.param({"vmax": 1e18}, "metrics_conversions_value is negative, infinite or absurdly large",
                 id="absurd_conversion_value"),
]


@pytest.mark.parametrize(("params", "reason"), QUARANTINES)
def test_a_bad_campaign_is_quarantined_and_the_rest_of_the_day_loads(url, day, params, reason):
    before = _daily(url, day - timedelta(days=1), day + timedelta(days=1))
    campaign = _campaigns(url)[0]
    bad_key = (USD_ACCOUNT, campaign, day)

    with corrupted(url, campaign, **params):
        result = _run(url, DAILY, day)

    # 1. The run succeeds; only the bad campaign's row is in quarantine, for a reason naming the field.
    assert result.success
    quarantined = _quarantined(url, "google_ads_campaign_daily", day)
    assert list(quarantined) == [campaign] and reason in quarantined[campaign], quarantined
    assert not _evaluation(result, "valid_rows").passed
    # 2. Every other row is as loaded before, the other days untouched; the bad values never reached raw.
    after = _daily(url, day - timedelta(days=1), day + timedelta(days=1))
    assert {k: v for k, v in after.items() if k != bad_key} == {k: v for k, v in before.items() if k != bad_key}
    assert after.get(bad_key) in (None, before[bad_key])
    # 3. Not in raw, so no mart or plan reads it; nothing else holds the day back.
    assert _blocking(url, day) == []


def test_an_sql_looking_name_loads_verbatim(url, day):
    name = "Robert'); DROP TABLE raw.google_ads_campaign_daily; --"
    before = _daily(url, day, day)
    campaign = _campaigns(url)[1]

    with corrupted(url, campaign, campaign_name=name):
        result = _run(url, DAILY, day)

    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    after = _daily(url, day, day)
    assert after[(USD_ACCOUNT, campaign, day)][3] == name
    assert {k: v[:3] + v[4:] for k, v in after.items()} == {k: v[:3] + v[4:] for k, v in before.items()}
    assert _quarantined(url, "google_ads_campaign_daily", day) == {} and _blocking(url, day) == []


def test_mixed_currencies_in_one_account_hold_the_day_back(url, day):
    before = _daily(url, day - timedelta(days=1), day + timedelta(days=1))
    campaign = _campaigns(url)[2]

    with corrupted(url, campaign, currency="EUR"):
        result = _run(url, DAILY, day)

    # 1. valid_table fails naming the account and both currencies; the blocking check fails the run.
    check = _evaluation(result, "valid_table")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert f"{USD_ACCOUNT} on {day}: EUR, USD" in check.description
    assert not result.success
    # 2. The day keeps exactly what was loaded before.
    assert _daily(url, day - timedelta(days=1), day + timedelta(days=1)) == before
    # 3. The gates see the day as failed.
    assert _blocking(url, day) == [("raw.google_ads_campaign_daily", day, "valid_table")]


def test_an_account_whose_every_row_is_bad_holds_the_day_back(url, day):
    # An unknown currency on every campaign of an account quarantines them all: the account spent the day before
    # and now sends no valid row, so the day keeps what was loaded rather than losing the account's spend.
    before = _daily(url, day - timedelta(days=1), day + timedelta(days=1))
    campaigns = _campaigns(url)

    with contextlib.ExitStack() as stack:
        for campaign in campaigns:
            stack.enter_context(corrupted(url, campaign, currency="XYZ"))
        result = _run(url, DAILY, day)

    quarantined = _quarantined(url, "google_ads_campaign_daily", day)
    assert all("customer_currency_code is not an ISO 4217 currency code" in quarantined[c] for c in campaigns)
    assert all(r.startswith("day held back: ") for c, r in quarantined.items() if c not in campaigns)
    assert f"{USD_ACCOUNT} spent on {day - timedelta(days=1)}" in _evaluation(result, "volume").description
    assert _daily(url, day - timedelta(days=1), day + timedelta(days=1)) == before
    assert _blocking(url, day) == [("raw.google_ads_campaign_daily", day, "volume")]


# --- the campaign snapshot (raw.google_ads_campaigns): one snapshot, no days --------------------------------


@pytest.fixture
def snapshot(url) -> dict[tuple, tuple]:
    """A clean snapshot loaded (and its quarantine emptied by that load)."""
    result = _run(url, SNAPSHOT)
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    return _snapshot(url)


def test_a_bad_campaign_is_quarantined_from_the_snapshot(url, snapshot):
    campaign = _campaigns(url)[3]

    with corrupted(url, campaign, campaign_name="Brand\tUSD", base_budget=-20.0):
        result = _run(url, SNAPSHOT)

    assert result.success
    reason = _quarantined(url, "google_ads_campaigns", None)[campaign]
    assert "campaign_name has control characters" in reason and "campaign_budget_amount_micros is negative" in reason
    after = _snapshot(url)
    assert (USD_ACCOUNT, campaign) not in after
    assert after == {k: v for k, v in snapshot.items() if k != (USD_ACCOUNT, campaign)}
    with psycopg.connect(url) as conn:
        assert store.blocking_failures(conn, FIRST_DAY, FIRST_DAY) == []


def test_mixed_currencies_hold_the_whole_snapshot_back(url, snapshot):
    campaign = _campaigns(url)[4]

    with corrupted(url, campaign, currency="EUR"):
        result = _run(url, SNAPSHOT)

    assert not result.success and not _evaluation(result, "valid_table").passed
    assert _snapshot(url) == snapshot
    # A snapshot's verdict has no day: the gates read it on any window.
    assert _blocking(url, FIRST_DAY) == [("raw.google_ads_campaigns", None, "valid_table")]
    assert _run(url, SNAPSHOT).success and _blocking(url, FIRST_DAY) == []  # a good snapshot opens the gate again
