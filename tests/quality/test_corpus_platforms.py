"""The bad-input corpus of the ad platforms (Google Ads over gRPC, Meta, TikTok) and GA4, through their real SDKs.

Each case makes one platform fake on 127.0.0.1 serve one malformed answer and
runs that platform's real extract asset (``MBO_SOURCE=live``) on it. Before,
the case loads a good extract of its own day and the day before (cases sit
six days apart, so none sees another's day before, nor three same-weekday
days of history: the volume band stays out of it, and the "account spent the
day before and sent nothing" rule is live in every case).

Every case asserts three things:

1. the outcome: the run fails with a message naming the platform, the account
   and what was wrong (an answer that cannot be trusted as a whole); or the bad
   row sits in ``quarantine.<table>`` with a reason naming the field and is not
   in raw; or a blocking check holds the day back; or the row loads as sent
   (an SQL-looking name, an unexpected extra field, a number sent as a JSON number);
2. what was loaded before is unchanged: a bad re-read of a row keeps the good row
   loaded before for the same key (only a row the platform no longer reports at
   all, because its key changed, leaves with the day's reload);
3. nothing downstream can act on it: the bad row is not in raw (no mart or plan
   reads it), the held-back day is in the gates' ``store.blocking_failures``,
   or the failed extract loaded nothing and recorded no verdict.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest

from tests.quality.platform_corpus import (
    GA4,
    GOOGLE,
    META,
    NAMES,
    TIKTOK,
    Platform,
    Stage,
    evaluation,
    failure_text,
    stage,
)

FIRST_DAY = date(2025, 3, 3)
#: Days between two cases' days (see the module docstring).
CASE_SPACING = 6
LAST_DAY = FIRST_DAY + timedelta(days=CASE_SPACING * 50)
#: Marks a field a case removes from a row.
DROP = object()


# --- how each fake is made to serve a bad row (``arm(stage, day)``) -----------------------------------------


def _changed(row: dict, changes: dict) -> dict:
    return {k: v for k, v in {**row, **changes}.items() if v is not DROP}


def meta_row(campaign: str, **changes: Any) -> Callable[[Stage, date], None]:
    """Meta serves ``campaign``'s insights row of the day with ``changes`` (wire values: strings for numbers)."""
    def arm(stage: Stage, day: date) -> None:
        stage.meta.edit_rows(lambda rows: [_changed(r, changes) if (r.get("campaign_id"), r.get("date_start")) ==
                                           (campaign, day.isoformat()) else r for r in rows], on="/insights")
    return arm


def tiktok_row(campaign: str, dimensions: dict | None = None, **metrics: Any) -> Callable[[Stage, date], None]:
    """TikTok serves ``campaign``'s report row with ``metrics`` (and ``dimensions``) changed."""
    def edit(items: list) -> list:
        return [{"dimensions": _changed(i["dimensions"], dimensions or {}), "metrics": _changed(i["metrics"], metrics)}
                if i["dimensions"]["campaign_id"] == campaign else i for i in items]
    return lambda stage, day: stage.tiktok.edit_items(edit, on="report/integrated/get")


def google_rows(edit: Callable[[list], list]) -> Callable[[Stage, date], None]:
    """Google Ads streams ``edit(rows)`` (``GoogleAdsRow`` messages) instead of the day's rows."""
    return lambda stage, day: stage.google.edit_rows(edit)


def google_row(campaign: str, change: Callable[[Any], None]) -> Callable[[Stage, date], None]:
    """Google Ads streams ``campaign``'s row after ``change(row)``."""
    def edit(rows: list) -> list:
        for row in rows:
            if row.campaign.id == int(campaign):
                change(row)
        return rows
    return google_rows(edit)


def ga4_row(name: str, dimensions: dict[int, str] | None = None, metrics: dict[int, str] | None = None):
    """GA4 serves the row of campaign ``name`` with dimension / metric values (by position) replaced."""
    def edit(report: dict) -> dict:
        for row in report.get("rows", []):
            if row["dimensionValues"][2]["value"] == name:
                for i, value in (dimensions or {}).items():
                    row["dimensionValues"][i]["value"] = value
                for i, value in (metrics or {}).items():
                    row["metricValues"][i]["value"] = value
        return report
    return lambda stage, day: stage.ga4.edit_report(edit)


# --- the cases ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One malformed answer: the platform, how the fake serves it, and which row it concerns."""

    id: str
    platform: Platform
    arm: Callable[[Stage, date], None]
    #: The campaign whose row is bad (GA4: its campaign name as loaded before); None when the whole answer is.
    campaign: str | None = None
    #: What the outcome names: the quarantine reason, the failure message or the check's description.
    says: tuple[str, ...] = ()
    #: A column and the text the quarantine keeps for it (NUL bytes and lone surrogates escaped).
    kept: tuple[str, str] | None = None
    #: What one kind of case needs besides: the check a held day fails and the rows it holds, the environment
    #: a refused case runs with, the column an odd but valid value lands in.
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.id


META_EUR = META.accounts[0].account_id
TIKTOK_USD = TIKTOK.accounts[0].account_id
GOOGLE_USD = GOOGLE.accounts[0].account_id
TIKTOK_USD_CAMPAIGNS = ("3000", "3001", "3002")

QUARANTINED = [
    Case("meta_spend_not_a_number", META, meta_row("2001", spend="abc"), "2001",
         ("spend is missing or not a valid value",), ("spend", "abc")),
    Case("meta_negative_spend", META, meta_row("2001", spend="-12.50"), "2001",
         ("spend is negative, infinite or absurdly large",), ("spend", "-12.50")),
    Case("meta_nan_spend", META, meta_row("2100", spend="NaN"), "2100",
         ("spend is missing or not a valid value",), ("spend", "NaN")),
    Case("meta_missing_clicks", META, meta_row("2002", clicks=DROP), "2002",
         ("clicks is missing or not a valid value",)),
    Case("meta_lone_surrogate_in_a_name", META, meta_row("2000", campaign_name="Spring \ud800 sale"), "2000",
         ("campaign_name has control characters or is not valid UTF-8",), ("campaign_name", "Spring \\ud800 sale")),
    Case("tiktok_infinite_conversions", TIKTOK, tiktok_row("3001", conversion="Infinity"), "3001",
         ("conversion is negative, infinite or absurdly large",), ("conversion", "inf")),
    Case("tiktok_absurd_spend", TIKTOK, tiktok_row("3101", spend="1e15"), "3101",
         ("spend is negative, infinite or absurdly large (above 1e+12)",)),
    Case("tiktok_fractional_impressions", TIKTOK, tiktok_row("3000", impressions="4012.5"), "3000",
         ("impressions is not a whole number",)),
    Case("tiktok_control_characters_in_a_name", TIKTOK, tiktok_row("3002", campaign_name="Sale\x1b[2J\x07 now"),
         "3002", ("campaign_name has control characters",), ("campaign_name", "Sale\x1b[2J\x07 now")),
    Case("tiktok_ten_thousand_character_name", TIKTOK, tiktok_row("3100", campaign_name="x" * 10_000), "3100",
         ("campaign_name is empty or longer than 1000 characters",)),
    Case("google_nan_conversions", GOOGLE,
         google_row("1001", lambda r: setattr(r.metrics, "conversions", float("nan"))), "1001",
         ("metrics_conversions is missing or not a valid value",)),
    Case("google_negative_cost", GOOGLE, google_row("1100", lambda r: setattr(r.metrics, "cost_micros", -5_000_000)),
         "1100", ("metrics_cost_micros is negative",), ("metrics_cost_micros", "-5000000")),
    Case("google_absurd_cost", GOOGLE, google_row("1002", lambda r: setattr(r.metrics, "cost_micros", 5 * 10**18)),
         "1002", ("metrics_cost_micros is negative, infinite or absurdly large (above 1e+18)",)),
    Case("google_missing_campaign_name", GOOGLE, google_row("1000", lambda r: r.campaign.__delattr__("name")),
         "1000", ("campaign_name is missing or not a valid value",)),
    Case("google_nul_byte_in_a_name", GOOGLE, google_row("1101", lambda r: setattr(r.campaign, "name", "Brand\x00x")),
         "1101", ("campaign_name has control characters",), ("campaign_name", "Brand\\u0000x")),
    Case("ga4_nul_byte_in_a_campaign_name", GA4, ga4_row(NAMES[1], dimensions={2: "Black\x00Friday"}),
         NAMES[1], ("session_campaign_name has control characters",),
         ("session_campaign_name", "Black\\u0000Friday"), {"new_key": True}),
    Case("ga4_sessions_not_a_number", GA4, ga4_row(NAMES[0], metrics={0: "lots"}), NAMES[0],
         ("sessions is missing or not a valid value",), ("sessions", "lots")),
]


def _without(rows: dict[tuple, tuple], campaign: str, day: date) -> dict[tuple, tuple]:
    """``rows`` without the campaign's row of ``day`` (the key holds the campaign id, or GA4's campaign name)."""
    return {k: v for k, v in rows.items() if not (campaign in k and day in k)}


# --- days --------------------------------------------------------------------------------------------------


_DAY_INDEX: dict[str, int] = {}


def _case_day(case: Case) -> date:
    """The case's own day, six days after the previous case's (of any platform: the gates read every table)."""
    _DAY_INDEX.setdefault(case.id, len(_DAY_INDEX))
    day = FIRST_DAY + timedelta(days=CASE_SPACING * _DAY_INDEX[case.id])
    assert day <= LAST_DAY, "more cases than days served: raise LAST_DAY"
    return day


@pytest.fixture(scope="module")
def corpus(new_database):
    """The fakes serving every day the cases use, and one database for the module."""
    with stage(new_database("corpus_platforms"), FIRST_DAY - timedelta(days=1), LAST_DAY) as the_stage:
        yield the_stage


@pytest.fixture
def day(corpus: Stage, request) -> date:
    """The case's day, loaded clean with the day before; the fakes serve their worlds again afterwards."""
    case: Case = request.getfixturevalue("case")
    day = _case_day(case)
    good = corpus.extract(case.platform, day - timedelta(days=1), day)
    assert good.success, failure_text(good)
    assert len(corpus.raw(case.platform, day)) == (3 if case.platform is GA4 else 6)
    yield day
    corpus.clear()


# --- 1. a bad row is quarantined, the rest of its day loads -------------------------------------------------


@pytest.mark.parametrize("case", QUARANTINED, ids=str)
def test_a_bad_row_is_quarantined_and_the_rest_of_the_day_loads(corpus: Stage, case: Case, day: date):
    before = corpus.raw(case.platform, day - timedelta(days=1), day)
    case.arm(corpus, day)

    result = corpus.extract(case.platform, day)

    # 1. The run succeeds; exactly the bad row is in quarantine, its reason naming the field.
    assert result.success, failure_text(result)
    [row] = corpus.quarantined(case.platform, day)
    assert all(words in row["_reason"] for words in case.says), row["_reason"]
    assert row["_partition"] == day.isoformat() and row["_run_id"] == result.run_id
    if case.platform is not GA4:
        assert row["campaign_id"] == case.campaign
    if case.kept:
        assert row[case.kept[0]] == case.kept[1]
    assert not evaluation(result, "valid_rows").passed
    # 2. and 3. Raw is exactly as loaded before: the bad values never reach it (no mart or plan reads them), and
    # the campaign keeps its good row of the day, as a bad re-read must not erase it.
    after = corpus.raw(case.platform, day - timedelta(days=1), day)
    if case.extra.get("new_key"):
        # The bad row came under another key (GA4 keys rows by campaign name): the old key is no longer reported.
        assert after == _without(before, case.campaign, day)
    else:
        assert after == before
    assert corpus.blocking(day) == []


# --- duplicates: an exact repeat is quarantined, the first copy loads; a conflicting pair is quarantined ------


def _repeat(change: Callable[[Any], None] | None = None) -> Callable[[Stage, date], None]:
    def edit(rows: list) -> list:
        copies = [type(r).deserialize(type(r).serialize(r)) for r in rows if r.campaign.id == 1001]
        for copy in copies:
            if change:
                change(copy)
        return [*rows, *copies]
    return google_rows(edit)


DUPLICATES = [
    Case("google_exact_duplicate_row", GOOGLE, _repeat(), "1001", ("exact duplicate of row",)),
    Case("google_same_key_different_values", GOOGLE,
         _repeat(lambda r: setattr(r.metrics, "cost_micros", r.metrics.cost_micros + 1_000_000)), "1001",
         ("another row has the same key (customer_id, campaign_id, segments_date) with different values",)),
]


@pytest.mark.parametrize("case", DUPLICATES, ids=str)
def test_a_duplicated_row_is_quarantined(corpus: Stage, case: Case, day: date):
    before = corpus.raw(case.platform, day - timedelta(days=1), day)
    key = (GOOGLE_USD, case.campaign, day)
    case.arm(corpus, day)

    result = corpus.extract(case.platform, day)

    assert result.success, failure_text(result)
    quarantined = corpus.quarantined(case.platform, day)
    assert quarantined and all(case.says[0] in q["_reason"] and q["campaign_id"] == case.campaign
                               for q in quarantined)
    # An exact repeat: the first copy is judged and loads (the row loaded before), the repeat is quarantined.
    # Two rows of one key that disagree: neither can be trusted, both are quarantined, the good row stays.
    assert len(quarantined) == (1 if case.id == "google_exact_duplicate_row" else 2)
    assert corpus.raw(case.platform, day - timedelta(days=1), day) == before and key in before
    assert corpus.blocking(day) == []


# --- a row of a day outside the extract's window ---------------------------------------------------------


OUTSIDE = Case("tiktok_date_outside_the_window", TIKTOK,
               tiktok_row("3001", dimensions={"stat_time_day": "2024-12-01 00:00:00"}), "3001")


@pytest.mark.parametrize("case", [OUTSIDE], ids=str)
def test_a_row_dated_outside_the_window_is_quarantined(corpus: Stage, case: Case, day: date):
    before = corpus.raw(TIKTOK, day - timedelta(days=1), day)
    case.arm(corpus, day)

    result = corpus.extract(TIKTOK, day)

    # 1. Quarantined under the partition extracted (its own day is no partition of this run), naming the field.
    assert result.success, failure_text(result)
    [row] = corpus.quarantined(TIKTOK, None)
    assert row["_partition"] == day.isoformat() and row["stat_time_day"] == "2024-12-01"
    assert "stat_time_day is outside the partitions extracted" in row["_reason"]
    # 2. The day reloads without the campaign's row (TikTok sent none for it); the rest is as before.
    assert corpus.raw(TIKTOK, day - timedelta(days=1), day) == _without(before, "3001", day)
    # 3. Nothing lands on the day it claims, nothing is held back.
    assert corpus.raw(TIKTOK, date(2024, 12, 1)) == {} and corpus.blocking(day) == []


# --- 2. a table-level check holds the day back: what was loaded stays ---------------------------------------


def _without_campaigns(campaigns: tuple[str, ...]) -> Callable[[Stage, date], None]:
    def arm(stage: Stage, day: date) -> None:
        stage.tiktok.edit_items(lambda items: [i for i in items if i["dimensions"]["campaign_id"] not in campaigns],
                                on="report/integrated/get")
    return arm


HELD = [
    Case("meta_mixed_currencies_in_one_account", META, meta_row("2002", account_currency="USD"), "2002",
         (f"{META_EUR} on {{day}}: EUR, USD",), extra={"check": "valid_table", "rows": 6}),
    Case("google_mixed_currencies_in_one_account", GOOGLE,
         google_row("1000", lambda r: setattr(r.customer, "currency_code", "EUR")), "1000",
         (f"{GOOGLE_USD} on {{day}}: EUR, USD",), extra={"check": "valid_table", "rows": 6}),
    Case("tiktok_empty_response_for_an_account_that_spent_the_day_before", TIKTOK,
         _without_campaigns(TIKTOK_USD_CAMPAIGNS), None,
         (f"accounts {TIKTOK_USD} spent on {{yesterday}} and sent nothing",), extra={"check": "volume", "rows": 3}),
]


@pytest.mark.parametrize("case", HELD, ids=str)
def test_a_table_level_failure_holds_the_day_back(corpus: Stage, case: Case, day: date):
    before = corpus.raw(case.platform, day - timedelta(days=1), day)
    case.arm(corpus, day)

    result = corpus.extract(case.platform, day)

    # 1. The blocking check fails, naming the account and what is wrong; a failed blocking check fails the run.
    check = evaluation(result, case.extra["check"])
    assert not check.passed and not result.success
    assert case.says[0].format(day=day, yesterday=day - timedelta(days=1)) in check.description
    # 2. The day keeps exactly what was loaded before; its new rows wait in quarantine, saying why.
    assert corpus.raw(case.platform, day - timedelta(days=1), day) == before
    quarantined = corpus.quarantined(case.platform, day)
    assert len(quarantined) == case.extra["rows"] and all(q["_reason"].startswith("day held back: ")
                                                          for q in quarantined)
    # 3. The gates see the day as failed: no plan is made on it, no plan built on it is pushed.
    assert corpus.blocking(day) == [(case.platform.table.name, day, case.extra["check"])]


# --- 3. an answer that cannot be trusted as a whole fails the extract, which loads nothing -------------------


def _meta_body(body: str) -> Callable[[Stage, date], None]:
    return lambda stage, day: stage.meta.serve_body_next(body, on=f"/act_{META_EUR}/insights", times=5)


def _tiktok_page(data: Any) -> Callable[[Stage, date], None]:
    body = json.dumps({"code": 0, "message": "OK", "request_id": "corpus", "data": data})
    return lambda stage, day: stage.tiktok.serve_body_next(body, on="report/integrated/get", times=5)


def _meta_repeat(stage: Stage, day: date) -> None:
    stage.meta.edit_rows(lambda rows: rows + [r for r in rows if r.get("campaign_id") == "2001"], on="/insights")


def _ga4_repeat(stage: Stage, day: date) -> None:
    stage.ga4.edit_report(lambda report: {**report, "rows": [*report["rows"], report["rows"][0]],
                                          "rowCount": report["rowCount"] + 1})


def _ga4_short_row(stage: Stage, day: date) -> None:
    def edit(report: dict) -> dict:
        report["rows"][1]["metricValues"] = report["rows"][1]["metricValues"][:2]
        return report
    stage.ga4.edit_report(edit)


REFUSED = [
    Case("meta_truncated_page", META, lambda stage, day: stage.meta.truncate_page(1, on=f"/act_{META_EUR}/insights"),
         says=("meta_ads", f"act_{META_EUR}", "page 1", "not a JSON object")),
    Case("meta_html_instead_of_json", META, _meta_body("<html><body>Sorry, something went wrong.</body></html>"),
         says=("meta_ads", f"act_{META_EUR}", "page 1")),
    Case("meta_data_is_a_number_not_a_list", META, _meta_body('{"data": 5}'),
         says=("meta_ads", f"act_{META_EUR}", "page 1")),
    Case("meta_a_campaign_day_twice", META, _meta_repeat,
         says=("meta_ads", f"act_{META_EUR}", "campaign-day twice")),
    Case("tiktok_truncated_page", TIKTOK, lambda stage, day: stage.tiktok.truncate_page(1),
         says=("TikTok", f"advertiser {TIKTOK_USD}", "page 1", "not valid JSON")),
    Case("tiktok_list_is_a_number", TIKTOK, _tiktok_page({"list": 5, "page_info": {"page": 1, "total_page": 1}}),
         says=("TikTok", f"advertiser {TIKTOK_USD}", "page 1 has no list")),
    Case("tiktok_row_without_metrics", TIKTOK, _tiktok_page(
        {"list": [{"dimensions": {"campaign_id": "3000", "stat_time_day": "x"}}], "page_info": {"total_page": 1}}),
         says=("TikTok", f"advertiser {TIKTOK_USD}", "no 'metrics' object")),
    Case("google_truncated_stream", GOOGLE, lambda stage, day: stage.google.corrupt_next_stream("truncate", times=5),
         says=("google_ads", f"customer {GOOGLE_USD}", "reading campaign performance", "deserializing")),
    Case("google_garbage_stream", GOOGLE, lambda stage, day: stage.google.corrupt_next_stream("garbage", times=5),
         says=("google_ads", f"customer {GOOGLE_USD}", "reading campaign performance", "deserializing")),
    Case("ga4_truncated_response", GA4, lambda stage, day: stage.ga4.truncate_next(),
         says=("GA4 property", "runReport", "not valid JSON")),
    Case("ga4_rows_is_a_number", GA4, lambda stage, day: stage.ga4.serve_body_next('{"rows": 5, "rowCount": 1}'),
         says=("GA4 property", "runReport", "not valid JSON")),
    Case("ga4_a_row_twice", GA4, _ga4_repeat, says=("GA4 property", "twice")),
    Case("ga4_a_row_missing_a_value", GA4, _ga4_short_row,
         says=("GA4 property", "has 3 dimension and 2 metric values")),
]


@pytest.mark.parametrize("case", REFUSED, ids=str)
def test_an_answer_that_cannot_be_trusted_fails_the_extract_and_loads_nothing(corpus: Stage, case: Case, day: date,
                                                                             monkeypatch):
    for name, value in case.extra.items():
        monkeypatch.setenv(name, value)
    before = corpus.raw(case.platform, day - timedelta(days=1), day)
    verdicts = corpus.query("select count(*) from quality.check_results")[0][0]
    case.arm(corpus, day)

    result = corpus.extract(case.platform, day)

    # 1. The run fails with a message naming the platform, the account and what was wrong.
    assert not result.success
    message = failure_text(result)
    assert all(words in message for words in case.says), message
    # 2. Nothing was written: the day keeps what was loaded before, nothing was quarantined.
    assert corpus.raw(case.platform, day - timedelta(days=1), day) == before
    assert corpus.quarantined(case.platform, day) == []
    # 3. No verdict was recorded either: the failed run is what the schedule and the UI see.
    assert corpus.query("select count(*) from quality.check_results")[0][0] == verdicts


# --- 4. what is odd but valid loads as sent -------------------------------------------------------------


SQL_NAME = "Robert'); DROP TABLE raw.tiktok_ads_campaign_daily; --"

LOADED = [
    Case("tiktok_sql_looking_name", TIKTOK, tiktok_row("3100", campaign_name=SQL_NAME), "3100",
         extra={"column": "campaign_name", "value": SQL_NAME}),
    Case("tiktok_spend_as_a_json_number", TIKTOK, tiktok_row("3001", spend=123.45), "3001",
         extra={"column": "spend", "value": "123.4500"}),
    Case("meta_extra_unexpected_fields", META,
         meta_row("2100", cpm="3.10", objective="OUTCOME_SALES", unexpected={"nested": [1, 2]}), "2100", extra={}),
    Case("ga4_extra_unexpected_fields", GA4, lambda stage, day: stage.ga4.edit_report(
        lambda report: {**report, "propertyQuota": {"tokensPerDay": {"consumed": 3}},
                        "rows": [{**r, "extra": "x"} for r in report["rows"]]}), NAMES[0], extra={}),
]


@pytest.mark.parametrize("case", LOADED, ids=str)
def test_what_is_odd_but_valid_loads_as_sent(corpus: Stage, case: Case, day: date):
    before, tables = corpus.raw(case.platform, day - timedelta(days=1), day), corpus.tables()
    case.arm(corpus, day)

    result = corpus.extract(case.platform, day)

    # 1. Every check passes and the row loads, the odd value stored exactly as sent.
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    after = corpus.raw(case.platform, day - timedelta(days=1), day)
    names = case.platform.table.column_names
    column = case.extra.get("column")
    changed = [k for k in after if case.campaign in k and day in k]
    assert len(changed) == 1
    if column:
        assert str(after[changed[0]][names.index(column)]) == case.extra["value"]
    # 2. Everything else is as before (extra fields are ignored: their rows equal the ones loaded before).
    skip = names.index(column) if column else None
    assert {k: tuple(v for i, v in enumerate(row) if i != skip) for k, row in after.items()} == \
        {k: tuple(v for i, v in enumerate(row) if i != skip) for k, row in before.items()}
    # 3. Nothing quarantined, nothing held back, and every table is still there (the one the SQL-looking name
    # would drop included).
    assert corpus.quarantined(case.platform, day) == [] and corpus.blocking(day) == []
    assert corpus.tables() == tables and "raw.tiktok_ads_campaign_daily" in tables
