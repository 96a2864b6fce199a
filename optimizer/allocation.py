"""Budget allocation: spend a total daily budget across campaigns to maximize expected value.

``allocate`` prices the budget constraint (see ``optimizer.lagrangian``): for concave curves
the clearing price gives the optimum, with every campaign strictly inside its bounds at the
same marginal ROAS. For S-shaped curves the same price solves the problem on the concave
envelopes; when that leaves a campaign on a straight envelope segment, a local search over
which S-shaped campaigns spend (``optimizer.nonconcave``) turns it into a good allocation on
the true curves. The Lagrangian dual bound certifies every result's optimality gap; for small
problems branch and bound on the S-shaped campaigns' boxes (``optimizer.branching``) tightens it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.constraints import SpendBounds, check_budget, check_budget_fits, spend_bounds
from optimizer.curves import ResponseCurves
from optimizer.groups import GroupedMarket, allocate_grouped, effective_groups, parse_groups
from optimizer.lagrangian import Market
from optimizer.nonconcave import solve
from optimizer.validation import non_negative_number


@dataclass(frozen=True, eq=False)
class Allocation:
    """The result of ``allocate``, in the spirit of ``scipy.optimize.OptimizeResult``.

    Arrays are in the order of the curves (``FittedCurves.campaign_ids``).

    Attributes:
        spend: recommended spend per campaign; sums to the total budget (or less, when
            ``min_marginal_roas`` leaves some of it unspent).
        expected_value: total expected value per day at ``spend``.
        values: expected value per campaign at ``spend``.
        marginal: marginal ROAS per campaign at ``spend``.
        success: whether a feasible allocation was found and certified (see ``message``).
        message: how it was solved and how good it is, in words.
        lagrange_multiplier: the clearing price: value of one more unit of budget; every
            campaign strictly inside its bounds (and on the concave part of its curve) has
            this marginal ROAS. ``nan`` when the bounds alone fix the spend.
        optimality_gap: certified upper bound on ``(optimum - expected_value) / |expected_value|``
            from the Lagrangian dual bound (valid for any curve shape; ``inf`` if unavailable).
        upper_bound: the dual bound itself: no feasible allocation has more expected value.
        nit: number of demand evaluations (one vectorized pass over all campaigns each).
        lower, upper: the per-campaign bounds actually enforced, after max_change and locks.
    """

    spend: np.ndarray
    expected_value: float
    values: np.ndarray
    marginal: np.ndarray
    success: bool
    message: str
    lagrange_multiplier: float
    optimality_gap: float
    upper_bound: float
    nit: int
    lower: np.ndarray
    upper: np.ndarray


def allocate(
    curves: ResponseCurves,
    total_budget: float,
    lower=None,
    upper=None,
    current=None,
    max_change=None,
    groups=None,
    locked=None,
    min_marginal_roas=None,
) -> Allocation:
    """Split ``total_budget`` (per day) across campaigns to maximize total expected value.

    Args:
        curves: a curve set (``HillCurve``, ``ExponentialCurve``, ``FittedCurves``, ...).
        total_budget: the whole amount to spend; finite and non-negative.
        lower, upper: per-campaign spend bounds (scalars or arrays; default 0 and unbounded).
        current: current spend per campaign; needed by ``max_change`` and ``locked``.
        max_change: maximum relative change from ``current`` (0.3: within ``current * (1 ± 0.3)``),
            intersected with ``lower``/``upper``.
        groups: limits on the total spend of disjoint sets of campaigns: a list of
            ``SpendGroup(members, lower, upper)`` or ``(members, lower, upper)`` tuples, or a
            mapping name -> either; members are indices or a boolean mask.
            Overlapping groups raise ``NotImplementedError``.
        locked: boolean mask or campaign indices that must stay at ``current``.
        min_marginal_roas: when given, ``total_budget`` becomes a cap: no campaign is funded
            beyond the spend where its marginal ROAS falls below this, so the total may stay
            below ``total_budget`` (never above). Lower bounds (and group lower limits) are
            still met. Precisely: maximize ``value - min_marginal_roas * spend`` with total
            spend at most ``total_budget``. ``None`` (default): spend the whole budget.

    Raises:
        InfeasibleAllocationError: the constraints conflict (message names the conflict).
        ValueError: malformed input (NaN, negative or wrongly shaped values).
    """
    if not isinstance(curves, ResponseCurves):
        raise TypeError(f"curves must be a ResponseCurves set (e.g. HillCurve), got {type(curves).__name__}")
    if len(curves) == 0:
        raise ValueError("curves hold no campaigns")
    budget = check_budget(total_budget)
    bounds = spend_bounds(len(curves), lower, upper, current, max_change, locked)
    parsed = None if groups is None else parse_groups(groups, len(curves))
    unspent = ""
    if min_marginal_roas is not None:
        floor = non_negative_number(min_marginal_roas, "min_marginal_roas")
        wanted = _spend_worth_it(curves, bounds, parsed, floor)
        if wanted < budget:
            unspent = (
                f"spent {wanted:.2f} of total_budget {budget:.2f}: more would return a marginal ROAS "
                f"below min_marginal_roas {floor:g}; "
            )
            budget = max(wanted, min(budget, float(bounds.lower.sum())))
    note = "" if max_change is None and locked is None else " (after applying max_change/locked)"
    check_budget_fits(bounds, budget, note)
    limited = None if parsed is None else effective_groups(parsed, bounds, budget)

    forced = "lower" if bounds.lower.sum() >= budget else "upper" if bounds.upper.sum() <= budget else None
    if forced:
        message = f"total_budget {budget:.2f} equals the sum of {forced} bounds: every campaign at its {forced} bound"
        return _result(curves, bounds, getattr(bounds, forced).copy(), np.nan, None, 0, unspent + message)

    if limited is not None:
        grouped = allocate_grouped(curves, bounds, budget, limited)
        message = "; ".join([f"budget at marginal ROAS {grouped.multiplier:.6g}", *grouped.notes])
        return _result(
            curves, bounds, grouped.spend, grouped.multiplier, grouped.upper_bound, grouped.nit, unspent + message
        )

    solution, repair = solve(curves, bounds, budget)
    if repair is None:
        message = f"optimal: all campaigns at marginal ROAS {solution.multiplier:.6g} unless at a bound"
    else:
        message = (
            "S-shaped curves (Hill shape > 1): solved on their concave envelopes (Lagrangian relaxation), "
            f"then improved by {repair}; the optimality gap is certified by the dual bound"
        )
    return _result(
        curves, bounds, solution.spend, solution.multiplier, solution.upper_bound, solution.nit, unspent + message
    )


def _spend_worth_it(curves: ResponseCurves, bounds: SpendBounds, groups, price: float) -> float:
    """Total spend when every campaign spends while its marginal ROAS is at least ``price``.

    The demand at ``price`` (the spend in each box maximizing ``value - price * spend``; for an
    S-shaped curve, 0 unless entering pays off as a whole), with group limits applied.
    """
    if price == 0:
        return float(bounds.upper.sum())
    if groups is None:
        market = Market(curves, bounds)
    else:
        market = GroupedMarket(curves, bounds, effective_groups(groups, bounds, None))
    return float(market.demand(price).sum())


def _relative_gap(upper_bound: float | None, value: float) -> float:
    """``(upper_bound - value) / |value|``, at least 0 (0 when the bound is unknown but exact)."""
    if upper_bound is None:
        return 0.0
    excess = max(upper_bound - value, 0.0)
    if value == 0:
        return 0.0 if excess <= np.finfo(float).tiny else np.inf
    return excess / abs(value)


def _result(
    curves: ResponseCurves,
    bounds: SpendBounds,
    spend: np.ndarray,
    multiplier: float,
    upper_bound: float | None,
    nit: int,
    message: str,
) -> Allocation:
    """Package a spend vector with its values, marginals and certificate."""
    values = curves.value(spend)
    total = float(values.sum())
    gap = _relative_gap(upper_bound, total)
    success = bool(np.isfinite(gap))
    message = f"{message}; optimality gap {gap:.2e}" if success else f"{message}; no finite optimality bound"
    return Allocation(
        spend=spend,
        expected_value=total,
        values=values,
        marginal=curves.marginal(spend),
        success=success,
        message=message,
        lagrange_multiplier=float(multiplier),
        optimality_gap=gap,
        upper_bound=total if upper_bound is None else float(upper_bound),
        nit=nit,
        lower=bounds.lower,
        upper=bounds.upper,
    )
