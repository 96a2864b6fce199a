"""The ``raw`` schema: one table per platform and entity, in each platform's own vocabulary.

Raw tables keep what the platform said (Google's micros, Meta's minor units,
TikTok's decimal amounts); dbt staging maps them onto one standard column set.
Daily tables are keyed by account × campaign × day and replaced per partition.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RawTable:
    """A raw table: its name, columns with SQL types, the date column partitions replace on, and its key."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    date_column: str | None = None

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    @property
    def required(self) -> list[str]:
        """Columns that must have a value (``not null``)."""
        return [name for name, sql_type in self.columns if "not null" in sql_type]

    @property
    def json_columns(self) -> list[str]:
        return [name for name, sql_type in self.columns if sql_type.startswith("jsonb")]

    def ddl(self) -> str:
        cols = ",\n  ".join(f"{name} {sql_type}" for name, sql_type in self.columns)
        audit = ",\n  _loaded_at timestamptz not null default now(),\n  _run_id text"
        return (
            f"create table if not exists {self.name} (\n  {cols}{audit},\n"
            f"  primary key ({', '.join(self.key)})\n)"
        )


GOOGLE_ADS_CAMPAIGN_DAILY = RawTable(
    name="raw.google_ads_campaign_daily",
    columns=(
        ("segments_date", "date not null"),
        ("customer_id", "text not null"),
        ("campaign_id", "text not null"),
        ("campaign_name", "text not null"),
        ("customer_currency_code", "text not null"),
        ("customer_time_zone", "text not null"),
        ("metrics_cost_micros", "bigint not null"),
        ("metrics_impressions", "bigint not null"),
        ("metrics_clicks", "bigint not null"),
        ("metrics_conversions", "double precision not null"),
        ("metrics_conversions_value", "double precision not null"),
    ),
    key=("customer_id", "campaign_id", "segments_date"),
    date_column="segments_date",
)

GOOGLE_ADS_CAMPAIGNS = RawTable(
    name="raw.google_ads_campaigns",
    columns=(
        ("customer_id", "text not null"),
        ("campaign_id", "text not null"),
        ("campaign_name", "text not null"),
        ("campaign_status", "text not null"),  # ENABLED | PAUSED | REMOVED
        ("customer_currency_code", "text not null"),
        ("customer_time_zone", "text not null"),
        ("campaign_budget_amount_micros", "bigint not null"),
        ("campaign_budget_id", "text not null"),
        # An explicitly shared budget funds several campaigns: a change moves all of them.
        ("campaign_budget_explicitly_shared", "boolean not null"),
        ("campaign_budget_reference_count", "integer not null"),  # campaigns on this budget
    ),
    key=("customer_id", "campaign_id"),
)

META_ADS_CAMPAIGN_DAILY = RawTable(
    name="raw.meta_ads_campaign_daily",
    columns=(
        ("date_start", "date not null"),
        ("account_id", "text not null"),  # digits, as the Insights API returns it (no act_)
        ("campaign_id", "text not null"),
        ("campaign_name", "text not null"),
        ("account_currency", "text not null"),
        ("account_timezone_name", "text not null"),  # from the ad account, not the insights row
        ("spend", "numeric(18, 4) not null"),  # currency units, as the Insights API returns
        ("impressions", "bigint not null"),
        ("clicks", "bigint not null"),
        # The Insights API's own lists of {action_type, value}; staging picks MBO_META_CONVERSION_ACTION.
        ("actions", "jsonb not null"),
        ("action_values", "jsonb not null"),
    ),
    key=("account_id", "campaign_id", "date_start"),
    date_column="date_start",
)

META_ADS_CAMPAIGNS = RawTable(
    name="raw.meta_ads_campaigns",
    columns=(
        ("account_id", "text not null"),  # digits (no act_)
        ("campaign_id", "text not null"),
        ("campaign_name", "text not null"),
        ("effective_status", "text not null"),  # ACTIVE | PAUSED | ...
        ("account_currency", "text not null"),
        ("account_timezone_name", "text not null"),
        # Minor units (cents; whole units for JPY and other currencies without minor units), as the
        # Marketing API returns. Null when the budget is set on the ad sets instead (no CBO).
        ("daily_budget", "bigint"),
    ),
    key=("account_id", "campaign_id"),
)

TIKTOK_ADS_CAMPAIGN_DAILY = RawTable(
    name="raw.tiktok_ads_campaign_daily",
    columns=(
        ("stat_time_day", "date not null"),
        ("advertiser_id", "text not null"),
        ("campaign_id", "text not null"),
        ("campaign_name", "text not null"),
        ("currency", "text not null"),
        ("timezone", "text not null"),
        ("spend", "numeric(18, 4) not null"),  # currency units (the API sends strings)
        ("impressions", "bigint not null"),
        ("clicks", "bigint not null"),
        ("conversion", "double precision not null"),
        ("total_purchase_value", "double precision not null"),
    ),
    key=("advertiser_id", "campaign_id", "stat_time_day"),
    date_column="stat_time_day",
)

TIKTOK_ADS_CAMPAIGNS = RawTable(
    name="raw.tiktok_ads_campaigns",
    columns=(
        ("advertiser_id", "text not null"),
        ("campaign_id", "text not null"),
        ("campaign_name", "text not null"),
        ("operation_status", "text not null"),  # ENABLE | DISABLE
        ("currency", "text not null"),
        ("timezone", "text not null"),
        ("budget_mode", "text not null"),  # BUDGET_MODE_DAY
        ("budget", "numeric(18, 2) not null"),  # currency units
    ),
    key=("advertiser_id", "campaign_id"),
)

GA4_TRAFFIC_DAILY = RawTable(
    name="raw.ga4_traffic_daily",
    columns=(
        ("date", "date not null"),  # the property's time zone
        ("property_id", "text not null"),
        ("session_source_medium", "text not null"),  # sessionSourceMedium, e.g. "google / cpc"
        ("session_campaign_name", "text not null"),  # sessionCampaignName (utm_campaign or the ad platform's)
        ("currency_code", "text not null"),  # the property's currency (totalRevenue is in it)
        ("time_zone", "text not null"),
        ("sessions", "bigint not null"),
        ("key_events", "double precision not null"),
        ("total_revenue", "double precision not null"),
    ),
    key=("property_id", "date", "session_source_medium", "session_campaign_name"),
    date_column="date",
)

#: The CSV import's columns, in the order users write them (the README's contract).
CSV_COLUMNS = (
    "date", "platform", "account_id", "campaign_id", "campaign_name", "currency", "spend", "impressions",
    "clicks", "conversions", "conversion_value", "daily_budget", "status",
)

CSV_CAMPAIGN_DAILY = RawTable(
    name="raw.csv_campaign_daily",
    columns=(
        ("date", "date not null"),
        ("platform", "text not null"),
        ("account_id", "text not null"),
        ("campaign_id", "text not null"),
        ("campaign_name", "text not null"),
        ("currency", "text not null"),
        ("spend", "numeric(18, 4) not null"),
        ("impressions", "bigint not null"),
        ("clicks", "bigint not null"),
        ("conversions", "double precision not null"),
        ("conversion_value", "double precision not null"),
        ("daily_budget", "numeric(18, 4) not null"),  # the campaign's budget on that day
        ("status", "text not null"),  # active | paused
        ("source_file", "text not null"),  # the file the row came from (the newest file wins per key)
        ("source_file_modified_at", "timestamptz not null"),
    ),
    key=("platform", "account_id", "campaign_id", "date"),
    date_column="date",
)

FX_RATES = RawTable(
    name="raw.fx_rates",
    columns=(
        ("date", "date not null"),  # the day the rate was published (ECB: business days only)
        ("currency", "text not null"),  # ISO 4217 code
        ("rate_to_usd", "numeric(20, 10) not null"),  # US dollars per one unit of the currency (USD = 1)
        ("source", "text not null"),  # 'sandbox' or 'ecb:<file name>'
    ),
    key=("date", "currency"),
    date_column="date",
)

DAILY_TABLES = {
    "google_ads": GOOGLE_ADS_CAMPAIGN_DAILY,
    "meta_ads": META_ADS_CAMPAIGN_DAILY,
    "tiktok_ads": TIKTOK_ADS_CAMPAIGN_DAILY,
}
CAMPAIGN_TABLES = {
    "google_ads": GOOGLE_ADS_CAMPAIGNS,
    "meta_ads": META_ADS_CAMPAIGNS,
    "tiktok_ads": TIKTOK_ADS_CAMPAIGNS,
}
ALL_TABLES = (*DAILY_TABLES.values(), *CAMPAIGN_TABLES.values(), GA4_TRAFFIC_DAILY, CSV_CAMPAIGN_DAILY, FX_RATES)


def ensure_raw_tables(conn) -> None:
    """Create the raw schema and every raw table (disabled platforms' too: dbt reads them all), if missing.

    A table whose columns differ from this module's (an older MBO's raw schema) is renamed aside to
    ``<name>__before_<timestamp>``, never dropped, and an empty one takes its place for the next extract.
    """
    with conn.transaction():
        # Serialise concurrent extracts' first runs: CREATE ... IF NOT EXISTS still races in the catalog.
        conn.execute("select pg_advisory_xact_lock(hashtext('mbo.raw.ddl'))")
        conn.execute("create schema if not exists raw")
        for table in ALL_TABLES:
            if _columns(conn, table.name) not in ([], table.column_names):
                _set_aside(conn, table.name)
            conn.execute(table.ddl())
            if table.date_column:
                # Daily runs replace and read a window of days: without this index each is a scan of all history.
                schema, name = table.name.split(".")
                conn.execute(f'create index if not exists "{name}_by_date" on {table.name} ({table.date_column})')


def _set_aside(conn, table: str) -> None:
    schema, name = table.split(".")
    stamp = conn.execute("select to_char(clock_timestamp(), 'YYYYMMDDHH24MISS')").fetchone()[0]
    # Views built on the old table (dbt staging) go with it; dbt recreates them on the next build.
    for (view,) in conn.execute(
        "select distinct v.oid::regclass::text from pg_depend d join pg_rewrite r on r.oid = d.objid "
        "join pg_class v on v.oid = r.ev_class where d.refobjid = %s::regclass and v.oid <> d.refobjid",
        (table,),
    ).fetchall():
        conn.execute(f"drop view if exists {view} cascade")
    conn.execute(f'alter table {table} rename to "{name}__before_{stamp}"')
    conn.execute(f'alter index if exists {schema}."{name}_pkey" rename to "{name}__before_{stamp}_pkey"')
    conn.execute(f'alter index if exists {schema}."{name}_by_date" rename to "{name}__before_{stamp}_by_date"')


def _columns(conn, table: str) -> list[str]:
    schema, name = table.split(".")
    rows = conn.execute(
        "select column_name from information_schema.columns where table_schema = %s and table_name = %s "
        "and column_name not like '\\_%%' order by ordinal_position",
        (schema, name),
    ).fetchall()
    return [r[0] for r in rows]
