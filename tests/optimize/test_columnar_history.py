"""Planning reads its history column by column (``COPY`` into pandas), not row by row, and nothing about the
data changes on the way: ``read_history`` gives the very frame a plain fetch of the same query gives (values
to the last bit, days, text, flags), so plans keep their ids; the canonical form a plan id hashes is the one
of every stored plan, however awkward the text and numbers in it."""

import random
from datetime import date, timedelta

import numpy as np
import pandas as pd
import psycopg
import pytest

from mbo_pipelines.defs.optimize import store
from mbo_pipelines.defs.optimize.planning import plan_id_for

#: (platform, account, campaign): text a CSV round trip could bend (separators, quotes, line breaks, NA-like words).
KEYS = [
    ("google_ads", "acc,1", 'camp "one"'),
    ("meta_ads", "NA", ""),
    ("tiktok_ads", "ünïcode €", "line\nbreak"),
    ("google_ads", "null", " leading space"),
    ("meta_ads", "acc-2", "tiny"),
]
FIRST_DAY = date(2025, 12, 27)  # the history runs across a year end
DAYS = 9


def _decimal_text(rng: random.Random, campaign: str) -> str:
    """A numeric literal with many digits, a zero, or (campaign "tiny") a value far below a cent."""
    if campaign == "tiny":
        return f"0.{'0' * rng.randint(6, 14)}{rng.randint(1, 99999)}"
    if rng.random() < 0.1:
        return rng.choice(["0", "0.000000", "0.0"])
    whole, decimals = rng.randint(0, 10 ** rng.randint(0, 12)), rng.randint(1, 20)
    return f"{whole}.{rng.randint(0, 10**decimals - 1):0{decimals}d}"


@pytest.fixture(scope="module")
def database(new_database):
    """``marts.opt_campaign_inputs`` with awkward keys and numbers; one row has no de-duplicated value and
    one campaign no GA4 match flag."""
    url = new_database("columnar_history")
    rng = random.Random(13)
    rows = []
    for platform, account, campaign in KEYS:
        for offset in range(DAYS):
            day = FIRST_DAY + timedelta(days=offset)
            matched = None if campaign == "tiny" else rng.random() < 0.5
            dedup = None if (campaign == "" and offset == 3) else _decimal_text(rng, campaign)
            rows.append((f"{platform}|{account}|{campaign}", day, platform, account, campaign, "USD", "USD",
                         _decimal_text(rng, campaign), _decimal_text(rng, campaign), dedup, matched))
    with psycopg.connect(url) as conn:
        conn.execute("create schema marts")
        conn.execute(
            "create table marts.opt_campaign_inputs (campaign_key text, date_day date, platform text, account_id text, "
            "campaign_id text, currency text, reporting_currency text, spend_reporting numeric, "
            "platform_conversion_value_reporting numeric, dedup_conversion_value_reporting numeric, "
            "is_ga4_matched boolean)"
        )
        with conn.cursor() as cur:
            cur.executemany("insert into marts.opt_campaign_inputs values "
                            "(%s, %s, %s, %s, %s, %s, %s, %s::numeric, %s::numeric, %s::numeric, %s)", rows)
    return url


def _fetched(conn, days: int, end: date | None, source: str) -> pd.DataFrame:
    """The history as a plain fetch reads it: one Python object per value, numbers via ``float(Decimal)``."""
    query = store.history_query(source)  # the same query; only how its rows are read differs
    with conn.cursor() as cur:
        cur.execute(query, (end, days))
        frame = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
    for column in ("spend_reporting", "conversion_value_reporting"):
        frame[column] = frame[column].astype(float)
    frame["is_ga4_matched"] = frame["is_ga4_matched"].astype(bool)
    return frame


def _in_order(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["date_day", "platform", "account_id", "campaign_id"]).reset_index(drop=True)


def _campaigns() -> pd.DataFrame:
    return pd.DataFrame([{"platform": p, "account_id": a, "campaign_id": c, "campaign_name": f"name of {c}",
                          "currency": "USD", "daily_budget": 100.0, "daily_budget_reporting": 100.0,
                          "budget_24h_ago": float("nan")} for p, a, c in KEYS])


@pytest.mark.parametrize("days, end", [(DAYS, None), (4, date(2026, 1, 1)), (3, date(2025, 12, 29))])
@pytest.mark.parametrize("source", ["platform", "deduplicated"])
def test_read_history_is_exactly_a_plain_fetch(database, days, end, source):
    """Same rows, dtypes and values to the last bit (no float parsing noise), days as ``datetime.date``."""
    with psycopg.connect(database) as conn:
        columnar = store.read_history(conn, days, end, source)
        fetched = _fetched(conn, days, end, source)
    assert len(columnar) == len(fetched) > 0
    assert all(type(day) is date for day in columnar["date_day"])
    pd.testing.assert_frame_equal(_in_order(columnar), _in_order(fetched), check_exact=True)


def test_values_keep_every_bit(database):
    """The numbers are the ones ``float(Decimal(text))`` makes: compared as bit patterns, none differs."""
    with psycopg.connect(database) as conn:
        columnar, fetched = _in_order(store.read_history(conn, DAYS)), _in_order(_fetched(conn, DAYS, None, "platform"))
    for column in ("spend_reporting", "conversion_value_reporting"):
        assert np.array_equal(columnar[column].to_numpy().view(np.int64), fetched[column].to_numpy().view(np.int64))
    tiny = columnar[columnar["campaign_id"] == "tiny"]
    assert (tiny["spend_reporting"] > 0).all() and (tiny["spend_reporting"] < 1e-5).all()


def test_the_plan_id_is_the_one_of_a_plain_fetch(database):
    """Same history, same plan id: a plan stored before the columnar read is found again."""
    with psycopg.connect(database) as conn:
        columnar, fetched = store.read_history(conn, DAYS, None, "deduplicated"), _fetched(conn, DAYS, None, "deduplicated")
    assert plan_id_for(columnar, _campaigns(), "USD") == plan_id_for(fetched, _campaigns(), "USD")


def test_an_awkward_input_has_a_pinned_id():
    """The canonical form of awkward inputs is byte for byte the one stored plans were fingerprinted with
    (pinned from the row-by-row implementation): text needing CSV quotes, non-ASCII text, days as dates, text
    and timestamps, missing and non-finite amounts, negative and sub-millionth ones, ids given as numbers."""
    daily = pd.DataFrame({
        "date_day": [date(2025, 12, 31), "2026-01-01", pd.Timestamp("2026-01-02"), date(2025, 12, 31), None,
                     date(2025, 12, 31)],
        "platform": ["google_ads", "meta,ads", 'tik"tok', "google_ads", "google_ads", "google_ads"],
        "account_id": ["a\nb", "", "NA", "ünï €", "a\nb", "a\nb"],
        "campaign_id": pd.Series([7, "7", 7.5, None, "x", 7], dtype=object),
        "spend_reporting": [0.1 + 0.2, float("nan"), -2.5, 1e-9, float("inf"), float("nan")],  # missing sorts last
        "conversion_value_reporting": [123456789.1234567, 0.0, 0.0000015, 3.0, 4.0, 1.0],
    })
    campaigns = pd.DataFrame({
        "platform": ["google_ads", "meta,ads"], "account_id": ["a\nb", ""], "campaign_id": ["7", "c"],
        "campaign_name": ['Brand "A", EU', "ß"], "currency": ["EUR", "PLN"], "daily_budget": [110.0, None],
        "daily_budget_reporting": [118.8, 1e12], "budget_24h_ago": [float("nan"), 99.999999],
    })
    assert plan_id_for(daily, campaigns, "USD", 0.25, 1500.0, 2.0, "deduplicated") == "plan-20260102-a2fb82c8ffba"
