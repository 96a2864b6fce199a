"""Run a table's expectations on one extract's rows: which rows to quarantine, which days to hold back, and why.

``check_batch`` is pure (no database): the volume check's history comes in
as ``DailyTotals`` (see ``history``). Its ``QualityReport`` says, per check,
whether it passed, which expectations failed with counts and samples, and
per day what loads and what does not.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd

from mbo_pipelines.defs.quality import expectations as ex
from mbo_pipelines.defs.quality.frames import account_of, columns_seen, duplicate_of, number, row_days, row_frame
from mbo_pipelines.defs.quality.rules import VALID_ROWS, VALID_TABLE, VOLUME, TableRules, VolumeBand

#: (day, account) -> (rows, volume): what a table held or holds per account and day.
DailyTotals = Mapping[tuple[date, str], tuple[int, float]]
#: Stands for "the whole batch" where a finding has no single day (a snapshot table, a wrong column set).
ALL_DAYS = None


@dataclass(frozen=True)
class Finding:
    """One failing expectation: its check, what it says, how many rows or days failed, and a sample."""

    check: str
    expectation: str
    column: str | None
    reason: str
    count: int
    sample: tuple[str, ...]
    days: tuple[date | None, ...] = ()

    def line(self) -> str:
        """``valid_rows: spend is negative… — 2 rows, e.g. -5.0, -1``."""
        unit = "day" if self.check == VOLUME else "row"
        sample = f", e.g. {', '.join(self.sample)}" if self.sample else ""
        return f"{self.check}: {self.reason} ({self.expectation}) — {self.count} {unit}{'' if self.count == 1 else 's'}{sample}"


@dataclass
class QualityReport:
    """The verdict on one batch of rows for one raw table."""

    rules: TableRules
    rows: Sequence[dict[str, Any]]
    #: The window's days (ISO), empty for a snapshot table.
    window_days: list[date]
    findings: list[Finding] = field(default_factory=list)
    #: Row position -> why it is quarantined.
    row_reasons: dict[int, list[str]] = field(default_factory=dict)
    #: Day (ALL_DAYS for everything) -> why it is held back.
    held_days: dict[date | None, list[str]] = field(default_factory=dict)
    #: Day -> the volume check's numbers (rows, volume and their bands), for the metadata.
    volume_lines: dict[date, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        window = {d.isoformat() for d in self.window_days}
        self._days = row_days(self.rules, self.rows, window)

    def day_of(self, index: int) -> date | None:
        """The window day row ``index`` belongs to (None: unusable date, or a snapshot)."""
        return self._days[index]

    def is_held(self, day: date | None) -> bool:
        """True when ``day`` (or the whole batch) is held back by a table-level check."""
        return ALL_DAYS in self.held_days or (day is not None and day in self.held_days)

    @property
    def loadable_days(self) -> list[date]:
        """Window days whose rows replace what is loaded (empty when the whole batch is held back)."""
        return [d for d in self.window_days if not self.is_held(d)]

    @property
    def loads_anything(self) -> bool:
        """False when a table-level check holds the whole batch back."""
        return ALL_DAYS not in self.held_days

    def rows_to_load(self) -> list[dict[str, Any]]:
        """Rows that pass every row-level expectation and belong to a day that is not held back."""
        if not self.row_reasons and not self.held_days:
            return list(self.rows)
        return [row for i, row in enumerate(self.rows)
                if i not in self.row_reasons and not self.is_held(self.day_of(i))]

    def kept_keys(self) -> list[tuple[str, ...]]:
        """Keys (as text) of quarantined rows on days that load: the rows loaded before for them stay in raw.

        A bad row in a re-extract must not erase the good row loaded for the same campaign and day; keys
        that also come with a valid row (an exact duplicate kept once) are not kept twice.
        """
        key = self.rules.table.key
        candidates = set()
        for i in self.row_reasons:
            if self.is_held(self.day_of(i)) or (self.rules.is_daily and self.day_of(i) is None):
                continue
            text = _key_text(self.rows[i], key)
            if text is not None:
                candidates.add(text)
        if not candidates:  # the usual case: nothing quarantined, no key of the loading rows to print
            return []
        loading = {_key_text(row, key) for row in self.rows_to_load()}
        return sorted(candidates - loading)

    def rows_to_quarantine(self) -> list[tuple[dict[str, Any], date | None, str]]:
        """(row, its day, reason) for every row that does not load."""
        if not self.row_reasons and not self.held_days:
            return []
        out = []
        for i, row in enumerate(self.rows):
            day = self.day_of(i)
            reasons = list(self.row_reasons.get(i, []))
            if self.is_held(day):
                held = self.held_days.get(day, []) + self.held_days.get(ALL_DAYS, [])
                reasons.append("day held back: " + "; ".join(held))
            if reasons:
                out.append((row, day, "; ".join(reasons)))
        return out

    def passed(self, check: str) -> bool:
        """True when no expectation of ``check`` failed."""
        return not any(f.check == check for f in self.findings)

    def failed_days(self, check: str) -> set[date | None]:
        """The days a check failed on (ALL_DAYS: every day of the batch)."""
        days: set[date | None] = set()
        for finding in self.findings:
            if finding.check == check:
                days.update(finding.days or (ALL_DAYS,))
        return days


def _key_text(row: dict[str, Any], key: Sequence[str]) -> tuple[str, ...] | None:
    """A row's key as PostgreSQL prints it (``::text``), or None when a part is missing or could not be stored."""
    parts = []
    for column in key:
        value = row.get(column)
        if value is None or isinstance(value, (list, dict)):
            return None
        part = value.isoformat() if isinstance(value, date) else str(value)
        if "\x00" in part or any("\ud800" <= ch <= "\udfff" for ch in part):
            return None
        parts.append(part)
    return tuple(parts)


def _sample(values: Sequence[Any]) -> tuple[str, ...]:
    # Text quoted (so control characters show as escapes), numbers and days as written.
    return tuple((repr(v) if isinstance(v, str) else str(v))[:80] for v in list(values)[:ex.SAMPLE_SIZE])


def _read(result) -> tuple[str, str | None, str, str]:
    config = result.expectation_config
    meta = config.meta or {}
    return meta.get("check", VALID_ROWS), config.kwargs.get("column"), meta.get("reason", config.type), config.type


def _row_findings(report: QualityReport, frame: pd.DataFrame) -> None:
    window = [d.isoformat() for d in report.window_days] if report.rules.is_daily else None
    for result in ex.run("rows", frame, ex.row_expectations(report.rules, window)):
        check, column, reason, kind = _read(result)
        if result.success:
            continue
        if result.exception_info and result.exception_info.get("raised_exception"):
            message = str(result.exception_info.get("exception_message"))[:300]
            report.findings.append(Finding(VALID_TABLE, kind, column, f"{reason}: could not be evaluated ({message})",
                                           len(frame), ()))
            report.held_days.setdefault(ALL_DAYS, []).append(f"{kind} on {column} could not be evaluated")
            continue
        indexes = [int(i) for i in result.result.get("unexpected_index_list") or []]
        for i in indexes:
            report.row_reasons.setdefault(i, []).append(reason)
        # What the platform sent (the frame holds NaN for a value it could not read as a number).
        sample = ([report.rows[i].get(column) for i in indexes[:ex.SAMPLE_SIZE]] if column and indexes
                  else result.result.get("partial_unexpected_list") or [])
        days = tuple(sorted({report.day_of(i) for i in indexes}, key=lambda d: (d is None, d)))
        report.findings.append(Finding(check, kind, column, reason, len(indexes), _sample(sample), days))


def _schema_findings(report: QualityReport) -> None:
    seen = columns_seen(report.rows)
    if not report.rows:
        return
    for result in ex.run("schema", pd.DataFrame(columns=seen), ex.schema_expectations(report.rules)):
        if result.success:
            continue
        check, column, reason, kind = _read(result)
        expected = set(report.rules.table.column_names)
        missing, extra = sorted(expected - set(seen)), sorted(set(seen) - expected)
        detail = "; ".join(part for part in (f"missing {', '.join(missing)}" if missing else "",
                                             f"unexpected {', '.join(extra)}" if extra else "") if part)
        report.findings.append(Finding(check, kind, None, f"{reason}: {detail}", len(missing) + len(extra),
                                       _sample(missing + extra)))
        report.held_days.setdefault(ALL_DAYS, []).append(f"columns differ from {report.rules.name}'s ({detail})")


def _account_findings(report: QualityReport, valid: list[int], accounts: list[str],
                      accepted: Collection[tuple[str, date | None]]) -> None:
    """One currency per account across the batch: a day on which an account reports a currency other than its
    usual one (the one most of its rows in the batch carry; every day of it when there is no such one) is held.
    ``accounts``: the account of each ``valid`` row."""
    per_day: dict[tuple[date | None, str], set[str]] = defaultdict(set)
    rows_per_currency: dict[str, Counter] = defaultdict(Counter)
    currency_column = report.rules.currency_column
    currencies = [str(report.rows[i].get(currency_column)) for i in valid]
    for (day, account, currency) in dict.fromkeys(zip(map(report.day_of, valid), accounts, currencies)):
        per_day[(day, account)].add(currency)
    for (account, currency), n in Counter(zip(accounts, currencies)).items():
        rows_per_currency[account][currency] += n
    if not per_day:
        return
    usual = {}
    for account, counts in rows_per_currency.items():
        (first, n), *rest = counts.most_common(2) + [(None, 0)]
        usual[account] = first if n > rest[0][1] else None
    keys = list(per_day)
    frame = pd.DataFrame({"currencies": [
        len(per_day[key] | {usual[key[1]]}) if usual[key[1]] else len(rows_per_currency[key[1]]) for key in keys]})
    for result in ex.run("accounts", frame, ex.account_expectations()):
        if result.success:
            continue
        check, column, reason, kind = _read(result)
        bad = [keys[int(i)] for i in result.result.get("unexpected_index_list") or []]
        bad = [(day, account) for day, account in bad if (check, day) not in accepted]
        if not bad:
            continue
        lines = [f"{account} on {day or 'the snapshot'}: {', '.join(sorted(per_day[(day, account)]))}"
                 + (f" (its other rows: {', '.join(sorted(set(rows_per_currency[account]) - per_day[(day, account)]))})"
                    if set(rows_per_currency[account]) - per_day[(day, account)] else "")
                 for day, account in bad]
        report.findings.append(Finding(check, kind, column, reason, len(bad), _sample(lines),
                                       tuple(sorted({d for d, _ in bad}, key=lambda d: (d is None, d)))))
        for (day, account), line in zip(bad, lines):
            report.held_days.setdefault(day if report.rules.is_daily else ALL_DAYS, []).append(
                f"{reason} ({line})")


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _volume_findings(report: QualityReport, valid: list[int], accounts: list[str], history: DailyTotals,
                     band: VolumeBand, accepted: Collection[tuple[str, date | None]]) -> None:
    rules = report.rules
    if not rules.is_daily or not report.window_days or rules.volume_column is None:
        return
    batch: dict[tuple[date, str], list[float]] = defaultdict(lambda: [0, 0.0])
    volume_column = rules.volume_column
    for i, account in zip(valid, accounts):
        day = report.day_of(i)
        if day is None:
            continue
        total = batch[(day, account)]
        total[0] += 1
        total[1] += float(number(report.rows[i].get(volume_column)) or 0)
    window = set(report.window_days)

    def per_account(day: date) -> dict[str, tuple[float, float]] | None:
        source = batch if day in window else history
        found = {account: tuple(v) for (d, account), v in source.items() if d == day}
        return found if (found or day in window) else None

    records = []
    for day in report.window_days:
        today = per_account(day) or {}
        past = [p for k in range(1, band.weeks + 1) if (p := per_account(day - timedelta(days=7 * k))) is not None]
        rows, volume = sum(v[0] for v in today.values()), sum(v[1] for v in today.values())
        record = {"rows": float(rows), "volume": volume, "rows_low": None, "rows_high": None,
                  "volume_low": None, "volume_high": None}
        if len(past) >= band.min_history:
            median_rows = _median([sum(v[0] for v in p.values()) for p in past])
            median_volume = _median([sum(v[1] for v in p.values()) for p in past])
            record.update(rows_low=median_rows * band.min_ratio, volume_low=median_volume * band.min_ratio,
                          rows_high=median_rows * band.max_ratio if median_rows else None,
                          volume_high=median_volume * band.max_ratio if median_volume else None)
            report.volume_lines[day] = (f"{rows} rows (median {median_rows:g}), {rules.volume_column} {volume:,.2f} "
                                        f"(median {median_volume:,.2f}); band ×{band.min_ratio:g}–×{band.max_ratio:g}")
        else:
            report.volume_lines[day] = (f"{rows} rows, {rules.volume_column} {volume:,.2f}; too little history for the band "
                                        f"({len(past)} of {band.min_history} same weekdays)")
        # The day before as loaded, overlaid with this batch's valid rows: an account whose rows were all
        # quarantined the day before still counts as having spent, from what was loaded for it.
        before = day - timedelta(days=1)
        yesterday = {account: tuple(v) for (d, account), v in history.items() if d == before}
        yesterday.update(per_account(before) or {})
        gone = sorted(a for a, (_, spent) in yesterday.items() if spent > 0 and a not in today)
        record["accounts_gone"] = len(gone)
        record["gone"] = gone
        records.append(record)
    frame = pd.DataFrame(records).drop(columns=["gone"])
    frame = frame.apply(pd.to_numeric, errors="coerce")
    for result in ex.run("volume", frame, ex.volume_expectations()):
        if result.success:
            continue
        check, column, reason, kind = _read(result)
        positions = [int(i) for i in result.result.get("unexpected_index_list") or []
                     if (check, report.window_days[int(i)]) not in accepted]
        if not positions:
            continue
        days = [report.window_days[p] for p in positions]
        lines = []
        for position, day in zip(positions, days):
            gone = records[position]["gone"]
            line = f"{day}: " + (f"accounts {', '.join(gone)} spent on {day - timedelta(days=1)} and sent nothing"
                                  if column == "accounts_gone" else report.volume_lines[day])
            lines.append(line)
            report.held_days.setdefault(day, []).append(f"{reason} ({line})")
        report.findings.append(Finding(check, kind, column, reason, len(days), _sample(lines), tuple(days)))


def check_batch(rules: TableRules, rows: Sequence[dict[str, Any]], window: tuple[date, date] | None,
                history: DailyTotals, band: VolumeBand, accepted: Collection[tuple[str, date | None]] = ()) -> QualityReport:
    """Judge ``rows`` (a daily table's rows for ``window``, or a snapshot's rows with ``window`` None).

    ``accepted``: (check, day) pairs an operator accepted (``mbo quality accept``): that check's table-level
    findings on that day no longer hold the day back.
    """
    days = [window[0] + timedelta(days=n) for n in range((window[1] - window[0]).days + 1)] if window else []
    report = QualityReport(rules, rows, days)
    repeats = duplicate_of(rules, rows)
    for i, first in repeats.items():
        report.row_reasons[i] = [f"exact duplicate of row {first}"]
    if repeats:
        report.findings.append(Finding(VALID_ROWS, "duplicate rows", None, "the same row was sent more than once",
                                       len(repeats), _sample(sorted(repeats)),
                                       tuple(sorted({report.day_of(i) for i in repeats}, key=lambda d: (d is None, d)))))
    _schema_findings(report)
    judged = [i for i in range(len(rows)) if i not in repeats]
    if judged:
        _row_findings(report, row_frame(rules, rows, judged))
    valid = [i for i in judged if i not in report.row_reasons]
    accounts = [account_of(rules, rows[i]) for i in valid]
    _account_findings(report, valid, accounts, accepted)
    _volume_findings(report, valid, accounts, history, band, accepted)
    return report
