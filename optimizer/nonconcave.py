"""Improving an allocation when some curves are S-shaped (Hill shape > 1, not concave).

The Lagrangian relaxation (``optimizer.lagrangian``) solves the problem on the concave
envelopes. Its spend is exact on the true curves except for at most one *straddler*, left on
the straight part of its envelope, and its choice of which S-shaped campaigns spend at all
may be off when few campaigns share the budget. This module fixes both by local search over
*regimes*: every S-shaped campaign is either off (at its lower bound) or on (on its concave
branch), which makes the rest a concave problem solved exactly by ``solve_budget``; one
campaign at a time is switched off, switched on, or set *free* (its spend anywhere in its
range, the others re-solved for the remaining budget). Every step keeps a feasible allocation
and only accepts improvements; the dual bound of the relaxation still certifies the result.

Most of these re-solves cannot pay, and Lagrangian duality says so cheaply: for any price,
``price * budget + sum_i max_s (f_i(s) - price * s)`` over the boxes of a re-solve bounds
every allocation it could return (weak duality, whatever the curves' shapes). One pass at the
best allocation's price bounds what freeing each candidate could gain, and candidates that
cannot beat the best allocation are skipped. Setting a campaign free adds to its switch
re-solves only spend on the convex stretch of its box (the concave part is the switched-on
re-solve's); that stretch is searched by prices rather than spends, each price one pass that
yields both an allocation and a cut of the bound, until the bound rules out any gain. Only if
it cannot (as when the rest's demand jumps) is the stretch searched by spend, with a full
re-solve for each: a grid, then bounded Brent around its best point.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.optimize import minimize_scalar

from optimizer.branching import BRANCH_MAX_CAMPAIGNS, branch_and_bound
from optimizer.constraints import SpendBounds
from optimizer.curves import ResponseCurves
from optimizer.lagrangian import BudgetSolution, Market, solve_budget

LOCAL_SEARCH_MAX_CAMPAIGNS = 1_000  # above this, only the straddler is repaired (off or on)
CANDIDATES = 6  # S-shaped campaigns tried: the straddler, then the most nearly indifferent
_IMPROVEMENT_RTOL = 1e-9  # smaller gains do not count as progress (they are polishing noise)
GRID_POINTS = 8  # spends tried on a free campaign's convex stretch when prices cannot settle it ...
_STRETCH_STEPS = 6  # ... after this many prices beyond the switch re-solves'
_STRETCH_RTOL = 1e-12  # prices are tried until the bound is this close to the best allocation found


class Repair:
    """Local search over the regimes of S-shaped campaigns, starting from the relaxed solution."""

    def __init__(self, curves: ResponseCurves, bounds: SpendBounds, budget: float):
        self.curves, self.bounds, self.budget = curves, bounds, budget
        self.floor = np.minimum(np.maximum(bounds.lower, curves.inflection()), bounds.upper)
        self.jumpy = self.floor > bounds.lower  # box holds a convex stretch
        self.nit = 0
        self.solves = 0
        self.price = None  # the last clearing price: where the next search starts
        self.whole = None  # the market of the whole boxes, once needed

    def value(self, solution: BudgetSolution | None) -> float:
        """Total value of a solution on the true curves (-inf for none)."""
        return -np.inf if solution is None else float(self.curves.value(solution.spend).sum())

    def solve(self, lower: np.ndarray, upper: np.ndarray, price=None) -> BudgetSolution | None:
        """The optimum with each campaign in the given (concave) box, or None if infeasible.

        The price search starts at ``price``, or else at the last re-solve's clearing price.
        """
        if lower.sum() > self.budget or upper.sum() < self.budget:
            return None
        hint = self.price if price is None else price
        solution = solve_budget(self.curves, SpendBounds(lower, upper), self.budget, hint)
        self.price = solution.multiplier
        self.nit += solution.nit
        self.solves += 1
        return solution

    def regimes(self, spend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes keeping every S-shaped campaign in its current regime.

        On (spend at or above the concave branch's start): ``[floor, upper]``; off (at the
        lower bound) or in the convex stretch: ``[lower, spend]``, free to give budget back.
        """
        lower, upper = self.bounds.lower, self.bounds.upper
        on = self.jumpy & (spend >= self.floor)
        below = self.jumpy & ~on
        return np.where(on, self.floor, lower), np.where(below, spend, upper)

    def switch(self, spend: np.ndarray, j: int, price=None) -> list[BudgetSolution | None]:
        """Re-solves with campaign ``j`` off, and with it on its concave branch (the rest as they are).

        Both price searches start at ``price`` (e.g. that of the allocation ``spend`` comes from).
        """
        lower, upper = self.regimes(spend)
        off_lower, off_upper = lower.copy(), upper.copy()
        off_lower[j] = off_upper[j] = self.bounds.lower[j]
        on_lower, on_upper = lower.copy(), upper.copy()
        on_lower[j], on_upper[j] = self.floor[j], self.bounds.upper[j]
        return [self.solve(off_lower, off_upper, price), self.solve(on_lower, on_upper, price)]

    def priced(self, market: Market, price: float) -> tuple[np.ndarray, np.ndarray]:
        """Per campaign: the demand of ``market`` at ``price`` and ``f(s) - price * s`` there (the Lagrangian terms)."""
        spend = market.demand(price)
        self.nit += 1
        with np.errstate(invalid="ignore"):
            return spend, self.curves.value(spend) - price * spend

    def whole_market(self) -> Market:
        """The market of the campaigns' whole boxes (made once)."""
        if self.whole is None:
            self.whole = Market(self.curves, self.bounds)
        return self.whole

    def freed_bounds(self, best: BudgetSolution, js: list[int]) -> np.ndarray:
        """For each campaign in ``js``: a bound on any re-solve from ``best`` that moves only it within its box.

        The dual bound at ``best``'s price, the others in their regime boxes, that campaign in
        its whole box: its switched-off, switched-on and free re-solves cannot beat it.
        """
        price = best.multiplier
        if not (np.isfinite(price) and price > 0):
            return np.full(len(js), np.inf)
        regime = self.priced(Market(self.curves, SpendBounds(*self.regimes(best.spend))), price)[1]
        whole = self.priced(self.whole_market(), price)[1]
        bound = price * self.budget + regime.sum() - regime[js] + whole[js]
        return np.where(np.isnan(bound), np.inf, bound)

    def free(self, spend: np.ndarray, j: int, threshold: float, prices=()) -> BudgetSolution | None:
        """Best spend for ``j`` on the convex stretch of its box, the rest re-solved, if that beats ``threshold``.

        The free range's concave part (from ``floor``) is the switched-on re-solve's. Below it,
        with ``j`` at ``s`` the rest's best value ``V(B - s)`` is at most
        ``price * (B - s) + L(price)`` for every price (``L``: the rest's Lagrangian maximum),
        with equality at the budget ``D(price)`` the rest demands at that price. So each price
        tried (first ``prices``, e.g. those of the switch re-solves) gives an allocation (``j``
        at ``B - D(price)``, if that is on the stretch) and a line cutting down the bound
        ``f_j(s) + min over the lines``, whose maximum over the stretch is exact and cheap
        (``f_j`` is convex there, the min piecewise linear). The next price aims at that
        maximizer, until the bound cannot beat ``threshold`` or the best allocation found.
        If a few prices do not settle it, the stretch is searched by spend (a grid, then bounded
        Brent), each spend a full re-solve. ``None`` if nothing beats ``threshold`` (or the
        stretch is empty).
        """
        lower, upper = self.regimes(spend)
        rest_low, rest_high = np.delete(lower, j).sum(), np.delete(upper, j).sum()
        a = max(self.bounds.lower[j], self.budget - rest_high)
        b = min(self.bounds.upper[j], self.budget - rest_low, self.floor[j])
        if not a <= b:
            return None
        if a == b:  # one feasible spend (the box's ends are the switch re-solves')
            if not self.bounds.lower[j] < a < self.floor[j]:
                return None
            lower[j] = upper[j] = a
            solution = self.solve(lower, upper)
            return solution if self.value(solution) > threshold else None
        lower[j], upper[j] = a, b  # j's own term is left out below
        market = Market(self.curves, SpendBounds(lower, upper))
        one = self.curves.take([j])
        lines: list[tuple[float, float, float]] = []  # (price, the rest's demand, its Lagrangian maximum)
        best, best_value = None, -np.inf

        def sample(price: float) -> None:
            nonlocal best, best_value
            demand, terms = self.priced(market, price)
            rest = float(demand.sum() - demand[j])
            lines.append((price, rest, float(terms.sum() - terms[j])))
            if a <= self.budget - rest <= b:
                demand[j] = self.budget - rest
                value = float(self.curves.value(demand).sum())
                if value > best_value:
                    best, best_value = BudgetSolution(demand, price, np.inf, 0), value

        for price in dict.fromkeys(p for p in prices if np.isfinite(p) and p > 0):
            sample(price)
        if not lines:
            chord = float(np.diff(one.value(np.array([[a], [b]]))[:, 0])[0]) / (b - a)
            sample(chord if chord > 0 else 1.0)
        for _ in range(_STRETCH_STEPS):
            bound, s = _stretch_bound(one, self.budget, a, b, lines)
            if bound <= max(threshold, best_value + _STRETCH_RTOL * abs(best_value)):
                return best if best_value > threshold else None
            log_price = _price_for(lines, self.budget - s)
            if log_price is None:  # the rest's demand jumps over that budget: no price gives it
                break
            sample(float(np.exp(log_price)))
        # Not ruled out: the bound cannot close in, typically because the rest's demand jumps
        # (some of it in convex boxes). Search the stretch by spend, with full re-solves.
        found = {} if best is None else {float(best.spend[j]): best}

        def loss(s: float) -> float:
            lower[j] = upper[j] = s
            solution = self.solve(lower, upper)
            if self.value(solution) >= self.value(found.get(s)):
                found[s] = solution
            return -self.value(solution)

        grid = np.unique(np.clip([*np.linspace(a, b, GRID_POINTS), spend[j], *found], a, b))
        losses = [loss(s) for s in grid]
        k = int(np.argmin(losses))
        if grid.size > 2:
            bracket = (grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)])
            tolerance = 1e-7 * max(self.budget, 1.0)
            minimize_scalar(loss, bounds=bracket, method="bounded", options={"xatol": tolerance, "maxiter": 20})
        best = max(found.values(), key=self.value)
        return best if self.value(best) > threshold else None

    def concentrated(self) -> BudgetSolution | None:
        """Everything above the lower bounds on the single campaign that makes most of it.

        With a budget too small to bring several S-shaped campaigns onto their concave
        branches, the optimum often does this, and the relaxation may pick another campaign.
        """
        lower, upper = self.bounds.lower, self.bounds.upper
        rest = self.budget - lower.sum()
        fits = upper - lower >= rest
        if not fits.any():
            return None
        gain = self.curves.value(np.where(fits, lower + rest, lower)) - self.curves.value(lower)
        gain = np.where(fits, gain, -np.inf)
        spend = lower.copy()
        j = int(np.argmax(gain))
        spend[j] += rest
        return BudgetSolution(spend, float(self.curves.marginal(spend)[j]), np.inf, 1)

    def candidates(self, solution: BudgetSolution, count: int) -> list[int]:
        """Up to ``count`` S-shaped campaigns: the straddler, then by how nearly indifferent they are at the price."""
        first = [] if solution.straddler is None else [solution.straddler]
        if count <= len(first):
            return first[:count]
        price = solution.multiplier
        branch = self.whole_market().branch_spend(price)
        lower = self.bounds.lower
        with np.errstate(invalid="ignore"):
            indifference = np.abs(
                self.curves.value(branch) - price * branch - (self.curves.value(lower) - price * lower)
            )
        jumpy = np.flatnonzero(self.jumpy)
        ordered = jumpy[np.argsort(np.nan_to_num(indifference[jumpy], nan=np.inf), kind="stable")]
        return (first + [int(i) for i in ordered[:count] if i != solution.straddler])[:count]


def _stretch_bound(one: ResponseCurves, budget: float, a: float, b: float, lines) -> tuple[float, float]:
    """``max over s in [a, b] of f(s) + min_k (price_k * (budget - s) + lagrangian_k)``, and its maximizer.

    ``one`` is the free campaign's curve, convex on ``[a, b]``; the min is piecewise linear, so
    the maximum is at ``a``, ``b`` or where two lines meet.
    """
    price, _, lagrangian = (np.array(column) for column in zip(*lines))
    with np.errstate(divide="ignore", invalid="ignore"):
        meet = budget - (lagrangian[None, :] - lagrangian[:, None]) / (price[:, None] - price[None, :])
    points = np.concatenate([[a, b], meet[(meet > a) & (meet < b)]])
    cut = np.min(price[None, :] * (budget - points[:, None]) + lagrangian, axis=1)
    bound = one.value(points[:, None])[:, 0] + cut
    k = int(np.argmax(bound))
    return float(bound[k]), float(points[k])


def _price_for(lines, target: float) -> float | None:
    """A log price at which the rest's demand should be about ``target``, from the prices tried.

    Interpolates log price linearly in demand between the tried prices around ``target``, or
    steps beyond them (along the secant of the nearest two, at most by 1); ``None`` if the
    answer is a price already tried (demand jumps over ``target`` there).
    """
    price, demand, _ = (np.array(column) for column in zip(*lines))
    order = np.argsort(price)
    log_price, demand = np.log(price[order]), demand[order]  # demand falls as the price rises
    above, below = np.flatnonzero(demand >= target), np.flatnonzero(demand <= target)
    if above.size and below.size:
        i, m = above[-1], below[0]
        t = 0.0 if demand[i] == demand[m] else (demand[i] - target) / (demand[i] - demand[m])
        guess = log_price[i] + t * (log_price[m] - log_price[i])
    else:
        i = above[-1] if above.size else below[0]
        step = 1.0 if above.size else -1.0
        m = i - 1 if above.size else i + 1
        if 0 <= m < demand.size and log_price[i] != log_price[m]:
            slope = (demand[i] - demand[m]) / (log_price[i] - log_price[m])
            if slope < 0:
                step = float(np.clip((target - demand[i]) / slope, -1.0, 1.0))
        guess = log_price[i] + step
    if np.min(np.abs(log_price - guess)) <= 1e-12 * max(1.0, abs(guess)):
        return None
    return float(guess)


def improve(curves: ResponseCurves, bounds: SpendBounds, budget: float, relaxed: BudgetSolution):
    """The best allocation found from the relaxed one, and a phrase on how it was found.

    Starts from the better of the relaxed solution and the best single-campaign
    concentration, then tries each candidate campaign in turn (switched off, switched on,
    set free), keeping every improvement; a candidate whose dual bound (``Repair.freed_bounds``)
    shows that none of its re-solves can improve on the best allocation is skipped. Returns
    ``(solution, nit, description)``; ``nit`` counts the demand evaluations of all re-solves.
    """
    repair = Repair(curves, bounds, budget)
    best = max([relaxed, repair.concentrated()], key=repair.value)
    best_value = repair.value(best)
    small = len(curves) <= LOCAL_SEARCH_MAX_CAMPAIGNS
    candidates = repair.candidates(relaxed, CANDIDATES if small else 1)
    bounded_for, freed = None, None
    for k, j in enumerate(candidates):
        if small:
            if bounded_for is not best:  # one pass bounds every candidate; again after each improvement
                bounded_for, freed = best, repair.freed_bounds(best, candidates)
            if freed[k] <= best_value * (1 + _IMPROVEMENT_RTOL):
                continue
        start = best
        tries = repair.switch(start.spend, j, start.multiplier)
        for solution in tries:
            value = repair.value(solution)
            if value > best_value * (1 + _IMPROVEMENT_RTOL):
                best, best_value = solution, value
        if small:
            prices = [t.multiplier for t in tries if t is not None] + [start.multiplier]
            solution = repair.free(start.spend, j, best_value * (1 + _IMPROVEMENT_RTOL), prices)
            value = repair.value(solution)
            if value > best_value * (1 + _IMPROVEMENT_RTOL):
                best, best_value = solution, value
    if small:
        how = f"local search over which S-shaped campaigns spend ({repair.solves} re-solves)"
    else:
        how = "the campaign left on a straight envelope segment switched off or onto its concave branch"
    return best, repair.nit, how


def solve(curves: ResponseCurves, bounds: SpendBounds, budget: float) -> tuple[BudgetSolution, str | None]:
    """The relaxed solution, improved by ``improve`` when it left a straddler.

    Returns the solution (its ``upper_bound`` the relaxation's dual bound, tightened by
    ``optimizer.branching`` for up to ``BRANCH_MAX_CAMPAIGNS`` campaigns; its ``nit`` all the
    work) and a phrase on the repair (``None`` when the relaxation was already exact).
    """
    relaxed = solve_budget(curves, bounds, budget)
    if relaxed.straddler is None:
        return relaxed, None
    best, nit, how = improve(curves, bounds, budget, relaxed)
    bound = relaxed.upper_bound
    if len(curves) <= BRANCH_MAX_CAMPAIGNS:
        best, bound, boxes, more = branch_and_bound(curves, bounds, budget, relaxed, best)
        nit += more
        how += f", and branch and bound over {boxes} boxes" if boxes else ""
    return replace(best, upper_bound=bound, nit=relaxed.nit + nit, straddler=None), how
