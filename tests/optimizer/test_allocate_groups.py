"""allocate() with group spend limits (disjoint sets of campaigns with a total min/max)."""

import numpy as np
import pytest
from scipy.optimize import minimize

from optimizer import HillCurve, InfeasibleAllocationError, SpendGroup, allocate

CURVES = HillCurve([1000.0, 800.0, 100.0, 100.0, 300.0], 50.0, 0.8)


def slsqp_with_groups(curves, budget, groups):
    """Best value SLSQP finds with the group limits as inequality constraints (independent check)."""
    n = len(curves)
    constraints = [{"type": "eq", "fun": lambda s: s.sum() - budget}]
    for members, lower, upper in groups:
        mask = np.zeros(n)
        mask[members] = 1.0
        constraints.append({"type": "ineq", "fun": lambda s, m=mask, lo=lower: m @ s - lo})
        if np.isfinite(upper):
            constraints.append({"type": "ineq", "fun": lambda s, m=mask, hi=upper: hi - m @ s})
    result = minimize(
        lambda s: -curves.value(np.clip(s, 0, None)).sum(),
        np.full(n, budget / n),
        jac=lambda s: -curves.marginal(np.clip(s, 1e-12, None)),
        bounds=[(0, budget)] * n,
        constraints=constraints,
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    # Status 8 ("positive directional derivative for linesearch") is SLSQP running out of precision at
    # ftol 1e-14 near the optimum (scipy 1.17 does on seed 1): its point is still a valid reference
    # as long as it is feasible.
    feasible = all(c["fun"](result.x) >= (-1e-9 if c["type"] == "ineq" else -np.inf) for c in constraints)
    assert result.success or (result.status == 8 and feasible and abs(result.x.sum() - budget) < 1e-9), result.message
    return float(curves.value(np.clip(result.x, 0, None)).sum())


def test_binding_upper_limit_caps_the_group_exactly():
    free = allocate(CURVES, 500.0)
    assert free.spend[:2].sum() > 200.0
    plan = allocate(CURVES, 500.0, groups=[SpendGroup([0, 1], upper=200.0, name="meta")])
    np.testing.assert_allclose(plan.spend[:2].sum(), 200.0, rtol=1e-12)
    np.testing.assert_allclose(plan.spend.sum(), 500.0, rtol=1e-12)
    # Inside the capped group marginals are equal, and higher than outside it.
    np.testing.assert_allclose(plan.marginal[0], plan.marginal[1], rtol=1e-8)
    np.testing.assert_allclose(plan.marginal[2:], plan.lagrange_multiplier, rtol=1e-8)
    assert plan.marginal[0] > plan.lagrange_multiplier
    assert "group 'meta' at its upper limit" in plan.message
    assert plan.optimality_gap < 1e-9


def test_binding_lower_limit_and_mapping_form():
    plan = allocate(CURVES, 500.0, groups={"small": ([2, 3], 150.0, np.inf)})
    np.testing.assert_allclose(plan.spend[2:4].sum(), 150.0, rtol=1e-12)
    assert "group 'small' at its lower limit" in plan.message
    assert plan.optimality_gap < 1e-9


def test_slack_groups_change_nothing():
    plan = allocate(CURVES, 500.0, groups=[([0, 1], 0.0, 1e6), (np.array([False, False, True, True, False]), 0.0, 1e6)])
    np.testing.assert_allclose(plan.spend, allocate(CURVES, 500.0).spend, rtol=1e-8)


@pytest.mark.parametrize("seed", range(4))
def test_matches_slsqp_with_groups(seed):
    rng = np.random.default_rng(seed)
    curves = HillCurve(rng.uniform(100, 1000, 6), rng.uniform(20, 100, 6), rng.uniform(0.5, 1.0, 6))
    groups = [([0, 1, 2], 0.0, float(rng.uniform(50, 150))), ([3, 4], float(rng.uniform(150, 250)), np.inf)]
    plan = allocate(curves, 400.0, groups=groups)
    reference = slsqp_with_groups(curves, 400.0, groups)
    assert plan.expected_value >= reference * (1 - 1e-6)
    assert plan.upper_bound >= reference * (1 - 1e-9)
    assert plan.optimality_gap < 1e-8
    assert plan.spend[:3].sum() <= groups[0][2] * (1 + 1e-12)
    assert plan.spend[3:5].sum() >= groups[1][1] * (1 - 1e-12)


def test_groups_combine_with_max_change_and_locks():
    current = np.array([100.0, 100.0, 100.0, 100.0, 100.0])
    plan = allocate(CURVES, 500.0, current=current, max_change=0.5, locked=[4], groups=[([0, 1], 0.0, 220.0)])
    assert plan.spend[4] == 100.0
    assert np.all(plan.spend >= 50.0 - 1e-12) and np.all(plan.spend <= 150.0 + 1e-12)
    assert plan.spend[:2].sum() <= 220.0 * (1 + 1e-12)
    np.testing.assert_allclose(plan.spend.sum(), 500.0, rtol=1e-12)


def test_s_shaped_curves_with_groups_are_certified():
    curves = HillCurve([300.0, 300.0, 300.0, 50.0], 100.0, [2.5, 2.5, 2.5, 0.8])
    plan = allocate(curves, 250.0, groups=[([0, 1, 2], 0.0, 200.0)])
    assert plan.spend[:3].sum() <= 200.0 * (1 + 1e-12)
    assert (plan.spend[:3] > 1e-9).sum() <= 2  # concentrated, not spread over the S-shaped three
    assert plan.upper_bound >= plan.expected_value


@pytest.mark.parametrize(
    ("groups", "error", "message"),
    [
        ([([0, 1], 0.0, 100.0)], InfeasibleAllocationError, "group 0: its campaigns' lower bounds sum to 120.00, above its upper limit 100.00"),
        ({"big": ([2], 500.0, np.inf)}, InfeasibleAllocationError, "group 'big': lower limit 500.00 is above what its campaigns may spend"),
        ([([3, 4], 900.0, np.inf)], InfeasibleAllocationError, "sum of group lower limits and lower bounds 1020.00 exceeds total_budget 500.00"),
        ([([0], 50.0, 10.0)], InfeasibleAllocationError, "group 0: lower limit 50.00 is above upper limit 10.00"),
        ([([0, 1], 0.0, 900.0), ([1, 2], 0.0, 900.0)], NotImplementedError, "overlapping groups are not supported"),
        ([([0, 9], 0.0, 900.0)], ValueError, "member index 9 is out of range"),
        ([([0, 1], np.nan, 900.0)], ValueError, "limits"),
    ],
)
def test_bad_or_conflicting_groups(groups, error, message):
    with pytest.raises(error) as info:
        allocate(CURVES, 500.0, lower=[60.0, 60.0, 0.0, 60.0, 60.0], upper=[np.inf, np.inf, 300.0, np.inf, np.inf], groups=groups)
    assert message in str(info.value)
