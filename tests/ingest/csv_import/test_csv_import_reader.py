"""The CSV import reader: the MBO_IMPORT_DIR contract, newest file wins, and clear refusals of bad files."""

from __future__ import annotations

import csv
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from mbo_pipelines.defs.ingest.csv_import.reader import CsvImportError, read_import_rows
from mbo_pipelines.defs.ingest.raw_tables import CSV_CAMPAIGN_DAILY, CSV_COLUMNS
from tests.fakes.csv_files import (
    DEFAULT_MODIFIED_AT,
    european_row,
    key,
    merge_rows,
    sample_row,
    set_modified_at,
    write_correction_file,
    write_csv,
    write_import_files,
)

START, END = date(2024, 3, 1), date(2024, 3, 31)
LATER = DEFAULT_MODIFIED_AT + timedelta(hours=1)


def refusal(directory, start=START, end=END) -> str:
    """The CsvImportError message for reading ``directory``."""
    with pytest.raises(CsvImportError) as caught:
        read_import_rows(directory, start, end)
    return str(caught.value)


# --- the happy path ---------------------------------------------------------------------------------------------


def test_a_50_campaign_90_day_import_round_trips_exactly(tmp_path):
    start, end = date(2024, 1, 1), date(2024, 3, 30)
    files = write_import_files(tmp_path, start, end, campaigns=50)

    result = read_import_rows(tmp_path, start, end)

    assert result.rows == files.rows
    assert len(result.rows) > 50 * 80 and result.superseded == 0 and result.ignored_columns == {}
    assert sorted(result.files) == sorted(p.name for p in files.paths)
    assert sum(result.rows_per_file.values()) == len(result.rows)
    first = result.rows[0]
    assert list(first) == CSV_CAMPAIGN_DAILY.column_names
    assert (type(first["date"]), type(first["spend"]), type(first["daily_budget"])) == (date, Decimal, Decimal)
    assert (type(first["impressions"]), type(first["clicks"]), type(first["conversions"])) == (int, int, float)
    assert first["source_file_modified_at"] == DEFAULT_MODIFIED_AT and first["source_file_modified_at"].tzinfo
    # Money exactly as written: the same digits, trailing zeros included (no float round trip).
    loaded = {key(r): r for r in result.rows}
    for path in files.paths:
        with path.open(encoding="utf-8", newline="") as f:
            for written in csv.DictReader(f):
                row = loaded[(written["platform"], written["account_id"], written["campaign_id"],
                              date.fromisoformat(written["date"]))]
                assert (str(row["spend"]), str(row["daily_budget"])) == (written["spend"], written["daily_budget"])
                assert row["campaign_name"] == written["campaign_name"]
    yen = [r for r in result.rows if r["currency"] == "JPY"]
    assert yen and all(r["daily_budget"] == r["daily_budget"].to_integral_value() for r in yen)
    assert {r["status"] for r in result.rows} == {"active", "paused"}
    names = {r["campaign_name"] for r in result.rows}
    assert {'Brand, "Exact" — Q1 ', 'Spring "Sale"; 50% off'} <= names and any("DROP TABLE" in n for n in names)


def test_a_year_of_50_campaigns_in_three_files_reads_fast(tmp_path):
    start, end = date(2024, 1, 1), date(2024, 12, 30)
    for n in range(3):
        write_import_files(tmp_path, start, end, campaigns=50, seed=n, one_file=True, prefix=f"{n}-")

    began = time.perf_counter()
    result = read_import_rows(tmp_path, start, end)
    elapsed = time.perf_counter() - began

    assert len(result.files) == 3 and result.superseded == 2 * len(result.rows)
    assert elapsed < 3, f"reading {sum(result.rows_per_file.values())} rows took {elapsed:.2f}s"


def test_header_columns_in_another_order(tmp_path):
    files = write_import_files(tmp_path, START, END, campaigns=6, columns=list(reversed(CSV_COLUMNS)))
    assert read_import_rows(tmp_path, START, END).rows == files.rows


def test_a_utf8_bom_is_accepted(tmp_path):
    files = write_import_files(tmp_path, START, END, campaigns=6, bom=True)
    assert files.paths[0].read_bytes().startswith(b"\xef\xbb\xbfdate,")
    assert read_import_rows(tmp_path, START, END).rows == files.rows


def test_a_european_excel_export_reads_like_the_comma_separated_file(tmp_path):
    # Semicolon-separated with decimal commas, as European Excel saves "CSV": the same rows, to the digit.
    files = write_import_files(tmp_path, START, END, campaigns=6, european=True, bom=True)
    header, first = files.paths[0].read_text(encoding="utf-8-sig").splitlines()[:2]
    assert header.startswith("date;platform;") and "," not in header and "." not in first.split(";", 6)[-1]
    assert read_import_rows(tmp_path, START, END).rows == files.rows


def test_a_decimal_comma_in_a_semicolon_file_is_read_as_the_decimal_mark(tmp_path):
    write_csv(tmp_path / "eu.csv", [european_row(spend="12,50", conversions="1,5", impressions="1000")], european=True)
    (row,) = read_import_rows(tmp_path, START, END).rows
    assert (row["spend"], row["conversions"], row["impressions"]) == (Decimal("12.50"), 1.5, 1000)


@pytest.mark.parametrize(("column", "value", "expected"), [
    ("spend", "12.50", "a point is refused because it may be a thousands separator"),
    ("spend", "1.234,56", "no thousands separators"),
    ("impressions", "1.000", "a whole number >= 0, e.g. 1234: this file is semicolon-separated"),
    ("spend", "-1,00", "a number >= 0 with a decimal comma, e.g. 1234,56 (amounts cannot be negative)"),
    ("conversions", "1,2,3", "no thousands separators"),
    ("spend", "€12,50", "digits and a decimal comma only"),
])
def test_a_semicolon_file_refuses_points_and_thousands_separators(tmp_path, column, value, expected):
    write_csv(tmp_path / "eu.csv", [european_row(campaign_id="1"), european_row(**{column: value})], european=True)
    message = refusal(tmp_path)
    assert f"eu.csv line 3, column {column}: {value!r}" in message and expected in message


def test_a_decimal_comma_in_a_comma_separated_file_is_still_refused(tmp_path):
    write_csv(tmp_path / "us.csv", [sample_row(spend="12,50")])  # quoted by the writer: one value
    assert "us.csv line 2, column spend: '12,50' — expected a number >= 0 with a decimal point" in refusal(tmp_path)


def test_an_unquoted_semicolon_in_a_semicolon_file_is_explained(tmp_path):
    path = write_csv(tmp_path / "eu.csv", [european_row(campaign_name="Brand EU")], european=True)
    path.write_text(path.read_text(encoding="utf-8").replace("Brand EU", "Brand; EU"), encoding="utf-8")
    message = refusal(tmp_path)
    assert "eu.csv line 2: 14 values but the header has 13 columns" in message and "quote text that contains semicolons" in message


def test_values_are_normalised(tmp_path):
    write_csv(tmp_path / "a.csv", [sample_row(platform="  LinkedIn_Ads ", currency="usd", status="PAUSED",
                                              account_id=" 508123456 ")])
    (row,) = read_import_rows(tmp_path, START, END).rows
    assert (row["platform"], row["currency"], row["status"], row["account_id"]) == (
        "linkedin_ads", "USD", "paused", "508123456")


def test_extra_columns_are_ignored_and_reported(tmp_path):
    files = write_import_files(tmp_path, START, END, campaigns=3, platforms=("x_ads",),
                               extra_columns={"Campaign Group": "Brand; EMEA", "cpc": "1,25"})
    result = read_import_rows(tmp_path, START, END)
    assert result.rows == files.rows
    assert result.ignored_columns == {files.paths[0].name: ["Campaign Group", "cpc"]}
    assert "Campaign Group" in result.summary


def test_rows_outside_the_window_are_not_returned(tmp_path):
    files = write_import_files(tmp_path, date(2024, 2, 1), date(2024, 4, 30), campaigns=5)
    result = read_import_rows(tmp_path, START, END)
    assert result.rows == [r for r in files.rows if START <= r["date"] <= END]
    assert {r["date"] for r in result.rows} == {START + timedelta(days=n) for n in range(31)}


def test_an_existing_directory_without_csv_files_yields_no_rows(tmp_path):
    (tmp_path / "notes.txt").write_text("not an export")
    (tmp_path / "old.csv").mkdir()  # a directory named like a file is not a file
    (tmp_path / "._export.csv").write_bytes(b"\x00\x05\x16\x07 mac resource fork")  # hidden: not read
    result = read_import_rows(tmp_path, START, END)
    assert (result.rows, result.files, result.superseded) == ([], [], 0)


def test_blank_lines_and_empty_trailing_rows_are_skipped(tmp_path):
    path = write_csv(tmp_path / "a.csv", [sample_row()])
    path.write_text(path.read_text(encoding="utf-8") + "\r\n,,,,,,,,,,,,\r\n\r\n", encoding="utf-8")
    assert len(read_import_rows(tmp_path, START, END).rows) == 1


# --- corrections: the newest file wins per key ------------------------------------------------------------------


def test_a_correction_file_changes_only_the_keys_it_restates(tmp_path):
    files = write_import_files(tmp_path, START, END, campaigns=8)
    fixed = write_correction_file(tmp_path, files.rows, count=4)

    result = read_import_rows(tmp_path, START, END)

    assert result.rows == merge_rows(files.rows, fixed)
    changed = [r for r, before in zip(result.rows, files.rows) if r != before]
    assert {key(r) for r in changed} == {key(r) for r in fixed} and len(changed) == 4
    assert all(r["source_file"] == "correction.csv" for r in changed)
    assert result.superseded == 4 and result.files[-1] == "correction.csv" and result.rows_per_file["correction.csv"] == 4


def test_the_newest_file_wins_by_modification_time_not_by_name(tmp_path):
    newer = sample_row(spend="99.00")
    write_csv(tmp_path / "b_old.csv", [sample_row(spend="10.00")], modified_at=DEFAULT_MODIFIED_AT)
    write_csv(tmp_path / "a_new.csv", [newer], modified_at=LATER)

    result = read_import_rows(tmp_path, START, END)

    (row,) = result.rows
    assert (row["spend"], row["source_file"], row["source_file_modified_at"]) == (Decimal("99.00"), "a_new.csv", LATER)
    assert result.files == ["b_old.csv", "a_new.csv"] and result.superseded == 1

    set_modified_at(tmp_path / "b_old.csv", LATER + timedelta(seconds=1))  # re-dropped: now the newest
    assert read_import_rows(tmp_path, START, END).rows[0]["spend"] == Decimal("10.00")


def test_on_equal_modification_times_the_later_file_name_wins(tmp_path):
    write_csv(tmp_path / "export_2.csv", [sample_row(spend="22.00")], modified_at=LATER)
    write_csv(tmp_path / "export_1.csv", [sample_row(spend="11.00")], modified_at=LATER)
    (row,) = read_import_rows(tmp_path, START, END).rows
    assert (row["spend"], row["source_file"]) == (Decimal("22.00"), "export_2.csv")


def test_superseded_counts_only_rows_in_the_window(tmp_path):
    write_csv(tmp_path / "a.csv", [sample_row(date="2024-02-29"), sample_row()])
    write_csv(tmp_path / "b.csv", [sample_row(date="2024-02-29"), sample_row(spend="1.00")], modified_at=LATER)
    result = read_import_rows(tmp_path, START, END)
    assert result.superseded == 1 and result.rows_per_file == {"a.csv": 1, "b.csv": 1}


# --- refusals -----------------------------------------------------------------------------------------------------

BAD_VALUES = [
    ("date", "2024-02-30", "a real calendar date"),
    ("date", "31/03/2024", "YYYY-MM-DD"),
    ("date", "2024-03-05 00:00:00", "without a time of day"),
    ("spend", "12,50", "use a decimal point"),
    ("spend", "1,234.50", "no thousands separators"),
    ("spend", "$12.50", "no currency symbols"),
    ("spend", "-1.00", "cannot be negative"),
    ("spend", "NaN", "not NaN or infinity"),
    ("daily_budget", "inf", "not NaN or infinity"),
    ("daily_budget", "1e20", "below 100000000000000"),
    ("impressions", "12.5", "no fraction"),
    ("impressions", "-3", "cannot be negative"),
    ("clicks", "many", "a whole number"),
    ("conversions", "nan", "not NaN or infinity"),
    ("conversions", "1e999", "a finite number"),
    ("conversion_value", "-0.5", "cannot be negative"),
    ("conversion_value", "8,25", "use a decimal point"),
    ("status", "enabled", "active or paused"),
    ("currency", "US$", "3-letter"),
    ("currency", "dollars", "3-letter"),
    ("spend", "", "every column needs a value"),
    ("campaign_name", "  ", "every column needs a value"),
    ("account_id", "", "every column needs a value"),
    ("campaign_id", "1.23457E+11", "scientific notation"),
]


@pytest.mark.parametrize(("column", "value", "expected"), BAD_VALUES)
def test_a_bad_value_is_refused_naming_file_line_column_and_value(tmp_path, column, value, expected):
    write_csv(tmp_path / "bad.csv", [sample_row(campaign_id="1"), sample_row(**{column: value})])
    message = refusal(tmp_path)
    assert f"bad.csv line 3, column {column}: {value!r}" in message
    assert expected in message and "nothing was loaded" in message and "MBO_IMPORT_DIR" in message


@pytest.mark.parametrize("platform", ["google_ads", "meta_ads", "tiktok_ads", "Google Ads", "facebook", "TikTok"])
def test_platforms_with_a_native_connector_are_refused(tmp_path, platform):
    write_csv(tmp_path / "mixed.csv", [sample_row(), sample_row(platform=platform)])
    message = refusal(tmp_path)
    assert f"mixed.csv line 3, column platform: {platform!r}" in message
    assert "use the native connector" in message and "twice" in message


def test_a_key_twice_in_one_file_is_refused(tmp_path):
    write_csv(tmp_path / "dup.csv", [sample_row(), sample_row(campaign_id="2"), sample_row(spend="3.00")])
    message = refusal(tmp_path)
    assert "dup.csv line 4, columns date, platform, account_id, campaign_id" in message
    assert "also on line 2" in message and "newer file" in message


def test_one_account_with_two_currencies_in_a_file_is_refused(tmp_path):
    write_csv(tmp_path / "cur.csv", [sample_row(), sample_row(campaign_id="2", currency="EUR")])
    assert "cur.csv line 3, column currency: 'EUR' — expected USD like line 2" in refusal(tmp_path)


def test_missing_columns_are_refused_naming_the_file_and_columns(tmp_path):
    columns = [c for c in CSV_COLUMNS if c not in ("spend", "status")]
    write_csv(tmp_path / "short.csv", [sample_row()], columns=columns)
    message = refusal(tmp_path)
    assert "short.csv line 1 (header): missing column(s) spend, status" in message


def test_a_tab_separated_file_gets_a_hint(tmp_path):
    (tmp_path / "excel.csv").write_text("\t".join(CSV_COLUMNS) + "\n", encoding="utf-8")
    assert "excel.csv line 1 (header): missing column(s) date" in refusal(tmp_path)
    assert "looks tab-separated: save it comma-separated" in refusal(tmp_path)


def test_a_semicolon_header_missing_a_column_is_named_in_its_own_terms(tmp_path):
    (tmp_path / "eu.csv").write_text(";".join(c for c in CSV_COLUMNS if c != "status") + "\n", encoding="utf-8")
    assert "eu.csv line 1 (header): missing column(s) status;" in refusal(tmp_path)


def test_a_column_named_twice_is_refused(tmp_path):
    (tmp_path / "twice.csv").write_text(",".join([*CSV_COLUMNS, "Spend"]) + "\n", encoding="utf-8")
    assert "twice.csv line 1 (header): column(s) spend appear more than once" in refusal(tmp_path)


def test_an_empty_file_is_refused(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    assert "empty.csv line 1: the file is empty" in refusal(tmp_path)


def test_an_unquoted_decimal_comma_splitting_a_row_is_explained(tmp_path):
    path = write_csv(tmp_path / "split.csv", [sample_row()])
    path.write_text(path.read_text(encoding="utf-8").replace("12.50", "12,50"), encoding="utf-8")
    message = refusal(tmp_path)
    assert "split.csv line 2: 14 values but the header has 13 columns" in message and "use a decimal point" in message


def test_non_utf8_bytes_are_refused_naming_file_line_and_column(tmp_path):
    write_csv(tmp_path / "latin1.csv", [sample_row(), sample_row(campaign_id="2", campaign_name="Café Crème")],
              encoding="latin-1")
    message = refusal(tmp_path)
    assert "latin1.csv line 3, column campaign_name: 'Caf\ufffd Cr\ufffdme'" in message
    assert "byte 0xe9 is not UTF-8" in message and "re-save the file as UTF-8" in message


def test_line_numbers_count_the_lines_of_multi_line_values(tmp_path):
    write_csv(tmp_path / "multi.csv", [
        sample_row(),
        sample_row(campaign_id="2", campaign_name="Spring\nSale", clicks="x"),
        sample_row(campaign_id="3", clicks="y"),
    ])
    message = refusal(tmp_path)
    assert "multi.csv line 3, column clicks: 'x'" in message  # the line the row starts on
    assert "multi.csv line 5, column clicks: 'y'" in message


def test_a_bad_file_refuses_the_whole_import(tmp_path):
    write_import_files(tmp_path, START, END, campaigns=4)
    write_csv(tmp_path / "zz_bad.csv", [sample_row(status="deleted")], modified_at=LATER)
    message = refusal(tmp_path)
    assert "zz_bad.csv line 2, column status" in message and "1 problem(s)" in message


def test_problems_across_files_are_listed_up_to_20(tmp_path):
    write_csv(tmp_path / "a.csv", [sample_row(campaign_id=str(n), spend="x") for n in range(25)])
    write_csv(tmp_path / "b.csv", [sample_row(clicks="-1")], modified_at=LATER)
    with pytest.raises(CsvImportError) as caught:
        read_import_rows(tmp_path, START, END)
    assert len(caught.value.problems) == 20 and caught.value.problems[0].startswith("a.csv line 2, column spend")
    assert "26 problem(s)" in str(caught.value) and "... and 6 more" in str(caught.value)


def test_a_directory_that_does_not_exist_is_refused_naming_mbo_import_dir(tmp_path):
    message = refusal(tmp_path / "missing")
    assert "MBO_IMPORT_DIR" in message and str(tmp_path / "missing") in message and "does not exist" in message


def test_bad_rows_outside_the_window_still_refuse_the_file(tmp_path):
    # A file loads or is refused as a whole, whichever days a run asks for (no half-loaded backfills).
    write_csv(tmp_path / "a.csv", [sample_row(), sample_row(date="2023-12-31", spend="oops")])
    assert "a.csv line 3, column spend" in refusal(tmp_path)


def test_modification_times_are_timezone_aware_utc(tmp_path):
    when = datetime(2024, 5, 5, 8, 30, 15, 250000, tzinfo=UTC)
    write_csv(tmp_path / "a.csv", [sample_row()], modified_at=when)
    assert read_import_rows(tmp_path, START, END).rows[0]["source_file_modified_at"] == when
