"""Response curves: formulas, derivatives, inverses and parameter validation."""

import numpy as np
import pytest

from optimizer import ExponentialCurve, HillCurve

SHAPES = [0.5, 0.8, 1.0, 1.5, 2.5]


def hill(s, vmax, half, shape):
    return vmax * s**shape / (s**shape + half**shape)


def test_hill_value_matches_formula_and_broadcasts():
    curve = HillCurve(vmax=[100.0, 200.0, 50.0], half_saturation=[10.0, 20.0, 5.0], shape=[0.7, 1.0, 2.0])
    spend = np.array([5.0, 20.0, 50.0])
    assert len(curve) == 3
    np.testing.assert_allclose(curve.value(spend), hill(spend, curve.vmax, curve.half_saturation, curve.shape))
    np.testing.assert_allclose(curve.value(20.0)[1], 100.0)  # half saturation gives vmax / 2
    np.testing.assert_allclose(curve.value(0.0), 0.0)
    np.testing.assert_allclose(curve.value(np.inf), curve.vmax)
    assert curve.value(np.tile(spend, (4, 1))).shape == (4, 3)
    assert len(HillCurve(1.0, 2.0)) == 1


@pytest.mark.parametrize("shape", SHAPES)
def test_hill_marginal_is_the_derivative(shape):
    curve = HillCurve(vmax=[80.0] * 5, half_saturation=[30.0] * 5, shape=shape)
    spend = np.array([0.5, 5.0, 30.0, 120.0, 900.0])
    step = 1e-6 * spend
    numeric = (curve.value(spend + step) - curve.value(spend - step)) / (2 * step)
    np.testing.assert_allclose(curve.marginal(spend), numeric, rtol=1e-6)


def test_hill_marginal_at_zero_spend():
    curve = HillCurve(vmax=10.0, half_saturation=2.0, shape=[0.5, 1.0, 2.0])
    np.testing.assert_allclose(curve.marginal(0.0), [np.inf, 5.0, 0.0])


def test_exponential_value_and_marginal():
    curve = ExponentialCurve(vmax=[100.0, 40.0], scale=[50.0, 10.0])
    spend = np.array([25.0, 7.0])
    np.testing.assert_allclose(curve.value(spend), curve.vmax * (1 - np.exp(-spend / curve.scale)))
    np.testing.assert_allclose(curve.marginal(spend), curve.vmax / curve.scale * np.exp(-spend / curve.scale))
    assert curve.is_concave


@pytest.mark.parametrize("shape", SHAPES)
def test_inverse_marginal_round_trip_on_concave_branch(shape):
    curve = HillCurve(vmax=[100.0, 1000.0, 5.0], half_saturation=[10.0, 400.0, 1.0], shape=shape)
    peak = curve.marginal(curve.inflection())
    for fraction in [0.9, 0.5, 1e-2, 1e-4]:
        target = np.where(np.isfinite(peak), peak * fraction, fraction * 10)
        spend = curve.inverse_marginal(target)
        assert np.all(spend >= curve.inflection())
        np.testing.assert_allclose(curve.marginal(spend), target, rtol=1e-9)


def test_inverse_marginal_limits():
    curve = HillCurve(vmax=[10.0, 10.0, 0.0], half_saturation=2.0, shape=[2.0, 0.7, 1.0])
    above_peak = curve.inverse_marginal(1e6)
    np.testing.assert_allclose(above_peak[0], curve.inflection()[0])
    assert above_peak[1] < 1e-6 and above_peak[2] == 0.0
    assert np.all(np.isinf(curve.inverse_marginal(0.0)[:2]))
    exponential = ExponentialCurve([10.0, 0.0], [5.0, 5.0])
    np.testing.assert_allclose(exponential.inverse_marginal(0.5), [5.0 * np.log(4.0), 0.0])


def test_inflection_is_where_the_marginal_peaks():
    curve = HillCurve(vmax=50.0, half_saturation=[10.0, 10.0], shape=[2.0, 0.8])
    c = curve.inflection()
    assert c[1] == 0.0 and c[0] > 0 and not curve.is_concave
    grid = np.linspace(0.01, 40.0, 4001)
    marginals = curve.take([0]).marginal(grid[:, None])[:, 0]
    assert abs(grid[np.argmax(marginals)] - c[0]) < 0.02


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"vmax": [1.0, np.nan], "half_saturation": 1.0}, ["vmax", "campaign 1", "nan"]),
        ({"vmax": 1.0, "half_saturation": [1.0, 2.0, -3.0]}, ["half_saturation", "campaign 2"]),
        ({"vmax": 1.0, "half_saturation": [1.0, 0.0]}, ["half_saturation", "campaign 1"]),
        ({"vmax": 1.0, "half_saturation": 1.0, "shape": [1.0, np.inf]}, ["shape", "campaign 1", "inf"]),
        ({"vmax": [-1.0, 2.0], "half_saturation": 1.0}, ["vmax", "campaign 0"]),
    ],
)
def test_hill_rejects_bad_parameters_naming_campaign_and_parameter(kwargs, words):
    with pytest.raises(ValueError) as info:
        HillCurve(**kwargs)
    for word in words:
        assert word in str(info.value)


def test_exponential_rejects_bad_parameters():
    with pytest.raises(ValueError, match=r"scale.*campaign 0"):
        ExponentialCurve(vmax=1.0, scale=[np.nan, 1.0])


def test_curve_rejects_mismatched_lengths_and_bad_spend():
    with pytest.raises(ValueError, match="incompatible lengths"):
        HillCurve(vmax=[1.0, 2.0], half_saturation=[1.0, 2.0, 3.0])
    curve = HillCurve(vmax=[1.0, 2.0], half_saturation=1.0)
    with pytest.raises(ValueError, match="non-negative"):
        curve.value([1.0, -1.0])
    with pytest.raises(ValueError, match="2 campaigns"):
        curve.value([1.0, 2.0, 3.0])


def test_parameters_are_read_only_and_take_selects():
    curve = HillCurve(vmax=[1.0, 2.0, 3.0], half_saturation=[4.0, 5.0, 6.0], shape=[0.5, 1.0, 2.0])
    with pytest.raises(ValueError):
        curve.vmax[0] = 5.0
    part = curve.take([2, 0])
    np.testing.assert_array_equal(part.vmax, [3.0, 1.0])
    np.testing.assert_array_equal(part.shape, [2.0, 0.5])
