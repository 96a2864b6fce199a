"""``mbo report``: one plan as a single self-contained HTML page, to read or send without a server.

The page (``page.py``) holds the plan's totals (current and recommended total daily budget, expected value and
uplift with its interval, the optimality gap), the per-platform chart and the response curves the plan's Dagster
materialization shows (``curves.py``, refitted from the marts), the plan's explanation, the ledger's state
(changes per status, those waiting for approval) and the table of recommended changes, sortable in the browser.
It fetches nothing: styles, the sorting script and the charts (PNG ``data:`` URIs) are inline.
"""

from __future__ import annotations

import os
from pathlib import Path

from mbo_pipelines import settings, warehouse
from mbo_pipelines.report.curves import refit_curves, render_charts, stored_plan
from mbo_pipelines.report.data import NoPlanError, read_plan_report
from mbo_pipelines.report.page import render_page

__all__ = ["NoPlanError", "default_output", "write_report"]


def default_output() -> Path:
    """Where ``mbo report`` writes without ``--output``: ``$MBO_HOME/report.html``."""
    return settings.mbo_home() / "report.html"


def write_report(database_url: str, output: Path | None = None, plan_id: str | None = None) -> Path:
    """Write the report of plan ``plan_id`` (default: the latest) to ``output`` (default ``default_output()``).

    Returns the path written (replaced whole: a reader never sees half a page). Raises ``NoPlanError`` when there
    is no plan yet (``no plan yet: run `mbo demo` or `mbo refresh` first``) or no plan ``plan_id``.
    """
    with warehouse.connect(database_url) as conn:
        report = read_plan_report(conn, plan_id)
        plan = stored_plan(report)
        try:
            curves_note = refit_curves(conn, plan, report)
        except Exception as error:  # noqa: BLE001 - without curves the report still has everything else
            plan.curves = None
            curves_note = f"No response curves: refitting them failed ({type(error).__name__}: {error})."
    html = render_page(report, render_charts(plan), curves_note)
    path = Path(output) if output is not None else default_output()
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        scratch.write_text(html, encoding="utf-8")
        os.replace(scratch, path)
    except BaseException:
        scratch.unlink(missing_ok=True)
        raise
    return path.resolve()
