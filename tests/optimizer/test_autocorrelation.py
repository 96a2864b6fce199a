"""Autocorrelated residuals count as fewer days: the fit widens its uncertainty for them."""

import numpy as np
import pandas as pd
import pytest

from optimizer import fit_response_curves


def market(rho: float, seed: int, campaigns: int = 40, days: int = 90, sd: float = 0.1):
    """Campaigns with budgets stepping every 10 days and log-normal AR(1) noise of coefficient ``rho``."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2026-01-01", periods=days)
    frames, truth = [], []
    for i in range(campaigns):
        base, half_ratio, shape = rng.uniform(50, 500), rng.uniform(0.5, 3), rng.uniform(0.6, 1.2)
        half = base * half_ratio
        vmax = rng.uniform(1, 5) * base * (base**shape + half**shape) / base**shape
        spend = base * np.repeat(1 + rng.uniform(-0.3, 0.3, days // 10 + 1), 10)[:days]
        noise = np.empty(days)
        noise[0] = rng.normal(0, sd)
        for t in range(1, days):
            noise[t] = rho * noise[t - 1] + np.sqrt(1 - rho**2) * rng.normal(0, sd)
        value = vmax * spend**shape / (spend**shape + half**shape) * np.exp(noise)
        frames.append(pd.DataFrame({"campaign_id": f"c{i:02d}", "date": dates, "spend": spend, "conversion_value": value}))
        truth.append((vmax, half, shape))
    return pd.concat(frames, ignore_index=True), np.array(truth)


def coverage_above_history(rho: float, seeds=range(5)):
    """Share of campaigns whose 90 % value interval at 1.3x their mean spend holds the true value,
    and the median estimated autocorrelation."""
    covered, estimated = [], []
    for seed in seeds:
        daily, truth = market(rho, seed)
        fitted = fit_response_curves(daily)
        spend = 1.3 * fitted.reference_spend
        low, high = fitted.value_interval(spend)
        vmax, half, shape = truth.T
        true_value = vmax * spend**shape / (spend**shape + half**shape)
        covered.extend((low <= true_value) & (true_value <= high))
        estimated.extend(fitted.diagnostics["autocorrelation"])
    return float(np.mean(covered)), float(np.median(estimated))


def test_independent_noise_is_not_mistaken_for_autocorrelation():
    coverage, autocorrelation = coverage_above_history(0.0)
    assert autocorrelation < 0.1
    assert coverage >= 0.75


def test_autocorrelated_noise_is_detected_and_widens_the_intervals():
    coverage, autocorrelation = coverage_above_history(0.7)
    assert autocorrelation == pytest.approx(0.7, abs=0.2)
    # Counting every autocorrelated day as independent covers only about half of them (0.53 measured).
    assert coverage >= 0.7
