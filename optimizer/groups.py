"""Group spend limits: bounds on the total spend of sets of campaigns (e.g. a platform's cap).

Groups are disjoint. The budget keeps one price ``lam``; a group whose limit binds gets a
price of its own, above ``lam`` when its upper limit binds and below when its lower limit
does. At a price ``lam`` each group demands what its campaigns demand, clipped to the group's
limits, so total demand still falls as the price rises and the same search clears the
budget. Each group's total is then split by its own solve, whose price is the group's. The
dual bound includes the group prices (``lam * B + sum_g nu_g * limit_g + sum_i max_s
(f_i(s) - p_i s)``), so the optimality gap remains a certificate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from optimizer.constraints import BUDGET_RTOL, SpendBounds
from optimizer.curves import ResponseCurves
from optimizer.errors import InfeasibleAllocationError
from optimizer.lagrangian import Market, clear_market, fill_budget
from optimizer.nonconcave import solve
from optimizer.validation import check_range, float_array


@dataclass(frozen=True)
class SpendGroup:
    """Limits on the total daily spend of some campaigns.

    ``members`` are campaign indices or a boolean mask over the campaigns; ``lower`` and
    ``upper`` limit the group's total spend; ``name`` labels it in messages.
    """

    members: object
    lower: float = 0.0
    upper: float = np.inf
    name: str = ""


@dataclass(frozen=True, eq=False)
class _Group:
    """A validated group: member indices and effective limits (intersected with the members' bounds)."""

    label: str
    members: np.ndarray
    lower: float
    upper: float


@dataclass(frozen=True, eq=False)
class GroupedSolution:
    """Spend, the budget's price, the dual bound, the work done and notes for the message."""

    spend: np.ndarray
    multiplier: float
    upper_bound: float
    nit: int
    notes: list[str]


def _member_indices(members, n: int, label: str) -> np.ndarray:
    array = np.asarray(members)
    if array.dtype == bool:
        if array.shape != (n,):
            raise ValueError(f"{label}: members mask has shape {array.shape} but there are {n} campaigns")
        return np.flatnonzero(array)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{label}: members must be campaign indices or a boolean mask")
    indices = array.astype(int).ravel()
    outside = indices[(indices < 0) | (indices >= n)]
    if outside.size:
        raise ValueError(f"{label}: member index {int(outside[0])} is out of range for {n} campaigns")
    if not indices.size:
        raise ValueError(f"{label} has no members")
    return np.unique(indices)


def parse_groups(groups, n: int) -> list[SpendGroup]:
    """Groups as ``SpendGroup`` objects with index arrays, from a list or a name -> group mapping.

    Each group is a ``SpendGroup`` or a ``(members, lower, upper)`` tuple. Raises ValueError
    for malformed groups and NotImplementedError for overlapping ones.
    """
    items = groups.items() if isinstance(groups, Mapping) else enumerate(groups)
    parsed, owner = [], np.full(n, -1)
    for key, group in items:
        if not isinstance(group, SpendGroup):
            group = SpendGroup(*group)
        name = group.name or (str(key) if isinstance(groups, Mapping) else "")
        label = f"group {name!r}" if name else f"group {key}"
        members = _member_indices(group.members, n, label)
        limits = float_array([group.lower, group.upper], f"{label} limits")
        low, high = check_range(limits, f"{label} limits", allow_inf=True)
        if np.isinf(low):
            raise ValueError(f"{label}: lower limit must be finite")
        if low > high:
            raise InfeasibleAllocationError(f"{label}: lower limit {low:.2f} is above upper limit {high:.2f}")
        shared = members[owner[members] >= 0]
        if shared.size:
            other = parsed[owner[shared[0]]].name
            raise NotImplementedError(
                f"campaign {shared[0]} is in {other} and {label}: overlapping groups are not supported"
            )
        owner[members] = len(parsed)
        parsed.append(SpendGroup(members, float(low), float(high), label))
    return parsed


def effective_groups(groups: list[SpendGroup], bounds: SpendBounds, budget: float | None) -> list[_Group]:
    """Groups with limits intersected with their members' bounds, plus one for the ungrouped campaigns.

    Raises InfeasibleAllocationError when a group's limits conflict with its members' bounds
    or the groups together cannot spend exactly ``budget`` (not checked when ``budget`` is None).
    """
    result = []
    for group in groups:
        low = float(bounds.lower[group.members].sum())
        high = float(bounds.upper[group.members].sum())
        if low > group.upper:
            raise InfeasibleAllocationError(
                f"{group.name}: its campaigns' lower bounds sum to {low:.2f}, above its upper limit {group.upper:.2f}"
            )
        if high < group.lower:
            raise InfeasibleAllocationError(
                f"{group.name}: lower limit {group.lower:.2f} is above what its campaigns may spend "
                f"(sum of their upper bounds {high:.2f})"
            )
        result.append(_Group(group.name, group.members, max(group.lower, low), min(group.upper, high)))
    grouped = np.concatenate([g.members for g in groups]) if groups else np.array([], dtype=int)
    rest = np.setdiff1d(np.arange(bounds.lower.size), grouped)
    if rest.size:
        result.append(_Group("", rest, float(bounds.lower[rest].sum()), float(bounds.upper[rest].sum())))
    if budget is None:
        return result
    slack = BUDGET_RTOL * max(budget, 1.0)
    lowest, highest = sum(g.lower for g in result), sum(g.upper for g in result)
    if lowest > budget + slack:
        raise InfeasibleAllocationError(
            f"sum of group lower limits and lower bounds {lowest:.2f} exceeds total_budget {budget:.2f}"
        )
    if highest < budget - slack:
        raise InfeasibleAllocationError(
            f"sum of group upper limits and upper bounds {highest:.2f} is below total_budget {budget:.2f}"
        )
    return result


class GroupedMarket(Market):
    """A market whose demand respects group limits: each group's demand is clipped to its limits."""

    def __init__(self, curves: ResponseCurves, bounds: SpendBounds, groups: list[_Group]):
        super().__init__(curves, bounds)
        self.groups = [g for g in groups if g.label]

    def demand(self, price) -> np.ndarray:
        """Campaign demand at ``price``, moved toward the bounds until each group total is within its limits."""
        spend = super().demand(price)
        for g in self.groups:
            m = g.members
            total = spend[m].sum()
            if total > g.upper:
                spend[m] = fill_budget(self.lower[m], spend[m], g.upper)[0]
            elif total < g.lower:
                spend[m] = fill_budget(spend[m], self.upper[m], g.lower)[0]
        return spend

    def dual_bound(self, point, budget: float) -> float:
        """Not available from the clipped demand (it is not the Lagrangian's maximizer); see ``allocate_grouped``."""
        return np.inf


def allocate_grouped(curves: ResponseCurves, bounds: SpendBounds, budget: float, groups: list[_Group]):
    """Allocate ``budget`` under group limits: clear the budget price, then split each group's total.

    Returns a ``GroupedSolution`` whose notes name the binding groups and any S-shaped repair.
    """
    outer = clear_market(GroupedMarket(curves, bounds, groups), budget)
    price = outer.multiplier
    spend, prices = outer.spend.copy(), np.full(outer.spend.size, price)
    nit, group_terms, notes = outer.nit, 0.0, []
    for g in groups:
        m = g.members
        total = float(np.clip(spend[m].sum(), bounds.lower[m].sum(), bounds.upper[m].sum()))
        part, repair = solve(curves.take(m), SpendBounds(bounds.lower[m], bounds.upper[m]), total)
        spend[m], nit = part.spend, nit + part.nit
        if repair:
            notes.append(f"{g.label or 'ungrouped campaigns'} improved by {repair}")
        at_upper = total >= g.upper * (1 - 1e-9) and part.multiplier > price
        at_lower = total <= g.lower * (1 + 1e-9) and part.multiplier < price
        if g.label and (at_upper or at_lower):
            prices[m] = part.multiplier
            group_terms += (part.multiplier - price) * (g.upper if at_upper else g.lower)
            side = "upper" if at_upper else "lower"
            notes.append(f"{g.label} at its {side} limit (marginal ROAS {part.multiplier:.6g})")
    market = Market(curves, bounds)
    bound = price * budget + group_terms + market.lagrangian(prices, market.demand(prices))
    return GroupedSolution(spend, price, bound if np.isfinite(bound) else np.inf, nit, notes)
