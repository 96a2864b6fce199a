"""FittedCurves uncertainty: per-campaign, total and uplift intervals from joint parameter draws."""

import numpy as np
import pandas as pd
import pytest

from optimizer import allocate, fit_response_curves

TRUE = {  # campaign: (vmax, half_saturation, shape)
    "a": (1000.0, 200.0, 1.0),
    "b": (500.0, 100.0, 1.5),
    "c": (3000.0, 800.0, 0.7),
    "d": (800.0, 150.0, 1.2),
}


def hill(s, vmax, half, shape):
    return vmax * s**shape / (s**shape + half**shape)


def synthetic(days=90, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2026-01-01", periods=days, freq="D")
    frames = []
    for cid, (vmax, half, shape) in TRUE.items():
        spend = rng.uniform(0.4, 1.6, days) * half
        value = hill(spend, vmax, half, shape) * rng.normal(1.0, noise, days)
        frames.append(pd.DataFrame({"campaign_id": cid, "date": dates, "spend": spend, "conversion_value": value}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def fitted():
    return fit_response_curves(synthetic())


def current_and_plan(fitted):
    current = fitted.diagnostics["mean_spend"].to_numpy()
    plan = allocate(fitted, current.sum(), current=current, max_change=0.3)
    return current, plan.spend


def test_uplift_interval_contains_the_point_estimate(fitted):
    current, recommended = current_and_plan(fitted)
    point = float(fitted.value(recommended).sum() - fitted.value(current).sum())
    assert point > 0
    low, high = fitted.uplift_interval(current, recommended)
    assert isinstance(low, float) and isinstance(high, float)
    assert low < point < high
    wide_low, wide_high = fitted.uplift_interval(current, recommended, level=0.99)
    assert wide_low <= low and high <= wide_high


def test_uplift_interval_is_zero_when_nothing_changes(fitted):
    current, _ = current_and_plan(fitted)
    low, high = fitted.uplift_interval(current, current)
    assert abs(low) < 1e-9 and abs(high) < 1e-9


def test_uplift_interval_narrows_with_more_data():
    small, large = fit_response_curves(synthetic(days=30)), fit_response_curves(synthetic(days=360))
    current = np.array([half for _, half, _ in TRUE.values()])
    recommended = current * np.array([1.3, 0.7, 1.3, 0.7])
    width = [np.subtract(*f.uplift_interval(current, recommended)[::-1]) for f in (small, large)]
    assert width[1] < 0.6 * width[0]


def test_uplift_of_one_campaign_from_zero_is_its_value_interval(fitted):
    one = fitted.select(["a"])
    low, high = one.value_interval(250.0, draws=500, seed=3)
    assert one.uplift_interval(0.0, 250.0, draws=500, seed=3) == pytest.approx((low[0], high[0]), rel=1e-12)
    assert one.total_value_interval(250.0, draws=500, seed=3) == pytest.approx((low[0], high[0]), rel=1e-12)


def test_total_value_interval_contains_the_total_and_is_tighter_than_summed_bounds(fitted):
    spend = np.array([half for _, half, _ in TRUE.values()])
    total = float(fitted.value(spend).sum())
    low, high = fitted.total_value_interval(spend)
    assert low < total < high
    each_low, each_high = fitted.value_interval(spend)
    # Independent campaigns: the interval of the sum is narrower than the sum of the intervals.
    assert high - low < (each_high - each_low).sum()
    assert each_low.sum() < low and high < each_high.sum()


def test_uplift_interval_is_deterministic_per_seed(fitted):
    current, recommended = current_and_plan(fitted)
    assert fitted.uplift_interval(current, recommended, seed=1) == fitted.uplift_interval(current, recommended, seed=1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"level": 1.0}, "level"), ({"level": 0.0}, "level"), ({"draws": 0}, "draws"), ({"draws": 2.5}, "draws")],
)
def test_rejects_bad_arguments(fitted, kwargs, match):
    spend = np.full(len(fitted), 100.0)
    with pytest.raises(ValueError, match=match):
        fitted.uplift_interval(spend, spend, **kwargs)
    with pytest.raises(ValueError, match=match):
        fitted.total_value_interval(spend, **kwargs)


def test_rejects_spend_of_the_wrong_length(fitted):
    with pytest.raises(ValueError, match="campaigns"):
        fitted.uplift_interval(np.ones(3), np.ones(len(fitted)))


def test_uplift_draws_are_centred_on_the_fitted_uplift():
    """Slopes pooled by the elasticity prior have a narrow, curved posterior in (half_saturation, shape);
    the draws follow it, so the interval stays centred on the point estimate (no drift from the ridge)."""
    rng = np.random.default_rng(4)
    dates = pd.date_range("2026-01-01", periods=90, freq="D")
    frames = []
    for i in range(20):
        base = rng.uniform(50, 500)
        spend = base * np.repeat(1.0 + rng.uniform(-0.15, 0.15, 6), 15)
        shape = rng.uniform(0.7, 1.3)
        value = hill(spend, rng.uniform(2, 5) * 3 * base, rng.uniform(0.8, 2.5) * base, shape)
        value = value * rng.lognormal(0.0, 0.15, 90)
        frames.append(pd.DataFrame({"campaign_id": f"c{i}", "date": dates, "spend": spend, "conversion_value": value}))
    fitted = fit_response_curves(pd.concat(frames, ignore_index=True), carryover=False, seasonality=False)
    current = fitted.diagnostics["mean_spend"].to_numpy()
    recommended = allocate(fitted, current.sum(), current=current, max_change=0.3).spend
    point = float(fitted.value(recommended).sum() - fitted.value(current).sum())
    low, high = fitted.uplift_interval(current, recommended, draws=4000)
    median = np.mean(fitted.uplift_interval(current, recommended, level=0.02, draws=4000))
    assert low < point < high
    assert abs(median - point) < 0.1 * (high - low)


def shared_only(platforms, shared_elasticity_sd=0.05):
    """Four identical campaigns known exactly but for a shift shared within each platform."""
    from optimizer import HillCurve
    from optimizer.fitted import FittedCurves

    n = len(platforms)
    ids = np.array([f"c{i}" for i in range(n)])
    return FittedCurves(
        campaign_ids=ids,
        curve=HillCurve(np.full(n, 100.0), np.full(n, 50.0), np.ones(n)),
        diagnostics=pd.DataFrame({"platform": platforms}, index=pd.Index(ids, name="campaign_id")),
        reference_spend=np.full(n, 50.0),
        covariance=np.zeros((n, 3, 3)),
        shared_sd=np.tile([0.0, shared_elasticity_sd, 0.0], (n, 1)),
    )


def test_a_platform_shared_shift_does_not_average_out_over_its_campaigns():
    spend = np.full(4, 100.0)  # off the reference spend, where the elasticity matters
    one_platform = shared_only(["meta"] * 4)
    low, high = one_platform.value_interval(spend, draws=4000)
    single = float(np.mean(high - low))
    assert single > 0
    total_low, total_high = one_platform.total_value_interval(spend, draws=4000)
    assert total_high - total_low == pytest.approx(4 * single, rel=0.02)  # fully correlated: widths add up

    two_platforms = shared_only(["meta", "meta", "google", "google"])
    total_low, total_high = two_platforms.total_value_interval(spend, draws=4000)
    assert total_high - total_low == pytest.approx(2 * np.sqrt(2) * single, rel=0.06)  # two independent pairs


def test_without_shared_uncertainty_an_exact_fit_has_no_interval():
    exact = shared_only(["meta"] * 4, shared_elasticity_sd=0.0)
    spend = np.full(4, 100.0)
    low, high = exact.total_value_interval(spend)
    assert high - low < 1e-5 * exact.value(spend).sum()  # only the Cholesky jitter remains


def test_fitted_curves_carry_their_platform_prior_uncertainty(fitted):
    shared = fitted.shared_sd
    assert shared.shape == (len(fitted), 3)
    assert np.all(np.isfinite(shared)) and np.all(shared >= 0)
    assert np.all(shared[:, 0] == 0)  # the level has no shared prior centre
    assert np.all(shared[:, 2] > 0)  # the shape's prior centre is a median of a few campaigns
    assert fitted.take([1, 0]).shared_sd.tolist() == shared[[1, 0]].tolist()
