"""The quality checks as Dagster asset checks on every extract asset, with readable metadata.

Each extract asset declares ``valid_rows`` (non-blocking: failing rows are
quarantined, the rest load), ``valid_table`` and, for daily tables,
``volume`` (both blocking: a failure stops everything downstream in the run,
and the days it names keep what was loaded before). The checks are evaluated
inside the extract, before anything is written, and reported with it.
"""

from __future__ import annotations

import dagster as dg

from mbo_pipelines.defs.ingest.raw_tables import RawTable
from mbo_pipelines.defs.quality.gates import HOW_TO_CLEAR
from mbo_pipelines.defs.quality.load import LoadOutcome
from mbo_pipelines.defs.quality.rules import (
    BLOCKING_CHECKS,
    CHECK_DESCRIPTIONS,
    VALID_ROWS,
    VALID_TABLE,
    VOLUME,
    rules_for,
)
from mbo_pipelines.defs.quality.store import printable, quarantine_table

#: Quarantined rows shown in a check's metadata.
SAMPLE_ROWS = 5


def checks_of(table: RawTable) -> list[str]:
    """The check names an extract asset of ``table`` carries."""
    rules = rules_for(table)
    return [VALID_ROWS, VALID_TABLE] + ([VOLUME] if rules.is_daily and rules.volume_column else [])


def check_specs(asset_key: dg.AssetKey, table: RawTable) -> list[dg.AssetCheckSpec]:
    """The asset check specs of an extract asset that loads ``table``."""
    return [dg.AssetCheckSpec(name, asset=asset_key, blocking=name in BLOCKING_CHECKS,
                              description=CHECK_DESCRIPTIONS[name]) for name in checks_of(table)]


def cell(value, limit: int = 200) -> str:
    """``value`` as one Markdown table cell: printable, cut to ``limit`` characters, pipes escaped."""
    text = printable(value) or ""
    text = text if len(text) <= limit else text[:limit - 1] + "…"
    return text.replace("|", "\\|").replace("\n", " ")


def findings_table(findings) -> str:
    """Failing expectations as a Markdown table: expectation, column, count, reason, sample."""
    header = "| expectation | column | failing | reason | sample |\n|---|---|---:|---|---|\n"
    return header + "\n".join(
        f"| {f.expectation} | {f.column or ''} | {f.count} | {cell(f.reason)} | {cell(', '.join(f.sample))} |"
        for f in findings)


def _quarantine_sample(outcome: LoadOutcome) -> str:
    table = outcome.report.rules.table
    shown = outcome.report.rows_to_quarantine()[:SAMPLE_ROWS]
    key = list(table.key)
    header = "| " + " | ".join([*key, "reason"]) + " |\n|" + "---|" * (len(key) + 1) + "\n"
    return header + "\n".join("| " + " | ".join([*(cell(row.get(c), 60) for c in key), cell(reason)]) + " |"
                              for row, _, reason in shown)


def _days(days) -> str:
    return ", ".join("all" if d is None else d.isoformat() for d in sorted(days, key=lambda d: (d is None, d)))


def check_results(outcome: LoadOutcome) -> list[dg.AssetCheckResult]:
    """One result per check of the asset, failing ones with the expectations, counts and samples."""
    report = outcome.report
    results = []
    for check in checks_of(report.rules.table):
        passed = report.passed(check)
        metadata: dict = {"rows_checked": dg.MetadataValue.int(len(report.rows))}
        if check == VALID_ROWS:
            metadata["rows_quarantined"] = dg.MetadataValue.int(len(report.row_reasons))
            metadata["quarantine_table"] = dg.MetadataValue.text(quarantine_table(report.rules))
        if check == VOLUME and report.volume_lines:
            metadata["days"] = dg.MetadataValue.md("\n".join(
                f"- {day}: {line}" for day, line in sorted(report.volume_lines.items())))
        if not passed:
            metadata["failing_expectations"] = dg.MetadataValue.md(findings_table(
                f for f in report.findings if f.check == check))
            metadata["failed_days"] = dg.MetadataValue.text(_days(report.failed_days(check)))
            if check == VALID_ROWS:
                metadata["quarantined_sample"] = dg.MetadataValue.md(_quarantine_sample(outcome))
            else:
                metadata["held_back_days"] = dg.MetadataValue.text(_days(report.held_days) or "none")
            metadata["what_to_do"] = dg.MetadataValue.text(HOW_TO_CLEAR)
        results.append(dg.AssetCheckResult(
            check_name=check, passed=passed, metadata=metadata,
            severity=dg.AssetCheckSeverity.ERROR if check in BLOCKING_CHECKS else dg.AssetCheckSeverity.WARN,
            description="; ".join(f.line() for f in report.findings if f.check == check)[:2000] or None,
        ))
    return results
