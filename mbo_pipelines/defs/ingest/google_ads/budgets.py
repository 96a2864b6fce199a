"""Budget changes turned into Google Ads budget operations: one per budget, amounts in the currency's minimum unit.

Google Ads budgets belong to a campaign or, explicitly shared, to several.
Campaigns on one shared budget cannot be set apart: their changes become one
operation that moves the budget by the sum of their differences (each
change's ``current`` is the campaign's share the push started from; without
one, the campaign's even share of the budget as it is now).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from mbo_pipelines.connectors import BudgetChange
from mbo_pipelines.currencies import minor_units_per_unit

MICROS = Decimal(1_000_000)


def minimum_unit_micros(currency: str) -> int:
    """The smallest budget step Google Ads accepts, in micros: a whole unit or a hundredth."""
    return 1_000_000 // minor_units_per_unit(currency)


def to_micros(amount: Decimal, currency: str) -> int:
    """Currency units → micros, rounded half up to the currency's minimum unit."""
    unit = Decimal(minimum_unit_micros(currency))
    return int((Decimal(amount) * MICROS / unit).quantize(Decimal(1), rounding=ROUND_HALF_UP) * unit)


@dataclass(frozen=True)
class Budget:
    """A campaign's budget as Google Ads reported it."""

    budget_id: str
    amount_micros: int
    explicitly_shared: bool
    reference_count: int
    currency: str

    @property
    def shared(self) -> bool:
        """Funds several campaigns (the guardrails' and the marts' definition)."""
        return self.explicitly_shared and self.reference_count > 1

    def share(self) -> Decimal:
        """One campaign's even share of the budget, in currency units."""
        return Decimal(self.amount_micros) / MICROS / (self.reference_count if self.shared else 1)


@dataclass
class Operation:
    """One budget's new amount and the changes (by index) it carries out."""

    budget_id: str
    amount_micros: int
    changes: list[int] = field(default_factory=list)


def plan(changes: Sequence[BudgetChange], indexes: Sequence[int],
         budgets: Mapping[str, Budget]) -> tuple[list[Operation], dict[int, str]]:
    """Operations for ``changes[i] for i in indexes`` (one customer's), and the changes refused before sending.

    ``budgets`` maps campaign id → its budget.
    """
    refused: dict[int, str] = {}
    by_budget: dict[str, list[int]] = {}
    seen: set[str] = set()
    for i in indexes:
        change = changes[i]
        amount = Decimal(change.amount)
        budget = budgets.get(change.campaign_id)
        if budget is None:
            refused[i] = (f"campaign {change.campaign_id} has no daily budget in customer {change.account_id} "
                          f"(not found, or a budget over a custom period)")
        elif not amount.is_finite() or amount <= 0:
            refused[i] = f"new daily budget {change.amount} is not a positive amount"
        elif change.campaign_id in seen:
            refused[i] = f"campaign {change.campaign_id} appears twice in one request"
        else:
            seen.add(change.campaign_id)
            by_budget.setdefault(budget.budget_id, []).append(i)
    operations = []
    for budget_id, members in by_budget.items():
        budget = budgets[changes[members[0]].campaign_id]
        if len(members) == 1 and not budget.shared:
            target = Decimal(changes[members[0]].amount)
        else:
            start = Decimal(budget.amount_micros) / MICROS
            target = start + sum((Decimal(changes[i].amount) - _current(changes[i], budget) for i in members),
                                 Decimal(0))
        micros = to_micros(target, budget.currency)
        if micros <= 0:
            for i in members:
                refused[i] = (f"budget {budget_id} would be {target} {budget.currency}, "
                              f"below the smallest amount Google Ads accepts")
            continue
        operations.append(Operation(budget_id, micros, members))
    return operations, refused


def _current(change: BudgetChange, budget: Budget) -> Decimal:
    return Decimal(change.current) if change.current is not None else budget.share()
