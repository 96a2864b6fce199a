"""Realistic CSV import files (the ``MBO_IMPORT_DIR`` contract) and the rows the reader should return for them.

``write_import_files`` writes one export per platform (or one file for all)
with the edge cases real exports have: several accounts and currencies (a JPY
account with whole-number budgets and spend), unicode, SQL-looking names and
names with quotes, commas and semicolons, a campaign paused part-way
(zero rows after), a campaign starting mid-range and budgets that change over
time. ``write_correction_file`` drops a newer file restating a few rows.
``european=True`` writes what European Excel saves as CSV: semicolon-separated
with decimal commas.
Modification times are set explicitly (``os.utime``), so "newest file wins"
tests do not depend on the clock.

    files = write_import_files(tmp_path, date(2024, 1, 1), date(2024, 3, 31))
    fixed = write_correction_file(tmp_path, files.rows, count=3)
    result = read_import_rows(tmp_path, date(2024, 1, 1), date(2024, 3, 31))
    assert result.rows == merge_rows(files.rows, fixed)
"""

from __future__ import annotations

import csv
import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from mbo_pipelines.defs.ingest.raw_tables import CSV_COLUMNS
from tests.fakes.ad_world import ODD_NAMES, ZERO_DECIMAL_CURRENCIES, money

#: The modification time written files get unless told otherwise (whole seconds: exact on every filesystem).
DEFAULT_MODIFIED_AT = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

#: Ad accounts per platform in the platform's own id form, with their currency.
ACCOUNTS: dict[str, tuple[tuple[str, str], ...]] = {
    "linkedin_ads": (("508123456", "USD"), ("508765432", "EUR")),
    "microsoft_ads": (("141234567", "USD"), ("149876543", "JPY")),
    "snapchat_ads": (("8f6e2b1c-3d4a-4e5f-9a0b-1c2d3e4f5a6b", "GBP"),),
    "x_ads": (("18ce54d4x5t", "USD"),),
    "amazon_ads": (("ENTITY2K3L4M5N6O7", "EUR"), ("A1B2C3D4E5F6G7", "JPY")),
}

#: Odd names first: unicode, SQL, quotes and commas. (A line break is a control character: such a row is quarantined.)
NAMES = (*ODD_NAMES, 'Brand, "Exact" — Q1 ', 'Spring "Sale"; 50% off')

KEY = ("platform", "account_id", "campaign_id", "date")


@dataclass
class ImportFiles:
    """Files written and the rows the reader should return for [start, end] (raw.csv_campaign_daily columns)."""

    paths: list[Path]
    rows: list[dict[str, Any]]


def key(row: dict[str, Any]) -> tuple:
    """A row's key: platform, account, campaign, date."""
    return tuple(row[k] for k in KEY)


def merge_rows(*batches: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of older batches overridden per key by later ones, sorted by key (what the reader returns)."""
    merged: dict[tuple, dict[str, Any]] = {}
    for batch in batches:
        merged.update((key(row), row) for row in batch)
    return [merged[k] for k in sorted(merged)]


def write_import_files(
    directory: str | os.PathLike[str], start: date, end: date, campaigns: int = 50, seed: int = 0,
    platforms: Sequence[str] = ("linkedin_ads", "microsoft_ads", "snapchat_ads"), *, one_file: bool = False,
    columns: Sequence[str] = CSV_COLUMNS, extra_columns: dict[str, str] | None = None, bom: bool = False,
    modified_at: datetime = DEFAULT_MODIFIED_AT, prefix: str = "", european: bool = False,
) -> ImportFiles:
    """Write ``campaigns`` campaigns' daily rows for [start, end], spread over ``platforms``' accounts.

    One file per platform (``<prefix><platform>_<start>_<end>.csv``), or one
    ``<prefix>import_<start>_<end>.csv`` with ``one_file``. ``columns`` sets the
    header order, ``extra_columns`` adds columns (name -> value on every row),
    ``bom`` starts each file with a UTF-8 BOM, ``european`` writes ``;`` and decimal commas. Every file gets
    ``modified_at``.
    """
    rng = random.Random(seed)
    accounts = [(p, a, c) for p in platforms for a, c in ACCOUNTS.get(p, ((f"{p}-1001", "USD"),))]
    by_file: dict[str, list[dict[str, Any]]] = {}
    for n in range(campaigns):
        platform, account_id, currency = accounts[n % len(accounts)]
        name = NAMES[n] if n < len(NAMES) else f"Campaign {currency} {n + 1}"
        paused_after = start + (end - start) * 2 // 3 if n == campaigns - 1 else None
        first = start + (end - start) // 2 if n == 1 else start
        file = f"{prefix}import_{start}_{end}.csv" if one_file else f"{prefix}{platform}_{start}_{end}.csv"
        rows = _campaign_rows(rng, platform, account_id, currency, str(700_000 + 37 * n), name, first, end, paused_after)
        by_file.setdefault(file, []).extend(rows)
    paths, expected = [], []
    for file, rows in by_file.items():
        path = write_csv(Path(directory) / file, rows, columns=columns, extra_columns=extra_columns, bom=bom,
                         modified_at=modified_at, european=european)
        paths.append(path)
        expected += [_loaded(row, file, modified_at) for row in rows]
    return ImportFiles(paths, merge_rows(expected))


def write_correction_file(
    directory: str | os.PathLike[str], rows: Sequence[dict[str, Any]], *, count: int = 5, seed: int = 1,
    name: str = "correction.csv", modified_at: datetime = DEFAULT_MODIFIED_AT + timedelta(days=1),
    keys: Iterable[tuple] | None = None,
) -> list[dict[str, Any]]:
    """Write a file restating ``count`` of ``rows`` (or those with ``keys``) with new numbers; return them as loaded."""
    rng = random.Random(seed)
    wanted = set(keys) if keys is not None else {key(r) for r in rng.sample(list(rows), count)}
    restated = []
    for row in rows:
        if key(row) in wanted:
            spend = money(float(row["spend"]) * 1.1 + 1, row["currency"])
            restated.append({**{c: row[c] for c in CSV_COLUMNS}, "spend": spend, "clicks": row["clicks"] + 7})
    write_csv(Path(directory) / name, restated, modified_at=modified_at)
    return [_loaded(row, name, modified_at) for row in restated]


def sample_row(**values: Any) -> dict[str, str]:
    """One valid CSV row as strings; keyword arguments replace columns (for validation tests)."""
    row = {
        "date": "2024-03-01", "platform": "linkedin_ads", "account_id": "508123456", "campaign_id": "700001",
        "campaign_name": "Spring", "currency": "USD", "spend": "12.50", "impressions": "1000", "clicks": "25",
        "conversions": "1.5", "conversion_value": "80.25", "daily_budget": "20.00", "status": "active",
    }
    return {**row, **{k: str(v) for k, v in values.items()}}


def european_row(**values: Any) -> dict[str, str]:
    """``sample_row`` as European Excel writes it: its numbers with decimal commas."""
    row = sample_row(**values)
    for column in ("spend", "conversions", "conversion_value", "daily_budget"):
        if column not in values:
            row[column] = row[column].replace(".", ",")
    return row


def write_csv(
    path: str | os.PathLike[str], rows: Iterable[dict[str, Any]], *, columns: Sequence[str] = CSV_COLUMNS,
    extra_columns: dict[str, str] | None = None, bom: bool = False, modified_at: datetime | None = DEFAULT_MODIFIED_AT,
    encoding: str = "utf-8", european: bool = False,
) -> Path:
    """Write ``rows`` (typed or strings) under a header of ``columns`` and set the file's modification time.

    ``european``: semicolon-separated with decimal commas in typed numbers (strings are written as given).
    """
    path = Path(path)
    header = [*columns, *(extra_columns or {})]
    with path.open("w", encoding="utf-8-sig" if bom else encoding, newline="") as out:
        # Excel's dialect: CRLF, quotes only where needed.
        writer = csv.writer(out, delimiter=";" if european else ",")
        writer.writerow(header)
        for row in rows:
            values = {**{c: _text(row.get(c, ""), european) for c in columns}, **(extra_columns or {})}
            writer.writerow([values[c] for c in header])
    if modified_at is not None:
        set_modified_at(path, modified_at)
    return path


def set_modified_at(path: str | os.PathLike[str], when: datetime) -> None:
    """Set a file's modification (and access) time exactly."""
    ns = (when - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000
    os.utime(path, ns=(ns, ns))


def _campaign_rows(rng, platform, account_id, currency, campaign_id, name, first, end, paused_after):
    scale = 150 if currency in ZERO_DECIMAL_CURRENCIES else 1
    budget = money(rng.uniform(30, 400) * scale, currency)
    next_change = first + timedelta(days=rng.randint(20, 40))
    rows = []
    day = first
    while day <= end:
        if day >= next_change:  # budgets move every few weeks
            budget = money(float(budget) * rng.uniform(0.8, 1.25), currency)
            next_change = day + timedelta(days=rng.randint(20, 40))
        paused = paused_after is not None and day > paused_after
        spend = Decimal(0).quantize(budget) if paused else money(float(budget) * rng.uniform(0.5, 1.0), currency)
        impressions = 0 if paused else int(float(spend) / scale * rng.uniform(80, 200))
        clicks = int(impressions * rng.uniform(0.005, 0.04))
        rows.append({
            "date": day, "platform": platform, "account_id": account_id, "campaign_id": campaign_id,
            "campaign_name": name, "currency": currency, "spend": spend, "impressions": impressions, "clicks": clicks,
            "conversions": round(clicks * rng.uniform(0.0, 0.12), 2),
            "conversion_value": round(float(spend) * rng.uniform(0.0, 4.0), 2),
            "daily_budget": budget, "status": "paused" if paused else "active",
        })
        day += timedelta(days=1)
    return rows


def _loaded(row: dict[str, Any], file: str, modified_at: datetime) -> dict[str, Any]:
    return {**{c: row[c] for c in CSV_COLUMNS}, "source_file": file, "source_file_modified_at": modified_at}


def _text(value: Any, decimal_comma: bool = False) -> str:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (float, Decimal)):
        text = repr(value) if isinstance(value, float) else str(value)
        return text.replace(".", ",") if decimal_comma else text
    return str(value)
