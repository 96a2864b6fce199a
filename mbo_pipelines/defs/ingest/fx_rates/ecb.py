"""Reads the ECB's euro foreign exchange reference rates from a CSV file into ``raw.fx_rates`` rows.

Two formats are understood, told apart by the header:

- the wide ``eurofxref`` files (``eurofxref-hist.csv``, the daily ``eurofxref.csv``): a ``Date``
  column, then one column per currency holding its units per 1 EUR; ISO dates (``2024-11-29``) or
  English ones (``29 November 2024``); ``N/A`` or nothing where a currency had no rate; newest day
  first, a trailing comma on each line, spaces after the commas in the daily file;
- the ECB Data Portal's SDMX CSV (series ``EXR.D.<currency>.EUR.SP00.A``): one observation per line
  with the columns ``CURRENCY``, ``CURRENCY_DENOM`` (must be ``EUR``), ``TIME_PERIOD`` and
  ``OBS_VALUE`` (``KEY``, ``FREQ``, ``EXR_TYPE`` and the rest are checked when present).

Rates become US dollars per unit: ``rate_to_usd(c) = USD per EUR / c per EUR``, EUR's own rate is
USD per EUR, and USD is 1. A day without a USD rate cannot be converted: it is skipped and counted.
Currencies the ECB no longer publishes and ISO 4217 no longer lists (CYP, EEK, ... in the history
file) are ignored and named. Anything else wrong with the file (an unreadable number or date, an
unknown currency code, a day twice, no ``Date`` column, neither format, an empty file) refuses the
whole file with an ``EcbRatesError`` naming the file, the line and the field: nothing is loaded.
A UTF-8 byte order mark is fine.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, DivisionByZero, InvalidOperation, localcontext
from pathlib import Path
from typing import Any

from mbo_pipelines.currencies import ISO_4217_CODES

#: Where to download the files this module reads (also shown in errors).
DOWNLOAD_HINT = (
    "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist.zip (unzip it: eurofxref-hist.csv), the daily "
    "https://www.ecb.europa.eu/stats/eurofxref/eurofxref.zip, or the EXR series of the ECB Data Portal as CSV "
    "(https://data-api.ecb.europa.eu/service/data/EXR/D..EUR.SP00.A?format=csvdata)"
)
#: Currencies the ECB's history file still has columns for, though ISO 4217 retired them (euro adoptions, the
#: Romanian and Turkish redenominations): nothing is budgeted in them, so they are ignored.
RETIRED_ECB_CURRENCIES = frozenset({"CYP", "EEK", "HRK", "LTL", "LVL", "MTL", "ROL", "SIT", "SKK", "TRL"})
#: Cells that mean "no rate that day".
NO_RATE = frozenset({"", "N/A", "NA", "NAN", "-"})
#: Problems an error lists (the rest are counted).
MAX_LISTED_PROBLEMS = 20
#: Decimals kept, as raw.fx_rates stores them (numeric(20, 10)).
QUANTUM = Decimal("1e-10")
SDMX_COLUMNS = ("CURRENCY", "CURRENCY_DENOM", "TIME_PERIOD", "OBS_VALUE")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_CODE = re.compile(r"[A-Z]{3}")
_MONTHS = {name: i for i, name in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november",
     "december"), start=1)}
_ENGLISH_DATE = re.compile(r"(\d{1,2}) ([A-Za-z]+) (\d{4})")
_FIX = ("Fix the file, or download it again from the ECB (the history: "
        "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist.zip); nothing was loaded")


class EcbRatesError(ValueError):
    """An FX rates file cannot be loaded; ``problems`` lists each one (file, line, field, what is wrong)."""

    def __init__(self, name: str, problems: list[str], more: int = 0):
        self.name = name
        self.problems = problems
        listed = "; ".join(problems) + (f"; and {more} more" if more else "")
        super().__init__(f"cannot load the FX rates file {name}: {listed}. {_FIX}.")


@dataclass(frozen=True)
class EcbRates:
    """What one ECB file holds, as raw.fx_rates rows."""

    #: raw.fx_rates rows (date, currency, rate_to_usd as a Decimal, source), by date then currency.
    rows: list[dict[str, Any]]
    #: ``eurofxref`` (the wide files) or ``sdmx`` (the data portal's CSV).
    format: str
    #: Rates (per 1 EUR) read from the file, USD's included.
    rates_read: int
    #: Days in the file without a USD rate: none of their rates could be converted.
    days_skipped: tuple[date, ...] = ()
    #: Retired currencies whose rates were ignored.
    ignored_currencies: tuple[str, ...] = ()


def read_ecb_csv(path: str | Path) -> EcbRates:
    """The rates of the ECB CSV file at ``path`` (see the module docstring); ``EcbRatesError`` if it cannot be read."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EcbRatesError(str(path), [f"cannot be read ({exc.strerror or exc})"]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise EcbRatesError(str(path), [f"line {line}: not UTF-8 text (byte {exc.start})"]) from None
    return parse_ecb_csv(text, str(path), source=f"ecb:{path.name}")


def parse_ecb_csv(text: str, name: str, source: str | None = None) -> EcbRates:
    """The rates in ``text``, the content of the file ``name`` (errors name it); rows carry ``source``."""
    source = source or f"ecb:{Path(name).name}"
    text = text.removeprefix("\ufeff")
    lines = [(number, fields) for number, fields in enumerate(csv.reader(io.StringIO(text)), start=1)
             if any(f.strip() for f in fields)]
    if not lines:
        raise EcbRatesError(name, ["the file is empty (expected a header line such as `Date,USD,JPY,...`)"])
    header_line, header = lines[0]
    header = [h.strip() for h in header]
    if any(h.upper() in SDMX_COLUMNS for h in header):
        return _Sdmx(name, source, header_line, header).read(lines[1:])
    if any(h.lower() == "date" for h in header):
        return _Wide(name, source, header_line, header).read(lines[1:])
    if any(_CODE.fullmatch(h) for h in header):
        raise EcbRatesError(name, [f"line {header_line}: no Date column (the eurofxref format starts `Date,USD,...`)"])
    raise EcbRatesError(name, [
        f"line {header_line}: neither the ECB eurofxref format (a `Date` column, then one column per currency) nor "
        f"the ECB Data Portal's SDMX CSV (columns {', '.join(SDMX_COLUMNS)}); the header is {','.join(header)[:120]!r}"])


class _Problems:
    """Problems found so far: the first MAX_LISTED_PROBLEMS kept, the rest counted."""

    def __init__(self, name: str):
        self.name, self.listed, self.more = name, [], 0

    def add(self, problem: str) -> None:
        if len(self.listed) < MAX_LISTED_PROBLEMS:
            self.listed.append(problem)
        else:
            self.more += 1

    def raise_any(self) -> None:
        if self.listed:
            raise EcbRatesError(self.name, self.listed, self.more)


def _date(raw: str) -> date | None:
    """An ISO date or an English one (``29 November 2024``), else None."""
    raw = raw.strip()
    try:
        return date.fromisoformat(raw) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw) else None
    except ValueError:
        return None


def _any_date(raw: str) -> date | None:
    parsed = _date(raw)
    if parsed is not None:
        return parsed
    match = _ENGLISH_DATE.fullmatch(raw.strip())
    if not match or match.group(2).lower() not in _MONTHS:
        return None
    try:
        return date(int(match.group(3)), _MONTHS[match.group(2).lower()], int(match.group(1)))
    except ValueError:
        return None


def _rate(raw: str) -> Decimal | None:
    """The number in a cell; None for "no rate"; raises ValueError when it is not a number."""
    cell = raw.strip()
    if cell.upper() in NO_RATE:
        return None
    if not _NUMBER.fullmatch(cell):
        raise ValueError(cell)
    return Decimal(cell)


def _code_problem(code: str) -> str | None:
    """Why ``code`` is not a currency this module can load (None: it is fine)."""
    if code == "EUR":
        return "EUR cannot be quoted per 1 EUR (the rates are units of each currency per euro)"
    if not _CODE.fullmatch(code) or code not in ISO_4217_CODES:
        return f"{code!r} is not an ISO 4217 currency code"
    return None


def to_usd_rows(per_eur: dict[date, dict[str, Decimal]], source: str) -> tuple[list[dict], tuple[date, ...]]:
    """raw.fx_rates rows from each day's units per 1 EUR, and the days skipped for want of a USD rate."""
    rows, skipped = [], []
    for day in sorted(per_eur):
        rates = per_eur[day]
        usd = rates.get("USD")
        if usd is None:
            skipped.append(day)
            continue
        converted = {"USD": Decimal(1), "EUR": usd.quantize(QUANTUM)}
        for currency, units in rates.items():
            if currency != "USD":
                converted[currency] = _divide(usd, units)
        rows.extend({"date": day, "currency": c, "rate_to_usd": converted[c], "source": source}
                    for c in sorted(converted))
    return rows, tuple(skipped)


def _converted(name: str, per_eur: dict[date, dict[str, Decimal]], source: str) -> tuple[list[dict], tuple[date, ...]]:
    rows, skipped = to_usd_rows(per_eur, source)
    if per_eur and not rows:
        raise EcbRatesError(name, ["no day has a USD rate, so no rate can be converted to US dollars"])
    return rows, skipped


def _divide(usd: Decimal, units: Decimal) -> Decimal:
    # A zero rate becomes an infinite one: the quality check refuses it by name instead of crashing here.
    with localcontext() as ctx:
        ctx.prec = 40
        try:
            return (usd / units).quantize(QUANTUM)
        except (DivisionByZero, InvalidOperation):
            return Decimal("Infinity") if units == 0 else Decimal("NaN")


class _Wide:
    """The eurofxref files: ``Date,USD,JPY,...`` then one line per day."""

    def __init__(self, name: str, source: str, header_line: int, header: list[str]):
        self.name, self.source, self.header_line = name, source, header_line
        problems = _Problems(name)
        self.columns: dict[int, str] = {}
        self.ignored: list[str] = []
        self.ignored_indexes: set[int] = set()
        self.date_index = next(i for i, h in enumerate(header) if h.lower() == "date")
        seen: dict[str, int] = {}
        for i, raw in enumerate(header):
            code = raw.strip()
            if i == self.date_index or (code == "" and i == len(header) - 1):
                continue  # the trailing comma's empty column
            if code in RETIRED_ECB_CURRENCIES:
                self.ignored.append(code)
                self.ignored_indexes.add(i)
                continue
            problem = "an empty column name" if code == "" else _code_problem(code)
            if problem is None and code in seen:
                problem = f"{code} is a column twice (columns {seen[code] + 1} and {i + 1})"
            if problem:
                problems.add(f"line {header_line}, column {i + 1}: {problem}")
                continue
            seen[code] = i
            self.columns[i] = code
        if "USD" not in seen and not problems.listed:
            problems.add(f"line {header_line}: no USD column (rates are converted to US dollars through USD per EUR)")
        problems.raise_any()
        self.named = {self.date_index, *self.columns, *self.ignored_indexes}

    def read(self, lines: list[tuple[int, list[str]]]) -> EcbRates:
        problems = _Problems(self.name)
        per_eur: dict[date, dict[str, Decimal]] = {}
        first_line: dict[date, int] = {}
        read = 0
        if not lines:
            problems.add(f"line {self.header_line}: the file has a header but no rates")
        for number, fields in lines:
            stray = next((i for i, f in enumerate(fields) if f.strip() and i not in self.named), None)
            if stray is not None:
                problems.add(f"line {number}, column {stray + 1}: {fields[stray].strip()!r} is under no column of the "
                             f"header (which names {len(self.named)})")
                continue
            raw_date = fields[self.date_index] if self.date_index < len(fields) else ""
            day = _any_date(raw_date)
            if day is None:
                problems.add(f"line {number}, Date: {raw_date.strip()!r} is not a date (2024-11-29 or "
                             "29 November 2024)")
                continue
            if day in first_line:
                problems.add(f"line {number}, Date: {day} is already on line {first_line[day]}")
                continue
            first_line[day] = number
            rates: dict[str, Decimal] = {}
            for index, code in self.columns.items():
                cell = fields[index] if index < len(fields) else ""
                try:
                    value = _rate(cell)
                except ValueError:
                    problems.add(f"line {number}, {code}: {cell.strip()!r} is not a number (units per 1 EUR, "
                                 "with a decimal point)")
                    continue
                if value is not None:
                    rates[code] = value
            read += len(rates)
            per_eur[day] = rates
        problems.raise_any()
        rows, skipped = _converted(self.name, per_eur, self.source)
        return EcbRates(rows, "eurofxref", read, skipped, tuple(self.ignored))


class _Sdmx:
    """The ECB Data Portal's SDMX CSV: one observation (series key, TIME_PERIOD, OBS_VALUE) per line."""

    def __init__(self, name: str, source: str, header_line: int, header: list[str]):
        self.name, self.source, self.header_line = name, source, header_line
        self.index = {h.upper(): i for i, h in enumerate(header) if h}
        missing = [c for c in SDMX_COLUMNS if c not in self.index]
        if missing:
            raise EcbRatesError(name, [f"line {header_line}: the ECB Data Portal's SDMX CSV needs the columns "
                                       f"{', '.join(SDMX_COLUMNS)}; missing {', '.join(missing)}"])

    def _cell(self, fields: list[str], column: str) -> str | None:
        index = self.index.get(column)
        if index is None:
            return None
        return fields[index].strip() if index < len(fields) else ""

    def _series_problem(self, fields: list[str]) -> str | None:
        """Why the line's series is not the ECB's daily euro reference rate (None: it is)."""
        key = self._cell(fields, "KEY")
        parts = key.split(".") if key else []
        expected = {"FREQ": ("D", 1), "EXR_TYPE": ("SP00", 4)}
        for column, (value, position) in expected.items():
            found = self._cell(fields, column)
            if found is None and len(parts) == 6 and parts[0] == "EXR":
                found = parts[position]
            if found is not None and found != value:
                return (f"{column}: {found!r} is not {value!r} (only the daily reference rates, series "
                        "EXR.D.<currency>.EUR.SP00.A, can be loaded)")
        return None

    def read(self, lines: list[tuple[int, list[str]]]) -> EcbRates:
        problems = _Problems(self.name)
        per_eur: dict[date, dict[str, Decimal]] = {}
        first_line: dict[tuple[date, str], int] = {}
        ignored: set[str] = set()
        read = 0
        if not lines:
            problems.add(f"line {self.header_line}: the file has a header but no rates")
        for number, fields in lines:
            currency = self._cell(fields, "CURRENCY")
            denominator = self._cell(fields, "CURRENCY_DENOM")
            if denominator != "EUR":
                problems.add(f"line {number}, CURRENCY_DENOM: {denominator!r} is not 'EUR' (the ECB reference rates "
                             "are units of each currency per euro)")
                continue
            series = self._series_problem(fields)
            if series:
                problems.add(f"line {number}, {series}")
                continue
            if currency in RETIRED_ECB_CURRENCIES:
                ignored.add(currency)
                continue
            code = _code_problem(currency)
            if code:
                problems.add(f"line {number}, CURRENCY: {code}")
                continue
            raw_day = self._cell(fields, "TIME_PERIOD")
            day = _date(raw_day)
            if day is None:
                problems.add(f"line {number}, TIME_PERIOD: {raw_day!r} is not a date (YYYY-MM-DD)")
                continue
            if (day, currency) in first_line:
                problems.add(f"line {number}, TIME_PERIOD: {currency} on {day} is already on line "
                             f"{first_line[day, currency]}")
                continue
            first_line[day, currency] = number
            cell = self._cell(fields, "OBS_VALUE")
            try:
                value = _rate(cell)
            except ValueError:
                problems.add(f"line {number}, OBS_VALUE: {cell!r} is not a number (units per 1 EUR, with a "
                             "decimal point)")
                continue
            rates = per_eur.setdefault(day, {})
            if value is not None:
                rates[currency] = value
                read += 1
        problems.raise_any()
        rows, skipped = _converted(self.name, per_eur, self.source)
        return EcbRates(rows, "sdmx", read, skipped, tuple(sorted(ignored)))
