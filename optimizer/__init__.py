"""MBO's optimizer: response curves, curve fitting and budget allocation (numpy/scipy/pandas only).

Typical use::

    curves = fit_response_curves(daily)          # one Hill curve per campaign
    plan = allocate(curves, total_budget=5000, current=current, max_change=0.3)
    plan.spend, plan.expected_value, plan.optimality_gap
    low, high = curves.uplift_interval(current, plan.spend)    # 90% interval of the uplift
    cheapest = min_spend_for_value(curves, target_value=8000)  # scenarios

Arrays follow the order of the curves (``curves.campaign_ids`` for fitted curves).
"""

from optimizer.allocation import Allocation, allocate
from optimizer.curves import ExponentialCurve, HillCurve, ResponseCurves
from optimizer.errors import InfeasibleAllocationError
from optimizer.fitted import FittedCurves
from optimizer.fitting import fit_response_curves
from optimizer.groups import SpendGroup
from optimizer.scenarios import min_spend_for_value, spend_for_marginal_roas

__all__ = [
    "Allocation",
    "ExponentialCurve",
    "FittedCurves",
    "HillCurve",
    "InfeasibleAllocationError",
    "ResponseCurves",
    "SpendGroup",
    "allocate",
    "fit_response_curves",
    "min_spend_for_value",
    "spend_for_marginal_roas",
]
