"""Helpers for the optimize tests: a small synthetic market shaped like the marts ``build_plan`` reads."""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import psycopg

CURRENCIES = {"acc-usd": ("USD", 1.0), "acc-eur": ("EUR", 1.08)}  # reporting units per local unit
PLATFORMS = ("google_ads", "meta_ads", "tiktok_ads")
#: The de-duplicated measure keeps this share of each platform's claimed value on campaigns GA4 matched.
DEDUP_SHARE = {"google_ads": 0.8, "meta_ads": 0.55, "tiktok_ads": 0.7}
#: Campaigns GA4 cannot match (untagged links): they keep their platform value, flagged.
UNMATCHED_SUFFIX = "-eur-1"
INPUT_COLUMNS = [
    "campaign_key", "date_day", "platform", "account_id", "campaign_id", "currency", "reporting_currency",
    "spend_reporting", "platform_conversion_value_reporting", "dedup_conversion_value_reporting", "is_ga4_matched",
]


def synthetic_marts(campaigns_per_account: int = 2, days: int = 60, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(daily, campaigns)``: Hill-shaped response with noise, budgets varied day to day around each campaign's own."""
    rng = np.random.default_rng(seed)
    start = date(2026, 1, 1)
    daily, campaigns = [], []
    for platform in PLATFORMS:
        for account, (currency, fx) in CURRENCIES.items():
            for k in range(campaigns_per_account):
                campaign_id = f"{platform[:2]}-{account[-3:]}-{k}"
                budget_local = float(rng.uniform(50, 600))
                half, vmax, shape = budget_local * fx * rng.uniform(0.6, 2.0), budget_local * fx * rng.uniform(2, 6), rng.uniform(0.8, 1.6)
                spend = budget_local * fx * rng.uniform(0.5, 1.5, days)
                value = vmax * spend**shape / (spend**shape + half**shape) * rng.normal(1.0, 0.08, days)
                daily.append(pd.DataFrame({
                    "date_day": [start + timedelta(days=d) for d in range(days)],
                    "platform": platform, "account_id": account, "campaign_id": campaign_id,
                    "spend_reporting": spend, "conversion_value_reporting": np.clip(value, 0, None),
                }))
                campaigns.append({
                    "platform": platform, "account_id": account, "campaign_id": campaign_id,
                    "campaign_name": f"{platform} {currency} campaign {k}", "currency": currency,
                    "daily_budget": round(budget_local, 2), "daily_budget_reporting": round(budget_local, 2) * fx,
                })
    return pd.concat(daily, ignore_index=True), pd.DataFrame(campaigns)


def with_attribution(daily: pd.DataFrame) -> pd.DataFrame:
    """``daily`` plus ``is_ga4_matched`` (false for campaigns ending in ``UNMATCHED_SUFFIX``) and
    ``dedup_conversion_value_reporting``: the platform value times ``DEDUP_SHARE`` where matched, unchanged where not."""
    matched = ~daily["campaign_id"].str.endswith(UNMATCHED_SUFFIX)
    share = daily["platform"].map(DEDUP_SHARE).where(matched, 1.0)
    return daily.assign(is_ga4_matched=matched, dedup_conversion_value_reporting=daily["conversion_value_reporting"] * share)


def opt_campaign_inputs(daily: pd.DataFrame) -> pd.DataFrame:
    """``daily`` (with its attribution columns, ``with_attribution`` when absent) as rows of
    ``marts.opt_campaign_inputs`` in ``INPUT_COLUMNS`` order (reporting currency USD)."""
    if "dedup_conversion_value_reporting" not in daily:
        daily = with_attribution(daily)
    return pd.DataFrame({
        "campaign_key": daily["platform"] + "|" + daily["account_id"] + "|" + daily["campaign_id"],
        "date_day": daily["date_day"], "platform": daily["platform"], "account_id": daily["account_id"],
        "campaign_id": daily["campaign_id"],
        "currency": daily["account_id"].map(lambda account: CURRENCIES.get(account, ("USD",))[0]),
        "reporting_currency": "USD", "spend_reporting": daily["spend_reporting"],
        "platform_conversion_value_reporting": daily["conversion_value_reporting"],
        "dedup_conversion_value_reporting": daily["dedup_conversion_value_reporting"],
        "is_ga4_matched": daily["is_ga4_matched"].astype(bool),
    }, columns=INPUT_COLUMNS)


def write_synthetic_marts(url: str, daily: pd.DataFrame, campaigns: pd.DataFrame) -> None:
    """Create the three marts ``budget_recommendations`` reads in database ``url``: ``marts.opt_campaign_inputs``
    from ``daily`` (see ``opt_campaign_inputs``), ``marts.dim_campaign`` from ``campaigns`` (every campaign active)
    and an empty ``marts.account_pacing`` (no monthly budgets, so the plan keeps the current total)."""
    inputs = opt_campaign_inputs(daily)
    with psycopg.connect(url) as conn:
        conn.execute("create schema if not exists marts")
        conn.execute(
            "create table marts.opt_campaign_inputs (campaign_key text, date_day date, platform text, account_id text, "
            "campaign_id text, currency text, reporting_currency text, spend_reporting numeric, "
            "platform_conversion_value_reporting numeric, dedup_conversion_value_reporting numeric, "
            "is_ga4_matched boolean)"
        )
        conn.execute(
            "create table marts.dim_campaign (platform text, account_id text, campaign_id text, campaign_name text, "
            "currency text, status text, daily_budget numeric, daily_budget_reporting numeric)"
        )
        with conn.cursor() as cur:
            cur.executemany(
                f"insert into marts.opt_campaign_inputs values ({', '.join(['%s'] * len(INPUT_COLUMNS))})",
                [tuple(_plain(v) for v in r) for r in inputs.itertuples(index=False)],
            )
            cur.executemany(
                "insert into marts.dim_campaign values (%s, %s, %s, %s, %s, 'active', %s, %s)",
                [tuple(r) for r in campaigns.itertuples(index=False)],
            )
        conn.execute(
            "create table marts.account_pacing (platform text, account_id text, month date, currency text, "
            "paced_daily_budget numeric, paced_daily_budget_reporting numeric, spend_mtd numeric, days_left int, "
            "pace_status text, reporting_currency text, last_loaded_day date)"
        )


def _plain(value):
    """numpy scalars → Python scalars for the driver."""
    return value.item() if hasattr(value, "item") else value


def plan_metadata(result) -> dict:
    """The metadata of a plan run's two materializations (marts/budget_plans, then marts/budget_recommendations),
    merged (they share plan_id and inputs_unchanged), with the entries of budget_plans' "facts" JSON entry beside
    the others, each as a metadata value."""
    from mbo_pipelines import asset_keys

    events = {e.materialization.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert set(events) == {asset_keys.PLANS, asset_keys.RECOMMENDATIONS}, set(events)
    return with_facts({**events[asset_keys.PLANS], **events[asset_keys.RECOMMENDATIONS]})


def with_facts(metadata: dict) -> dict:
    """``metadata`` plus each entry of its "facts" JSON entry as a metadata value of its own (NaN for None)."""
    import dagster as dg

    flat = dict(metadata)
    for key, value in metadata["facts"].value.items():
        assert key not in flat, key  # a fact is not also a metadata entry of its own
        if isinstance(value, bool):
            flat[key] = dg.MetadataValue.bool(value)
        elif isinstance(value, int):
            flat[key] = dg.MetadataValue.int(value)
        elif isinstance(value, float) or value is None:
            flat[key] = dg.MetadataValue.float(float("nan") if value is None else value)
        else:
            flat[key] = dg.MetadataValue.text(value)
    return flat
