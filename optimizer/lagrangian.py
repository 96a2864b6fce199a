"""The price (Lagrange multiplier) machinery behind the allocator.

Maximizing ``sum_i f_i(s_i)`` over boxes ``lower_i <= s_i <= upper_i`` with ``sum_i s_i = B``
is separable once the budget constraint is priced: at a price ``lam`` each campaign's
*demand* is the spend in its box maximizing ``f_i(s) - lam * s``. Total demand falls as the
price rises, so the price that clears the budget is found by a bracketed search on
``log(lam)``. For any price, ``g(lam) = lam * B + sum_i max_s (f_i(s) - lam * s)`` bounds
the value of every feasible allocation from above (weak duality, no concavity needed), which
makes the optimality gap a certificate.

Demand is computed exactly also for S-shaped curves: the maximum of ``f(s) - lam * s`` over a
box is at the lower end or at the stationary point on the concave branch (clipped to the
box), whichever is larger. Such campaigns jump from their lower bound to the concave branch
as the price falls, which is exactly working on the concave envelope of the curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.constraints import SpendBounds
from optimizer.curves import ResponseCurves

_LOG_PRICE_LIMIT = 700.0  # exp(±700) is still a finite float
_MAX_SEARCH_STEPS = 200
_EXCESS_RTOL = 1e-12  # stop when demand on the two sides of the bracket differs by this share of B ...
_JUMP_LOG_PRICE_TOL = 1e-10  # ... or, if demand jumps inside the bracket, when it is this narrow


@dataclass(frozen=True, eq=False)
class PricedSpend:
    """The demand of every campaign at one price, and how far its total is from the budget."""

    log_price: float
    spend: np.ndarray
    excess: float  # total demand minus budget

    @property
    def price(self) -> float:
        """The price ``exp(log_price)``: 0 and ``inf`` at the ends of the range."""
        return float(np.exp(self.log_price))


@dataclass(frozen=True, eq=False)
class BudgetSolution:
    """Spend summing to the budget, the clearing price, the dual upper bound and the work done.

    ``straddler`` is the campaign whose demand jumps at the clearing price (from its lower
    bound onto its concave branch) and that was given only part of the jump, so it sits on
    the straight segment of its concave envelope, below its true curve; ``None`` if none.
    """

    spend: np.ndarray
    multiplier: float
    upper_bound: float
    nit: int
    straddler: int | None = None


class Market:
    """Curves and boxes, with each campaign's demand and the dual bound at a given price."""

    def __init__(self, curves: ResponseCurves, bounds: SpendBounds):
        self.curves = curves
        self.lower, self.upper = bounds.lower, bounds.upper
        self.branch_floor = np.maximum(self.lower, curves.inflection())
        # Campaigns whose box holds a convex stretch: their demand may jump off the lower bound.
        self.jumpy = np.flatnonzero((self.branch_floor > self.lower) & (self.upper > self.lower))
        self.value_at_lower = curves.value(self.lower)
        self._last_branch = None  # the previous unclipped branch spend: a warm start for the next price

    def demand(self, price) -> np.ndarray:
        """Spend in each box maximizing ``f_i(s) - price_i * s``; ``price`` is a scalar or one per campaign.

        A price of 0 gives the upper bound, an infinite one the lower bound.
        """
        if np.isscalar(price) and price == 0:
            return self.upper.copy()
        if np.isscalar(price) and np.isinf(price):
            return self.lower.copy()
        self._last_branch = self.curves.inverse_marginal(price, start=self._last_branch)
        spend = np.clip(self._last_branch, self.branch_floor, self.upper)
        price = np.broadcast_to(price, spend.shape)
        if self.jumpy.size:
            i, p = self.jumpy, price[self.jumpy]
            with np.errstate(invalid="ignore"):
                gain_branch = np.where(np.isinf(spend[i]), np.inf, self.curves.value(spend)[i] - p * spend[i])
                gain_lower = self.value_at_lower[i] - p * self.lower[i]
            spend[i] = np.where(gain_lower > gain_branch, self.lower[i], spend[i])
        return np.where(price == 0, self.upper, np.where(np.isinf(price), self.lower, spend))

    def lagrangian(self, price, spend: np.ndarray) -> float:
        """``sum_i f_i(spend_i) - price_i * spend_i`` for ``spend = demand(price)``: the Lagrangian's inner maximum.

        ``inf`` where it cannot be evaluated (infinite spend at a positive price, infinite price).
        """
        price = np.broadcast_to(price, spend.shape)
        with np.errstate(invalid="ignore"):
            cost = np.where(price == 0, 0.0, price * spend)
        if not np.all(np.isfinite(cost)):
            return np.inf
        return float(np.sum(self.curves.value(spend) - cost))

    def demand_gaps(self, low: np.ndarray, high: np.ndarray) -> tuple[float, bool]:
        """Total demand difference between two prices without the jumps off a lower bound, and whether any jumped.

        Jumps do not shrink as the price bracket narrows (the fill spreads them); the rest does.
        """
        gap = high - low
        jumped = False
        if self.jumpy.size:
            i = self.jumpy
            jumps = (low[i] == self.lower[i]) & (high[i] > low[i])  # their demand is lower or on the branch
            jumped = bool(jumps.any())
            gap[i] = np.where(jumps, 0.0, gap[i])
        return float(gap.sum()), jumped

    def dual_bound(self, point: PricedSpend, budget: float) -> float:
        """``g(price)``: an upper bound on the value of any allocation of ``budget`` within the boxes."""
        if np.isinf(point.price):
            return np.inf
        return point.price * budget + self.lagrangian(point.price, point.spend)

    def initial_log_price(self, budget: float) -> float:
        """A starting guess: the median marginal at an equal split of the budget."""
        even = np.clip(np.maximum(budget / len(self.curves), self.branch_floor), self.lower, self.upper)
        marginal = self.curves.marginal(even)
        usable = marginal[np.isfinite(marginal) & (marginal > 0)]
        return float(np.log(np.median(usable))) if usable.size else 0.0


def solve_budget(curves: ResponseCurves, bounds: SpendBounds, budget: float, price_hint=None) -> BudgetSolution:
    """Allocate ``budget`` within ``bounds`` at the clearing price of the Lagrangian relaxation.

    For concave curves the result is optimal. For S-shaped ones it is optimal for the concave
    envelopes: at most one campaign (the ``straddler``) sits strictly inside the straight part
    of its envelope; ``optimizer.nonconcave`` improves on that. ``price_hint`` (e.g. the price
    of a similar problem) is where the price search starts. The caller checks feasibility.
    """
    return clear_market(Market(curves, bounds), budget, price_hint)


def clear_market(market: Market, budget: float, price_hint=None) -> BudgetSolution:
    """``solve_budget`` for a given market (its demand may aggregate campaigns differently)."""
    hint = price_hint if price_hint is not None and 0 < price_hint < np.inf else None
    low, high, nit = _clearing_bracket(market, budget, None if hint is None else float(np.log(hint)))
    spend, partial = fill_budget(low.spend, high.spend, budget)
    finite = [p.log_price for p in (low, high) if np.isfinite(p.log_price)]
    multiplier = float(np.exp(np.mean(finite))) if finite else low.price
    bound = min(market.dual_bound(low, budget), market.dual_bound(high, budget))
    jumped = partial is not None and partial in market.jumpy and low.spend[partial] < market.branch_floor[partial]
    return BudgetSolution(spend, multiplier, bound, nit, straddler=partial if jumped else None)


def _clearing_bracket(market: Market, budget: float, log_price=None) -> tuple[PricedSpend, PricedSpend, int]:
    """Prices ``high`` and ``low`` (as demands) with ``sum(low.spend) <= budget <= sum(high.spend)``.

    Returns (low-demand point, high-demand point, number of demand evaluations). The search is
    on ``log(price)``: exponential expansion to a bracket, then Illinois regula falsi with a
    bisection fallback, until the bracket or the demand gap between its ends is negligible.
    """
    evaluations = 0

    def at(log_price: float) -> PricedSpend:
        nonlocal evaluations
        evaluations += 1
        spend = market.demand(float(np.exp(log_price)))
        return PricedSpend(log_price, spend, float(spend.sum()) - budget)

    start = at(market.initial_log_price(budget) if log_price is None else log_price)
    direction = 1.0 if start.excess > 0 else -1.0
    step, previous = 1.0, start
    while True:  # expand until the excess changes sign
        log_price = start.log_price + direction * step
        at_end = abs(log_price) > _LOG_PRICE_LIMIT  # price 0 or inf: demand is a bound, the search stops
        point = at(direction * np.inf if at_end else log_price)
        if at_end or ((point.excess <= 0) if direction > 0 else (point.excess >= 0)):
            break
        previous, step = point, 2.0 * step
    rich, poor = (previous, point) if direction > 0 else (point, previous)  # rich: excess >= 0

    f_rich, f_poor, replaced, widths = rich.excess, poor.excess, "", [np.inf, np.inf]
    for _ in range(_MAX_SEARCH_STEPS):
        if rich.excess == 0 or poor.excess == 0:
            exact = rich if rich.excess == 0 else poor
            return exact, exact, evaluations
        a, b = rich.log_price, poor.log_price
        if not (np.isfinite(a) and np.isfinite(b)):
            break
        width = b - a
        if width <= 4 * np.finfo(float).eps * max(1.0, abs(a), abs(b)):
            break
        smooth, jumped = market.demand_gaps(poor.spend, rich.spend)
        if smooth <= _EXCESS_RTOL * max(budget, np.finfo(float).tiny) and (
            not jumped or width <= _JUMP_LOG_PRICE_TOL * max(1.0, abs(a))
        ):
            break
        log_price = a + f_rich * width / (f_rich - f_poor)
        if width > 0.5 * widths[-2] or not a < log_price < b:
            log_price = 0.5 * (a + b)
        widths.append(width)
        point = at(log_price)
        if point.excess >= 0:
            rich, f_rich = point, point.excess
            f_poor = f_poor / 2 if replaced == "rich" else f_poor
            replaced = "rich"
        else:
            poor, f_poor = point, point.excess
            f_rich = f_rich / 2 if replaced == "poor" else f_rich
            replaced = "poor"
    return poor, rich, evaluations


def fill_budget(low: np.ndarray, high: np.ndarray, budget: float) -> tuple[np.ndarray, int | None]:
    """Spend between ``low`` and ``high`` (elementwise) that sums to ``budget``.

    Campaigns are raised from ``low`` to ``high`` one at a time, smallest step first, so at
    most one campaign ends strictly between its two values; returns the spend and that
    campaign's index (``None`` if there is none).
    """
    need = budget - float(low.sum())
    spend = low.copy()
    if need <= 0:
        return spend, None
    gap = high - low
    order = np.argsort(gap, kind="stable")
    filled = np.cumsum(gap[order])
    k = int(np.searchsorted(filled, need))
    spend[order[:k]] = high[order[:k]]
    if k == spend.size:
        return spend, None
    j = int(order[k])
    spend[j] = min(low[j] + need - (filled[k - 1] if k else 0.0), high[j])
    return spend, j
