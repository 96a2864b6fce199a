"""min_spend_for_value() and allocate(min_marginal_roas=...): known answers and consistency."""

import numpy as np
import pytest

from optimizer import (
    ExponentialCurve,
    HillCurve,
    InfeasibleAllocationError,
    SpendGroup,
    allocate,
    min_spend_for_value,
    spend_for_marginal_roas,
)

VMAX = np.array([1000.0, 400.0, 2500.0])
HALF = np.array([100.0, 50.0, 400.0])


def shape_one_optimum(price):
    """Shape 1, equal marginals vmax K / (s + K)^2 = price: s = sqrt(vmax K / price) - K."""
    return np.sqrt(VMAX * HALF / price) - HALF


# --- min_spend_for_value -------------------------------------------------------------------


def test_one_campaign_closed_form():
    curves = HillCurve(1000.0, 100.0, 1.0)
    plan = min_spend_for_value(curves, 600.0)
    np.testing.assert_allclose(plan.spend, [600.0 * 100.0 / (1000.0 - 600.0)], rtol=1e-8)  # T K / (V - T)
    np.testing.assert_allclose(plan.expected_value, 600.0, rtol=1e-8)
    assert plan.success and "minimum spend" in plan.message


def test_several_shape_one_campaigns_closed_form():
    curves = HillCurve(VMAX, HALF, 1.0)
    target = 2500.0
    # Total value sum(vmax) - sqrt(price) * sum(sqrt(vmax K)) = target gives the price.
    price = ((VMAX.sum() - target) / np.sqrt(VMAX * HALF).sum()) ** 2
    expected = shape_one_optimum(price)
    assert np.all(expected > 0)
    plan = min_spend_for_value(curves, target)
    np.testing.assert_allclose(plan.spend, expected, rtol=1e-7)
    np.testing.assert_allclose(plan.lagrange_multiplier, price, rtol=1e-6)
    np.testing.assert_allclose(plan.expected_value, target, rtol=1e-9)
    assert plan.optimality_gap < 1e-9


def test_is_consistent_with_spend_for_marginal_roas():
    rng = np.random.default_rng(7)
    curves = HillCurve(rng.uniform(100, 1000, 25), rng.uniform(20, 200, 25), rng.uniform(0.5, 1.0, 25))
    spend = spend_for_marginal_roas(curves, 1.7)
    plan = min_spend_for_value(curves, float(curves.value(spend).sum()))
    np.testing.assert_allclose(plan.spend, spend, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(plan.lagrange_multiplier, 1.7, rtol=1e-6)


def test_upper_bounds_limit_what_is_reachable():
    curves = HillCurve(VMAX, HALF, 1.0)
    upper = np.array([100.0, 50.0, 400.0])  # each at its half-saturation: half its vmax
    reachable = VMAX.sum() / 2
    with pytest.raises(InfeasibleAllocationError, match=r"at most 1950\.00 within their upper bounds"):
        min_spend_for_value(curves, reachable + 1.0, upper=upper)
    plan = min_spend_for_value(curves, reachable, upper=upper)
    np.testing.assert_allclose(plan.spend, upper)
    with pytest.raises(InfeasibleAllocationError, match="saturation"):
        min_spend_for_value(curves, VMAX.sum())  # unbounded: approached, never reached
    plan = min_spend_for_value(curves, 0.999 * VMAX.sum())
    np.testing.assert_allclose(plan.expected_value, 0.999 * VMAX.sum(), rtol=1e-9)


def test_lower_bounds_alone_may_meet_the_target():
    curves = ExponentialCurve([100.0, 100.0], [10.0, 10.0])
    plan = min_spend_for_value(curves, 50.0, lower=[10.0, 10.0])
    np.testing.assert_allclose(plan.spend, [10.0, 10.0])
    assert "met at the lower bounds" in plan.message
    plan = min_spend_for_value(curves, 0.0)
    np.testing.assert_allclose(plan.spend, 0.0)


def test_s_shaped_single_campaign_closed_form():
    curves = HillCurve(100.0, 100.0, 2.0)
    # value T at s = K (T / (V - T))^(1/k); below the tangent point (s = K) on the convex part.
    for target in (20.0, 70.0):
        plan = min_spend_for_value(curves, target)
        np.testing.assert_allclose(plan.spend, [100.0 * np.sqrt(target / (100.0 - target))], rtol=1e-6)
        assert plan.expected_value >= target * (1 - 1e-12)


def test_s_shaped_small_target_concentrates_and_is_certified():
    curves = HillCurve([100.0] * 3, 100.0, 2.0)
    plan = min_spend_for_value(curves, 40.0)
    single = 100.0 * np.sqrt(40.0 / 60.0)  # all of it in one campaign is cheapest
    np.testing.assert_allclose(plan.spend.sum(), single, rtol=1e-6)
    assert np.count_nonzero(plan.spend > 1e-9) == 1
    certified = float(plan.message.split("less than ")[1].split(" reaches")[0])
    assert certified <= plan.spend.sum()


@pytest.mark.parametrize("target", [-1.0, np.nan, np.inf, "lots"])
def test_rejects_bad_targets(target):
    with pytest.raises(ValueError, match="target_value"):
        min_spend_for_value(HillCurve(1.0, 1.0), target)


# --- allocate(min_marginal_roas=...) -------------------------------------------------------


def test_min_marginal_roas_leaves_money_unspent_known_answer():
    curves = HillCurve(VMAX, HALF, 1.0)
    plan = allocate(curves, 10_000.0, min_marginal_roas=2.0)
    np.testing.assert_allclose(plan.spend, shape_one_optimum(2.0), rtol=1e-8)
    np.testing.assert_allclose(plan.marginal, 2.0, rtol=1e-8)
    np.testing.assert_allclose(plan.lagrange_multiplier, 2.0, rtol=1e-6)
    assert plan.spend.sum() < 10_000.0 and "spent" in plan.message and plan.success


def test_min_marginal_roas_that_does_not_bind_spends_everything():
    curves = HillCurve(VMAX, HALF, 1.0)
    budget = 0.5 * shape_one_optimum(2.0).sum()
    plan = allocate(curves, budget, min_marginal_roas=2.0)
    plain = allocate(curves, budget)
    np.testing.assert_allclose(plan.spend, plain.spend)
    assert plan.lagrange_multiplier > 2.0 and plan.message == plain.message
    np.testing.assert_allclose(allocate(curves, budget, min_marginal_roas=None).spend, plain.spend)


def test_min_marginal_roas_keeps_lower_bounds_and_max_change():
    curves = HillCurve(VMAX, HALF, 1.0)
    current = np.array([300.0, 300.0, 300.0])
    plan = allocate(curves, current.sum(), current=current, max_change=0.3, min_marginal_roas=2.0)
    expected = np.clip(shape_one_optimum(2.0), 0.7 * current, 1.3 * current)
    np.testing.assert_allclose(plan.spend, expected, rtol=1e-8)
    assert plan.spend[1] == pytest.approx(210.0)  # marginal below 2 even at its floor: stays at it
    assert plan.spend.sum() <= current.sum()


def test_min_marginal_roas_never_exceeds_the_budget():
    rng = np.random.default_rng(11)
    for trial in range(8):
        n = 15
        shapes = rng.uniform(0.5, 2.5 if trial % 4 == 0 else 1.0, n)  # some with S-shaped curves
        curves = HillCurve(rng.uniform(50, 1000, n), rng.uniform(10, 200, n), shapes)
        budget = float(rng.uniform(100, 3000))
        price = float(rng.uniform(0.2, 4.0))
        plan = allocate(curves, budget, min_marginal_roas=price)
        assert plan.spend.sum() <= budget * (1 + 1e-9)
        full = allocate(curves, budget)
        # Never worse on value net of the spend priced at min_marginal_roas.
        assert plan.expected_value - price * plan.spend.sum() >= full.expected_value - price * budget - 1e-6 * budget


def test_min_marginal_roas_with_upper_bounds_below_the_budget():
    curves = HillCurve(VMAX, HALF, 1.0)
    with pytest.raises(InfeasibleAllocationError):
        allocate(curves, 10_000.0, upper=100.0)
    plan = allocate(curves, 10_000.0, upper=100.0, min_marginal_roas=0.0)  # a cap: spend what fits
    np.testing.assert_allclose(plan.spend, 100.0)


def test_min_marginal_roas_with_groups():
    curves = HillCurve(VMAX, HALF, 1.0)
    free = shape_one_optimum(2.0)
    group = SpendGroup(members=[0, 1], lower=free[0] + free[1] + 100.0, name="search")
    plan = allocate(curves, 10_000.0, groups=[group], min_marginal_roas=2.0)
    np.testing.assert_allclose(plan.spend[:2].sum(), group.lower, rtol=1e-8)  # the group limit forces spend
    np.testing.assert_allclose(plan.spend[2], free[2], rtol=1e-6)
    assert plan.spend.sum() < 10_000.0


def test_min_marginal_roas_with_s_shaped_curves_enters_only_if_it_pays():
    curves = HillCurve([100.0, 100.0], 100.0, 2.0)  # tangent from the origin has slope 0.5
    plan = allocate(curves, 1000.0, min_marginal_roas=0.55)
    np.testing.assert_allclose(plan.spend, 0.0)
    plan = allocate(curves, 1000.0, min_marginal_roas=0.4)
    np.testing.assert_allclose(plan.spend, spend_for_marginal_roas(curves, 0.4), rtol=1e-8)


@pytest.mark.parametrize("price", [-1.0, np.nan, np.inf, "x"])
def test_min_marginal_roas_rejects_bad_values(price):
    with pytest.raises(ValueError, match="min_marginal_roas"):
        allocate(HillCurve(1.0, 1.0), 1.0, min_marginal_roas=price)


def test_marginal_roas_target_value_and_cap_agree():
    """The three scenario entry points describe the same optimal allocations."""
    rng = np.random.default_rng(3)
    n = 12
    curves = HillCurve(rng.uniform(100, 1000, n), rng.uniform(20, 200, n), rng.uniform(0.5, 1.0, n))
    lower = np.full(n, 5.0)
    spend = spend_for_marginal_roas(curves, 1.5, lower=lower)
    capped = allocate(curves, 2 * spend.sum(), lower=lower, min_marginal_roas=1.5)
    cheapest = min_spend_for_value(curves, float(curves.value(spend).sum()), lower=lower)
    for plan in (capped, cheapest):
        np.testing.assert_allclose(plan.spend, spend, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(plan.lagrange_multiplier, 1.5, rtol=1e-6)
