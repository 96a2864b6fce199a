"""Improving an allocation when some curves are S-shaped (Hill shape > 1, not concave).

The Lagrangian relaxation (``optimizer.lagrangian``) solves the problem on the concave
envelopes. Its spend is exact on the true curves except for at most one *straddler*, left on
the straight part of its envelope, and its choice of which S-shaped campaigns spend at all
may be off when few campaigns share the budget. This module fixes both by local search over
*regimes*: every S-shaped campaign is either off (at its lower bound) or on (on its concave
branch), which makes the rest a concave problem solved exactly by ``solve_budget``; one
campaign at a time is set *free*, its spend searched over its whole range (grid, then
bounded Brent) with the others re-solved for the remaining budget. Every step keeps a
feasible allocation and only accepts improvements; the dual bound of the relaxation still
certifies the result.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.optimize import minimize_scalar

from optimizer.constraints import SpendBounds
from optimizer.curves import ResponseCurves
from optimizer.lagrangian import BudgetSolution, solve_budget

LOCAL_SEARCH_MAX_CAMPAIGNS = 1_000  # above this, only the straddler is repaired (off or on)
CANDIDATES = 6  # S-shaped campaigns tried: the straddler, then the most nearly indifferent
GRID_POINTS = 8
_IMPROVEMENT_RTOL = 1e-9  # smaller gains do not count as progress (they are polishing noise)


class Repair:
    """Local search over the regimes of S-shaped campaigns, starting from the relaxed solution."""

    def __init__(self, curves: ResponseCurves, bounds: SpendBounds, budget: float):
        self.curves, self.bounds, self.budget = curves, bounds, budget
        self.floor = np.minimum(np.maximum(bounds.lower, curves.inflection()), bounds.upper)
        self.jumpy = self.floor > bounds.lower  # box holds a convex stretch
        self.nit = 0
        self.solves = 0
        self.price = None  # the last clearing price: where the next search starts

    def value(self, solution: BudgetSolution | None) -> float:
        """Total value of a solution on the true curves (-inf for none)."""
        return -np.inf if solution is None else float(self.curves.value(solution.spend).sum())

    def solve(self, lower: np.ndarray, upper: np.ndarray) -> BudgetSolution | None:
        """The optimum with each campaign in the given (concave) box, or None if infeasible."""
        if lower.sum() > self.budget or upper.sum() < self.budget:
            return None
        solution = solve_budget(self.curves, SpendBounds(lower, upper), self.budget, self.price)
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

    def switch(self, spend: np.ndarray, j: int) -> list[BudgetSolution | None]:
        """Re-solves with campaign ``j`` off, and with it on its concave branch (the rest as they are)."""
        lower, upper = self.regimes(spend)
        off_lower, off_upper = lower.copy(), upper.copy()
        off_lower[j] = off_upper[j] = self.bounds.lower[j]
        on_lower, on_upper = lower.copy(), upper.copy()
        on_lower[j], on_upper[j] = self.floor[j], self.bounds.upper[j]
        return [self.solve(off_lower, off_upper), self.solve(on_lower, on_upper)]

    def free(self, spend: np.ndarray, j: int) -> BudgetSolution | None:
        """Best spend for campaign ``j`` anywhere in its box, the rest re-solved for what is left."""
        lower, upper = self.regimes(spend)
        rest_low, rest_high = np.delete(lower, j).sum(), np.delete(upper, j).sum()
        low = max(self.bounds.lower[j], self.budget - rest_high)
        high = min(self.bounds.upper[j], self.budget - rest_low)
        if not low <= high:
            return None
        found: dict[float, BudgetSolution | None] = {}

        def loss(s: float) -> float:
            lower[j] = upper[j] = s
            found[s] = self.solve(lower, upper)
            return -self.value(found[s])

        grid = np.unique(np.clip([*np.linspace(low, high, GRID_POINTS), spend[j], self.floor[j]], low, high))
        losses = [loss(s) for s in grid]
        k = int(np.argmin(losses))
        if grid.size > 2:
            bracket = (grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)])
            tolerance = 1e-7 * max(self.budget, 1.0)
            minimize_scalar(loss, bounds=bracket, method="bounded", options={"xatol": tolerance, "maxiter": 20})
        return max(found.values(), key=self.value)

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

    def candidates(self, solution: BudgetSolution) -> list[int]:
        """S-shaped campaigns, the straddler first, then by how nearly indifferent they are at the price."""
        price = solution.multiplier
        branch = np.clip(self.curves.inverse_marginal(price), self.floor, self.bounds.upper)
        lower = self.bounds.lower
        with np.errstate(invalid="ignore"):
            indifference = np.abs(
                self.curves.value(branch) - price * branch - (self.curves.value(lower) - price * lower)
            )
        jumpy = np.flatnonzero(self.jumpy)
        ordered = jumpy[np.argsort(np.nan_to_num(indifference[jumpy], nan=np.inf), kind="stable")]
        first = [] if solution.straddler is None else [solution.straddler]
        return first + [int(i) for i in ordered if i != solution.straddler]


def improve(curves: ResponseCurves, bounds: SpendBounds, budget: float, relaxed: BudgetSolution):
    """The best allocation found from the relaxed one, and a phrase on how it was found.

    Starts from the better of the relaxed solution and the best single-campaign
    concentration, then tries each candidate campaign in turn (switched off, switched on,
    set free), keeping every improvement. Returns ``(solution, nit, description)``; ``nit``
    counts the demand evaluations of all re-solves.
    """
    repair = Repair(curves, bounds, budget)
    best = max([relaxed, repair.concentrated()], key=repair.value)
    best_value = repair.value(best)
    small = len(curves) <= LOCAL_SEARCH_MAX_CAMPAIGNS
    for j in repair.candidates(relaxed)[: CANDIDATES if small else 1]:
        tries = repair.switch(best.spend, j) + ([repair.free(best.spend, j)] if small else [])
        for solution in tries:
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

    Returns the solution (its ``upper_bound`` the relaxation's dual bound, its ``nit`` all the
    work) and a phrase on the repair (``None`` when the relaxation was already exact).
    """
    relaxed = solve_budget(curves, bounds, budget)
    if relaxed.straddler is None:
        return relaxed, None
    best, nit, how = improve(curves, bounds, budget, relaxed)
    return replace(best, upper_bound=relaxed.upper_bound, nit=relaxed.nit + nit, straddler=None), how
