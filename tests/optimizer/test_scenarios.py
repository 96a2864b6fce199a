"""Scenario helpers: spend at a target marginal ROAS."""

import numpy as np
import pytest

from optimizer import ExponentialCurve, HillCurve, allocate, spend_for_marginal_roas


def test_concave_campaigns_spend_until_the_marginal_hits_the_target():
    curves = HillCurve(vmax=[1000.0, 200.0, 50.0], half_saturation=[100.0, 50.0, 100.0], shape=[1.0, 0.7, 1.0])
    spend = spend_for_marginal_roas(curves, 1.5)
    # Shape 1 known answer: vmax K / (s + K)^2 = 1.5  =>  s = sqrt(vmax K / 1.5) - K.
    np.testing.assert_allclose(spend[0], np.sqrt(1000.0 * 100.0 / 1.5) - 100.0, rtol=1e-10)
    np.testing.assert_allclose(curves.marginal(spend)[:2], 1.5, rtol=1e-9)
    assert spend[2] == 0.0  # starts below the target (marginal at 0 is 0.5)


def test_upper_caps_the_spend():
    curves = ExponentialCurve(vmax=[100.0, 100.0], scale=[10.0, 10.0])
    spend = spend_for_marginal_roas(curves, 0.5, upper=[5.0, np.inf])
    np.testing.assert_allclose(spend, [5.0, 10.0 * np.log(20.0)])


def test_s_shaped_campaign_enters_only_if_it_pays_off():
    curves = HillCurve(vmax=[100.0, 100.0], half_saturation=100.0, shape=2.0)
    # Tangent from the origin touches at s = K (value 50, slope 0.5): above 0.5 nothing pays.
    np.testing.assert_array_equal(spend_for_marginal_roas(curves, 0.55), 0.0)
    spend = spend_for_marginal_roas(curves, 0.4)
    assert np.all(spend > 100.0)
    np.testing.assert_allclose(curves.marginal(spend), 0.4, rtol=1e-9)


def test_is_consistent_with_allocate():
    rng = np.random.default_rng(4)
    curves = HillCurve(rng.uniform(100, 1000, 20), rng.uniform(20, 200, 20), rng.uniform(0.5, 1.0, 20))
    spend = spend_for_marginal_roas(curves, 2.0)
    plan = allocate(curves, spend.sum())
    np.testing.assert_allclose(plan.spend, spend, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(plan.lagrange_multiplier, 2.0, rtol=1e-6)


@pytest.mark.parametrize("target", [0.0, -1.0, np.nan, np.inf, "high"])
def test_rejects_bad_targets(target):
    with pytest.raises(ValueError, match="target"):
        spend_for_marginal_roas(HillCurve(1.0, 1.0), target)
