"""Within-month pacing: how much to allocate per day so each account spends its monthly budget by month end.

dbt's ``marts.account_pacing`` holds, per account with a monthly budget (seed
``account_monthly_budgets``) and month, the month-to-date spend and
``paced_daily_budget`` = what is left of the month's budget / the days left.
``paced_daily_totals`` reads the rows of the current month; ``plan_total``
(pure) turns them and the accounts' current daily budgets into the plan's
daily total: paced accounts at their paced total, the others at their current
total, the sum clipped into what the campaigns can reach in one plan
(each campaign moves at most ±``max_change``, so the total can move at most
that much too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

import pandas as pd
import psycopg

ACCOUNT = ["platform", "account_id"]

#: Columns of ``paced_daily_totals``.
PACING_COLUMNS = [
    "platform", "account_id", "currency", "paced_daily_budget", "paced_daily_budget_reporting",
    "spend_mtd", "days_left", "pace_status", "reporting_currency", "last_loaded_day",
]
_MONEY = ["paced_daily_budget", "paced_daily_budget_reporting", "spend_mtd"]


def paced_daily_totals(conn: psycopg.Connection, today: date) -> pd.DataFrame:
    """The ``marts.account_pacing`` rows of ``today``'s month, one per account with a monthly budget.

    Columns: platform, account_id, currency, paced_daily_budget (account
    currency), paced_daily_budget_reporting, spend_mtd, days_left,
    pace_status ('on_track' | 'overspending' | 'underspending'), plus
    reporting_currency and last_loaded_day (the day the month-to-date spend
    is known up to). Empty when no account has a budget for the month.
    """
    with conn.cursor() as cur:
        cur.execute(
            f"select {', '.join(PACING_COLUMNS)} from marts.account_pacing "
            "where month = %s order by platform, account_id",
            (today.replace(day=1),),
        )
        frame = pd.DataFrame(cur.fetchall(), columns=PACING_COLUMNS)
    for column in _MONEY:
        frame[column] = frame[column].astype(float)
    frame["days_left"] = frame["days_left"].astype(int)
    return frame


@dataclass(frozen=True)
class PacingDecision:
    """The plan's daily total (reporting currency) and how it was reached.

    ``accounts``: one row per account with a current budget: platform,
    account_id, current_total_reporting (sum of its current daily budgets),
    target_total_reporting (its paced total, or its current total when it has
    no monthly budget this month), source ('paced' | 'current'). Per-account
    targets are before clipping; only the sum is clipped.
    """

    #: The daily total to allocate: ``paced_total_reporting`` clipped into [lower, upper].
    total_reporting: float
    #: Sum of the accounts' targets before clipping.
    paced_total_reporting: float
    #: Sum of the current daily budgets.
    current_total_reporting: float
    #: current_total_reporting × (1 − max_change) and × (1 + max_change).
    lower_reporting: float
    upper_reporting: float
    #: None, or which bound the paced total was clipped to.
    clipped: Literal["low", "high"] | None
    accounts: pd.DataFrame
    #: (platform, account_id) of the accounts at their paced total.
    paced_accounts: tuple[tuple[str, str], ...]
    #: Accounts without a monthly budget this month: kept at their current total.
    kept_accounts: tuple[tuple[str, str], ...]
    #: Accounts with a monthly budget but no current budget (no active campaign): left out.
    ignored_accounts: tuple[tuple[str, str], ...]
    #: One line for logs, metadata and explanations.
    message: str

    @property
    def was_clipped(self) -> bool:
        return self.clipped is not None


def _keys(frame: pd.DataFrame) -> tuple[tuple[str, str], ...]:
    return tuple((str(p), str(a)) for p, a in frame[ACCOUNT].itertuples(index=False, name=None))


def _check_amounts(frame: pd.DataFrame, column: str, what: str) -> None:
    missing = {*ACCOUNT, column} - set(frame.columns)
    if missing:
        raise ValueError(f"{what} needs columns {', '.join(sorted(missing))}")
    values = frame[column].astype(float)
    if not values.map(math.isfinite).all() or (values < 0).any():
        raise ValueError(f"{what}.{column} has NaN, infinite or negative values")


def plan_total(
    current_by_account: pd.DataFrame,
    paced: pd.DataFrame,
    max_change: float,
    *,
    reporting_currency: str | None = None,
) -> PacingDecision:
    """The plan's daily total: each account at its paced total if it has one, else at its current total.

    ``current_by_account``: platform, account_id, daily_budget_reporting;
    several rows of one account (e.g. its active campaigns) are summed.
    ``paced``: platform, account_id, paced_daily_budget_reporting, at most one
    row per account (``paced_daily_totals``). Paced accounts absent from
    ``current_by_account`` have nothing to allocate to and are ignored.
    The sum is clipped into [current × (1 − max_change), current ×
    (1 + max_change)], the totals a plan moving each campaign by at most
    ±max_change can reach. ``reporting_currency`` only labels the message.
    """
    if not 0 < max_change < 1:
        raise ValueError(f"max_change must be between 0 and 1, got {max_change}")
    _check_amounts(current_by_account, "daily_budget_reporting", "current_by_account")
    _check_amounts(paced, "paced_daily_budget_reporting", "paced")
    duplicated = paced[paced.duplicated(ACCOUNT, keep=False)]
    if not duplicated.empty:
        raise ValueError("paced has several rows for " + ", ".join(sorted({"/".join(k) for k in _keys(duplicated)})))

    current = (
        current_by_account.groupby(ACCOUNT, as_index=False)["daily_budget_reporting"].sum()
        .rename(columns={"daily_budget_reporting": "current_total_reporting"})
    )
    current["current_total_reporting"] = current["current_total_reporting"].astype(float)
    current_total = float(current["current_total_reporting"].sum())
    if current_total <= 0:
        raise ValueError("the current daily budgets sum to 0: nothing to pace")

    targets = paced[[*ACCOUNT, "paced_daily_budget_reporting"]].astype({"paced_daily_budget_reporting": float})
    accounts = current.merge(targets, on=ACCOUNT, how="left").sort_values(ACCOUNT, ignore_index=True)
    is_paced = accounts["paced_daily_budget_reporting"].notna()
    accounts["target_total_reporting"] = accounts["paced_daily_budget_reporting"].where(
        is_paced, accounts["current_total_reporting"])
    accounts["source"] = is_paced.map({True: "paced", False: "current"})
    accounts = accounts.drop(columns="paced_daily_budget_reporting")
    ignored = targets.merge(current[ACCOUNT], on=ACCOUNT, how="left", indicator=True)
    ignored = ignored[ignored["_merge"] == "left_only"].sort_values(ACCOUNT)

    paced_total = float(accounts["target_total_reporting"].sum())
    lower, upper = current_total * (1 - max_change), current_total * (1 + max_change)
    clipped = "low" if paced_total < lower else "high" if paced_total > upper else None
    total = min(max(paced_total, lower), upper)

    decision = PacingDecision(
        total_reporting=total,
        paced_total_reporting=paced_total,
        current_total_reporting=current_total,
        lower_reporting=lower,
        upper_reporting=upper,
        clipped=clipped,
        accounts=accounts,
        paced_accounts=_keys(accounts[is_paced]),
        kept_accounts=_keys(accounts[~is_paced]),
        ignored_accounts=_keys(ignored),
        message="",
    )
    return replace(decision, message=_message(decision, max_change, reporting_currency))


def _message(d: PacingDecision, max_change: float, reporting_currency: str | None) -> str:
    unit = f" {reporting_currency}" if reporting_currency else ""

    def money(x: float) -> str:
        return f"{x:,.2f}{unit}"

    ignored = (
        f" {len(d.ignored_accounts)} account(s) with a monthly budget but no active campaign left out."
        if d.ignored_accounts else ""
    )
    n_paced, n_all = len(d.paced_accounts), len(d.accounts)
    if not n_paced:
        return (f"No account has a monthly budget this month: the plan keeps the current total of "
                f"{money(d.current_total_reporting)} per day.{ignored}")
    kept = f" ({n_all - n_paced} kept at their current total)" if d.kept_accounts else ""
    change = d.paced_total_reporting / d.current_total_reporting - 1
    text = (f"Paced {n_paced} of {n_all} accounts to their monthly budgets{kept}: "
            f"{money(d.paced_total_reporting)} per day against {money(d.current_total_reporting)} now ({change:+.1%})")
    if d.clipped:
        limit = f"the -{max_change:.0%} one plan may cut" if d.clipped == "low" else f"the +{max_change:.0%} one plan may add"
        text += f", more than {limit}: clipped to {money(d.total_reporting)}"
    return text + "." + ignored
