"""Extract assets: per platform, campaign performance per day (partitioned) and current campaign settings.

Each daily asset replaces its partitions' rows in one transaction (COPY), so
re-materializing a day never duplicates it. Before anything is written the
rows go through the table's data-quality expectations (``defs/quality``):
failing rows are quarantined, and a day that fails a table-level check keeps
the rows loaded for it before. A run over a range of days is
one backfill run (single-run backfill policy), one transaction per asset.
Every run also re-reads the ``MBO_LOOKBACK_DAYS`` days before its range that
were loaded already, so conversions a platform attributes late replace the
numbers it reported first.

Which assets exist follows the configuration (``platform_setup``): the
sandbox's three platforms and its GA4 property, or the enabled live
platforms and GA4 when configured, plus CSV imports when configured.
"""


from collections.abc import Callable
from datetime import date, timedelta

import dagster as dg
from mbo_pipelines import platform_setup, settings, warehouse
from mbo_pipelines.defs.ingest.partitions import daily_partitions
from mbo_pipelines.defs.ingest.raw_tables import (
    CAMPAIGN_TABLES,
    CSV_CAMPAIGN_DAILY,
    DAILY_TABLES,
    GA4_TRAFFIC_DAILY,
    RawTable,
    ensure_raw_tables,
)
from mbo_pipelines.defs.quality.asset_checks import check_results, check_specs
from mbo_pipelines.defs.quality.load import LoadOutcome, check_and_load
from mbo_pipelines.resources import MboResource


def lookback_days() -> int:
    """Days before a run's range that are read again for late conversions (``MBO_LOOKBACK_DAYS``, default 7)."""
    return settings.env_int("MBO_LOOKBACK_DAYS", 7, minimum=0)


def extract_window(mbo: MboResource, table: RawTable, start: date, end: date) -> tuple[date, date]:
    """[start, end] widened back over the lookback days that ``table`` already holds rows for."""
    earliest = start - timedelta(days=lookback_days())
    if earliest == start:
        return start, end
    with warehouse.connect(mbo.url()) as conn:
        ensure_raw_tables(conn)
        loaded = conn.execute(
            f"select min({table.date_column}) from {table.name} where {table.date_column} >= %s and {table.date_column} < %s",
            (earliest, start),
        ).fetchone()[0]
    return (loaded or start), end


def _partition_days(context: dg.AssetExecutionContext) -> tuple[date, date]:
    window = context.partition_time_window
    return window.start.date(), window.end.date() - timedelta(days=1)


def _summary(rows: list[dict], table: RawTable) -> dict:
    account_col, campaign_col = table.key[0], table.key[1]
    return {
        "row_count": dg.MetadataValue.int(len(rows)),
        "accounts": dg.MetadataValue.int(len({r[account_col] for r in rows})),
        "campaigns": dg.MetadataValue.int(len({(r[account_col], r[campaign_col]) for r in rows})),
        "table": dg.MetadataValue.text(table.name),
    }


def _partition_label(context: dg.AssetExecutionContext) -> str:
    """The run's partition key, or ``first...last`` for a range run."""
    keys = context.partition_key_range
    return keys.start if keys.start == keys.end else f"{keys.start}...{keys.end}"


def _quality_metadata(outcome: LoadOutcome) -> dict:
    report = outcome.report
    return {
        "rows_written": dg.MetadataValue.int(outcome.written),
        "rows_quarantined": dg.MetadataValue.int(outcome.quarantined),
        "held_back_days": dg.MetadataValue.text(
            ", ".join("all" if d is None else str(d) for d in report.held_days) or "none"),
    }


def _daily_result(outcome: LoadOutcome, table: RawTable, requested: tuple[date, date],
                  window: tuple[date, date], extra: dict | None = None) -> dg.MaterializeResult:
    rows = outcome.report.rows_to_load()
    days = sorted({r[table.date_column] for r in rows})
    restated = (requested[0] - window[0]).days
    return dg.MaterializeResult(
        metadata={
            **_summary(rows, table),
            **_quality_metadata(outcome),
            "date_range": dg.MetadataValue.text(
                f"{days[0]}..{days[-1]}" if days else f"no complete day in {window[0]}..{window[1]}"),
            "days": dg.MetadataValue.int(len(days)),
            "restated_days": dg.MetadataValue.int(restated),
            "extracted_window": dg.MetadataValue.text(f"{window[0]}..{window[1]}"),
            **(extra or {}),
        },
        check_results=check_results(outcome),
    )


def _extract_daily(context: dg.AssetExecutionContext, mbo: MboResource, platform: str, table: RawTable,
                   fetch: Callable[[date, date], list[dict]], extra: Callable[[list[dict]], dict] | None = None):
    """Fetch [partition range + lookback], check, and replace the days that pass in ``table``."""
    requested = _partition_days(context)
    window = extract_window(mbo, table, *requested)
    context.log.info(f"extracting {platform} {window[0]}..{window[1]}"
                     + (f" (re-reading {(requested[0] - window[0]).days} loaded days for late conversions)"
                        if window[0] < requested[0] else ""))
    rows = fetch(*window)
    outcome = check_and_load(mbo.url(), table, rows, window, _partition_label(context), context.run.run_id)
    _log_outcome(context, platform, table, outcome)
    return _daily_result(outcome, table, requested, window, extra(rows) if extra else None)


def _log_outcome(context: dg.AssetExecutionContext, platform: str, table: RawTable, outcome: LoadOutcome) -> None:
    context.log.info(f"{platform}: {outcome.written} rows written to {table.name}")
    for finding in outcome.report.findings:
        context.log.warning(f"{platform} {table.name}: {finding.line()}")
    if outcome.quarantined:
        context.log.warning(f"{platform}: {outcome.quarantined} rows put in quarantine.{table.name.split('.')[1]}")
    if outcome.report.held_days:
        context.log.error(f"{platform}: held back (the rows loaded before stay): "
                          + "; ".join(f"{d or 'all days'}: {', '.join(r)}" for d, r in outcome.report.held_days.items()))


def build_daily_asset(platform: str) -> dg.AssetsDefinition:
    """The daily-partitioned performance asset ``raw/<platform>_campaign_daily``."""
    table = DAILY_TABLES[platform]

    key = dg.AssetKey(["raw", f"{platform}_campaign_daily"])

    @dg.asset(
        key=key,
        check_specs=check_specs(key, table),
        group_name="ingest",
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"python", "postgres"},
        description=f"{platform} performance per campaign and day, as the platform reports it, in {table.name}.",
    )
    def _daily(context: dg.AssetExecutionContext, mbo: MboResource) -> dg.MaterializeResult:
        connector = mbo.connector(platform, log=context.log)
        return _extract_daily(context, mbo, platform, table, connector.fetch_campaign_daily)

    return _daily


def build_campaigns_asset(platform: str) -> dg.AssetsDefinition:
    """The snapshot asset ``raw/<platform>_campaigns``: every campaign's current settings."""
    table = CAMPAIGN_TABLES[platform]

    key = dg.AssetKey(["raw", f"{platform}_campaigns"])

    @dg.asset(
        key=key,
        check_specs=check_specs(key, table),
        group_name="ingest",
        kinds={"python", "postgres"},
        description=f"Current {platform} campaign settings (name, status, daily budget) in {table.name}.",
    )
    def _campaigns(context: dg.AssetExecutionContext, mbo: MboResource) -> dg.MaterializeResult:
        rows = mbo.connector(platform, log=context.log).fetch_campaigns()
        outcome = check_and_load(mbo.url(), table, rows, None, "snapshot", context.run.run_id)
        _log_outcome(context, platform, table, outcome)
        return dg.MaterializeResult(metadata={**_summary(outcome.report.rows_to_load(), table),
                                              **_quality_metadata(outcome)},
                                    check_results=check_results(outcome))

    return _campaigns


@dg.asset(
    key=["raw", "ga4_traffic_daily"],
    check_specs=check_specs(dg.AssetKey(["raw", "ga4_traffic_daily"]), GA4_TRAFFIC_DAILY),
    group_name="ingest",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"python", "postgres"},
    description=(
        "GA4 sessions, key events and revenue per day × source / medium × campaign name, in raw.ga4_traffic_daily: "
        "the sandbox's GA4 property (400000001) in sandbox mode, the properties in MBO_GA4_PROPERTY_IDS in live mode."
    ),
)
def ga4_traffic_daily(context: dg.AssetExecutionContext, mbo: MboResource) -> dg.MaterializeResult:
    """GA4 traffic for the partition range (and the lookback days), per property."""
    reader = mbo.ga4_reader(log=context.log)
    return _extract_daily(context, mbo, "ga4", GA4_TRAFFIC_DAILY, reader.fetch_traffic_daily)


@dg.asset(
    key=["raw", "csv_campaign_daily"],
    check_specs=check_specs(dg.AssetKey(["raw", "csv_campaign_daily"]), CSV_CAMPAIGN_DAILY),
    group_name="ingest",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"python", "postgres", "csv"},
    description=(
        "Campaign performance of platforms without a native connector, from the CSV files in MBO_IMPORT_DIR "
        "(the newest file wins per date × platform × account × campaign), in raw.csv_campaign_daily."
    ),
)
def csv_campaign_daily(context: dg.AssetExecutionContext, mbo: MboResource) -> dg.MaterializeResult:
    """The import directory's rows for the partition range replace those days of raw.csv_campaign_daily."""
    from mbo_pipelines.defs.ingest.csv_import.reader import read_import_rows

    setup = platform_setup.csv_setup()
    if not setup.enabled:
        raise dg.Failure("MBO_IMPORT_DIR is not set: point it at the folder of CSV files to import")
    directory = setup.accounts[0]
    found: dict = {}

    def fetch(start: date, end: date) -> list[dict]:
        result = read_import_rows(directory, start, end)
        found["result"] = result
        return result.rows

    def extra(rows: list[dict]) -> dict:
        result = found["result"]
        return {
            "files": dg.MetadataValue.text(", ".join(result.files) or "none"),
            "platforms": dg.MetadataValue.text(", ".join(sorted({r["platform"] for r in rows})) or "none"),
            "rows_superseded_by_newer_files": dg.MetadataValue.int(result.superseded),
            "ignored_columns": dg.MetadataValue.text(
                "; ".join(f"{f}: {', '.join(c)}" for f, c in result.ignored_columns.items()) or "none"),
        }

    # The daily rows and the partition window use the 'date' column; no lookback is needed for files,
    # but it costs nothing and keeps one code path.
    return _extract_daily(context, mbo, "csv", CSV_CAMPAIGN_DAILY, fetch, extra)


def extract_assets_for_environment() -> list[dg.AssetsDefinition]:
    """The extract assets of the configured platforms (see ``platform_setup``)."""
    platforms = platform_setup.ad_platforms()
    assets = [build_daily_asset(p) for p in platforms] + [build_campaigns_asset(p) for p in platforms]
    if platform_setup.ga4_enabled():
        assets.append(ga4_traffic_daily)
    if platform_setup.csv_enabled():
        assets.append(csv_campaign_daily)
    return assets


def extract_asset_keys(platform: str) -> list[dg.AssetKey]:
    """The asset keys ``mbo extract --platform`` selects for one platform (``csv``, ``ga4`` and ``fx_rates`` included)."""
    if platform == platform_setup.CSV:
        return [dg.AssetKey(["raw", "csv_campaign_daily"])]
    if platform == platform_setup.GA4:
        return [dg.AssetKey(["raw", "ga4_traffic_daily"])]
    if platform == platform_setup.FX_RATES:
        return [dg.AssetKey(["raw", "fx_rates"])]
    return [dg.AssetKey(["raw", f"{platform}_campaign_daily"]), dg.AssetKey(["raw", f"{platform}_campaigns"])]
