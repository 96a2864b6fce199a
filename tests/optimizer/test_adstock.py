"""Carryover: the geometric adstock transform and its per-campaign fit in fit_response_curves."""

import numpy as np
import pandas as pd
import pytest

from optimizer import fit_response_curves
from optimizer.adstock import adstock

CURVES = {  # campaign: (vmax, half_saturation, shape)
    "a": (1000.0, 200.0, 1.0),
    "b": (500.0, 100.0, 1.5),
    "c": (3000.0, 800.0, 0.7),
    "d": (800.0, 150.0, 1.2),
    "e": (1200.0, 300.0, 0.9),
}


def hill(s, vmax, half, shape):
    return vmax * s**shape / (s**shape + half**shape)


def carried(spend, theta):
    """Reference adstock: steady state at the first day, then x = (1 - theta) s + theta x."""
    x, out = spend[0], []
    for s in spend:
        x = (1 - theta) * s + theta * x
        out.append(x)
    return np.array(out)


def market(theta, days=120, noise=0.0, seed=0, curves=CURVES, platform="meta"):
    """Daily spend that moves (steps plus day-to-day jitter) and value = hill(adstocked spend)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2026-01-01", periods=days, freq="D")
    frames = []
    for cid, (vmax, half, shape) in curves.items():
        steps = np.repeat(rng.uniform(0.4, 1.6, days // 10 + 1), 10)[:days]
        spend = half * steps * rng.uniform(0.7, 1.3, days)
        value = hill(carried(spend, theta), vmax, half, shape) * np.exp(noise * rng.standard_normal(days))
        frames.append(
            pd.DataFrame({"campaign_id": cid, "date": dates, "spend": spend, "conversion_value": value, "platform": platform})
        )
    return pd.concat(frames, ignore_index=True)


def test_adstock_is_normalized_and_restarts():
    spend = np.array([[10.0, 10.0, 0.0, 0.0, 20.0, 20.0]])
    restart = np.array([[True, False, False, False, True, False]])
    x = adstock(spend, 0.5, restart)
    np.testing.assert_allclose(x, [[10.0, 10.0, 5.0, 2.5, 20.0, 20.0]])  # steady state: x = spend
    many = adstock(spend, np.array([[0.0], [0.5]]), restart)  # several rates at once
    np.testing.assert_allclose(many[:, 0], [spend[0], x[0]])


def test_recovers_carryover_and_steady_state_curve_from_clean_data():
    fitted = fit_response_curves(market(theta=0.4))
    np.testing.assert_allclose(fitted.diagnostics["adstock"], 0.4, atol=0.1)
    for i, (cid, (vmax, half, shape)) in enumerate(CURVES.items()):
        assert fitted.campaign_ids[i] == cid
        spend = np.linspace(0.4 * half, 1.6 * half, 30)
        predicted = fitted.take([i]).value(spend[:, None])[:, 0]
        np.testing.assert_allclose(predicted, hill(spend, vmax, half, shape), rtol=0.05)


def test_no_carryover_is_recovered_as_zero():
    fitted = fit_response_curves(market(theta=0.0))
    np.testing.assert_allclose(fitted.diagnostics["adstock"], 0.0, atol=0.02)


def test_recovers_carryover_from_noisy_data():
    fitted = fit_response_curves(market(theta=0.3, days=365, noise=0.1, seed=1))
    np.testing.assert_allclose(fitted.diagnostics["adstock"], 0.3, atol=0.1)


def test_ignoring_carryover_biases_the_curve():
    daily = market(theta=0.6, noise=0.02)
    with_carryover, without = fit_response_curves(daily), fit_response_curves(daily, carryover=False)
    assert (without.diagnostics["adstock"] == 0).all()
    vmax, half, shape = CURVES["a"]
    spend = np.array([0.5 * half, 1.5 * half])
    true = hill(spend, vmax, half, shape)
    error = [np.abs(f.take([0]).value(spend[:, None])[:, 0] / true - 1).max() for f in (with_carryover, without)]
    assert error[0] < 0.05 < error[1]


def test_flat_campaign_takes_its_platforms_carryover():
    daily = market(theta=0.5, noise=0.02)
    rng = np.random.default_rng(3)
    days = pd.date_range("2026-01-01", periods=120, freq="D")
    spend = 200.0 * rng.uniform(0.99, 1.01, days.size)
    value = hill(spend, 900.0, 250.0, 1.0) * rng.normal(1.0, 0.1, days.size)  # noise hides the +-1% jitter
    flat = pd.DataFrame({"campaign_id": "flat", "date": days, "spend": spend, "conversion_value": value})
    flat["platform"] = "meta"
    fitted = fit_response_curves(pd.concat([daily, flat], ignore_index=True))
    rates = fitted.diagnostics["adstock"]
    assert rates["flat"] == pytest.approx(rates.drop("flat").median(), abs=0.1)


def test_zero_spend_rows_carry_value_and_missing_dates_restart():
    """A paused week present as zero-spend rows decays the carryover; a missing week restarts it."""
    vmax, half, shape = CURVES["a"]
    daily = market(theta=0.5, curves={"a": CURVES["a"], "b": CURVES["b"]})
    rows = daily[daily["campaign_id"] == "a"].reset_index(drop=True)
    paused = rows.index[(rows.index >= 60) & (rows.index < 67)]
    spend = rows["spend"].to_numpy().copy()
    spend[paused] = 0.0
    rows["spend"] = spend
    rows["conversion_value"] = hill(carried(spend, 0.5), vmax, half, shape)
    assert (rows.loc[paused, "conversion_value"] > 0).all()  # carryover on days without spend
    fitted = fit_response_curves(pd.concat([rows, daily[daily["campaign_id"] == "b"]], ignore_index=True))
    assert fitted.diagnostics.loc["a", "adstock"] == pytest.approx(0.5, abs=0.05)
    assert fitted.diagnostics.loc["a", "r2"] > 0.999

    # The same week missing from the data: not zero spend, the series restarts after it.
    gap = rows.drop(index=paused)
    after = gap.index > paused.max()
    gap.loc[after, "conversion_value"] = hill(
        carried(gap.loc[after, "spend"].to_numpy(), 0.5), vmax, half, shape
    )
    fitted = fit_response_curves(pd.concat([gap, daily[daily["campaign_id"] == "b"]], ignore_index=True))
    assert fitted.diagnostics.loc["a", "adstock"] == pytest.approx(0.5, abs=0.05)
    assert fitted.diagnostics.loc["a", "r2"] > 0.999
