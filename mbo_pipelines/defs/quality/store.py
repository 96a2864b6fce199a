"""Where quality verdicts live: ``quality.check_results`` (one row per table, day and check, per run) and
``quarantine.<table>`` (the rows that did not load, with the reason, the partition and the run id).

Check results are history: each run appends, and the latest row per table,
check and day (``quality.latest_check_results``) is the one the gates read.
Quarantine tables hold every raw column as text, made printable (NUL bytes
and lone surrogates written as ``\\u0000`` escapes), so nothing a platform
sent is lost, however broken. When a day loads again, its quarantined rows of
earlier runs go: they belonged to a response that has been replaced.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from mbo_pipelines.defs.quality.reported import REPORTED_DDL
from mbo_pipelines.defs.quality.rules import BLOCKING_CHECKS, VALID_ROWS, VALID_TABLE, VOLUME, TableRules
from mbo_pipelines.defs.quality.validate import ALL_DAYS, QualityReport

CHECK_RESULTS_DDL = """
create table if not exists quality.check_results (
  id bigserial primary key,
  table_name text not null,
  day date,
  check_name text not null,
  passed boolean not null,
  blocking boolean not null,
  severity text not null,
  summary text not null,
  details jsonb not null default '[]',
  partition_key text,
  run_id text,
  checked_at timestamptz not null default clock_timestamp(),
  accepted_by text,
  accepted_reason text
)
"""
LATEST_VIEW = """
create or replace view quality.latest_check_results as
select distinct on (table_name, check_name, day) *
from quality.check_results
order by table_name, check_name, day, id desc
"""
_UNPRINTABLE = re.compile("[\x00\ud800-\udfff]")


def printable(value: Any) -> str | None:
    """``value`` as text PostgreSQL accepts, NUL bytes and lone surrogates escaped (``\\u0000``); None stays None."""
    if value is None:
        return None
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", value if isinstance(value, str) else str(value))


def quarantine_table(rules: TableRules) -> str:
    """``quarantine.<raw table name>``."""
    return f"quarantine.{rules.short_name}"


def ensure_quality_tables(conn, rules: Sequence[TableRules] = ()) -> None:
    """Create the quality schema, its results table and view, and the quarantine tables of ``rules``."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('mbo.quality.ddl'))")
        conn.execute("create schema if not exists quality")
        conn.execute("create schema if not exists quarantine")
        conn.execute(CHECK_RESULTS_DDL)
        conn.execute(REPORTED_DDL)
        conn.execute("create index if not exists check_results_latest on quality.check_results "
                     "(table_name, check_name, day, id desc)")
        # Replacing a view takes an exclusive lock that waits for every reader (the gates): only when missing.
        if conn.execute("select to_regclass('quality.latest_check_results') is null").fetchone()[0]:
            conn.execute(LATEST_VIEW)
        for rule in rules:
            columns = ", ".join(f"{name} text" for name in rule.table.column_names)
            conn.execute(
                f"create table if not exists {quarantine_table(rule)} ({columns}, _day date, _reason text not null, "
                "_partition text not null, _run_id text, _quarantined_at timestamptz not null default now())"
            )


def finding_details(findings) -> list[dict[str, Any]]:
    """The ``details`` JSON of failing expectations: expectation, column, reason, count and a printable sample."""
    return [{"expectation": f.expectation, "column": f.column, "reason": f.reason, "count": f.count,
             "sample": [printable(s) for s in f.sample]} for f in findings]


def _finding_details(report: QualityReport, check: str, day: date | None) -> list[dict[str, Any]]:
    return finding_details(
        f for f in report.findings
        if f.check == check and (day is None or not f.days or day in f.days or ALL_DAYS in f.days))


def insert_result(conn, table: str, day: date | None, check: str, passed: bool, blocking: bool, summary: str,
                  details: list[dict[str, Any]] = (), partition: str | None = None, run_id: str | None = None,
                  accepted_by: str | None = None, accepted_reason: str | None = None) -> None:
    """Append one row to ``quality.check_results`` (severity ERROR for blocking checks, WARN otherwise)."""
    conn.execute(
        "insert into quality.check_results (table_name, day, check_name, passed, blocking, severity, summary, "
        "details, partition_key, run_id, accepted_by, accepted_reason) "
        "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (table, day, check, passed, blocking, "ERROR" if blocking else "WARN", summary[:1000], Jsonb(list(details)),
         partition, run_id, accepted_by, accepted_reason),
    )


def quarantine_counts(conn) -> list[tuple[str, int]]:
    """(quarantine table, rows) for every quarantine table holding any."""
    tables = conn.execute("select table_schema || '.' || table_name from information_schema.tables "
                          "where table_schema = 'quarantine' order by 1").fetchall()
    counts = [(t, conn.execute(f"select count(*) from {t}").fetchone()[0]) for (t,) in tables]
    return [(t, n) for t, n in counts if n]


def check_rows(report: QualityReport) -> list[dict[str, Any]]:
    """The ``quality.check_results`` rows of a report: per check, one per window day (one per snapshot)."""
    days: list[date | None] = list(report.window_days) or [ALL_DAYS]
    checks = [VALID_ROWS, VALID_TABLE] + ([VOLUME] if report.rules.is_daily and report.rules.volume_column else [])
    rows = []
    for check in checks:
        failed = report.failed_days(check)
        check_days = days + ([ALL_DAYS] if check == VALID_ROWS and ALL_DAYS in failed and days != [ALL_DAYS] else [])
        for day in check_days:
            passed = day not in failed and (check == VALID_ROWS or ALL_DAYS not in failed)
            details = _finding_details(report, check, day) if not passed else []
            if passed:
                summary = report.volume_lines.get(day, "passed") if check == VOLUME else "passed"
            else:
                summary = "; ".join(f"{d['reason']} ({d['count']})" for d in details)[:1000] or "failed"
            rows.append({"day": day, "check_name": check, "passed": passed, "blocking": check in BLOCKING_CHECKS,
                         "summary": summary,
                         "details": details})
    return rows


def record(conn, report: QualityReport, partition: str, run_id: str | None) -> int:
    """Append the report's check results and quarantine its rows (replacing earlier runs' for reloaded days).

    Run inside the transaction that loads the raw rows, so the verdict and the data change together.
    Returns the number of rows quarantined.
    """
    rules = report.rules
    for row in check_rows(report):
        insert_result(conn, rules.name, row["day"], row["check_name"], row["passed"], row["blocking"], row["summary"],
                      row["details"], partition, run_id)
    table = sql.SQL(quarantine_table(rules))
    if report.loads_anything:
        if rules.is_daily:
            conn.execute(sql.SQL("delete from {} where _day = any(%s) or (_day is null and _partition = %s)")
                         .format(table), (report.loadable_days, partition))
        else:
            conn.execute(sql.SQL("delete from {}").format(table))
    quarantined = report.rows_to_quarantine()
    if quarantined:
        names = [*rules.table.column_names, "_day", "_reason", "_partition", "_run_id"]
        statement = sql.SQL("copy {} ({}) from stdin").format(table, sql.SQL(", ").join(map(sql.Identifier, names)))
        with conn.cursor() as cur, cur.copy(statement) as copy:
            for row, day, reason in quarantined:
                copy.write_row([*(printable(row.get(c)) for c in rules.table.column_names), day,
                                printable(reason), partition, run_id])
    return len(quarantined)


def accept(conn, table: str, check: str, day: date | None, who: str, reason: str) -> int:
    """Mark the latest failed ``check`` of ``table`` on ``day`` accepted: the gates treat it as passed.

    Returns how many results were accepted (0: nothing failed there).
    """
    failed = conn.execute(
        "select table_name, day, check_name, blocking, severity, summary, partition_key from "
        "quality.latest_check_results where table_name = %s and check_name = %s and day is not distinct from %s "
        "and not passed",
        (table, check, day),
    ).fetchall()
    for name, failed_day, check_name, blocking, _, summary, partition in failed:
        insert_result(conn, name, failed_day, check_name, True, blocking, f"accepted by {who}: {reason} (was: {summary})",
                      partition=partition, accepted_by=who, accepted_reason=reason)
    return len(failed)


def accepted(conn, table: str) -> set[tuple[str, date | None]]:
    """(check, day) pairs of ``table`` an operator ever accepted: their table-level findings no longer hold days back."""
    return set(conn.execute("select distinct check_name, day from quality.check_results "
                            "where table_name = %s and accepted_by is not null", (table,)).fetchall())


def blocking_failures(conn, start: date | None, end: date | None) -> list[tuple[str, date | None, str, str]]:
    """(table, day, check, summary) of every blocking check whose latest result failed, on a day in [start, end]
    of a daily table or on the latest snapshot of a campaign table."""
    if conn.execute("select to_regclass('quality.latest_check_results') is null").fetchone()[0]:
        return []
    return conn.execute(
        "select table_name, day, check_name, summary from quality.latest_check_results "
        "where blocking and not passed and (day is null or day between %s and %s) order by table_name, day, check_name",
        (start, end),
    ).fetchall()

