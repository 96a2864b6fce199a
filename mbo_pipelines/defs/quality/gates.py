"""The gates: no plan on, and no push of a plan built on, days whose blocking quality checks failed."""

from __future__ import annotations

from datetime import date

from mbo_pipelines.defs.quality import store

#: What to do about a closed gate, appended to every refusal.
HOW_TO_CLEAR = (
    "Look at `mbo quality` (or the check's metadata on the raw asset in the Dagster UI, and the rows in "
    "quarantine.<table>). Once the platform serves good data, re-run that extract partition; if the data is right "
    "after all (a real drop in volume), accept it with `mbo quality accept <table> <check> <day> --reason ...`."
)


class QualityGateClosed(RuntimeError):
    """Blocking data-quality checks failed on the days a plan reads."""

    def __init__(self, what: str, failures: list[tuple]):
        self.failures = failures
        listed = "; ".join(f"{table} {day or 'snapshot'} {check}: {summary}" for table, day, check, summary in failures[:10])
        more = f" (and {len(failures) - 10} more)" if len(failures) > 10 else ""
        super().__init__(f"{what}: blocking data-quality checks failed: {listed}{more}. {HOW_TO_CLEAR}")


def require_clean(conn, start: date | None, end: date | None, what: str) -> None:
    """Raise ``QualityGateClosed`` (its message saying ``what`` was refused) if a blocking check failed in [start, end]."""
    failures = store.blocking_failures(conn, start, end)
    if failures:
        raise QualityGateClosed(what, failures)


def plan_failures(conn, plan_id: str) -> list[tuple]:
    """The failed blocking checks on the history a stored plan was built on ([] for a rollback: it reads no data)."""
    plan = conn.execute("select history_start, history_end, rollback_of from marts.budget_plans where plan_id = %s",
                        (plan_id,)).fetchone()
    if plan is None or plan[2]:
        return []
    return store.blocking_failures(conn, plan[0], plan[1])


def require_clean_plan(conn, plan_id: str) -> None:
    """Raise ``QualityGateClosed`` when the plan's history has a failed blocking check (see ``plan_failures``)."""
    failures = plan_failures(conn, plan_id)
    if failures:
        raise QualityGateClosed(f"refusing to push plan {plan_id}", failures)
