"""Branch and bound on the boxes of S-shaped campaigns: a tight certificate for small problems.

The Lagrangian relaxation's dual bound (``optimizer.lagrangian``) is loose by at most what
the concave envelope of the one campaign it leaves on a straight envelope segment (the
*straddler*) adds over its curve. Splitting that campaign's box at its inflection point (or,
inside its convex stretch, at the spend the relaxation gave it) gives two boxes on which the
envelope hugs the curve more closely. Every box's dual bound holds for every allocation in
the box (weak duality), and the boxes partition the original one, so the largest bound over
the leaves certifies the whole problem. Best first: the leaf with the largest bound is split
next, until every leaf's bound is within ``BRANCH_RTOL`` of the best allocation found, or
``BRANCH_MAX_NODES`` boxes are solved, or ``BRANCH_STALL`` boxes in a row leave the largest
bound where it was. Each box's allocation sums to the budget within the
original bounds, so it is feasible and replaces the best one when it is better.
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np

from optimizer.constraints import SpendBounds
from optimizer.curves import ResponseCurves
from optimizer.lagrangian import BudgetSolution, solve_budget

BRANCH_MAX_CAMPAIGNS = 1_000  # as the local search; larger problems keep the relaxation's bound (tight relative to their size)
BRANCH_MAX_NODES = 64  # boxes solved at most (random problems of up to 400 campaigns need under 30)
BRANCH_RTOL = 1e-9  # a leaf whose bound is this close to the best allocation needs no split
# Boxes solved in a row without lowering the largest bound before giving up: with many identical
# S-shaped campaigns every split leaves a twin straddling at the same bound, and the tree would
# need 2^twins leaves to make progress.
BRANCH_STALL = 16


def branch_and_bound(
    curves: ResponseCurves, bounds: SpendBounds, budget: float, relaxed: BudgetSolution, best: BudgetSolution
) -> tuple[BudgetSolution, float, int, int]:
    """Tighten ``relaxed``'s dual bound by splitting straddlers' boxes, starting from the allocation ``best``.

    Returns the best allocation found (``best`` or better), the certified upper bound (never
    above ``relaxed.upper_bound``), the number of boxes solved and their demand evaluations.
    """
    best_value = _value(curves, best)
    order = itertools.count()  # ties in the heap are broken by insertion order
    heap = [(-relaxed.upper_bound, next(order), bounds.lower, bounds.upper, relaxed)]
    settled = best_value  # the largest bound of the leaves closed so far
    nodes = nit = 0
    lowest, stalled = relaxed.upper_bound, 0  # the largest bound's lowest level yet, boxes since it fell
    while heap and nodes < BRANCH_MAX_NODES and stalled < BRANCH_STALL:
        bound = -heap[0][0]
        if bound <= best_value + BRANCH_RTOL * abs(best_value):
            break
        if bound < lowest - BRANCH_RTOL * abs(lowest):
            lowest, stalled = bound, 0
        _, _, lower, upper, solution = heapq.heappop(heap)
        if solution.straddler is None:  # the relaxation is exact on this box: its bound is its value
            settled = max(settled, bound)
            continue
        for child_lower, child_upper in _split(curves, lower, upper, solution):
            if child_lower.sum() > budget or child_upper.sum() < budget:
                continue  # no allocation in this box spends the budget
            child = solve_budget(curves, SpendBounds(child_lower, child_upper), budget, solution.multiplier)
            nodes, nit, stalled = nodes + 1, nit + child.nit, stalled + 1
            value = _value(curves, child)
            if value > best_value:
                best, best_value = child, value
            heapq.heappush(heap, (-min(child.upper_bound, bound), next(order), child_lower, child_upper, child))
    leaves = [-entry[0] for entry in heap]
    certified = min(max([settled, best_value, *leaves]), relaxed.upper_bound)
    return best, certified, nodes, nit


def _split(curves: ResponseCurves, lower: np.ndarray, upper: np.ndarray, solution: BudgetSolution):
    """The straddler's box cut in two: at its inflection if that is inside, else at its spend (else halved)."""
    j = solution.straddler
    inflection = float(curves.take([j]).inflection()[0])
    low, high = float(lower[j]), float(upper[j])
    if low < inflection < high:
        cut = inflection
    elif low < solution.spend[j] < high:
        cut = float(solution.spend[j])
    else:
        cut = (low + high) / 2 if np.isfinite(high) else 2 * low + 1.0
    left_upper, right_lower = upper.copy(), lower.copy()
    left_upper[j], right_lower[j] = cut, cut
    return (lower, left_upper), (right_lower, upper)


def _value(curves: ResponseCurves, solution: BudgetSolution) -> float:
    return float(curves.value(solution.spend).sum())
