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
_HINT_LOG_STEP = 1e-3  # first step of the bracket search from a hinted price
_MAX_TARGETED_JUMPS = 3  # brackets closed around a computed jump price, per search
_JUMP_NEWTON_STEPS = 60  # Newton steps for the jump prices (quadratic convergence: a handful)
_OVERSHOOT = 1.1  # a step from two points on one side of the root is stretched by this


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
        # Prices at or below which the branch spend is the upper bound, at or above which it is the
        # branch floor: only campaigns priced in between need ``inverse_marginal``'s iterations.
        with np.errstate(invalid="ignore"):
            on_branch = self.upper >= curves.inflection()
            self._price_at_upper = np.where(on_branch, curves.marginal(np.where(on_branch, self.upper, 0.0)), np.inf)
            self._price_at_floor = curves.marginal(self.branch_floor)
        self._last_branch = None  # the previous branch spend: a warm start for the next price

    def demand(self, price) -> np.ndarray:
        """Spend in each box maximizing ``f_i(s) - price_i * s``; ``price`` is a scalar or one per campaign.

        A price of 0 gives the upper bound, an infinite one the lower bound.
        """
        if np.isscalar(price) and price == 0:
            return self.upper.copy()
        if np.isscalar(price) and np.isinf(price):
            return self.lower.copy()
        price = np.broadcast_to(price, self.lower.shape)
        spend = self.branch_spend(price)
        if self.jumpy.size:
            i, p = self.jumpy, price[self.jumpy]
            with np.errstate(invalid="ignore"):
                gain_branch = np.where(np.isinf(spend[i]), np.inf, self.curves.value(spend)[i] - p * spend[i])
                gain_lower = self.value_at_lower[i] - p * self.lower[i]
            spend[i] = np.where(gain_lower > gain_branch, self.lower[i], spend[i])
        return np.where(price == 0, self.upper, np.where(np.isinf(price), self.lower, spend))

    def branch_spend(self, price) -> np.ndarray:
        """Spend on each concave branch (from ``branch_floor``) maximizing ``f_i(s) - price_i * s`` within the box.

        ``price`` is positive and finite, a scalar or one per campaign; ``demand`` compares this
        with the lower bound.
        """
        price = np.broadcast_to(price, self.lower.shape)
        inside = (price > self._price_at_upper) & (price < self._price_at_floor)
        branch = self.curves.inverse_marginal(np.where(inside, price, np.inf), start=self._last_branch)
        at_upper = price <= self._price_at_upper
        self._last_branch = np.where(inside, branch, np.where(at_upper, self.upper, self.branch_floor))
        return np.clip(self._last_branch, self.branch_floor, self.upper)

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

    def jump_log_prices(self, indices: np.ndarray, log_low: float, log_high: float) -> np.ndarray:
        """Log prices in ``[log_low, log_high]`` at which the demand of campaigns ``indices`` jumps off the lower bound.

        The jump is where ``h(lam) = max_branch (f(s) - lam s) - (f(lower) - lam lower)`` is 0; ``h`` is
        convex and decreasing with slope ``-(s - lower)``, so Newton's method from ``log_low``
        (where these campaigns are on their branches, ``h >= 0``) rises monotonically to the root.
        """
        curves = self.curves.take(indices)
        lower, upper, floor = self.lower[indices], self.upper[indices], self.branch_floor[indices]
        base = curves.value(lower)
        price = np.full(indices.size, np.exp(log_low))
        high = np.exp(log_high)
        branch = None
        for _ in range(_JUMP_NEWTON_STEPS):
            branch = curves.inverse_marginal(price, start=branch)
            spend = np.clip(branch, floor, upper)
            rise = spend - lower
            with np.errstate(invalid="ignore", divide="ignore"):
                h = curves.value(spend) - base - price * rise
                new = np.minimum(price + np.maximum(h, 0.0) / rise, high)
            new = np.where(np.isfinite(new), new, price)
            if np.all(new - price <= 4 * np.finfo(float).eps * price):
                price = new
                break
            price = new
        with np.errstate(divide="ignore"):
            return np.log(price)

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
    on ``log(price)``: expansion to a bracket (doubling, or further where the secant through the
    last two points puts the root; from a hinted start the first step is small, as the hint is
    usually close), then inverse quadratic interpolation through the last three points, falling
    back to the secant and to Illinois regula falsi, and to bisection when the bracket stops
    halving, until the bracket or the demand gap between its ends is negligible. When the last
    two points lie on one side of the root the step is stretched a little (``_OVERSHOOT``) so
    that the next lands just past it and both ends close in. A jump off a lower bound is what
    stalls such a search: then the prices at which the campaigns in the bracket jump are computed
    (``Market.jump_log_prices``) and, if the budget clears at one of them, the bracket is closed
    around it at once.
    """
    evaluations = 0

    def at(log_price: float) -> PricedSpend:
        nonlocal evaluations
        evaluations += 1
        spend = market.demand(float(np.exp(log_price)))
        return PricedSpend(log_price, spend, float(spend.sum()) - budget)

    hinted = log_price is not None
    start = at(market.initial_log_price(budget) if log_price is None else log_price)
    direction = 1.0 if start.excess > 0 else -1.0
    step, previous = (_HINT_LOG_STEP if hinted else 1.0), start
    while True:  # expand until the excess changes sign
        log_price = start.log_price + direction * step
        at_end = abs(log_price) > _LOG_PRICE_LIMIT  # price 0 or inf: demand is a bound, the search stops
        point = at(direction * np.inf if at_end else log_price)
        if at_end or ((point.excess <= 0) if direction > 0 else (point.excess >= 0)):
            break
        growth = 2.0
        drop = previous.excess - point.excess  # of the same sign as the excess when moving toward the root
        if drop * point.excess > 0:
            distance = abs(point.log_price - previous.log_price)
            remaining = distance * point.excess / drop  # the secant's root, beyond the current point
            growth = min(max((step + 1.5 * remaining) / step, 2.0), 1e3)
        previous, step = point, growth * step
    rich, poor = (previous, point) if direction > 0 else (point, previous)  # rich: excess >= 0

    f_rich, f_poor, replaced, widths = rich.excess, poor.excess, "", [np.inf, np.inf]
    recent = [previous, point]  # the last two evaluations
    targeted = one_sided = 0
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
        smooth_done = smooth <= _EXCESS_RTOL * max(budget, np.finfo(float).tiny)
        if smooth_done and (not jumped or width <= _JUMP_LOG_PRICE_TOL * max(1.0, abs(a))):
            break
        stalled = width > 0.5 * widths[-2]  # the bracket did not halve in two steps
        jumps = rich.excess - poor.excess - smooth  # what the jumps off lower bounds add up to
        if jumped and targeted < _MAX_TARGETED_JUMPS and (stalled or jumps >= smooth):
            # As at a jump: place points either side of it if it is where the budget clears.
            points = _around_jump(market, rich, poor, smooth, budget)
            targeted += bool(points)
            for log_price in points:
                point = at(log_price)
                recent = [*recent[-2:], point]
                if point.excess >= 0:
                    rich, f_rich = point, point.excess
                else:
                    poor, f_poor = point, point.excess
            if points:
                widths.append(width)
                replaced, one_sided = "", 0
                continue
        near, last = recent[-2:]
        log_price = np.nan
        one_side = (near.excess > 0) == (last.excess > 0)
        if len(recent) == 3 and not stalled:
            x, f = [p.log_price for p in recent], [p.excess for p in recent]
            if f[0] != f[1] and f[1] != f[2] and f[0] != f[2] and all(np.isfinite(x)):
                log_price = (
                    x[0] * f[1] * f[2] / ((f[0] - f[1]) * (f[0] - f[2]))
                    + x[1] * f[0] * f[2] / ((f[1] - f[0]) * (f[1] - f[2]))
                    + x[2] * f[0] * f[1] / ((f[2] - f[0]) * (f[2] - f[1]))
                )
                if one_side and one_sided < 3:
                    log_price = last.log_price + _OVERSHOOT * (log_price - last.log_price)
        if not a < log_price < b:
            log_price = np.nan
            if one_side and near.excess != last.excess and one_sided < 3:
                # The last two on one side: their secant, stretched so as to land just past the root.
                secant = last.log_price - last.excess * (last.log_price - near.log_price) / (last.excess - near.excess)
                log_price = last.log_price + _OVERSHOOT * (secant - last.log_price)
            elif not stalled:
                log_price = a + f_rich * width / (f_rich - f_poor)  # Illinois regula falsi
        if not a < log_price < b:
            log_price = 0.5 * (a + b)
        widths.append(width)
        point = at(log_price)
        recent = [*recent[-2:], point]
        one_sided = one_sided + 1 if (point.excess >= 0) == (recent[-2].excess >= 0) else 0
        if point.excess >= 0:
            rich, f_rich = point, point.excess
            f_poor = f_poor / 2 if replaced == "rich" else f_poor
            replaced = "rich"
        else:
            poor, f_poor = point, point.excess
            f_rich = f_rich / 2 if replaced == "poor" else f_rich
            replaced = "poor"
    return poor, rich, evaluations


def _around_jump(market: Market, rich: PricedSpend, poor: PricedSpend, smooth: float, budget: float) -> list[float]:
    """Two log prices just either side of the jump that clears the budget inside ``(rich, poor)``; [] if none.

    Inside the bracket the excess falls smoothly (``smooth`` in all, modelled as linear in the
    log price) and in steps where campaigns jump off their lower bounds. If, by a clear margin,
    it changes sign at one of those jumps, that jump's price is computed and the two points are
    placed so close to it that the smooth change between them is negligible. A wrong guess
    costs only the two evaluations: they still narrow the bracket.
    """
    i = market.jumpy
    jumping = i[(poor.spend[i] == market.lower[i]) & (rich.spend[i] > poor.spend[i])]
    a, b = rich.log_price, poor.log_price
    size = rich.spend[jumping] - poor.spend[jumping]
    margin = 0.5 * smooth  # allowance for the smooth part's departure from the straight line
    if not jumping.size or size.max() <= smooth or rich.excess < margin or poor.excess > -margin:
        return []  # no jump clearly outweighs the smooth part, or the root is clearly not at one
    at_jump = market.jump_log_prices(jumping, a, b)
    order = np.argsort(at_jump)  # the jumps met as the price rises from the rich end
    at_jump, size = at_jump[order], size[order]
    slope = smooth / (b - a)
    after = rich.excess - slope * (at_jump - a) - np.cumsum(size)  # excess just above each jump price
    k = int(np.searchsorted(after < 0, True))  # the first jump after which the excess is negative
    if k == size.size or not np.isfinite(at_jump[k]) or after[k] + size[k] < margin or after[k] > -margin:
        return []  # the smooth part, not a jump, may change the sign
    centre = float(at_jump[k])
    half = 0.25 * min(
        _JUMP_LOG_PRICE_TOL * max(1.0, abs(centre)), _EXCESS_RTOL * budget / max(slope, np.finfo(float).tiny)
    )
    return [x for x in (centre - half, centre + half) if a < x < b]


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
