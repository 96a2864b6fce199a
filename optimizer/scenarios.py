"""Scenario helpers beyond a fixed budget: spend set by a target marginal ROAS or a target value.

Both rest on the price machinery of ``optimizer.lagrangian``. At any price ``lam`` the
demand (each campaign's spend maximizing ``value - lam * spend``) is an *optimal*
allocation of its own total: whatever else spends that total has at most ``lam * total +
sum_i max_s (f_i(s) - lam s)``, which the demand attains. So walking the price traces the
optimal value as a function of the budget, for any curve shape, except across the jumps
where an S-shaped campaign enters.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from optimizer.allocation import Allocation, allocate
from optimizer.constraints import spend_bounds
from optimizer.curves import ResponseCurves
from optimizer.errors import InfeasibleAllocationError
from optimizer.lagrangian import Market
from optimizer.validation import non_negative_number

_LOG_PRICE_LIMIT = 700.0
_PRICE_STEPS = 200
_BUDGET_RTOL = 1e-9  # the budget search stops when its bracket is this narrow (relative)
_BUDGET_STEPS = 60


def spend_for_marginal_roas(curves: ResponseCurves, target: float, upper=None, lower=None) -> np.ndarray:
    """Spend per campaign when every campaign spends until its marginal ROAS falls to ``target``.

    Precisely: the spend in ``[lower, upper]`` maximizing ``value(s) - target * s`` (keep
    adding spend while each extra unit returns at least ``target``). For a concave curve that
    is where its marginal equals ``target`` (``lower`` if it starts below, ``upper`` if it
    never gets there); an S-shaped campaign spends ``lower`` unless entering pays off at that
    rate as a whole. The sum is the budget whose optimal allocation has marginal ROAS
    ``target``: ``allocate(curves, s.sum(), lower, upper)`` returns the same spend, and so
    does ``allocate(curves, B, lower, upper, min_marginal_roas=target)`` for any ``B >= s.sum()``.
    """
    try:
        price = float(target)
    except (TypeError, ValueError):
        raise ValueError(f"target must be a number, got {target!r}") from None
    if not np.isfinite(price) or price <= 0:
        raise ValueError(f"target marginal ROAS must be positive and finite, got {price!r}")
    return Market(curves, spend_bounds(len(curves), lower=lower, upper=upper)).demand(price)


def min_spend_for_value(curves: ResponseCurves, target_value: float, lower=None, upper=None) -> Allocation:
    """The cheapest allocation whose expected value reaches ``target_value`` (per day).

    Returns the ``Allocation`` of the smallest total budget whose optimal allocation within
    ``[lower, upper]`` has expected value ``target_value`` (its ``spend.sum()`` is that
    budget; its ``lagrange_multiplier`` the marginal ROAS of the last unit spent).

    Concave curves: the price is searched until the demand's value equals the target, which
    makes the budget exact. S-shaped curves can make the optimal value jump with the budget
    (a campaign entering); then the budget is bisected between the certified bounds with
    ``allocate``, and the message states the budget below which the target is certainly
    unreachable.

    Raises:
        InfeasibleAllocationError: ``target_value`` is more than the campaigns can reach
            within their upper bounds (the message says how much they can reach).
        ValueError: malformed input.
    """
    if not isinstance(curves, ResponseCurves):
        raise TypeError(f"curves must be a ResponseCurves set (e.g. HillCurve), got {type(curves).__name__}")
    if len(curves) == 0:
        raise ValueError("curves hold no campaigns")
    target = non_negative_number(target_value, "target_value")
    bounds = spend_bounds(len(curves), lower=lower, upper=upper)
    floor_value = float(curves.value(bounds.lower).sum())
    if target <= floor_value:
        plan = allocate(curves, float(bounds.lower.sum()), bounds.lower, bounds.upper)
        return _noted(plan, f"target_value {target:.2f} is met at the lower bounds (value {floor_value:.2f})")
    reachable = float(curves.value(bounds.upper).sum())
    unbounded = bool(np.isinf(bounds.upper).any())
    if target > reachable or (unbounded and target >= reachable):
        within = "within their upper bounds" if not unbounded else "at any finite spend (saturation)"
        raise InfeasibleAllocationError(
            f"target_value {target:.2f} is out of reach: the campaigns reach at most {reachable:.2f} {within}"
        )
    if not unbounded and target >= reachable * (1 - 1e-15):
        plan = allocate(curves, float(bounds.upper.sum()), bounds.lower, bounds.upper)
        return _noted(plan, f"target_value {target:.2f} needs every campaign at its upper bound")

    market = Market(curves, bounds)
    poor, rich = _value_bracket(market, target)  # (budget, value) with value < target <= value
    if rich[0] - poor[0] <= _BUDGET_RTOL * rich[0] or market.jumpy.size == 0:
        plan = allocate(curves, rich[0], bounds.lower, bounds.upper)
        return _noted(plan, f"minimum spend {rich[0]:.2f} for target_value {target:.2f}")

    # S-shaped campaigns: the optimal value jumps between the two budgets. Below the concave
    # envelope's crossing no allocation reaches the target; search up from there with allocate.
    certain = poor[0] + (target - poor[1]) / (rich[1] - poor[1]) * (rich[0] - poor[0])
    best = allocate(curves, rich[0], bounds.lower, bounds.upper)
    low, high = certain, rich[0]
    f_low = allocate(curves, low, bounds.lower, bounds.upper).expected_value - target
    f_high = best.expected_value - target
    side = 0
    for _ in range(_BUDGET_STEPS):  # Illinois regula falsi on the budget, bisection as fallback
        if high - low <= _BUDGET_RTOL * high:
            break
        middle = high - f_high * (high - low) / (f_high - f_low) if f_high > f_low else 0.5 * (low + high)
        if not low < middle < high:
            middle = 0.5 * (low + high)
        plan = allocate(curves, middle, bounds.lower, bounds.upper)
        excess = plan.expected_value - target
        if excess >= 0:
            best, high, f_high = plan, middle, excess
            f_low = f_low / 2 if side == 1 else f_low
            side = 1
        else:
            low, f_low = middle, excess
            f_high = f_high / 2 if side == -1 else f_high
            side = -1
    return _noted(
        best,
        f"spend {best.spend.sum():.2f} reaches target_value {target:.2f}; S-shaped curves: no allocation "
        f"spending less than {certain:.2f} reaches it (certified), between the two found by bisection",
    )


def _value_bracket(market: Market, target: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """Two prices' demands, as ``(budget, value)``: the first's value below ``target``, the second's at or above.

    The value of the demand falls as the price rises; the search is on ``log(price)``,
    expanding to a bracket, then bisecting until the budgets or the prices meet.
    """

    def at(log_price: float) -> tuple[float, float]:
        spend = market.demand(float(np.exp(log_price)))
        return float(spend.sum()), float(market.curves.value(spend).sum())

    curves, lower = market.curves, market.lower
    marginal = curves.marginal(np.maximum(lower, market.branch_floor))
    usable = marginal[np.isfinite(marginal) & (marginal > 0)]
    log_price = float(np.log(np.median(usable))) if usable.size else 0.0
    point = at(log_price)
    step, high_price, low_price = 1.0, None, None  # high price: value below target
    for _ in range(_PRICE_STEPS):
        if point[1] >= target:
            low_price, rich = log_price, point
            if high_price is not None:
                break
            log_price += step
        else:
            high_price, poor = log_price, point
            if low_price is not None:
                break
            log_price -= step
        step *= 2.0
        if abs(log_price) > _LOG_PRICE_LIMIT:
            raise InfeasibleAllocationError(f"target_value {target:.2f}: no price reaches it")
        point = at(log_price)
    for _ in range(_PRICE_STEPS):
        if rich[0] - poor[0] <= 0.5 * _BUDGET_RTOL * rich[0]:
            break
        middle = 0.5 * (low_price + high_price)
        if not low_price < middle < high_price:
            break
        point = at(middle)
        if point[1] >= target:
            low_price, rich = middle, point
        else:
            high_price, poor = middle, point
    return poor, rich


def _noted(plan: Allocation, note: str) -> Allocation:
    """``plan`` with ``note`` in front of its message."""
    return replace(plan, message=f"{note}; {plan.message}")
