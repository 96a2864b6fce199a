"""fit_response_curves(): recovery of known curves, shrinkage, input validation, use in allocate()."""

import numpy as np
import pandas as pd
import pytest

from optimizer import FittedCurves, allocate, fit_response_curves

DAYS = pd.date_range("2026-01-01", periods=90, freq="D")
TRUE = {  # campaign: (vmax, half_saturation, shape)
    "alpha": (1000.0, 200.0, 1.0),
    "beta": (500.0, 100.0, 2.0),
    "gamma": (3000.0, 800.0, 0.7),
    "delta": (800.0, 150.0, 1.5),
}


def hill(s, vmax, half, shape):
    return vmax * s**shape / (s**shape + half**shape)


def campaign_rows(campaign_id, spend, value, platform="meta"):
    return pd.DataFrame(
        {
            "campaign_id": campaign_id,
            "date": DAYS[: len(spend)],
            "spend": spend,
            "conversion_value": value,
            "platform": platform,
        }
    )


def synthetic(noise=0.02, seed=0, platform="meta", curves=TRUE):
    """90 days per campaign, spend varied over 0.3x to 2x half-saturation, multiplicative noise."""
    rng = np.random.default_rng(seed)
    frames = []
    for cid, (vmax, half, shape) in curves.items():
        spend = rng.uniform(0.3, 2.0, len(DAYS)) * half
        value = hill(spend, vmax, half, shape) * rng.normal(1.0, noise, len(DAYS))
        frames.append(campaign_rows(cid, spend, value, platform))
    return pd.concat(frames, ignore_index=True)


def curve_of(fitted, campaign_id):
    return fitted.select([campaign_id])


def test_recovers_known_hill_curves_within_five_percent():
    """Tolerance: fitted value within 5 % of the true curve over the observed spend range (2 % noise)."""
    fitted = fit_response_curves(synthetic(noise=0.02))
    assert isinstance(fitted, FittedCurves)
    assert list(fitted.campaign_ids) == sorted(TRUE)
    for cid, (vmax, half, shape) in TRUE.items():
        one = curve_of(fitted, cid)
        spend = np.linspace(0.3 * half, 2.0 * half, 50)
        predicted = one.value(spend[:, None])[:, 0]
        np.testing.assert_allclose(predicted, hill(spend, vmax, half, shape), rtol=0.05)
        assert one.r2[0] > 0.9 and one.n_days[0] == 90


def test_recovers_parameters_from_clean_data():
    fitted = fit_response_curves(synthetic(noise=0.0))
    for cid, (vmax, half, shape) in TRUE.items():
        curve = curve_of(fitted, cid).curve
        np.testing.assert_allclose(curve.vmax[0], vmax, rtol=0.01)
        np.testing.assert_allclose(curve.half_saturation[0], half, rtol=0.01)
        np.testing.assert_allclose(curve.shape[0], shape, rtol=0.01)
        assert curve_of(fitted, cid).diagnostics["method"].iloc[0] == "fit"


def test_near_constant_spend_gets_a_sane_shrunk_curve():
    rng = np.random.default_rng(5)
    spend = 300.0 * rng.uniform(0.99, 1.01, len(DAYS))
    value = hill(spend, 600.0, 250.0, 1.0) * rng.normal(1.0, 0.1, len(DAYS))
    daily = pd.concat([synthetic(noise=0.05), campaign_rows("flat", spend, value)], ignore_index=True)
    fitted = fit_response_curves(daily)
    flat = curve_of(fitted, "flat")
    curve = flat.curve
    # Goes through the data it has ...
    np.testing.assert_allclose(flat.value(np.array([300.0])), value.mean(), rtol=0.05)
    # ... with a shape borrowed from its platform, not a wild extrapolation.
    assert 0.2 * 300.0 <= curve.half_saturation[0] <= 5 * 300.0
    assert curve.vmax[0] <= 10 * value.max()
    assert 0.5 <= curve.shape[0] <= 3.0
    others = fitted.select(list(TRUE))
    typical_rho = np.median(others.curve.half_saturation / others.diagnostics["mean_spend"].to_numpy())
    np.testing.assert_allclose(curve.half_saturation[0] / 300.0, typical_rho, rtol=0.5)
    assert flat.diagnostics["shrinkage"].iloc[0] > 0.8  # the prior decides its half-saturation
    assert (others.diagnostics["shrinkage"] < 0.5).all()  # their own data do
    # Its uncertainty is small where it has data and larger far from it.
    low, high = flat.value_interval(300.0)
    far_low, far_high = flat.value_interval(1500.0)
    assert low[0] <= flat.value(np.array([300.0]))[0] <= high[0]
    assert (far_high - far_low)[0] / far_high[0] > 2 * (high - low)[0] / high[0]


def test_few_days_get_a_sane_curve():
    daily = pd.concat([synthetic(), campaign_rows("new", [100.0, 120.0, 90.0], [150.0, 170.0, 140.0])])
    fitted = fit_response_curves(daily)
    new = curve_of(fitted, "new")
    assert new.n_days[0] == 3
    np.testing.assert_allclose(new.value(np.array([100.0])), 150.0, rtol=0.15)
    assert 20.0 <= new.curve.half_saturation[0] <= 500.0
    assert new.curve.vmax[0] <= 2000.0


def test_platforms_are_pooled_separately():
    shapes_a = {f"a{i}": (1000.0, 200.0, 2.5) for i in range(3)}
    shapes_b = {f"b{i}": (1000.0, 200.0, 0.6) for i in range(3)}
    rng = np.random.default_rng(2)
    flat_spend = 200.0 * rng.uniform(0.99, 1.01, len(DAYS))
    frames = [
        synthetic(curves=shapes_a, platform="google"),
        synthetic(curves=shapes_b, platform="meta", seed=1),
        campaign_rows("a_flat", flat_spend, hill(flat_spend, 1000.0, 200.0, 2.5), "google"),
        campaign_rows("b_flat", flat_spend, hill(flat_spend, 1000.0, 200.0, 0.6), "meta"),
    ]
    fitted = fit_response_curves(pd.concat(frames, ignore_index=True))
    assert curve_of(fitted, "a_flat").curve.shape[0] > 2.0
    assert curve_of(fitted, "b_flat").curve.shape[0] < 0.8


def test_without_platform_all_campaigns_form_one_group():
    daily = synthetic().drop(columns="platform")
    fitted = fit_response_curves(daily)
    assert set(fitted.diagnostics["platform"]) == {"all"}
    assert len(fitted) == len(TRUE)


def test_campaigns_without_spend_or_value():
    zero_spend = campaign_rows("idle", np.zeros(10), np.zeros(10))
    no_value = campaign_rows("dud", np.full(10, 50.0), np.zeros(10))
    fitted = fit_response_curves(pd.concat([synthetic(), zero_spend, no_value], ignore_index=True))
    idle, dud = curve_of(fitted, "idle"), curve_of(fitted, "dud")
    assert idle.diagnostics["method"].iloc[0] == "no_spend"
    np.testing.assert_allclose(idle.curve.vmax[0], np.median(fitted.select(list(TRUE)).curve.vmax))
    assert dud.diagnostics["method"].iloc[0] == "no_value"
    assert dud.curve.vmax[0] == 0.0
    low, high = dud.value_interval(100.0)
    assert low[0] == high[0] == 0.0


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda d: d.drop(columns="spend"), ["missing", "spend"]),
        (lambda d: d.drop(columns=["date", "conversion_value"]), ["missing", "date", "conversion_value"]),
        (lambda d: d.assign(spend=d["spend"].where(d.index != 100)), ["NaN", "spend", "'beta'"]),
        (lambda d: d.assign(spend=np.where(d.index == 5, -1.0, d["spend"])), ["negative", "spend", "'alpha'"]),
        (
            lambda d: d.assign(conversion_value=np.where(d.index == 200, -3.0, d["conversion_value"])),
            ["negative", "conversion_value", "'gamma'"],
        ),
        (lambda d: pd.concat([d, d.iloc[[95]]]), ["duplicate", "(campaign_id, date)", "'beta'"]),
        (lambda d: d.assign(spend=d["spend"].astype(object).where(d.index != 3, "lots")), ["non-numeric", "'alpha'"]),
        (lambda d: d.iloc[0:0], ["no rows"]),
        (lambda d: d.assign(platform=np.where(d.index == 7, "google", d["platform"])), ["platforms", "'alpha'"]),
        (lambda d: d.assign(date=d["date"].astype(object).where(d.index != 300, None)), ["date", "'delta'"]),
    ],
)
def test_bad_input_raises_value_error_naming_problem_and_campaign(mutate, words):
    with pytest.raises(ValueError) as info:
        fit_response_curves(mutate(synthetic()))
    for word in words:
        assert word in str(info.value)


def test_fitted_curves_plug_into_allocate():
    fitted = fit_response_curves(synthetic())
    current = fitted.diagnostics["mean_spend"].to_numpy()
    plan = allocate(fitted, current.sum(), current=current, max_change=0.3)
    assert plan.success
    assert plan.expected_value >= fitted.value(current).sum()
    assert plan.spend.shape == (len(fitted),)
    with pytest.raises(ValueError, match="no fitted curve"):
        fitted.select(["nope"])


def hill_elasticity(s, half, shape):
    return shape / (1.0 + (s / half) ** shape)


def test_elasticity_diagnostics():
    fitted = fit_response_curves(synthetic(noise=0.0))
    mean_spend = fitted.diagnostics["mean_spend"].to_numpy()
    truth = [hill_elasticity(s, *TRUE[cid][1:]) for cid, s in zip(fitted.campaign_ids, mean_spend)]
    np.testing.assert_allclose(fitted.diagnostics["elasticity"], truth, rtol=0.01)
    assert (fitted.diagnostics["elasticity_shrinkage"] < 0.2).all()  # the data decide the slopes


def test_slopes_the_data_barely_show_are_pooled_toward_their_platform():
    """30 campaigns with the same curve shape, a few +-10 % budget steps and 15 % noise: each one's own
    data pin its elasticity down to about +-0.2, but together they show the slopes hardly differ."""
    rng = np.random.default_rng(11)
    frames, truth = [], []
    for i in range(30):
        base = rng.uniform(50, 500)
        level = np.repeat(1.0 + rng.uniform(-0.1, 0.1, 6), 15)
        spend = base * level * rng.uniform(0.97, 1.0, len(DAYS))
        half = 1.5 * base
        value = hill(spend, rng.uniform(3, 8) * 2.5 * base, half, 1.0) * rng.lognormal(-0.15**2 / 2, 0.15, len(DAYS))
        frames.append(campaign_rows(f"c{i:02d}", spend, value))
        truth.append(hill_elasticity(spend.mean(), half, 1.0))
    fitted = fit_response_curves(pd.concat(frames, ignore_index=True), carryover=False, seasonality=False)
    error = fitted.diagnostics["elasticity"].to_numpy() - np.array(truth)
    assert np.sqrt(np.mean(error**2)) < 0.09  # each alone: about 0.25
    assert (fitted.diagnostics["elasticity_shrinkage"] > 0.5).all()  # the pooled slope decides
