"""Weekday seasonality: factors recovered and shrunk, divided out of the fit, carried by FittedCurves."""

import numpy as np
import pandas as pd

from optimizer import fit_response_curves
from optimizer.seasonality import weekday_factors

DAYS = pd.date_range("2026-01-05", periods=120, freq="D")  # starts on a Monday


def hill(s, vmax, half, shape):
    return vmax * s**shape / (s**shape + half**shape)


def market(pattern, noise=0.05, seed=0, campaigns=8):
    """Campaigns sharing a weekday ``pattern`` (per weekday, Monday first), steps in spend."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(campaigns):
        vmax, half, shape = rng.uniform(500, 2000), rng.uniform(100, 400), rng.uniform(0.7, 1.3)
        spend = half * np.repeat(rng.uniform(0.5, 1.5, DAYS.size // 10 + 1), 10)[: DAYS.size]
        value = hill(spend, vmax, half, shape) * pattern[DAYS.day_of_week] * rng.normal(1.0, noise, DAYS.size)
        frames.append(pd.DataFrame({"campaign_id": f"c{i}", "date": DAYS, "spend": spend, "conversion_value": value}))
    return pd.concat(frames, ignore_index=True)


PATTERN = 1.0 + 0.2 * np.sin(2 * np.pi * np.arange(7) / 7)


def test_recovers_a_shared_weekday_pattern_and_the_average_weekday_curve():
    daily = market(PATTERN)
    fitted = fit_response_curves(daily)
    np.testing.assert_allclose(fitted.weekday_factors, np.broadcast_to(PATTERN, (8, 7)), atol=0.03)
    np.testing.assert_allclose(fitted.diagnostics["seasonality"], 0.2 * np.sin(2 * np.pi * 2 / 7), atol=0.03)
    without = fit_response_curves(daily, seasonality=False)
    assert (without.weekday_factors == 1).all() and (without.diagnostics["seasonality"] == 0).all()
    # Taking the weekdays out explains the days far better.
    assert (fitted.r2 > without.r2 + 0.2).all()
    assert (fitted.diagnostics["noise"] < 0.5 * without.diagnostics["noise"]).all()


def test_no_seasonality_gives_factors_near_one():
    fitted = fit_response_curves(market(np.ones(7), noise=0.1))
    assert np.abs(fitted.weekday_factors - 1).max() < 0.03


def test_factors_follow_selected_campaigns():
    fitted = fit_response_curves(market(PATTERN))
    picked = fitted.select(["c3", "c1"])
    np.testing.assert_array_equal(picked.weekday_factors, fitted.weekday_factors[[3, 1]])


def test_weekday_factors_shrink_noisy_campaign_patterns():
    rng = np.random.default_rng(1)
    n, t = 30, 91
    weekday = np.tile(np.arange(t) % 7, (n, 1))
    own = 1 + rng.uniform(0.05, 0.2, n)[:, None] * np.sin(2 * np.pi * (np.arange(7) + rng.uniform(0, 7, n)[:, None]) / 7)
    ratio = np.take_along_axis(own, weekday, axis=1) * rng.normal(1.0, 0.15, (n, t))
    factors = weekday_factors(ratio, np.ones((n, t), bool), weekday, np.array(["p"] * n, dtype=object))
    np.testing.assert_allclose(factors.mean(axis=1), 1.0)
    raw = np.array([[ratio[i, weekday[i] == d].mean() for d in range(7)] for i in range(n)])
    assert np.sqrt(np.mean((factors - own) ** 2)) < 0.9 * np.sqrt(np.mean((raw - own) ** 2))


def test_only_unfittable_campaigns():
    idle = pd.DataFrame({"campaign_id": "idle", "date": DAYS[:10], "spend": 0.0, "conversion_value": 0.0})
    dud = pd.DataFrame({"campaign_id": "dud", "date": DAYS[:10], "spend": 50.0, "conversion_value": 0.0})
    fitted = fit_response_curves(pd.concat([idle, dud], ignore_index=True))
    assert list(fitted.diagnostics["method"]) == ["no_value", "no_spend"]
    np.testing.assert_array_equal(fitted.value(np.array([10.0, 10.0])), 0.0)
