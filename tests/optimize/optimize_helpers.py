"""Helpers for the optimize tests: a small synthetic market shaped like the marts ``build_plan`` reads."""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import psycopg

CURRENCIES = {"acc-usd": ("USD", 1.0), "acc-eur": ("EUR", 1.08)}  # reporting units per local unit
PLATFORMS = ("google_ads", "meta_ads", "tiktok_ads")


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


def write_synthetic_marts(url: str, daily: pd.DataFrame, campaigns: pd.DataFrame) -> None:
    """Create the three marts ``budget_recommendations`` reads in database ``url``, holding ``daily`` and ``campaigns``
    (every campaign active; no monthly budgets, so the plan keeps the current total)."""
    with psycopg.connect(url) as conn:
        conn.execute("create schema if not exists marts")
        conn.execute(
            "create table marts.fct_campaign_daily (date_day date, platform text, account_id text, campaign_id text, "
            "spend_reporting numeric, conversion_value_reporting numeric)"
        )
        conn.execute(
            "create table marts.dim_campaign (platform text, account_id text, campaign_id text, campaign_name text, "
            "currency text, status text, daily_budget numeric, daily_budget_reporting numeric)"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "insert into marts.fct_campaign_daily values (%s, %s, %s, %s, %s, %s)",
                [tuple(r) for r in daily.itertuples(index=False)],
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
