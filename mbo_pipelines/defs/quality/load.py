"""Judge an extract's rows and load what passes, in one transaction with the verdict and the quarantine."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from operator import itemgetter
from typing import Any

from psycopg.types.json import Jsonb

from mbo_pipelines import warehouse
from mbo_pipelines.defs.ingest.raw_tables import RawTable, ensure_raw_tables
from mbo_pipelines.defs.quality import reported, store
from mbo_pipelines.defs.quality.history import daily_totals
from mbo_pipelines.defs.quality.rules import rules_for, volume_band
from mbo_pipelines.defs.quality.validate import QualityReport, check_batch


@dataclass(frozen=True)
class LoadOutcome:
    """What one checked load did."""

    report: QualityReport
    written: int
    quarantined: int


def _values(table: RawTable, rows: Iterable[dict[str, Any]], run_id: str | None) -> Iterator[tuple]:
    """Each row's values in the table's column order plus the run id, one at a time: streamed into COPY, never
    held as a second copy of the batch. A missing column is NULL (a missing JSON column is an error)."""
    columns = table.column_names
    json_columns = set(table.json_columns)
    json_positions = [n for n, c in enumerate(columns) if c in json_columns]
    pick = itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))
    for row in rows:
        try:
            values = pick(row)
        except KeyError:
            values = tuple(row[c] if n in json_positions else row.get(c) for n, c in enumerate(columns))
        if json_positions:
            values = list(values)
            for n in json_positions:
                values[n] = Jsonb(values[n])
        yield (*values, run_id)


def check_and_load(url: str, table: RawTable, rows: list[dict[str, Any]], window: tuple[date, date] | None,
                   partition: str, run_id: str | None) -> LoadOutcome:
    """Validate ``rows`` against the table's expectations and load the rows and days that pass.

    Days a table-level check fails keep what was loaded for them before; rows a row-level check fails go to
    ``quarantine.<table>``, and the row loaded before for the same key (if any) stays. ``window`` is the days the rows cover (None for a campaign snapshot).
    """
    rules = rules_for(table)
    band = volume_band()
    with warehouse.connect(url) as conn:
        ensure_raw_tables(conn)
        store.ensure_quality_tables(conn, [rules])
        history = (daily_totals(conn, rules, window[0] - timedelta(days=7 * band.weeks + 1), window[1])
                   if window else {})
        report = check_batch(rules, rows, window, history, band, store.accepted(conn, rules.name))
        columns = [*table.column_names, "_run_id"]
        values = _values(table, report.rows_to_load(), run_id)
        with conn.transaction():
            written = 0
            if window and report.loadable_days:
                written = warehouse.replace_days(conn, table.name, table.date_column, report.loadable_days,
                                                 columns, values, report.kept_keys(), table.key)
                reported.record_reported(conn, rules, report.rows_to_load(), report.loadable_days)
            elif not window and report.loads_anything:
                written = warehouse.replace_table_contents(conn, table.name, columns, values)
            quarantined = store.record(conn, report, partition, run_id)
    return LoadOutcome(report, written, quarantined)
