"""The sandbox's persistent state in PostgreSQL (schema ``sandbox``).

``sandbox.campaigns`` holds the simulated campaigns (created once from the
seed) and ``sandbox.budget_changes`` every budget set through the sandbox:
the current budget of a campaign is its latest change, or the advertiser's
synthetic schedule when MBO never changed it.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timezone
from decimal import Decimal

import psycopg

from mbo_pipelines.sandbox.market import SandboxCampaign, generate_campaigns

DDL = (
    "create schema if not exists sandbox",
    """
    create table if not exists sandbox.campaigns (
      seed integer not null,
      platform text not null,
      account_id text not null,
      campaign_id text not null,
      campaign_name text not null,
      currency text not null,
      timezone text not null,
      status text not null default 'active',
      params jsonb not null,
      primary key (seed, platform, account_id, campaign_id)
    )
    """,
    """
    create table if not exists sandbox.budget_changes (
      change_id bigserial primary key,
      seed integer not null,
      platform text not null,
      account_id text not null,
      campaign_id text not null,
      daily_budget numeric(18, 2) not null check (daily_budget > 0),
      effective_date date not null,
      changed_at timestamptz not null default now()
    )
    """,
    """
    create index if not exists budget_changes_campaign
      on sandbox.budget_changes (seed, platform, account_id, campaign_id, effective_date)
    """,
)

_PARAM_FIELDS = [f.name for f in dataclasses.fields(SandboxCampaign)]


def ensure_state(conn: psycopg.Connection, seed: int) -> list[SandboxCampaign]:
    """Create the sandbox tables and this seed's campaigns if missing; return the campaigns."""
    with conn.transaction():
        # One writer at a time creates the campaigns (concurrent runs of the extract assets).
        conn.execute("select pg_advisory_xact_lock(hashtext('mbo.sandbox.init'))")
        for statement in DDL:
            conn.execute(statement)
        campaigns = generate_campaigns(seed)
        with conn.cursor() as cur:
            cur.executemany(
                """
                insert into sandbox.campaigns
                  (seed, platform, account_id, campaign_id, campaign_name, currency, timezone, params)
                values (%s, %s, %s, %s, %s, %s, %s, %s)
                on conflict do nothing
                """,
                [
                    (seed, c.platform, c.account_id, c.campaign_id, c.campaign_name, c.currency,
                     c.timezone, psycopg.types.json.Jsonb(dataclasses.asdict(c)))
                    for c in campaigns
                ],
            )
    return load_campaigns(conn, seed)


def load_campaigns(conn: psycopg.Connection, seed: int) -> list[SandboxCampaign]:
    """The seed's campaigns with their stored status, in market order."""
    rows = conn.execute(
        "select params, status from sandbox.campaigns where seed = %s", (seed,)
    ).fetchall()
    campaigns = [SandboxCampaign(**{k: params[k] for k in _PARAM_FIELDS}) for params, _ in rows]
    return sorted(campaigns, key=lambda c: c.index)


def campaign_statuses(conn: psycopg.Connection, seed: int) -> dict[tuple[str, str, str], str]:
    """Status ('active' or 'paused') per (platform, account_id, campaign_id)."""
    rows = conn.execute(
        "select platform, account_id, campaign_id, status from sandbox.campaigns where seed = %s", (seed,)
    ).fetchall()
    return {(p, a, c): s for p, a, c, s in rows}


def budget_changes(conn: psycopg.Connection, seed: int, platform: str) -> dict[tuple[str, str], list[tuple[date, float]]]:
    """Budget changes of a platform's campaigns, oldest first, per (account_id, campaign_id)."""
    rows = conn.execute(
        """
        select account_id, campaign_id, effective_date, daily_budget
        from sandbox.budget_changes
        where seed = %s and platform = %s
        order by effective_date, change_id
        """,
        (seed, platform),
    ).fetchall()
    changes: dict[tuple[str, str], list[tuple[date, float]]] = {}
    for account_id, campaign_id, effective, budget in rows:
        changes.setdefault((account_id, campaign_id), []).append((effective, float(budget)))
    return changes


def record_budget_change(
    conn: psycopg.Connection, seed: int, campaign: SandboxCampaign, amount: Decimal, effective: date
) -> None:
    """Store a budget set through the sandbox; it drives the simulation from ``effective`` on."""
    with conn.transaction():
        conn.execute(
            """
            insert into sandbox.budget_changes
              (seed, platform, account_id, campaign_id, daily_budget, effective_date, changed_at)
            values (%s, %s, %s, %s, %s, %s, %s)
            """,
            (seed, campaign.platform, campaign.account_id, campaign.campaign_id, amount, effective,
             datetime.now(timezone.utc)),
        )
