"""Per-campaign spend bounds from lower/upper, max_change around current spend, and locks.

Everything the allocator accepts as a per-campaign constraint is reduced here to one box
``[lower_i, upper_i]`` per campaign; conflicts raise ``InfeasibleAllocationError`` naming them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.errors import InfeasibleAllocationError
from optimizer.validation import check_range, float_array, non_negative_number

# Relative slack when comparing sums of bounds with the budget (floating-point noise).
BUDGET_RTOL = 1e-9


@dataclass(frozen=True, eq=False)
class SpendBounds:
    """One spend interval ``[lower[i], upper[i]]`` per campaign (``upper`` may be ``inf``)."""

    lower: np.ndarray
    upper: np.ndarray


def check_budget(total_budget) -> float:
    """``total_budget`` as a float; ValueError unless it is a finite, non-negative number."""
    return non_negative_number(total_budget, "total_budget")


def _first_conflict(lower: np.ndarray, upper: np.ndarray) -> int | None:
    bad = np.flatnonzero(lower > upper)
    return int(bad[0]) if bad.size else None


def _locked_mask(locked, n: int) -> np.ndarray:
    """A boolean mask from a mask or a list of campaign indices."""
    array = np.asarray(locked)
    if array.dtype == bool:
        if array.shape != (n,):
            raise ValueError(f"locked mask has shape {array.shape} but there are {n} campaigns")
        return array
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError("locked must be a boolean mask or a list of campaign indices")
    indices = array.astype(int).ravel()
    outside = indices[(indices < 0) | (indices >= n)]
    if outside.size:
        raise ValueError(f"locked index {int(outside[0])} is out of range for {n} campaigns")
    mask = np.zeros(n, dtype=bool)
    mask[indices] = True
    return mask


def spend_bounds(n: int, lower=None, upper=None, current=None, max_change=None, locked=None) -> SpendBounds:
    """Intersect the per-campaign constraints into one box per campaign.

    ``lower``/``upper`` default to 0 and ``inf``. ``max_change`` (scalar or per campaign, >= 0)
    narrows each box to ``current * (1 ± max_change)``; ``locked`` campaigns are pinned to
    ``current``. Both need ``current``. Raises ``InfeasibleAllocationError`` when a box is empty.
    """
    lo = check_range(float_array(0.0 if lower is None else lower, "lower", n), "lower")
    hi = check_range(float_array(np.inf if upper is None else upper, "upper", n), "upper", allow_inf=True)
    bad = _first_conflict(lo, hi)
    if bad is not None:
        raise InfeasibleAllocationError(f"campaign {bad}: lower bound {lo[bad]:.2f} is above upper bound {hi[bad]:.2f}")
    if current is None:
        if max_change is not None or locked is not None:
            raise ValueError("max_change and locked need current (the current spend of every campaign)")
        return SpendBounds(lo, hi)
    now = check_range(float_array(current, "current", n), "current")
    if max_change is not None:
        change = check_range(float_array(max_change, "max_change", n), "max_change")
        new_lo = np.maximum(lo, now * (1.0 - change))
        new_hi = np.minimum(hi, now * (1.0 + change))
        bad = _first_conflict(new_lo, new_hi)
        if bad is not None:
            raise InfeasibleAllocationError(
                f"campaign {bad}: lower bound {new_lo[bad]:.2f} is above upper bound {new_hi[bad]:.2f} "
                f"after applying max_change={change[bad]:g} to current {now[bad]:.2f} "
                f"(bounds were [{lo[bad]:.2f}, {hi[bad]:.2f}])"
            )
        lo, hi = new_lo, new_hi
    if locked is not None:
        mask = _locked_mask(locked, n)
        outside = np.flatnonzero(mask & ((now < lo) | (now > hi)))
        if outside.size:
            i = int(outside[0])
            raise InfeasibleAllocationError(
                f"campaign {i} is locked at current {now[i]:.2f}, outside its bounds [{lo[i]:.2f}, {hi[i]:.2f}]"
            )
        lo = np.where(mask, now, lo)
        hi = np.where(mask, now, hi)
    return SpendBounds(lo, hi)


def check_budget_fits(bounds: SpendBounds, budget: float, note: str = "") -> None:
    """Raise ``InfeasibleAllocationError`` when no spend within the bounds sums to ``budget``.

    ``note`` is appended to the bound sums in the message, e.g. " (after max_change)".
    """
    slack = BUDGET_RTOL * max(budget, 1.0)
    low_sum, high_sum = float(bounds.lower.sum()), float(bounds.upper.sum())
    if low_sum > budget + slack:
        raise InfeasibleAllocationError(f"sum of lower bounds{note} {low_sum:.2f} exceeds total_budget {budget:.2f}")
    if high_sum < budget - slack:
        raise InfeasibleAllocationError(f"sum of upper bounds{note} {high_sum:.2f} is below total_budget {budget:.2f}")
