"""allocate() on concave curves: known answers, constraints, errors and an independent solver."""

import dataclasses

import numpy as np
import pytest
from scipy.optimize import minimize

from optimizer import Allocation, ExponentialCurve, HillCurve, InfeasibleAllocationError, allocate


def assert_kkt(curves, plan, rtol=1e-6):
    """Campaigns strictly inside their bounds share the marginal; at a bound it points the right way."""
    lam = plan.lagrange_multiplier
    inside = (plan.spend > plan.lower + 1e-9) & (plan.spend < plan.upper - 1e-9)
    np.testing.assert_allclose(plan.marginal[inside], lam, rtol=rtol)
    at_lower = plan.spend <= plan.lower + 1e-9
    at_upper = plan.spend >= plan.upper - 1e-9
    assert np.all(plan.marginal[at_lower & ~at_upper] <= lam * (1 + rtol))
    assert np.all(plan.marginal[at_upper & ~at_lower] >= lam * (1 - rtol))


def slsqp_value(curves, budget, lower, upper):
    """Best value SLSQP finds from a few starts (an independent check, not the method under test)."""
    n = len(curves)
    best = -np.inf
    starts = [np.full(n, budget / n), np.random.default_rng(1).dirichlet(np.ones(n)) * budget]
    for start in starts:
        result = minimize(
            lambda s: -curves.value(np.clip(s, 0, None)).sum(),
            np.clip(start, lower, upper),
            jac=lambda s: -curves.marginal(np.clip(s, 1e-12, None)),
            bounds=list(zip(lower, upper)),
            constraints=[{"type": "eq", "fun": lambda s: s.sum() - budget, "jac": lambda s: np.ones(n)}],
            method="SLSQP",
            options={"ftol": 1e-14, "maxiter": 1000},
        )
        if abs(result.x.sum() - budget) < 1e-6 and np.all(result.x >= lower - 1e-9) and np.all(result.x <= upper + 1e-9):
            best = max(best, float(curves.value(np.clip(result.x, lower, upper)).sum()))
    return best


def test_identical_concave_curves_split_equally():
    for curves in (HillCurve([100.0] * 4, 50.0, 0.8), ExponentialCurve([30.0] * 4, 20.0)):
        plan = allocate(curves, 400.0)
        np.testing.assert_allclose(plan.spend, 100.0, rtol=1e-9)
        assert plan.success and plan.optimality_gap < 1e-9
        assert isinstance(plan, Allocation)


def test_ten_times_the_return_gets_more_spend():
    curves = HillCurve(vmax=[1000.0, 100.0, 100.0], half_saturation=50.0, shape=1.0)
    plan = allocate(curves, 300.0)
    assert plan.spend[0] > 2 * plan.spend[1]
    np.testing.assert_allclose(plan.spend[1], plan.spend[2], rtol=1e-9)
    # Known answer for shape 1: equal marginals vmax*K/(s+K)^2 give s0 + K = sqrt(10) (s1 + K).
    np.testing.assert_allclose(plan.spend[0] + 50.0, np.sqrt(10.0) * (plan.spend[1] + 50.0), rtol=1e-9)
    np.testing.assert_allclose(plan.spend.sum(), 300.0, rtol=1e-12)
    assert_kkt(curves, plan)


def test_binding_upper_and_lower_bounds_hold_exactly():
    curves = HillCurve(vmax=[1000.0, 200.0, 200.0, 10.0], half_saturation=50.0, shape=0.9)
    lower = np.array([0.0, 0.0, 0.0, 120.0])
    upper = np.array([80.0, np.inf, np.inf, np.inf])
    plan = allocate(curves, 1000.0, lower=lower, upper=upper)
    assert plan.spend[0] == 80.0
    assert plan.spend[3] == 120.0
    np.testing.assert_allclose(plan.spend.sum(), 1000.0, atol=1e-6)
    assert np.all(plan.spend >= lower) and np.all(plan.spend <= upper)
    assert_kkt(curves, plan)


def test_scalar_bounds_broadcast():
    curves = HillCurve(vmax=[1000.0, 10.0, 10.0], half_saturation=50.0)
    plan = allocate(curves, 300.0, lower=20.0, upper=200.0)
    assert plan.spend[0] == 200.0
    np.testing.assert_allclose(plan.spend[1:], 50.0)


def test_max_change_keeps_every_campaign_within_thirty_percent():
    rng = np.random.default_rng(7)
    n = 50
    curves = HillCurve(rng.uniform(100, 2000, n), rng.uniform(20, 300, n), rng.uniform(0.5, 1.0, n))
    current = rng.uniform(10, 200, n)
    total = current.sum()
    plan = allocate(curves, total, current=current, max_change=0.3)
    assert np.all(plan.spend >= current * 0.7 * (1 - 1e-12))
    assert np.all(plan.spend <= current * 1.3 * (1 + 1e-12))
    assert abs(plan.spend.sum() - total) <= 1e-6
    assert np.any(np.isclose(plan.spend, current * 1.3)) and np.any(np.isclose(plan.spend, current * 0.7))
    assert plan.expected_value >= curves.value(current).sum()
    assert_kkt(curves, plan)


def test_locked_campaigns_stay_at_current():
    curves = HillCurve(vmax=[500.0, 500.0, 500.0, 500.0], half_saturation=40.0, shape=0.7)
    current = np.array([10.0, 90.0, 50.0, 50.0])
    for locked in ([0, 1], np.array([True, True, False, False])):
        plan = allocate(curves, 200.0, current=current, locked=locked)
        assert plan.spend[0] == 10.0 and plan.spend[1] == 90.0
        np.testing.assert_allclose(plan.spend[2:], 50.0)
    plan = allocate(curves, 240.0, current=current, locked=[1], max_change=0.5)
    assert plan.spend[1] == 90.0
    assert abs(plan.spend.sum() - 240.0) <= 1e-6


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"total_budget": 1000.0, "lower": [600.0, 600.0, 0.0]}, "sum of lower bounds 1200.00 exceeds total_budget 1000.00"),
        ({"total_budget": 1000.0, "upper": [300.0, 300.0, 200.0]}, "sum of upper bounds 800.00 is below total_budget 1000.00"),
        ({"total_budget": 100.0, "lower": [0, 0, 50.0], "upper": [10, 10, 40.0]}, "campaign 2: lower bound 50.00 is above upper bound 40.00"),
        (
            {"total_budget": 100.0, "lower": [0, 0, 50.0], "current": [30.0, 30.0, 20.0], "max_change": 0.3},
            "campaign 2: lower bound 50.00 is above upper bound 26.00 after applying max_change=0.3 to current 20.00",
        ),
        (
            {"total_budget": 100.0, "current": [10.0, 10.0, 10.0], "max_change": 0.3},
            "sum of upper bounds (after applying max_change/locked) 39.00 is below total_budget 100.00",
        ),
        ({"total_budget": 100.0, "upper": 50.0, "current": [80.0, 10.0, 10.0], "locked": [0]}, "campaign 0 is locked at current 80.00"),
    ],
)
def test_infeasible_constraints_name_the_conflict(kwargs, message):
    curves = HillCurve([100.0, 100.0, 100.0], 10.0)
    with pytest.raises(InfeasibleAllocationError) as info:
        allocate(curves, **kwargs)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"total_budget": np.nan}, "total_budget"),
        ({"total_budget": -5.0}, "total_budget"),
        ({"total_budget": np.inf}, "total_budget"),
        ({"total_budget": 10.0, "lower": [0.0, np.nan, 0.0]}, r"lower.*campaign 1"),
        ({"total_budget": 10.0, "upper": [1.0, 2.0]}, "2 elements but there are 3 campaigns"),
        ({"total_budget": 10.0, "max_change": 0.3}, "need current"),
        ({"total_budget": 10.0, "current": [1.0, -1.0, 1.0]}, r"current.*campaign 1"),
        ({"total_budget": 10.0, "current": [1.0, 1.0, 1.0], "locked": [5]}, "out of range"),
    ],
)
def test_bad_input_raises_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        allocate(HillCurve([100.0, 100.0, 100.0], 10.0), **kwargs)


def test_nan_curve_parameters_raise_value_error():
    with pytest.raises(ValueError, match=r"vmax.*campaign 2"):
        allocate(HillCurve([1.0, 2.0, np.nan], 1.0), 10.0)


def test_edge_budgets():
    curves = HillCurve([100.0, 50.0], 10.0)
    zero = allocate(curves, 0.0)
    np.testing.assert_array_equal(zero.spend, 0.0)
    assert zero.expected_value == 0.0 and zero.success
    fixed = allocate(curves, 30.0, lower=[10.0, 20.0])
    np.testing.assert_array_equal(fixed.spend, [10.0, 20.0])
    assert fixed.optimality_gap == 0.0


def test_allocation_is_frozen():
    plan = allocate(HillCurve([1.0, 2.0], 1.0), 3.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.spend = np.zeros(2)


@pytest.mark.parametrize("seed", range(6))
def test_matches_slsqp_and_gap_is_consistent(seed):
    rng = np.random.default_rng(seed)
    n = 6
    if seed % 2:
        curves = HillCurve(rng.uniform(50, 1000, n), rng.uniform(10, 200, n), rng.uniform(0.5, 1.0, n))
    else:
        curves = ExponentialCurve(rng.uniform(50, 1000, n), rng.uniform(10, 200, n))
    lower = rng.uniform(0, 20, n) * (rng.random(n) < 0.5)
    upper = np.where(rng.random(n) < 0.5, rng.uniform(60, 150, n), np.inf)
    budget = float(rng.uniform(200, 500))
    plan = allocate(curves, budget, lower=lower, upper=upper)
    reference = slsqp_value(curves, budget, lower, np.minimum(upper, budget))
    assert plan.expected_value >= reference * (1 - 1e-6)
    assert plan.upper_bound >= reference * (1 - 1e-12)
    assert (reference - plan.expected_value) / plan.expected_value <= plan.optimality_gap + 1e-9
    assert plan.optimality_gap < 1e-9
    assert abs(plan.spend.sum() - budget) <= 1e-6
    assert_kkt(curves, plan)


def test_beats_a_brute_force_grid_on_two_campaigns():
    curves = HillCurve([300.0, 120.0], [80.0, 20.0], [0.6, 1.0])
    budget = 150.0
    grid = np.linspace(0, budget, 30001)
    brute = (curves.value(np.column_stack([grid, budget - grid]))).sum(axis=1).max()
    plan = allocate(curves, budget)
    assert plan.expected_value >= brute - 1e-9
    assert plan.expected_value <= brute * (1 + 1e-6)


def test_large_problem_is_solved_and_certified():
    rng = np.random.default_rng(3)
    n = 100_000
    curves = HillCurve(rng.uniform(10, 1000, n), rng.uniform(10, 500, n), rng.uniform(0.5, 1.0, n))
    current = rng.uniform(20, 200, n)
    plan = allocate(curves, current.sum(), current=current, max_change=0.3)
    assert plan.success and plan.optimality_gap < 1e-9
    assert abs(plan.spend.sum() - current.sum()) <= 1e-6 * current.sum()
    assert_kkt(curves, plan, rtol=1e-6)
