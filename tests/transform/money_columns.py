"""Which columns of schema marts hold money, and the type each must have (dbt_project/README.md, "Money").

A column is money when a word of its name (between underscores) is one of ``MONEY_WORDS``, or its name ends in
``_reporting`` (an amount converted to the reporting currency), unless it is one of ``NOT_MONEY``: ratios and
rates whose names contain such a word. Money is ``numeric(20, 6)``; the budgets MBO asks a platform to set are
``numeric(18, 2)`` (``BUDGETS_TO_SET``).
"""

from __future__ import annotations

import re

MONEY_WORDS = ("spend", "budget", "value", "revenue", "cpa", "cost", "amount", "price", "uplift")
_MONEY_WORD = re.compile(r"(^|_)(" + "|".join(MONEY_WORDS) + r")(_|$)")
#: Named like money, but ratios or rates (or a currency code): not bound by the money rule.
NOT_MONEY = frozenset({
    "share_of_spend",          # fct_platform_daily: a share of the day's spend, 0..1
    "projected_vs_budget",     # fct_budget_pacing: projected spend / monthly budget
    "dedup_factor_value",      # fct_campaign_attribution: a factor in [0, 1]
    "fx_rate_to_reporting",    # a rate, units of reporting currency per unit
    "reporting_currency",      # a currency code
})
#: Money: 6 decimals (a millionth of a unit).
MONEY_TYPE = ("numeric", 20, 6)
#: The budgets a platform is asked to set: whole cents, as the planner rounds them and the ledger stores them.
BUDGETS_TO_SET = {
    ("budget_recommendations", "current_daily_budget"): ("numeric", 18, 2),
    ("budget_recommendations", "recommended_daily_budget"): ("numeric", 18, 2),
}


def is_money(column: str) -> bool:
    """True for a column named like an amount of money (see the module docstring)."""
    return column not in NOT_MONEY and (bool(_MONEY_WORD.search(column)) or column.endswith("_reporting"))


def expected_type(table: str, column: str) -> tuple[str, int, int]:
    """(type, precision, scale) a money column of ``marts.<table>`` must have."""
    return BUDGETS_TO_SET.get((table, column), MONEY_TYPE)
