"""``mbo quality``: the latest check result per table, partition and check, failing ones first; and acceptances."""

from __future__ import annotations

from datetime import date

from mbo_pipelines import warehouse
from mbo_pipelines.defs.quality import store
from mbo_pipelines.defs.quality.gates import HOW_TO_CLEAR

_ORDER = """
case when not passed and blocking then 0 when not passed then 1 else 2 end
"""


def _status(passed: bool, blocking: bool, accepted_by: str | None) -> str:
    if accepted_by:
        return "ACCEPTED"
    if passed:
        return "ok"
    return "FAILED" if blocking else "WARN"


def quality_report(url: str, days: int = 7, table: str | None = None) -> str:
    """Every failing latest result (any day), then the passing ones of the last ``days`` days, as a text table."""
    with warehouse.connect(url) as conn:
        store.ensure_quality_tables(conn)
        conn.commit()
        rows = conn.execute(
            f"""
            select table_name, day, check_name, passed, blocking, accepted_by, summary, run_id, checked_at
            from quality.latest_check_results
            where (%(table)s::text is null or table_name = %(table)s or table_name = 'raw.' || %(table)s)
              and (not passed or day is null
                   or day > (select max(day) from quality.check_results c where c.table_name = latest_check_results.table_name) - %(days)s)
            order by {_ORDER}, table_name, day desc nulls first, check_name
            """,
            {"table": table, "days": days},
        ).fetchall()
        quarantined = store.quarantine_counts(conn)
    if not rows:
        return "no data-quality results yet: they are written by every extract (`mbo extract`, `mbo refresh`)"
    width = max(len(r[0]) for r in rows)
    lines = [f"{'status':<8}  {'table':<{width}}  {'partition':<10}  {'check':<11}  summary"]
    for name, day, check, passed, blocking, accepted_by, summary, run_id, checked_at in rows:
        partition = day.isoformat() if isinstance(day, date) else "snapshot"
        run = f"  [run {run_id[:8]}, {checked_at:%Y-%m-%d %H:%M}]" if run_id else ""
        lines.append(f"{_status(passed, blocking, accepted_by):<8}  {name:<{width}}  {partition:<10}  {check:<11}  "
                     f"{summary}{run}")
    failing = sum(1 for r in rows if not r[3])
    if quarantined:
        lines.append("")
        lines.append("quarantined rows: " + ", ".join(f"{t} {n}" for t, n in quarantined))
    if failing:
        lines.append("")
        lines.append(f"{failing} failing check result(s). {HOW_TO_CLEAR}")
    return "\n".join(lines)


def accept_check(url: str, table: str, check: str, day: str, who: str, reason: str) -> str:
    """``mbo quality accept``: mark a failed check accepted so the gates let plans through; says what it did."""
    name = table if "." in table else f"raw.{table}"
    on = None if day == "snapshot" else date.fromisoformat(day)
    with warehouse.connect(url) as conn:
        store.ensure_quality_tables(conn)
        accepted = store.accept(conn, name, check, on, who, reason)
        conn.commit()
    if not accepted:
        return f"no failed {check} result for {name} on {day}: nothing to accept (see `mbo quality`)"
    return (f"accepted the failed {check} of {name} on {day} ({who}: {reason}): plans and pushes may use that day, "
            "and the next extract of it loads the platform's rows despite that check. The rows it held back are "
            "not loaded yet: re-run that extract partition to load them.")
