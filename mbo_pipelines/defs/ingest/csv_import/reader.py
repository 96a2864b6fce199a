"""Reads the CSV exports users drop into ``MBO_IMPORT_DIR`` into ``raw.csv_campaign_daily`` rows.

For LinkedIn, Microsoft Ads, X, Amazon, Snapchat and any platform without a
native connector. Every ``*.csv`` file directly in the directory (not hidden
ones, not sub-directories) is UTF-8 (a BOM is fine), comma-separated with
decimal points, or semicolon-separated with decimal commas (what European
Excel saves as CSV: the header decides which), with a header naming
``CSV_COLUMNS`` in any order; extra columns are ignored and reported. Files can be re-dropped with corrections at any time: per
date × platform × account × campaign the newest file wins (latest modification
time; on a tie the later file name).

Every file is validated in full, whatever the requested days, so a file either
loads or is refused on every run: one bad value anywhere refuses the whole
import with a ``CsvImportError`` listing the problems, and nothing is loaded.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from mbo_pipelines.defs.ingest.csv_import.fields import DECIMAL_COMMA_PARSERS, EXPECTED, PARSERS, FieldError
from mbo_pipelines.defs.ingest.raw_tables import CSV_CAMPAIGN_DAILY, CSV_COLUMNS

#: How many problems an error lists (the rest are counted).
MAX_LISTED_PROBLEMS = 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_KEY = ("date", "platform", "account_id", "campaign_id")
_NEWLINE = b"\n"


class CsvImportError(ValueError):
    """The import directory or a file in it cannot be loaded; ``problems`` lists what to fix."""

    def __init__(self, message: str, problems: list[str]):
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class CsvImport:
    """What one read of the import directory produced."""

    #: raw.csv_campaign_daily rows (exactly its columns) for the requested days, newest file per key, sorted by key.
    rows: list[dict[str, Any]]
    #: Every file read, oldest first (the order in which later files override earlier ones).
    files: list[str]
    #: How many in-window rows of older files a newer file restated (and so replaced).
    superseded: int = 0
    #: File -> its rows in the requested days, before newer files replaced any.
    rows_per_file: dict[str, int] = field(default_factory=dict)
    #: File -> header columns that are not import columns (their values are ignored).
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """One line for logs: files, rows, corrections, ignored columns."""
        text = f"{len(self.rows)} rows from {len(self.files)} CSV file(s), {self.superseded} superseded by newer files"
        if self.ignored_columns:
            text += "; ignored columns: " + "; ".join(f"{f}: {', '.join(c)}" for f, c in self.ignored_columns.items())
        return text


@dataclass
class _FileRows:
    name: str
    rows: list[dict[str, Any]]
    ignored: list[str]


class _Problems:
    """Problems found so far: the first MAX_LISTED_PROBLEMS kept verbatim, the rest counted."""

    def __init__(self) -> None:
        self.listed: list[str] = []
        self.count = 0

    def add(self, text: str) -> None:
        self.count += 1
        if len(self.listed) < MAX_LISTED_PROBLEMS:
            self.listed.append(text)


def read_import_rows(directory: str | os.PathLike[str], start: date, end: date) -> CsvImport:
    """Read every CSV file in ``directory`` and return the rows for the days in [start, end].

    Raises CsvImportError when the directory does not exist or any file has a
    problem (nothing is returned then); an existing directory without CSV files
    yields no rows.
    """
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    folder = Path(directory)
    if not folder.is_dir():
        problem = (
            f"MBO_IMPORT_DIR is {str(directory)!r}, which does not exist or is not a directory: create it and put "
            f"the CSV exports there, or point MBO_IMPORT_DIR at the folder that holds them"
        )
        raise CsvImportError(problem, [problem])
    problems = _Problems()
    try:
        files = _csv_files(folder, problems)
    except OSError as exc:
        problem = f"MBO_IMPORT_DIR ({folder}) cannot be listed ({exc.strerror or exc}): check its permissions"
        raise CsvImportError(problem, [problem]) from None
    read = [_read_file(path, mtime_ns, start, end, problems) for path, mtime_ns in files]
    if problems.count:
        raise _import_error(folder, problems)
    merged: dict[tuple, dict[str, Any]] = {}
    superseded = 0
    for file in read:
        for row in file.rows:
            key = (row["platform"], row["account_id"], row["campaign_id"], row["date"])
            superseded += key in merged
            merged[key] = row
    return CsvImport(
        rows=[merged[key] for key in sorted(merged)],
        files=[file.name for file in read],
        superseded=superseded,
        rows_per_file={file.name: len(file.rows) for file in read},
        ignored_columns={file.name: file.ignored for file in read if file.ignored},
    )


def _csv_files(folder: Path, problems: _Problems) -> list[tuple[Path, int]]:
    """The directory's CSV files with their modification times, oldest first (a tie: by name)."""
    found = []
    for path in folder.iterdir():
        # Like the shell's *.csv: hidden files (macOS ._ resource forks, editors' lock files) are not exports.
        if path.name.startswith(".") or path.suffix.lower() != ".csv":
            continue
        try:
            if path.is_file():
                found.append((path.stat().st_mtime_ns, path.name, path))
        except OSError as exc:
            problems.add(f"{path.name}: cannot read the file ({exc.strerror or exc}); check its permissions")
    return [(path, mtime_ns) for mtime_ns, _, path in sorted(found)]


def _read_file(path: Path, mtime_ns: int, start: date, end: date, problems: _Problems) -> _FileRows:
    name = path.name
    result = _FileRows(name, [], [])
    try:
        data = path.read_bytes()
    except OSError as exc:
        problems.add(f"{name}: cannot read the file ({exc.strerror or exc}); check its permissions")
        return result
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.add(_not_utf8(name, data, exc))
        return result
    modified_at = _EPOCH + timedelta(microseconds=mtime_ns // 1000)
    delimiter = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True, delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            problems.add(f"{name} line 1: the file is empty; expected a header row {','.join(CSV_COLUMNS)} and data rows")
            return result
        positions = _header_positions(name, header, result, problems)
        if positions is None:
            return result
        _read_rows(name, reader, len(header), positions, delimiter, (start, end), modified_at, result, problems)
    except csv.Error as exc:
        problems.add(f"{name} line {reader.line_num}: not valid CSV ({exc}); check the quoting of that line")
    return result


def _delimiter(text: str) -> str:
    """``;`` when the header is semicolon-separated (European Excel's CSV), else ``,``."""
    first_line = text.split("\n", 1)[0].rstrip("\r")

    def names(delimiter: str) -> list[str]:
        return [c.strip().lower() for c in next(csv.reader([first_line], delimiter=delimiter), [])]

    by_comma, by_semicolon = names(","), names(";")
    if set(CSV_COLUMNS) <= set(by_comma):
        return ","
    if set(CSV_COLUMNS) <= set(by_semicolon) or (len(by_comma) == 1 and len(by_semicolon) > 1):
        return ";"
    return ","


def _header_positions(name: str, header: list[str], result: _FileRows, problems: _Problems) -> list[int] | None:
    """Each import column's position in the header, or None (and a problem) when the header is unusable."""
    names = [column.strip().lower() for column in header]
    missing = [column for column in CSV_COLUMNS if column not in names]
    twice = sorted(column for column, n in Counter(names).items() if n > 1 and column in CSV_COLUMNS)
    if missing:
        hint = ""
        if len(header) == 1 and "\t" in header[0]:
            hint = " (the file looks tab-separated: save it comma-separated)"
        problems.add(
            f"{name} line 1 (header): missing column(s) {', '.join(missing)}{hint}; the header must name "
            f"{','.join(CSV_COLUMNS)} (in any order)"
        )
    if twice:
        problems.add(f"{name} line 1 (header): column(s) {', '.join(twice)} appear more than once; name each once")
    if missing or twice:
        return None
    result.ignored = [
        header[i].strip() or f"(unnamed column {i + 1})" for i, column in enumerate(names) if column not in CSV_COLUMNS
    ]
    return [names.index(column) for column in CSV_COLUMNS]


def _read_rows(name, reader, width, positions, delimiter, window, modified_at, result: _FileRows,
               problems: _Problems) -> None:
    """Parse and check every data row; keep the rows in the window."""
    start, end = window
    parsers = DECIMAL_COMMA_PARSERS if delimiter == ";" else PARSERS
    columns = [(column, position, parsers[column]) for column, position in zip(CSV_COLUMNS, positions)]
    loaded_columns = CSV_CAMPAIGN_DAILY.column_names
    seen: dict[tuple, int] = {}
    currencies: dict[tuple[str, str], tuple[str, int]] = {}
    line = reader.line_num
    for record in reader:
        # A quoted value can span lines: a record starts on the line after the previous one ended.
        line, first_line = reader.line_num, line + 1
        if not any(value.strip() for value in record):
            continue  # blank lines and spreadsheets' trailing ",,,," rows
        if len(record) != width:
            problems.add(_wrong_width(name, first_line, len(record), width, delimiter))
            continue
        row: dict[str, Any] = {}
        for column, position, parse in columns:
            value = record[position]
            try:
                if not value.strip():
                    raise FieldError(f"{EXPECTED[column]}; every column needs a value (write 0 for none)")
                row[column] = parse(value)
            except FieldError as exc:
                problems.add(f"{name} line {first_line}, column {column}: {_show(value)} — expected {exc}")
        if len(row) != len(columns):
            continue
        key = tuple(row[column] for column in _KEY)
        if key in seen:
            problems.add(
                f"{name} line {first_line}, columns {', '.join(_KEY)}: {', '.join(map(str, key))} is also on line "
                f"{seen[key]} — expected one row per date × platform × account × campaign in a file (to correct "
                f"a row, put the corrected row in a newer file)"
            )
            continue
        seen[key] = first_line
        account = (row["platform"], row["account_id"])
        currency, since = currencies.setdefault(account, (row["currency"], first_line))
        if currency != row["currency"]:
            problems.add(
                f"{name} line {first_line}, column currency: {_show(row['currency'])} — expected {currency} like line "
                f"{since}: account {row['account_id']} on {row['platform']} has one currency"
            )
            continue
        if start <= row["date"] <= end:
            row["source_file"] = name
            row["source_file_modified_at"] = modified_at
            result.rows.append({column: row[column] for column in loaded_columns})


def _wrong_width(name: str, line: int, got: int, width: int, delimiter: str) -> str:
    text = f"{name} line {line}: {got} values but the header has {width} columns — expected one value per column"
    if got > width and delimiter == ";":
        text += "; an unquoted semicolon in a name splits a value in two: quote text that contains semicolons"
    elif got > width:
        text += (
            "; an unquoted decimal comma (12,50) or a comma in a name splits a value in two: use a decimal point "
            "and quote text that contains commas"
        )
    return text


def _not_utf8(name: str, data: bytes, exc: UnicodeDecodeError) -> str:
    """Name the line, column and value holding the first byte that is not UTF-8."""
    where = f"{name} line {data.count(_NEWLINE, 0, exc.start) + 1}"
    text = data.decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        header, line = [column.strip().lower() for column in next(reader, [])], reader.line_num
        if any("\ufffd" in column for column in header):
            where = f"{name} line 1 (header)"
        else:
            for values in reader:
                line, first_line = reader.line_num, line + 1
                bad = [i for i, value in enumerate(values) if "\ufffd" in value]
                if bad:
                    column = header[bad[0]] if bad[0] < len(header) else f"{bad[0] + 1}"
                    where = f"{name} line {first_line}, column {column}: {_show(values[bad[0]])}"
                    break
    except csv.Error:
        pass  # the line number from the byte offset is all there is to say
    return (
        f"{where} — byte 0x{data[exc.start]:02x} is not UTF-8: expected UTF-8 text; re-save the file as UTF-8 "
        f"(in Excel: Save As > 'CSV UTF-8 (Comma delimited)')"
    )


def _show(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


def _import_error(folder: Path, problems: _Problems) -> CsvImportError:
    listed = "\n  - ".join(problems.listed)
    more = problems.count - len(problems.listed)
    message = (
        f"CSV import from MBO_IMPORT_DIR ({folder}) refused, nothing was loaded: {problems.count} problem(s). "
        f"Fix or remove the file(s) and run again (every file must be valid: a newer file does not mask a bad "
        f"one).\n  - {listed}"
        + (f"\n  ... and {more} more" if more else "")
    )
    return CsvImportError(message, problems.listed)
