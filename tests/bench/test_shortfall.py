"""The shortfall columns of the decision-quality benchmark: the weaker oracles, the learned-prior plan, the summary."""

import numpy as np
import pytest

from bench.bayes_ceiling import fitted_evidence, plugin_plan, posterior
from bench.decision_quality import random_market
from bench.learned_prior import learned_prior_plan
from bench.shortfall import SHORTFALL_COLUMNS, shortfall_lines, shortfall_summary
from optimizer import allocate, fit_response_curves


@pytest.fixture(scope="module")
def market():
    return random_market(np.random.default_rng(3))


def _captured(market, plan) -> float:
    true, current = market.true, market.current
    best = allocate(true, current.sum(), current=current, max_change=0.3)
    v_current = true.value(current).sum()
    return (true.value(plan).sum() - v_current) / (best.expected_value - v_current)


def test_plugin_plan_of_a_point_mass_posterior_is_the_true_optimum(market):
    true = market.true
    by_base = {float(b): i for i, b in enumerate(market.base)}

    def point_mass(base, draws, rng):
        i = by_base[float(base)]
        return (np.full(draws, true.vmax[i]), np.full(draws, true.half_saturation[i]), np.full(draws, true.shape[i]))

    market_with_truth = random_market(np.random.default_rng(3))
    market_with_truth.prior = point_mass
    post = posterior(market_with_truth, draws=3)

    assert np.allclose(np.exp(post.mean_parameters[:, 0]), true.vmax)
    assert _captured(market_with_truth, plugin_plan(market_with_truth, post)) > 0.9999


def test_fitted_evidence_is_what_the_fit_estimated_on_each_day(market):
    fitted = fit_response_curves(market.daily)
    evidence = fitted_evidence(market, fitted)
    n, days = market.effective.shape

    first = market.daily.iloc[:days]
    weekday = first["date"].dt.day_of_week.to_numpy()
    assert np.allclose(evidence.season, fitted.weekday_factors[:, weekday])
    theta = fitted.diagnostics["adstock"].to_numpy()
    spend = market.daily["spend"].to_numpy().reshape(n, days)
    assert np.allclose(evidence.effective[:, 1], (1 - theta) * spend[:, 1] + theta * spend[:, 0])
    # The fit's noise estimates are the simulation's noise levels, roughly.
    assert np.median(evidence.noise / market.noise) == pytest.approx(1.0, abs=0.25)


def test_learned_prior_plan_spends_the_budget_within_bounds_and_beats_current(market):
    fitted = fit_response_curves(market.daily)
    plan = learned_prior_plan(market, fitted_evidence(market, fitted), atoms=1000)
    current = market.current

    assert plan.sum() == pytest.approx(current.sum())
    assert np.all(plan >= 0.7 * current * (1 - 1e-3)) and np.all(plan <= 1.3 * current * (1 + 1e-3))
    assert _captured(market, plan) > 0.5


def test_summary_means_per_group_and_the_text_quotes_them():
    keys = list(SHORTFALL_COLUMNS)
    rows = [
        {"market": "sandbox-1", **dict(zip(keys, [90.0, 93.0, 92.5, 92.0, 89.0]))},
        {"market": "random-0", **dict(zip(keys, [96.0, 97.0, 96.9, 96.5, 95.0]))},
        {"market": "random-1", **dict(zip(keys, [94.0, 95.0, 95.1, 94.5, 93.0]))},
    ]
    summary = shortfall_summary(rows)

    assert summary["sandbox"]["captured_uplift_pct"] == 90.0
    assert summary["random"]["captured_uplift_pct"] == 95.0
    assert summary["all markets"]["bayes_ceiling_pct"] == pytest.approx(95.0)
    text = "\n".join(shortfall_lines(rows))
    assert "| fitted plans (`fit_response_curves` + `allocate`) | 93.3 % | 90.0 % | 95.0 % |" in text
    assert "the fitted plans are -1.7 points" in text
    assert "is worth +2.5 points here" in text  # 94.83 - 92.33: the prior's worth
    assert shortfall_lines([{"market": "random-0", "captured_uplift_pct": 95.0}]) == []
