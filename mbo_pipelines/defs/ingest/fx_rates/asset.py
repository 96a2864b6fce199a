"""The ``raw/fx_rates`` asset: daily FX rates (US dollars per unit of each currency) in ``raw.fx_rates``.

Where the rates come from: the ECB CSV file ``MBO_FX_RATES_CSV`` names when it is set (in any mode);
otherwise, in sandbox mode, the sandbox's rates from 30 days before its first day up to its today;
in live mode without the variable the asset fails, saying where to download the file.

Every row is judged by the blocking check ``valid_rates`` (``quality/reference_data``) before any
is written. All pass: the rows are upserted on (date, currency) in one transaction with the
passing verdict (days the source no longer has stay as they were). Any fails, or the file cannot
be read: nothing is written, and the failed verdict closes the gates until good rates load.
"""

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from mbo_pipelines import warehouse
from mbo_pipelines.defs.ingest.fx_rates.ecb import DOWNLOAD_HINT, EcbRatesError, read_ecb_csv
from mbo_pipelines.defs.ingest.raw_tables import FX_RATES, ensure_raw_tables
from mbo_pipelines.defs.quality import reference_data, store
from mbo_pipelines.resources import MboResource
from mbo_pipelines.sandbox import fx as sandbox_fx
from mbo_pipelines.sandbox.market import EPOCH

#: The environment variable naming the ECB CSV file to load.
FX_RATES_CSV = "MBO_FX_RATES_CSV"
KEY = dg.AssetKey(["raw", "fx_rates"])
#: Days of sandbox rates before the market's first day.
SANDBOX_LEAD_DAYS = 30
LIVE_WITHOUT_FILE = (
    f"raw/fx_rates has no source of FX rates in live mode: set {FX_RATES_CSV} to the path of an ECB reference rates "
    f"CSV file, downloaded from {DOWNLOAD_HINT}, then materialize raw/fx_rates again (and whenever you download a "
    "newer file)."
)


@dataclass(frozen=True)
class RatesBatch:
    """The rates one run read, as raw.fx_rates rows, and what the source said about them."""

    rows: list[dict[str, Any]]
    #: ``sandbox`` or the file's path (never a secret).
    source: str
    #: Rates the file held (per 1 EUR), or the sandbox's rows.
    rates_read: int
    days_skipped: tuple[date, ...] = ()
    ignored_currencies: tuple[str, ...] = ()


def rates_today(mbo: MboResource) -> date:
    """The market's today: the pinned sandbox day, else the UTC date."""
    return mbo.today() or datetime.now(UTC).date()


def rates_file() -> Path | None:
    """The file ``MBO_FX_RATES_CSV`` names, or None when it is unset or empty."""
    value = os.environ.get(FX_RATES_CSV, "").strip()
    return Path(value).expanduser() if value else None


def read_rates(mbo: MboResource) -> RatesBatch:
    """The rates of the configured source; ``EcbRatesError`` for a bad file, ``dg.Failure`` live without one."""
    path = rates_file()
    if path is not None:
        ecb = read_ecb_csv(path)
        return RatesBatch(ecb.rows, str(path), ecb.rates_read, ecb.days_skipped, ecb.ignored_currencies)
    if mbo.is_live():
        raise dg.Failure(description=LIVE_WITHOUT_FILE)
    rows = sandbox_fx.published_rates(mbo.sandbox_seed, EPOCH - timedelta(days=SANDBOX_LEAD_DAYS), rates_today(mbo))
    return RatesBatch(rows, sandbox_fx.SOURCE, len(rows))


def upsert(conn, rows: list[dict[str, Any]], run_id: str | None) -> int:
    """Insert the rows into raw.fx_rates, replacing the rate of a (date, currency) already there; returns how many
    rows were new or had a different rate or source (the others are left untouched)."""
    conn.execute("create temp table fx_rates_batch (date date, currency text, rate_to_usd numeric(20, 10), "
                 "source text) on commit drop")
    warehouse.copy_rows(conn, "pg_temp.fx_rates_batch", ("date", "currency", "rate_to_usd", "source"),
                        ((r["date"], r["currency"], r["rate_to_usd"], r["source"]) for r in rows))
    return conn.execute(
        f"insert into {FX_RATES.name} as t (date, currency, rate_to_usd, source, _run_id) "
        "select date, currency, rate_to_usd, source, %s from fx_rates_batch "
        "on conflict (date, currency) do update set rate_to_usd = excluded.rate_to_usd, source = excluded.source, "
        "_loaded_at = now(), _run_id = excluded._run_id "
        "where (t.rate_to_usd, t.source) is distinct from (excluded.rate_to_usd, excluded.source)",
        (run_id,),
    ).rowcount


def _record_unreadable(mbo: MboResource, source: str, error: Exception, run_id: str) -> None:
    with warehouse.connect(mbo.url()) as conn:
        store.ensure_quality_tables(conn)
        with conn.transaction():
            reference_data.record(conn, reference_data.unreadable(source, str(error)), run_id)


def _metadata(batch: RatesBatch, upserted: int) -> dict[str, Any]:
    days = sorted({r["date"] for r in batch.rows})
    return {
        "source": dg.MetadataValue.text(batch.source),
        "rows_read": dg.MetadataValue.int(len(batch.rows)),
        "source_rates_read": dg.MetadataValue.int(batch.rates_read),
        "rows_upserted": dg.MetadataValue.int(upserted),
        "rows_unchanged": dg.MetadataValue.int(len(batch.rows) - upserted),
        "currencies": dg.MetadataValue.text(", ".join(sorted({r["currency"] for r in batch.rows}))),
        "first_date": dg.MetadataValue.text(days[0].isoformat() if days else "none"),
        "last_date": dg.MetadataValue.text(days[-1].isoformat() if days else "none"),
        "days_skipped": dg.MetadataValue.int(len(batch.days_skipped)),
        "days_skipped_sample": dg.MetadataValue.text(", ".join(d.isoformat() for d in batch.days_skipped[:10])
                                                     or "none"),
        "ignored_currencies": dg.MetadataValue.text(", ".join(batch.ignored_currencies) or "none"),
        "table": dg.MetadataValue.text(FX_RATES.name),
    }


@dg.asset(
    key=KEY,
    check_specs=[reference_data.check_spec(KEY)],
    group_name="ingest",
    kinds={"python", "postgres"},
    description=(
        "Daily FX rates (US dollars per unit of each currency, as published: business days only) in raw.fx_rates: "
        f"from the ECB CSV file {FX_RATES_CSV} names, else the sandbox's rates (sandbox mode). Upserted on "
        "(date, currency) when every rate passes valid_rates; otherwise nothing loads and the gates close."
    ),
)
def fx_rates(context: dg.AssetExecutionContext, mbo: MboResource) -> dg.MaterializeResult:
    """Read the rates, judge them all, and upsert them only if every one passes."""
    path = rates_file()
    try:
        batch = read_rates(mbo)
    except EcbRatesError as error:
        # The file cannot be read: refuse it where the gates look, then fail the run with the file, line and field.
        _record_unreadable(mbo, str(path), error, context.run.run_id)
        context.log.error(str(error))
        raise dg.Failure(description=str(error)) from None
    for day in batch.days_skipped[:10]:
        context.log.warning(f"{batch.source}: {day} has no USD rate: none of its rates can be converted, skipped")
    # The later of the market's and the real clock: a sandbox pinned in the past still takes today's real file.
    today = max(rates_today(mbo), datetime.now(UTC).date())
    report = reference_data.check_rates(batch.rows, batch.source, today)
    upserted = 0
    with warehouse.connect(mbo.url()) as conn:
        ensure_raw_tables(conn)
        store.ensure_quality_tables(conn)
        with conn.transaction():
            if report.passed:
                upserted = upsert(conn, batch.rows, context.run.run_id)
            reference_data.record(conn, report, context.run.run_id)
    if report.passed:
        context.log.info(f"{batch.source}: {len(batch.rows)} rates checked, {upserted} new or changed in "
                         f"{FX_RATES.name}")
    else:
        context.log.error(f"{batch.source}: {report.summary}: nothing loaded. {reference_data.HOW_TO_FIX}")
    return dg.MaterializeResult(metadata=_metadata(batch, upserted), check_results=[reference_data.check_result(report)])
