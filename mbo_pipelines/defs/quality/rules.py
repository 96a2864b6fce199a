"""What valid raw data is: one ``TableRules`` per raw table, the only definition the quality checks read.

Everything else follows from a raw table's declared columns (``raw_tables``):
``not null`` columns must have a value, numeric columns must be finite numbers
between 0 and an absurdity bound (counts whole), text must be valid UTF-8
without control characters and at most ``MAX_TEXT_LENGTH`` characters. The
rules below add what the types cannot say: which column is the currency, the
account, the day and the volume measure, and which counts bound others
(clicks ≤ impressions).

Row-level rules quarantine the rows that break them; table-level rules (the
columns, one currency per account, the volume against past weeks, an
account that spent the day before and sent nothing) hold a whole day back.
"""

from __future__ import annotations

from dataclasses import dataclass

from mbo_pipelines import settings
from mbo_pipelines.defs.ingest.raw_tables import (
    CSV_CAMPAIGN_DAILY,
    FX_RATES,
    GA4_TRAFFIC_DAILY,
    GOOGLE_ADS_CAMPAIGN_DAILY,
    GOOGLE_ADS_CAMPAIGNS,
    META_ADS_CAMPAIGN_DAILY,
    META_ADS_CAMPAIGNS,
    TIKTOK_ADS_CAMPAIGN_DAILY,
    TIKTOK_ADS_CAMPAIGNS,
    RawTable,
)

#: Longest text value (Google Ads caps campaign names at 255 characters, Meta and TikTok at 400 and 512).
MAX_TEXT_LENGTH = 1000
#: Largest believable amount per row, in currency units (10^12: a trillion dong or rupiah is still absurd per campaign-day).
MAX_AMOUNT = 10**12
#: Largest believable count per row (impressions, clicks, sessions, conversions).
MAX_COUNT = 10**11
#: Control characters (C0 except none, DEL, C1) and U+FFFD, which stands for text that was not valid UTF-8.
FORBIDDEN_TEXT = "[\x00-\x1f\x7f-\x9f\ufffd]"

#: The checks every extract asset carries (Dagster asset check names).
VALID_ROWS = "valid_rows"
VALID_TABLE = "valid_table"
VOLUME = "volume"
CHECK_DESCRIPTIONS = {
    VALID_ROWS: ("Row-level expectations (values present, numbers finite and ≥ 0, clicks ≤ impressions, ISO 4217 "
                 "currencies, dates inside the partition, clean text, unique keys). Failing rows go to quarantine; "
                 "the rest load."),
    VALID_TABLE: ("Table-level expectations (the expected columns, one usual currency per account). A failing day "
                  "is held back: the rows already loaded for it stay."),
    VOLUME: ("Rows and volume per day within the configured band of the trailing same-weekday median, and no account "
             "that spent the day before sending nothing. A failing day is held back."),
}
BLOCKING_CHECKS = (VALID_TABLE, VOLUME)


@dataclass(frozen=True)
class TableRules:
    """The validity rules of one raw table (see the module docstring for what is derived from its columns)."""

    table: RawTable
    #: Columns naming the account (CSV imports: platform and account).
    account_columns: tuple[str, ...]
    currency_column: str
    #: The per-row measure the volume check sums per day (spend; GA4: sessions); None for snapshots.
    volume_column: str | None = None
    #: (smaller, larger): each row's smaller count may not exceed its larger one.
    bounded_by: tuple[tuple[str, str], ...] = ()
    #: Amount columns in millionths of a unit (Google's micros): their absurdity bound scales with them.
    micros_columns: tuple[str, ...] = ()
    #: Amount columns that may be negative (GA4's totalRevenue is net of refunds): finite and within ± the bound.
    signed_columns: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The raw table, ``schema.table``."""
        return self.table.name

    @property
    def short_name(self) -> str:
        """The table without its schema (the quarantine table's name)."""
        return self.table.name.split(".")[1]

    @property
    def is_daily(self) -> bool:
        """True for the date-partitioned tables, False for the campaign snapshots."""
        return self.table.date_column is not None

    def columns_of(self, *sql_prefixes: str) -> list[str]:
        """Columns whose SQL type starts with one of ``sql_prefixes``."""
        return [name for name, sql_type in self.table.columns if sql_type.startswith(sql_prefixes)]

    @property
    def count_columns(self) -> list[str]:
        """Whole-number columns."""
        return self.columns_of("bigint", "integer")

    @property
    def amount_columns(self) -> list[str]:
        """Decimal and floating-point columns."""
        return self.columns_of("numeric", "double precision")

    @property
    def text_columns(self) -> list[str]:
        """Text columns."""
        return self.columns_of("text")

    @property
    def list_columns(self) -> list[str]:
        """JSON list columns (Meta's ``actions``: entries of action_type and numeric values)."""
        return self.columns_of("jsonb")

    @property
    def boolean_columns(self) -> list[str]:
        """Boolean columns."""
        return self.columns_of("boolean")

    def upper_bound(self, column: str) -> int:
        """The absurdity bound of a numeric column."""
        if column in self.count_columns and column not in self.micros_columns:
            return MAX_COUNT
        return MAX_AMOUNT * (10**6 if column in self.micros_columns else 1)


@dataclass(frozen=True)
class VolumeBand:
    """How far a day's rows and volume may stray from the trailing same-weekday median before the day is held back."""

    min_ratio: float = 0.5
    max_ratio: float = 3.0
    weeks: int = 4
    #: Same-weekday days of history needed before the band applies (fewer: the check passes, saying so).
    min_history: int = 3


def volume_band() -> VolumeBand:
    """The band from ``MBO_VOLUME_MIN_RATIO`` (0.5), ``MBO_VOLUME_MAX_RATIO`` (3.0) and ``MBO_VOLUME_WEEKS`` (4)."""
    low = settings.env_float("MBO_VOLUME_MIN_RATIO", 0.5)
    high = settings.env_float("MBO_VOLUME_MAX_RATIO", 3.0)
    if not 0 <= low <= 1 <= high:
        raise ValueError(f"MBO_VOLUME_MIN_RATIO ({low}) must lie in [0, 1] and MBO_VOLUME_MAX_RATIO ({high}) be at "
                         "least 1: a day at the median must pass")
    weeks = settings.env_int("MBO_VOLUME_WEEKS", 4, minimum=1)
    return VolumeBand(min_ratio=low, max_ratio=high, weeks=weeks, min_history=min(3, weeks))


_AD_COUNTS = (("metrics_clicks", "metrics_impressions"), ("clicks", "impressions"))


def _rules(table: RawTable, accounts: tuple[str, ...], currency: str, volume: str | None = None,
           micros: tuple[str, ...] = (), signed: tuple[str, ...] = ()) -> TableRules:
    columns = set(table.column_names)
    pairs = tuple(pair for pair in _AD_COUNTS if set(pair) <= columns)
    return TableRules(table, accounts, currency, volume, pairs, micros, signed)


RULES: dict[str, TableRules] = {
    r.name: r
    for r in (
        _rules(GOOGLE_ADS_CAMPAIGN_DAILY, ("customer_id",), "customer_currency_code", "metrics_cost_micros",
               ("metrics_cost_micros",)),
        _rules(GOOGLE_ADS_CAMPAIGNS, ("customer_id",), "customer_currency_code",
               micros=("campaign_budget_amount_micros",)),
        _rules(META_ADS_CAMPAIGN_DAILY, ("account_id",), "account_currency", "spend"),
        _rules(META_ADS_CAMPAIGNS, ("account_id",), "account_currency"),
        _rules(TIKTOK_ADS_CAMPAIGN_DAILY, ("advertiser_id",), "currency", "spend"),
        _rules(TIKTOK_ADS_CAMPAIGNS, ("advertiser_id",), "currency"),
        _rules(GA4_TRAFFIC_DAILY, ("property_id",), "currency_code", "sessions", signed=("total_revenue",)),
        _rules(CSV_CAMPAIGN_DAILY, ("platform", "account_id"), "currency", "spend"),
    )
}


#: Raw tables without row rules, and the module that judges them instead: the FX rates are reference data that
#: load whole or not at all (no quarantine, no volume band), under their own suite.
JUDGED_ELSEWHERE = {FX_RATES.name: "mbo_pipelines.defs.quality.reference_data"}


def rules_for(table: RawTable) -> TableRules:
    """The rules of a raw table (every table in ``raw_tables.ALL_TABLES`` but those in ``JUDGED_ELSEWHERE``)."""
    if table.name in JUDGED_ELSEWHERE:
        raise KeyError(f"{table.name} has no row rules: {JUDGED_ELSEWHERE[table.name]} judges it as a whole")
    return RULES[table.name]
