"""Scenario helpers beyond a fixed budget: spend levels set by a target marginal ROAS."""

from __future__ import annotations

import numpy as np

from optimizer.constraints import spend_bounds
from optimizer.curves import ResponseCurves
from optimizer.lagrangian import Market


def spend_for_marginal_roas(curves: ResponseCurves, target: float, upper=None) -> np.ndarray:
    """Spend per campaign when every campaign spends until its marginal ROAS falls to ``target``.

    Precisely: the spend in ``[0, upper]`` maximizing ``value(s) - target * s`` (keep adding
    spend while each extra unit returns at least ``target``). For a concave curve that is where
    its marginal equals ``target`` (0 if it starts below, ``upper`` if it never gets there);
    an S-shaped campaign spends 0 unless entering pays off at that rate as a whole. The sum
    is the budget whose optimal allocation has marginal ROAS ``target``.
    """
    try:
        price = float(target)
    except (TypeError, ValueError):
        raise ValueError(f"target must be a number, got {target!r}") from None
    if not np.isfinite(price) or price <= 0:
        raise ValueError(f"target marginal ROAS must be positive and finite, got {price!r}")
    return Market(curves, spend_bounds(len(curves), upper=upper)).demand(price)
