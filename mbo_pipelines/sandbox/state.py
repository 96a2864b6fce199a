"""The sandbox's persistent state in PostgreSQL (schema ``sandbox``).

``sandbox.campaigns`` holds the simulated campaigns (created once from the
seed, and the market's size when ``MBO_SANDBOX_CAMPAIGNS`` sets one) and
``sandbox.budget_changes`` every budget set through the sandbox: the current
budget of a campaign is its latest change, or the advertiser's synthetic
schedule when MBO never changed it. ``market_size`` tells the markets of one
seed apart: 0 for the default market, else its number of campaigns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date, datetime, timezone
from decimal import Decimal

import psycopg

from mbo_pipelines.sandbox.market import SandboxCampaign, generate_campaigns

DDL = (
    "create schema if not exists sandbox",
    """
    create table if not exists sandbox.campaigns (
      seed integer not null,
      market_size integer not null default 0,
      platform text not null,
      account_id text not null,
      campaign_id text not null,
      campaign_name text not null,
      currency text not null,
      timezone text not null,
      status text not null default 'active',
      params jsonb not null,
      primary key (seed, market_size, platform, account_id, campaign_id)
    )
    """,
    """
    create table if not exists sandbox.budget_changes (
      change_id bigserial primary key,
      seed integer not null,
      market_size integer not null default 0,
      platform text not null,
      account_id text not null,
      campaign_id text not null,
      daily_budget numeric(18, 2) not null check (daily_budget > 0),
      effective_date date not null,
      changed_at timestamptz not null default now()
    )
    """,
    """
    create index if not exists budget_changes_market_campaign
      on sandbox.budget_changes (seed, market_size, platform, account_id, campaign_id, effective_date, change_id)
    """,
    """
    create index if not exists budget_changes_market_day
      on sandbox.budget_changes (seed, market_size, platform, effective_date)
    """,
)
#: Tables made before markets had a size: add the column (before the indexes on it) and widen the campaigns' key.
MIGRATION = (
    "alter table sandbox.campaigns add column if not exists market_size integer not null default 0",
    "alter table sandbox.budget_changes add column if not exists market_size integer not null default 0",
    """
    do $$
    begin
      if not exists (
        select 1 from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
        where i.indrelid = 'sandbox.campaigns'::regclass and i.indisprimary and a.attname = 'market_size'
      ) then
        alter table sandbox.campaigns drop constraint if exists campaigns_pkey;
        alter table sandbox.campaigns add primary key (seed, market_size, platform, account_id, campaign_id);
      end if;
    end $$
    """,
)

_PARAM_FIELDS = [f.name for f in dataclasses.fields(SandboxCampaign)]


def market_size(size: int | None) -> int:
    """The ``market_size`` key of a market: 0 for the default market, else its number of campaigns."""
    return size or 0


def ensure_market(conn: psycopg.Connection, seed: int, size: int | None = None) -> None:
    """Create the sandbox tables, and this market's campaigns when it has none yet (once per market)."""
    with conn.transaction():
        # One writer at a time creates the campaigns (concurrent runs of the extract assets).
        conn.execute("select pg_advisory_xact_lock(hashtext('mbo.sandbox.init'))")
        conn.execute("create schema if not exists sandbox")
        if _needs_migration(conn):
            for statement in MIGRATION:
                conn.execute(statement)
        for statement in DDL:
            conn.execute(statement)
        exists = conn.execute(
            "select exists (select 1 from sandbox.campaigns where seed = %s and market_size = %s)",
            (seed, market_size(size)),
        ).fetchone()[0]
        if exists:
            return
        with conn.cursor() as cur:
            cur.executemany(
                """
                insert into sandbox.campaigns
                  (seed, market_size, platform, account_id, campaign_id, campaign_name, currency, timezone, params)
                values (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                on conflict do nothing
                """,
                [
                    (seed, market_size(size), c.platform, c.account_id, c.campaign_id, c.campaign_name, c.currency,
                     c.timezone, psycopg.types.json.Jsonb(dataclasses.asdict(c)))
                    for c in generate_campaigns(seed, size)
                ],
            )


def _needs_migration(conn: psycopg.Connection) -> bool:
    """Whether the sandbox tables exist without the ``market_size`` column (made by an older MBO)."""
    return conn.execute(
        """
        select count(*) filter (where column_name = 'market_size') < count(distinct table_name)
        from information_schema.columns
        where table_schema = 'sandbox' and table_name in ('campaigns', 'budget_changes')
        """
    ).fetchone()[0]


def ensure_state(conn: psycopg.Connection, seed: int, size: int | None = None) -> list[SandboxCampaign]:
    """Create the sandbox tables and this market's campaigns if missing; return the campaigns."""
    ensure_market(conn, seed, size)
    return load_campaigns(conn, seed, size)


def load_campaigns(conn: psycopg.Connection, seed: int, size: int | None = None) -> list[SandboxCampaign]:
    """The market's campaigns as stored (their parameters may have been edited in place), in market order."""
    rows = conn.execute(
        "select params from sandbox.campaigns where seed = %s and market_size = %s", (seed, market_size(size))
    ).fetchall()
    campaigns = [SandboxCampaign(**{k: params[k] for k in _PARAM_FIELDS}) for (params,) in rows]
    return sorted(campaigns, key=lambda c: c.index)


def campaign_statuses(
    conn: psycopg.Connection, seed: int, size: int | None = None, platform: str | None = None,
    accounts: Sequence[str] | None = None,
) -> dict[tuple[str, str, str], str]:
    """Status ('active' or 'paused') per (platform, account_id, campaign_id), of one platform or all, of the
    ``accounts`` named or all."""
    rows = conn.execute(
        "select platform, account_id, campaign_id, status from sandbox.campaigns "
        "where seed = %s and market_size = %s and platform = coalesce(%s, platform)"
        " and (%s::text[] is null or account_id = any(%s::text[]))",
        (seed, market_size(size), platform, accounts, accounts),
    ).fetchall()
    return {(p, a, c): s for p, a, c, s in rows}


def budget_changes(
    conn: psycopg.Connection, seed: int, platform: str, size: int | None = None,
    since: date | None = None, until: date | None = None, accounts: Sequence[str] | None = None,
) -> dict[tuple[str, str], list[tuple[date, float]]]:
    """Budget changes of a platform's campaigns (of the ``accounts`` named, or all) in force on some day of
    [since, until], oldest first, per (account_id, campaign_id): each campaign's latest change effective on or
    before ``since`` and every later one up to ``until`` (None: from the first change, to the last)."""
    key = {"seed": seed, "size": market_size(size), "platform": platform, "accounts": accounts,
           "since": since, "until": until}
    of_market = """seed = %(seed)s and market_size = %(size)s and platform = %(platform)s
          and (%(accounts)s::text[] is null or account_id = any(%(accounts)s::text[]))"""
    rows = []
    if since is not None:
        rows += conn.execute(
            f"""
            select distinct on (account_id, campaign_id) account_id, campaign_id, effective_date, daily_budget
            from sandbox.budget_changes
            where {of_market} and effective_date <= %(since)s
            order by account_id, campaign_id, effective_date desc, change_id desc
            """,
            key,
        ).fetchall()
    rows += conn.execute(
        f"""
        select account_id, campaign_id, effective_date, daily_budget
        from sandbox.budget_changes
        where {of_market}
          and effective_date > coalesce(%(since)s::date, '-infinity')
          and effective_date <= coalesce(%(until)s::date, 'infinity')
        order by effective_date, change_id
        """,
        key,
    ).fetchall()
    changes: dict[tuple[str, str], list[tuple[date, float]]] = {}
    for account_id, campaign_id, effective, budget in rows:
        changes.setdefault((account_id, campaign_id), []).append((effective, float(budget)))
    return changes


def record_budget_changes(
    conn: psycopg.Connection, seed: int, size: int | None, platform: str,
    changes: Sequence[tuple[str, str, Decimal]], effective: date,
) -> list[bool]:
    """Store (account_id, campaign_id, amount) budget changes of known campaigns in one statement, in order;
    each drives the simulation from ``effective`` on. Per change: whether its campaign exists (else nothing
    was stored for it)."""
    if not changes:
        return []
    accounts, campaigns, amounts = (list(column) for column in zip(*changes, strict=True))
    with conn.transaction():
        stored = conn.execute(
            """
            insert into sandbox.budget_changes
              (seed, market_size, platform, account_id, campaign_id, daily_budget, effective_date, changed_at)
            select c.seed, c.market_size, c.platform, c.account_id, c.campaign_id, w.amount, %(effective)s, %(now)s
            from unnest(%(accounts)s::text[], %(campaigns)s::text[], %(amounts)s::numeric[])
                   with ordinality as w (account_id, campaign_id, amount, n)
            join sandbox.campaigns c
              on c.seed = %(seed)s and c.market_size = %(size)s and c.platform = %(platform)s
             and c.account_id = w.account_id and c.campaign_id = w.campaign_id
            order by w.n
            returning account_id, campaign_id
            """,
            {"seed": seed, "size": market_size(size), "platform": platform, "effective": effective,
             "now": datetime.now(timezone.utc), "accounts": accounts, "campaigns": campaigns, "amounts": amounts},
        ).fetchall()
    known = set(stored)
    return [(account, campaign) in known for account, campaign, _ in changes]
