"""Days wildly off the fit (tracking glitches, one-off deals) are dropped, counted, and do not bend the curve."""

import numpy as np
import pandas as pd
import pytest

from optimizer import fit_response_curves


def history(seed: int = 0, campaigns: int = 12, days: int = 90) -> pd.DataFrame:
    """Step-changing budgets, Hill curves and 10 % log-normal noise: nothing an outlier rule should flag."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2026-01-01", periods=days)
    frames = []
    for i in range(campaigns):
        base, shape = rng.uniform(50, 500), rng.uniform(0.6, 1.2)
        half = base * rng.uniform(0.5, 3)
        vmax = rng.uniform(1, 5) * base * (base**shape + half**shape) / base**shape
        spend = base * np.repeat(1 + rng.uniform(-0.3, 0.3, days // 10 + 1), 10)[:days]
        value = vmax * spend**shape / (spend**shape + half**shape) * np.exp(rng.normal(0, 0.1, days))
        frames.append(pd.DataFrame({"campaign_id": f"c{i:02d}", "date": dates, "spend": spend, "conversion_value": value}))
    return pd.concat(frames, ignore_index=True)


def test_clean_history_has_no_outliers():
    fitted = fit_response_curves(history())
    assert fitted.diagnostics["outlier_days"].tolist() == [0] * 12


def test_glitch_days_are_dropped_and_the_curve_stays_put():
    clean = history()
    dirty = clean.copy()
    days = dirty.index[dirty["campaign_id"] == "c03"]
    dirty.loc[days[[10, 40, 70]], "conversion_value"] *= 6  # double-counted conversions
    dirty.loc[days[55], "conversion_value"] *= 0.05  # a tracking outage
    assert dirty["conversion_value"].sum() > 1.02 * clean["conversion_value"].sum()  # they matter in a sum

    before, after = fit_response_curves(clean), fit_response_curves(dirty)

    outliers = after.diagnostics["outlier_days"]
    assert outliers["c03"] == 4
    assert outliers.drop("c03").sum() == 0
    assert after.diagnostics.loc["c03", "elasticity"] == pytest.approx(before.diagnostics.loc["c03", "elasticity"], abs=0.03)
    reference = before.reference_spend[3]
    assert after.curve.take([3]).value(reference)[0] == pytest.approx(before.curve.take([3]).value(reference)[0], rel=0.02)
