"""The FX rates under a Great Expectations suite: ``valid_rates``, the blocking check of the ``raw/fx_rates``
asset, whose verdict the gates read.

Every amount in the marts is converted through these rates, so a wrong rate
moves money as surely as a wrong spend. The asset judges every row it is about
to load (from the ECB file or the sandbox) before writing any: each currency an
ISO 4217 code; each rate a finite number above 0 (and below ``MAX_RATE``); USD
at exactly 1 on every date; one rate per date and currency; no date after
tomorrow. One failure refuses the whole batch: nothing loads (the rates landed
before stay) and the verdict goes to ``quality.check_results`` (table
``raw.fx_rates``, no day), so the gates close on every window until a good
batch passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import dagster as dg
import pandas as pd

from mbo_pipelines.currencies import ISO_4217_CODES
from mbo_pipelines.defs.ingest.raw_tables import FX_RATES
from mbo_pipelines.defs.quality import expectations as ex
from mbo_pipelines.defs.quality import store
from mbo_pipelines.defs.quality.asset_checks import findings_table
from mbo_pipelines.defs.quality.frames import day_text, number
from mbo_pipelines.defs.quality.validate import Finding

#: The rates' name in ``quality.check_results`` (what ``mbo quality`` and the gates show).
TABLE_NAME = FX_RATES.name
CHECK_NAME = "valid_rates"
#: US dollars per unit no currency comes near (the dearest, the Kuwaiti dinar, is about 3.3).
MAX_RATE = 10_000
DESCRIPTION = ("The FX rates about to load (Great Expectations): currency an ISO 4217 code; rate_to_usd a finite number "
               f"above 0 and below {MAX_RATE}; USD at exactly 1 on every date; one rate per date and currency; no date "
               "after tomorrow. A failure loads nothing and closes the gates: no plan and no push until good rates "
               "load.")
HOW_TO_FIX = (
    "Fix the rates file (MBO_FX_RATES_CSV: the ECB's eurofxref CSV or the ECB Data Portal's SDMX CSV, rates per 1 EUR) "
    "or download it again, then materialize raw/fx_rates again: once its rates pass, the gates open. The rates loaded "
    "before stay in raw.fx_rates."
)


@dataclass
class RatesReport:
    """The verdict on one batch of rates: the failing expectations (none: passed)."""

    source: str
    rows: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every expectation held."""
        return not self.findings

    @property
    def summary(self) -> str:
        """One line for ``quality.check_results`` and ``mbo quality``."""
        return "; ".join(f"{f.reason} ({f.count})" for f in self.findings)[:1000] or "passed"


def check_spec(asset_key: dg.AssetKey) -> dg.AssetCheckSpec:
    """``valid_rates`` (blocking) as a check spec of the asset that loads the rates."""
    return dg.AssetCheckSpec(CHECK_NAME, asset=asset_key, blocking=True, description=DESCRIPTION)


def rates_expectations(today: date) -> list:
    """The suite: codes valid, rates finite and > 0, USD at 1 on every date, (date, currency) unique, no future."""
    expect = ex.expectation
    tomorrow = today + timedelta(days=1)
    suite = [
        expect("ExpectColumnValuesToNotBeNull", CHECK_NAME, "date is missing or not a date", column="date"),
        expect("ExpectColumnValuesToBeBetween", CHECK_NAME, f"date is in the future (after {tomorrow})",
               column="days_ahead", max_value=1),
        expect("ExpectColumnValuesToNotBeNull", CHECK_NAME, "currency is missing", column="currency"),
        expect("ExpectColumnValuesToBeInSet", CHECK_NAME, "currency is not an ISO 4217 currency code",
               column="currency", value_set=sorted(ISO_4217_CODES)),
        expect("ExpectCompoundColumnsToBeUnique", CHECK_NAME, "the date and currency have more than one rate",
               column_list=["date", "currency"]),
        expect("ExpectColumnValuesToNotBeNull", CHECK_NAME, "rate_to_usd is missing or not a number",
               column="rate_to_usd"),
        expect("ExpectColumnValuesToBeBetween", CHECK_NAME,
               f"rate_to_usd is not a finite number above 0 (US dollars per unit, below {MAX_RATE})",
               column="rate_to_usd", min_value=0, strict_min=True, max_value=MAX_RATE, strict_max=True),
        expect("ExpectColumnValuesToBeBetween", CHECK_NAME, "the date has no USD rate (USD must be 1 on every date)",
               column="date_has_usd", min_value=1, max_value=1),
    ]
    # Imported only now: expectation() has imported GX with its usage statistics turned off.
    from great_expectations.expectations.row_conditions import Column

    suite.append(expect("ExpectColumnValuesToBeBetween", CHECK_NAME, "USD's rate_to_usd is not exactly 1",
                        column="rate_to_usd", min_value=1, max_value=1, row_condition=Column("currency") == "USD"))
    return suite


def rates_frame(rows: list[dict[str, Any]], today: date) -> pd.DataFrame:
    """The rows as the suite reads them: dates as ISO text (and days after ``today``), rates as floats (anything not
    a number missing), and whether each row's date has a USD row."""
    days = [day_text(r.get("date")) for r in rows]
    usd_days = {d for d, r in zip(days, rows, strict=True) if r.get("currency") == "USD"}
    return pd.DataFrame({
        "date": pd.Series(days, dtype=object),
        "currency": pd.Series([r.get("currency") for r in rows], dtype=object),
        "rate_to_usd": pd.Series([number(r.get("rate_to_usd")) for r in rows], dtype="float64"),
        "days_ahead": pd.Series([(date.fromisoformat(d) - today).days if d else None for d in days],
                                dtype="float64"),
        "date_has_usd": pd.Series([int(d in usd_days) for d in days], dtype="int64"),
    })


def _failing(frame: pd.DataFrame, result) -> tuple[int, tuple[str, ...]]:
    """How many rows failed, and a sample of them (``2025-01-03 PLN: -0.25``)."""
    outcome = result.result
    indexes = list(dict.fromkeys(int(i) for i in outcome.get("unexpected_index_list") or []))
    sample = tuple(f"{frame.at[i, 'date']} {frame.at[i, 'currency']}: {frame.at[i, 'rate_to_usd']:g}"
                   for i in indexes[:ex.SAMPLE_SIZE])
    return int(outcome.get("unexpected_count") or len(indexes)), sample


def check_rates(rows: list[dict[str, Any]], source: str, today: date) -> RatesReport:
    """Judge the raw.fx_rates rows read from ``source`` against the suite (``today``: what counts as the future)."""
    report = RatesReport(source, len(rows))
    if not rows:
        report.findings.append(Finding(CHECK_NAME, "expect_table_row_count_to_be_between", None,
                                       f"{source} has no rates", 0, ()))
        return report
    frame = rates_frame(rows, today)
    for result in ex.run("fx_rates", frame, rates_expectations(today)):
        if result.success:
            continue
        config = result.expectation_config
        reason = (config.meta or {}).get("reason", config.type)
        column = config.kwargs.get("column") or ", ".join(config.kwargs.get("column_list") or []) or None
        if result.exception_info and result.exception_info.get("raised_exception"):
            message = str(result.exception_info.get("exception_message"))[:300]
            report.findings.append(Finding(CHECK_NAME, config.type, column,
                                           f"{reason}: could not be evaluated ({message})", len(frame), ()))
            continue
        count, sample = _failing(frame, result)
        report.findings.append(Finding(CHECK_NAME, config.type, column, reason, count, sample))
    return report


def unreadable(source: str, message: str) -> RatesReport:
    """The verdict on a source that could not even be read (a malformed file): failed, saying why."""
    return RatesReport(source, 0, [Finding(CHECK_NAME, "readable source", None, message, 0, ())])


def record(conn, report: RatesReport, run_id: str | None) -> None:
    """Append the verdict to ``quality.check_results`` (no day: it holds for every window the gates check).

    Run ``store.ensure_quality_tables`` first; inside the transaction that loads the rates, so both change together.
    """
    store.insert_result(conn, TABLE_NAME, None, CHECK_NAME, report.passed, True, report.summary,
                        store.finding_details(report.findings), run_id=run_id)


def check_result(report: RatesReport) -> dg.AssetCheckResult:
    """The Dagster result: failing expectations with counts and samples in the metadata."""
    metadata: dict[str, Any] = {"source": dg.MetadataValue.text(report.source),
                                "rows_checked": dg.MetadataValue.int(report.rows),
                                "recorded_as": dg.MetadataValue.text(f"quality.check_results: {TABLE_NAME}")}
    if not report.passed:
        metadata["failing_expectations"] = dg.MetadataValue.md(findings_table(report.findings))
        metadata["what_to_do"] = dg.MetadataValue.text(HOW_TO_FIX)
    return dg.AssetCheckResult(
        check_name=CHECK_NAME, passed=report.passed, metadata=metadata, severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(f.line() for f in report.findings)[:2000] or None,
    )
