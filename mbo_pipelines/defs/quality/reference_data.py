"""The FX rates seed (``dbt_project/seeds/currency_rates.csv``) under a Great Expectations suite, as a blocking
Dagster asset check on the seed's asset whose verdict the gates read.

Every amount in the marts is converted through these rates, so a wrong rate
moves money as surely as a wrong spend. The check ``valid_rates`` reads the
table ``dbt seed`` loaded (what the marts actually join) and expects exactly
the columns ``currency`` and ``rate_to_usd``; each currency an ISO 4217 code,
present once; each rate a finite number above 0 (and below ``MAX_RATE``);
USD present at exactly 1, and the reporting currency present. Its result goes
to ``quality.check_results`` (table ``seed.currency_rates``, no day), so a
failure closes the gates on every window until a good seed passes.
"""

import json
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import pandas as pd
from dagster_dbt import get_asset_key_for_model
from psycopg import sql

from mbo_pipelines import settings, warehouse
from mbo_pipelines.currencies import ISO_4217_CODES
from mbo_pipelines.defs.quality import expectations as ex
from mbo_pipelines.defs.quality import store
from mbo_pipelines.defs.quality.asset_checks import findings_table
from mbo_pipelines.defs.quality.frames import number
from mbo_pipelines.defs.quality.validate import Finding
from mbo_pipelines.defs.transform.assets import mbo_dbt_models
from mbo_pipelines.defs.transform.project import dbt_project
from mbo_pipelines.resources import MboResource

SEED = "currency_rates"
#: The seed's name in ``quality.check_results`` (what ``mbo quality`` and the gates show).
TABLE_NAME = "seed.currency_rates"
CHECK_NAME = "valid_rates"
COLUMNS = ("currency", "rate_to_usd")
#: US dollars per unit no currency comes near (the dearest, the Kuwaiti dinar, is about 3.3).
MAX_RATE = 10_000
HOW_TO_FIX = (
    "Fix dbt_project/seeds/currency_rates.csv (one row per ISO 4217 code: US dollars per unit, USD = 1), then run "
    "`dbt seed` (or the reference/currency_rates asset) again: the check re-runs and, once it passes, the gates open."
)


@dataclass
class RatesReport:
    """The verdict on the loaded rates: the failing expectations (none: passed)."""

    relation: str
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


def rates_relation() -> str:
    """``schema.table`` the seed is loaded into, as dbt names it (``reference.currency_rates``)."""
    manifest = json.loads(dbt_project.manifest_path.read_text())
    node = manifest["nodes"][f"seed.mbo.{SEED}"]
    return f"{node['schema']}.{node['alias']}"


def rates_expectations() -> list:
    """The suite: codes valid and unique, rates finite and > 0, USD at 1 and the reporting currency present."""
    reporting = settings.reporting_currency()
    expect = ex.expectation
    suite = [
        expect("ExpectColumnValuesToNotBeNull", CHECK_NAME, "currency is missing", column="currency"),
        expect("ExpectColumnValuesToBeInSet", CHECK_NAME, "currency is not an ISO 4217 currency code",
               column="currency", value_set=sorted(ISO_4217_CODES)),
        expect("ExpectColumnValuesToBeUnique", CHECK_NAME, "currency has more than one rate", column="currency"),
        expect("ExpectColumnValuesToNotBeNull", CHECK_NAME, "rate_to_usd is missing or not a number",
               column="rate_to_usd"),
        expect("ExpectColumnValuesToBeBetween", CHECK_NAME,
               f"rate_to_usd is not a finite number above 0 (US dollars per unit, at most {MAX_RATE})",
               column="rate_to_usd", min_value=0, strict_min=True, max_value=MAX_RATE),
        expect("ExpectColumnDistinctValuesToContainSet", CHECK_NAME,
               f"USD or the reporting currency ({reporting}, MBO_REPORTING_CURRENCY) has no rate",
               column="currency", value_set=sorted({"USD", reporting})),
    ]
    # Imported only now: expectation() has imported GX with its usage statistics turned off.
    from great_expectations.expectations.row_conditions import Column

    suite.append(expect("ExpectColumnValuesToBeBetween", CHECK_NAME, "USD's rate_to_usd is not exactly 1",
                        column="rate_to_usd", min_value=1, max_value=1, row_condition=Column("currency") == "USD"))
    return suite


def rates_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as the suite reads them: codes as text, rates as floats (NaN, and anything not a number, missing)."""
    return pd.DataFrame({
        "currency": pd.Series([r.get("currency") for r in rows], dtype=object),
        "rate_to_usd": pd.Series([number(r.get("rate_to_usd")) for r in rows], dtype="float64"),
    })


def _failing(frame: pd.DataFrame, result) -> tuple[int, tuple[str, ...]]:
    """How many rows (or required codes) failed, and a sample of them (``PLN: -0.25``, ``missing USD``)."""
    outcome = result.result
    if "partial_missing_list" in outcome:  # a set the column must contain
        return int(outcome["missing_count"]), tuple(f"missing {c}" for c in outcome.get("partial_missing_list") or [])
    indexes = list(dict.fromkeys(int(i) for i in outcome.get("unexpected_index_list") or []))
    sample = tuple(f"{frame.at[i, 'currency']}: {frame.at[i, 'rate_to_usd']:g}" for i in indexes[:ex.SAMPLE_SIZE])
    return int(outcome.get("unexpected_count") or len(indexes)), sample


def check_rates(rows: list[dict[str, Any]], columns: list[str], relation: str) -> RatesReport:
    """Judge the loaded rows (``columns`` as the table has them) against the suite."""
    report = RatesReport(relation, len(rows))
    if tuple(sorted(columns)) != tuple(sorted(COLUMNS)):
        missing, extra = sorted(set(COLUMNS) - set(columns)), sorted(set(columns) - set(COLUMNS))
        report.findings.append(Finding(CHECK_NAME, "expect_table_columns_to_match_set", None,
                                       f"the columns differ from {', '.join(COLUMNS)}", len(missing) + len(extra),
                                       tuple([*(f"missing {c}" for c in missing), *(f"unexpected {c}" for c in extra)])))
        return report
    if not rows:
        report.findings.append(Finding(CHECK_NAME, "expect_table_row_count_to_be_between", None,
                                       f"{relation} is empty", 0, ()))
        return report
    frame = rates_frame(rows)
    for result in ex.run("currency_rates", frame, rates_expectations()):
        if result.success:
            continue
        config = result.expectation_config
        reason = (config.meta or {}).get("reason", config.type)
        if result.exception_info and result.exception_info.get("raised_exception"):
            message = str(result.exception_info.get("exception_message"))[:300]
            report.findings.append(Finding(CHECK_NAME, config.type, config.kwargs.get("column"),
                                           f"{reason}: could not be evaluated ({message})", len(frame), ()))
            continue
        count, sample = _failing(frame, result)
        report.findings.append(Finding(CHECK_NAME, config.type, config.kwargs.get("column"), reason, count, sample))
    return report


def read_and_check(conn) -> RatesReport:
    """Read the loaded seed and judge it (a missing table fails, saying how to load it)."""
    relation = rates_relation()
    if conn.execute("select to_regclass(%s) is null", (relation,)).fetchone()[0]:
        report = RatesReport(relation, 0)
        report.findings.append(Finding(CHECK_NAME, "table exists", None,
                                       f"{relation} does not exist: run `dbt seed` (or `mbo refresh`)", 0, ()))
        return report
    schema, table = relation.split(".")
    cur = conn.execute(sql.SQL("select * from {}").format(sql.Identifier(schema, table)))
    columns = [d.name for d in cur.description]
    rows = [dict(zip(columns, row)) for row in cur.fetchall()]
    return check_rates(rows, columns, relation)


def record(conn, report: RatesReport, run_id: str | None) -> None:
    """Append the verdict to ``quality.check_results`` (no day: it holds for every window the gates check)."""
    store.insert_result(conn, TABLE_NAME, None, CHECK_NAME, report.passed, True, report.summary,
                        store.finding_details(report.findings), run_id=run_id)


def check_result(report: RatesReport) -> dg.AssetCheckResult:
    """The Dagster result: failing expectations with counts and samples in the metadata."""
    metadata: dict[str, Any] = {"table": dg.MetadataValue.text(report.relation),
                                "rows_checked": dg.MetadataValue.int(report.rows),
                                "recorded_as": dg.MetadataValue.text(f"quality.check_results: {TABLE_NAME}")}
    if not report.passed:
        metadata["failing_expectations"] = dg.MetadataValue.md(findings_table(report.findings))
        metadata["what_to_do"] = dg.MetadataValue.text(HOW_TO_FIX)
    return dg.AssetCheckResult(
        check_name=CHECK_NAME, passed=report.passed, metadata=metadata, severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(f.line() for f in report.findings)[:2000] or None,
    )


def reference_data_checks() -> list[dg.AssetChecksDefinition]:
    """``valid_rates`` on the seed's asset (blocking), for ``build_definitions``."""

    @dg.asset_check(
        asset=get_asset_key_for_model([mbo_dbt_models], SEED),
        name=CHECK_NAME,
        blocking=True,
        description=("The FX rates (Great Expectations): currency a unique ISO 4217 code; rate_to_usd a finite number "
                     "above 0; USD at exactly 1 and the reporting currency present. A failure closes the gates: no "
                     "plan and no push until the seed passes."),
    )
    def valid_rates(context: dg.AssetCheckExecutionContext, mbo: MboResource) -> dg.AssetCheckResult:
        with warehouse.connect(mbo.url()) as conn:
            report = read_and_check(conn)
            store.ensure_quality_tables(conn)
            with conn.transaction():
                record(conn, report, context.run.run_id)
        if not report.passed:
            context.log.error(f"{TABLE_NAME}: {report.summary}. {HOW_TO_FIX}")
        return check_result(report)

    return [valid_rates]

