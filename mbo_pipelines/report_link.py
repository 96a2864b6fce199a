"""The report page kept up to date by the plan and push assets, and the metadata entry that points at it.

Each plan, and each push of it, rewrites ``$MBO_HOME/report.html`` (``mbo report``'s default page), so the page
the asset links to shows the latest plan and its ledger. A plan larger than ``MBO_REPORT_MAX_CAMPAIGNS`` (the page
refits every campaign's curve) is left to ``mbo report``; a page that fails to render is a warning, never a failed
plan or push.
"""

from __future__ import annotations

import dagster as dg

from mbo_pipelines import settings

DEFAULT_MAX_CAMPAIGNS = 2000


def max_campaigns() -> int:
    """Largest plan whose page the assets write on every run (``MBO_REPORT_MAX_CAMPAIGNS``, default 2000)."""
    return settings.env_int("MBO_REPORT_MAX_CAMPAIGNS", DEFAULT_MAX_CAMPAIGNS, minimum=0)


def refresh_report(log, database_url: str, plan_id: str, campaigns: int) -> dict[str, dg.MetadataValue]:
    """Rewrite the report page for ``plan_id``; ``{"report": ...}``: its path, or what to run instead."""
    from mbo_pipelines.report import write_report

    if campaigns > max_campaigns():
        return {"report": dg.MetadataValue.md(
            f"`mbo report {plan_id}` writes this plan's page ({campaigns:,} campaigns: more than "
            f"MBO_REPORT_MAX_CAMPAIGNS, so not on every run).")}
    try:
        path = write_report(database_url, None, plan_id)
    except Exception as error:  # noqa: BLE001 - the page is a view of what is stored; never fail the plan for it
        log.warning(f"report page not written: {type(error).__name__}: {error}")
        return {"report": dg.MetadataValue.md(f"*not written ({type(error).__name__}); run `mbo report {plan_id}`*")}
    return {"report": dg.MetadataValue.path(str(path))}
