"""The bad-input corpus of the CSV import, through the real ``csv_campaign_daily`` extract asset.

Every case first loads a good export of its own day (its own folder as
``MBO_IMPORT_DIR``, its own day far from the others, so no case sees another's
history), then drops the bad version and runs the extract of that day again.
Each asserts the outcome (a refusal naming the file, the line and the field;
a quarantined row whose reason names the field; a day held back; or a clean
load), that the rows loaded before are unchanged, and that nothing downstream
can act on the bad data (it is not in raw, or the day is in the gates' list of
blocking failures, or the extract failed without loading anything).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from mbo_pipelines.defs.ingest.assets import csv_campaign_daily
from mbo_pipelines.defs.ingest.raw_tables import CSV_CAMPAIGN_DAILY, CSV_COLUMNS
from mbo_pipelines.defs.quality import store
from mbo_pipelines.resources import MboResource
from tests.fakes.csv_files import DEFAULT_MODIFIED_AT, key, write_csv, write_import_files

FIRST_DAY = date(2025, 2, 3)
#: Days between two cases' days. Each case loads its day and the days either side; six apart, no case's day
#: has another's on the day before, nor three of the same weekday in the four weeks the volume band reads.
CASE_SPACING = 6
COLUMNS = ", ".join(CSV_CAMPAIGN_DAILY.column_names)
KEY_COLUMNS = ("platform", "account_id", "campaign_id", "date")
FILE = "export.csv"


@pytest.fixture(scope="module")
def url(new_database):
    """One database for the whole corpus: each case keeps to its own day."""
    return new_database("corpus_csv")


@dataclass
class World:
    """A case's import folder, its day and the good rows loaded for it before the bad file arrives."""

    folder: Path
    day: date
    good: list[dict[str, Any]]

    @property
    def path(self) -> Path:
        return self.folder / FILE

    def write(self, rows: list[dict[str, Any]], **options: Any) -> Path:
        """Replace the export with ``rows`` (a re-export of the same file)."""
        return write_csv(self.path, rows, **options)


def _extract(url: str, day: date, end: date | None = None) -> dg.ExecuteInProcessResult:
    """Run the CSV extract asset for [day, end] (one partition by default), failures returned, not raised."""
    tags = {ASSET_PARTITION_RANGE_START_TAG: day.isoformat(), ASSET_PARTITION_RANGE_END_TAG: (end or day).isoformat()}
    return dg.materialize([csv_campaign_daily], resources={"mbo": MboResource(database_url=url)}, tags=tags,
                          raise_on_error=False)


def _raw(url: str, start: date, end: date | None = None) -> dict[tuple, tuple]:
    """The loaded rows of [start, end] by key (platform, account, campaign, date), as ``csv_files.key`` gives it."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"select {COLUMNS} from raw.csv_campaign_daily where date between %s and %s",
                            (start, end or start)).fetchall()
    names = CSV_CAMPAIGN_DAILY.column_names
    return {tuple(row[names.index(c)] for c in KEY_COLUMNS): row for row in rows}


def _quarantined(url: str, day: date) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn:
        if conn.execute("select to_regclass('quarantine.csv_campaign_daily') is null").fetchone()[0]:
            return []
        cur = conn.execute("select * from quarantine.csv_campaign_daily where _day = %s "
                           "or (_day is null and _partition = %s)", (day, day.isoformat()))
        names = [d.name for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]


def _blocking(url: str, day: date) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return store.blocking_failures(conn, day, day)


def _results_of_run(url: str, run_id: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        if conn.execute("select to_regclass('quality.check_results') is null").fetchone()[0]:
            return []
        return conn.execute("select day, check_name, passed, summary from quality.check_results where run_id = %s",
                            (run_id,)).fetchall()


def _failure_text(result: dg.ExecuteInProcessResult) -> str:
    """The failed step's error and its causes, as one text."""
    [failure] = result.get_step_failure_events()
    error, parts = failure.step_failure_data.error, []
    while error is not None:
        parts.append(error.message)
        error = error.cause
    return "\n".join(parts)


@pytest.fixture
def world(url, tmp_path, monkeypatch, request) -> World:
    """The case's folder with a good export of its day, loaded through the extract."""
    day = FIRST_DAY + timedelta(days=CASE_SPACING * _case_number(request.node.name))
    folder = tmp_path / "imports"
    folder.mkdir()
    monkeypatch.setenv("MBO_IMPORT_DIR", str(folder))
    monkeypatch.setenv("MBO_LOOKBACK_DAYS", "0")
    # Four accounts of two campaigns each: a quarantined row never leaves its account without rows.
    files = write_import_files(folder, day - timedelta(days=1), day + timedelta(days=1), campaigns=8,
                               platforms=("linkedin_ads", "microsoft_ads"), one_file=True)
    files.paths[0].rename(folder / FILE)
    good = [{**row, "source_file": FILE} for row in files.rows]
    assert _extract(url, day - timedelta(days=1), day + timedelta(days=1)).success
    loaded = _raw(url, day - timedelta(days=1), day + timedelta(days=1))
    assert set(loaded) == {key(r) for r in good} and len({r["account_id"] for r in good}) == 4
    return World(folder, day, good)


_CASE_NAMES: list[str] = []


def _case_number(test_name: str) -> int:
    """A distinct number per test of the session (its day), in the order tests first ask."""
    if test_name not in _CASE_NAMES:
        _CASE_NAMES.append(test_name)
    return _CASE_NAMES.index(test_name)


def _of_day(world: World) -> list[dict[str, Any]]:
    return [r for r in world.good if r["date"] == world.day]


def _changed(world: World, index: int, **values: Any) -> list[dict[str, Any]]:
    """The good rows of the three days with row ``index`` of the case's day changed."""
    target = key(_of_day(world)[index])
    return [{**r, **values} if key(r) == target else r for r in world.good]


def _as_text(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{c: str(r[c]) if not isinstance(r[c], date) else r[c].isoformat() for c in CSV_COLUMNS} for r in rows]


def _line_of(world: World, index: int) -> int:
    """The file line of row ``index`` of the case's day (the header is line 1; rows are sorted by key)."""
    target = key(_of_day(world)[index])
    return 2 + [key(r) for r in world.good].index(target)


# --- refused: the whole import fails, naming file, line and field; nothing loads ------------------------------


@dataclass(frozen=True)
class Refusal:
    """A bad export the reader refuses: how to write it, and what the error must say."""

    id: str
    write: Callable[[World], None]
    where: Callable[[World], str]
    says: str


def _write_bytes(world: World, index: int, marker: str, raw: bytes) -> None:
    world.write(_changed(world, index, campaign_name=marker))
    world.path.write_bytes(world.path.read_bytes().replace(marker.encode(), raw))


def _write_unquoted_decimal_comma(world: World) -> None:
    world.write([{**r, "campaign_name": "Plain"} for r in _changed(world, 0, spend="1234.50")])
    world.path.write_text(world.path.read_text(encoding="utf-8").replace("1234.50", "1234,50"), encoding="utf-8")


REFUSALS = [
    Refusal("semicolon_file_with_decimal_points",
            lambda w: w.write(_as_text(w.good), european=True),
            lambda w: f"{FILE} line 2, column spend: '{w.good[0]['spend']}'",
            "a point is refused because it may be a thousands separator"),
    Refusal("decimal_comma_in_a_comma_file",
            lambda w: w.write(_changed(w, 0, spend="12,50")),
            lambda w: f"{FILE} line {_line_of(w, 0)}, column spend: '12,50'",
            "use a decimal point (12.50, not 12,50)"),
    Refusal("unquoted_decimal_comma_splits_the_row",
            _write_unquoted_decimal_comma,
            lambda w: f"{FILE} line {_line_of(w, 0)}: 14 values but the header has 13 columns",
            "use a decimal point and quote text that contains commas"),
    Refusal("missing_column",
            lambda w: w.write(w.good, columns=[c for c in CSV_COLUMNS if c != "clicks"]),
            lambda w: f"{FILE} line 1 (header): missing column(s) clicks",
            "the header must name date,platform"),
    Refusal("nan_spend",
            lambda w: w.write(_changed(w, 1, spend="NaN")),
            lambda w: f"{FILE} line {_line_of(w, 1)}, column spend: 'NaN'",
            "not NaN or infinity"),
    Refusal("infinite_conversion_value",
            lambda w: w.write(_changed(w, 1, conversion_value="Infinity")),
            lambda w: f"{FILE} line {_line_of(w, 1)}, column conversion_value: 'Infinity'",
            "not NaN or infinity"),
    Refusal("negative_spend",
            lambda w: w.write(_changed(w, 2, spend="-3.20")),
            lambda w: f"{FILE} line {_line_of(w, 2)}, column spend: '-3.20'",
            "amounts cannot be negative"),
    Refusal("wrong_type_count",
            lambda w: w.write(_changed(w, 2, clicks="twelve")),
            lambda w: f"{FILE} line {_line_of(w, 2)}, column clicks: 'twelve'",
            "a whole number >= 0"),
    Refusal("budget_beyond_the_column",
            lambda w: w.write(_changed(w, 0, daily_budget="1e20")),
            lambda w: f"{FILE} line {_line_of(w, 0)}, column daily_budget: '1e20'",
            "below 100000000000000"),
    Refusal("duplicated_row",
            lambda w: w.write(w.good + [_of_day(w)[3]]),
            lambda w: f"{FILE} line {len(w.good) + 2}, columns date, platform, account_id, campaign_id: "
                      f"{', '.join(map(str, key(_of_day(w)[3])[-1:] + key(_of_day(w)[3])[:3]))} "
                      f"is also on line {_line_of(w, 3)}",
            "expected one row per date × platform × account × campaign in a file"),
    Refusal("lone_surrogate_bytes_in_a_name",
            lambda w: _write_bytes(w, 1, "SURROGATE", b"Sale \xed\xa0\x80"),
            lambda w: f"{FILE} line {_line_of(w, 1)}, column campaign_name: 'Sale \ufffd\ufffd\ufffd'",
            "byte 0xed is not UTF-8: expected UTF-8 text; re-save the file as UTF-8"),
    Refusal("mixed_currencies_in_one_account_in_a_file",
            lambda w: w.write(_changed(w, 4, currency="GBP")),
            lambda w: f"{FILE} line {_line_of(w, 4)}, column currency: 'GBP' — expected",
            "has one currency"),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[c.id for c in REFUSALS])
def test_refused(url, world, case: Refusal):
    before = _raw(url, world.day - timedelta(days=1), world.day + timedelta(days=1))
    case.write(world)

    result = _extract(url, world.day)

    # 1. A clear error: the file, the line and the field, and what to do.
    assert not result.success
    message = _failure_text(result)
    assert case.where(world) in message, message
    assert case.says in message and "refused, nothing was loaded" in message
    # 2. What was loaded before is unchanged.
    assert _raw(url, world.day - timedelta(days=1), world.day + timedelta(days=1)) == before
    # 3. The extract failed before loading or judging anything: no verdict, nothing quarantined.
    assert _results_of_run(url, result.run_id) == [] and _quarantined(url, world.day) == []


# --- quarantined: the row well-formed but invalid by the quality rules; the rest of the day loads ------------


@dataclass(frozen=True)
class Quarantine:
    """A bad value the reader accepts and the quality rules quarantine: the row's change and the reason."""

    id: str
    index: int
    change: dict[str, Any]
    reason: str


LONG_NAME = "Spring sale " * 833 + "!!!!"
QUARANTINES = [
    Quarantine("nul_byte_in_a_name", 0, {"campaign_name": "Spring\x00Sale"},
               "campaign_name has control characters or is not valid UTF-8"),
    Quarantine("line_break_in_a_name", 1, {"campaign_name": "Spring\nSale"},
               "campaign_name has control characters or is not valid UTF-8"),
    Quarantine("bell_character_in_a_name", 2, {"campaign_name": "Spring \x07Sale"},
               "campaign_name has control characters or is not valid UTF-8"),
    Quarantine("ten_thousand_character_name", 3, {"campaign_name": LONG_NAME},
               "campaign_name is empty or longer than 1000 characters"),
    Quarantine("absurd_spend", 0, {"spend": Decimal("5000000000000.00")},
               "spend is negative, infinite or absurdly large"),
    Quarantine("absurd_impressions", 1, {"impressions": 10**15, "clicks": 10}, "impressions is negative, infinite or absurdly large"),
    Quarantine("absurd_conversions", 2, {"conversions": 1e300}, "conversions is negative, infinite or absurdly large"),
    Quarantine("clicks_exceed_impressions", 4, {"impressions": 10, "clicks": 11}, "clicks exceeds impressions"),
]


@pytest.mark.parametrize("case", QUARANTINES, ids=[c.id for c in QUARANTINES])
def test_quarantined(url, world, case: Quarantine):
    before = _raw(url, world.day)
    bad = {**_of_day(world)[case.index], **case.change}
    bad_key = key(bad)
    assert len(LONG_NAME) == 10_000
    world.write(_changed(world, case.index, **case.change))

    result = _extract(url, world.day)

    # 1. The run succeeds; the row sits in quarantine with a reason naming the field, and only that row.
    assert result.success
    [row] = _quarantined(url, world.day)
    assert case.reason in row["_reason"], row["_reason"]
    assert (row["campaign_id"], row["_partition"], row["_run_id"]) == (bad["campaign_id"], world.day.isoformat(),
                                                                        result.run_id)
    assert row["campaign_name"] == store.printable(bad["campaign_name"])
    [valid_rows] = [e for e in result.get_asset_check_evaluations() if e.check_name == "valid_rows"]
    assert not valid_rows.passed and valid_rows.metadata["rows_quarantined"].value == 1
    # 2. The other rows of the day are as loaded before; the bad row's key never holds the bad values.
    after = _raw(url, world.day)
    assert {k: v for k, v in after.items() if k != bad_key} == {k: v for k, v in before.items() if k != bad_key}
    assert after.get(bad_key) in (None, before[bad_key])
    # 3. Nothing downstream reads it: not in raw (above), and the day is not blocked by a row the marts never see.
    assert _blocking(url, world.day) == []


# --- held back: a table-level check fails and the day keeps what was loaded -----------------------------------


def test_mixed_currencies_in_one_account_across_files_hold_the_day_back(url, world):
    # The reader checks one currency per account within a file; a second file can still disagree on the same day.
    # The run covers three days, only the middle one bad: the days either side load, the bad one is held back.
    day_before, day_after = world.day - timedelta(days=1), world.day + timedelta(days=1)
    before = _raw(url, day_before, day_after)
    with psycopg.connect(url) as conn:  # mark the days either side, so their reload shows
        conn.execute("update raw.csv_campaign_daily set clicks = clicks + 1000 where date in (%s, %s)",
                     (day_before, day_after))
    usd = next(r for r in _of_day(world) if r["currency"] == "USD" and r["platform"] == "linkedin_ads")
    other = {**usd, "campaign_id": "990001", "campaign_name": "Brand GBP", "currency": "GBP"}
    write_csv(world.folder / "more.csv", [other], modified_at=DEFAULT_MODIFIED_AT + timedelta(hours=1))

    result = _extract(url, day_before, day_after)

    # 1. The valid_table check fails naming the account and its currencies; being blocking, it fails the run
    #    (nothing downstream of the extract runs in it).
    [valid_table] = [e for e in result.get_asset_check_evaluations() if e.check_name == "valid_table"]
    assert not valid_table.passed and valid_table.severity == dg.AssetCheckSeverity.ERROR
    assert "an account reports more than one currency" in valid_table.description
    assert f"linkedin_ads/{usd['account_id']} on {world.day}: GBP, USD" in valid_table.description
    assert not result.success and "raw/csv_campaign_daily: valid_table" in _failure_text(result)
    # 2. The day keeps what was loaded before, exactly, and the days either side are the file's again;
    #    the bad day's rows wait in quarantine as "day held back".
    assert _raw(url, day_before, day_after) == before
    quarantined = _quarantined(url, world.day)
    assert len(quarantined) == len(_of_day(world)) + 1
    assert all(r["_reason"].startswith("day held back: ") for r in quarantined)
    # 3. The gates see it: a blocking failure on that day.
    [(table, day, check, summary)] = _blocking(url, world.day)
    assert (table, day, check) == ("raw.csv_campaign_daily", world.day, "valid_table")
    assert "more than one currency" in summary


def test_an_unknown_currency_quarantines_the_account_and_holds_the_day_back(url, world):
    # A currency is per account (one per account in a file), so an unknown code takes every row of the account:
    # the rows are quarantined, and an account that spent the day before and now has no valid row holds the day.
    before = _raw(url, world.day - timedelta(days=1), world.day + timedelta(days=1))
    account = _of_day(world)[6]["account_id"]
    world.write([{**r, "currency": "XYZ"} if r["account_id"] == account else r for r in world.good])

    result = _extract(url, world.day)

    # 1. The account's rows are quarantined for the unknown code; the day is held back for the missing account.
    quarantined = _quarantined(url, world.day)
    reasons = {r["campaign_id"]: r["_reason"] for r in quarantined}
    account_rows = {r["campaign_id"] for r in _of_day(world) if r["account_id"] == account}
    assert len(account_rows) == 2 and len(quarantined) == len(_of_day(world))
    assert all("currency is not an ISO 4217 currency code" in reasons[c] for c in account_rows)
    assert all(reason.startswith("day held back: ") for c, reason in reasons.items() if c not in account_rows)
    [volume] = [e for e in result.get_asset_check_evaluations() if e.check_name == "volume"]
    assert not volume.passed and f"microsoft_ads/{account} spent on {world.day - timedelta(days=1)}" in volume.description
    # 2. The day keeps what was loaded before.
    assert _raw(url, world.day - timedelta(days=1), world.day + timedelta(days=1)) == before
    # 3. The gates see it.
    assert [(t, d, c) for t, d, c, _ in _blocking(url, world.day)] == [("raw.csv_campaign_daily", world.day, "volume")]


# --- loads: well-formed files that must load as they are ----------------------------------------------------


def _assert_loads_as_before(url: str, world: World, result: dg.ExecuteInProcessResult, before: dict) -> None:
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    assert _raw(url, world.day - timedelta(days=1), world.day + timedelta(days=1)) == before
    assert _quarantined(url, world.day) == [] and _blocking(url, world.day) == []


def test_a_bom_loads(url, world):
    before = _raw(url, world.day - timedelta(days=1), world.day + timedelta(days=1))
    world.write(world.good, bom=True)
    assert world.path.read_bytes().startswith(b"\xef\xbb\xbfdate,")
    _assert_loads_as_before(url, world, _extract(url, world.day), before)


def test_a_european_excel_export_loads_the_same_numbers(url, world):
    # Semicolons and decimal commas together (and a BOM, as Excel writes it): read as the comma file was.
    before = _raw(url, world.day - timedelta(days=1), world.day + timedelta(days=1))
    world.write(world.good, european=True, bom=True)
    text = world.path.read_text(encoding="utf-8-sig")
    assert text.startswith("date;platform;") and any(f";{r['spend']};".replace(".", ",") in text for r in world.good)
    _assert_loads_as_before(url, world, _extract(url, world.day), before)


def test_extra_columns_are_ignored(url, world):
    before = _raw(url, world.day - timedelta(days=1), world.day + timedelta(days=1))
    world.write(world.good, extra_columns={"Campaign Group": "EMEA; Brand", "cpc": "1,25", "": ""})
    result = _extract(url, world.day)
    _assert_loads_as_before(url, world, result, before)
    [event] = result.get_asset_materialization_events()
    assert "Campaign Group, cpc" in event.materialization.metadata["ignored_columns"].value  # said, not silent


def test_an_sql_looking_name_loads_verbatim_and_harms_nothing(url, world):
    name = "x'); DROP TABLE raw.csv_campaign_daily; DELETE FROM quality.check_results; --"
    before = _raw(url, world.day)
    target = key(_of_day(world)[0])
    world.write(_changed(world, 0, campaign_name=name))

    result = _extract(url, world.day)

    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    after = _raw(url, world.day)
    names = CSV_CAMPAIGN_DAILY.column_names
    assert after[target][names.index("campaign_name")] == name
    assert {k: v for k, v in after.items() if k != target} == {k: v for k, v in before.items() if k != target}
    # The other days are still there, and so are the verdicts.
    assert len(_raw(url, world.day - timedelta(days=1), world.day + timedelta(days=1))) == len(world.good)
    assert _results_of_run(url, result.run_id) and _blocking(url, world.day) == []


def test_rows_outside_the_partition_are_not_loaded(url, world):
    # The export restates the days around the partition (and carries one far in the past): only the partition loads.
    day_before, day_after = world.day - timedelta(days=1), world.day + timedelta(days=1)
    before = _raw(url, day_before, day_after)
    restated = [{**r, "spend": r["spend"] + 1} if r["date"] != world.day else r for r in world.good]
    stray = {**_of_day(world)[0], "date": date(1999, 12, 31)}
    world.write(restated + [stray])

    result = _extract(url, world.day)

    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    assert _raw(url, day_before, day_after) == before
    assert _raw(url, date(1999, 12, 31)) == {} and _quarantined(url, world.day) == []
    # Running the day after does load its restated numbers: the file was right, the partition decides.
    assert _extract(url, day_after).success
    names = CSV_CAMPAIGN_DAILY.column_names
    assert {k: v[names.index("spend")] for k, v in _raw(url, day_after).items()} == {
        key(r): r["spend"] for r in restated if r["date"] == day_after}
