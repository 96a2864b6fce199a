"""The Bayes ceiling of a simulated market: the best plan its 90 days of history allow.

An oracle knows everything about the market's simulation except the curves themselves: the
distribution they were drawn from (``Market.prior``, around each campaign's base budget, which
the history's average spend only approximates), each campaign's carryover (so its effective
spend on every day), its weekday factors and its noise level. For each campaign it
draws ``draws`` curves from that prior, weights each by the likelihood of the campaign's
observed values (log-normal noise around the curve at the effective spend, times the
weekday factor), and takes the posterior expected value on a grid of spends within the
allowed change. Its plan maximizes the sum of those expected values under the same budget
and bounds as the fitted plan: the Bayes-optimal decision given the data, which no method
fitted to the same history can beat on average. The captured uplift of its plan is the
*ceiling* the decision-quality benchmark compares the fitted plans with.

The prior draws are a Monte Carlo approximation (importance sampling from the prior), so
the ceiling carries a little sampling noise; the grid has ``GRID`` points per campaign.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bench.decision_quality import Market

CEILING_DRAWS = 20_000  # prior draws per campaign
GRID = 121  # spends per campaign, evenly across the allowed change
MAX_CHANGE = 0.3
_BISECTIONS = 100


def bayes_plan(market: Market, draws: int = CEILING_DRAWS, seed: int = 0) -> np.ndarray:
    """The oracle's Bayes-optimal daily spends (summing to today's total, within +-``MAX_CHANGE``)."""
    rng = np.random.default_rng(seed)
    value = market.daily["conversion_value"].to_numpy().reshape(market.effective.shape)
    log_observed = np.log(np.maximum(value / market.season, 1e-12))
    steps = np.linspace(1 - MAX_CHANGE, 1 + MAX_CHANGE, GRID)
    spends = market.current[:, None] * steps[None, :]
    expected = np.empty_like(spends)
    for i in range(len(market.current)):
        vmax, half, shape = market.prior(market.base[i], draws, rng)
        sigma = market.noise[i]
        curve = _hill(vmax, half, shape, market.effective[i])
        residual = log_observed[i] - np.log(np.maximum(curve, 1e-300)) + sigma**2 / 2
        log_weight = -np.sum(residual**2, axis=1) / (2 * sigma**2)
        weight = np.exp(log_weight - log_weight.max())
        expected[i] = weight @ _hill(vmax, half, shape, spends[i]) / weight.sum()
    return _grid_allocation(spends, expected, float(market.current.sum()))


def _hill(vmax, half, shape, spend) -> np.ndarray:
    """``(draws, len(spend))`` values of the drawn Hill curves at ``spend``."""
    s = np.asarray(spend, dtype=float)[None, :]
    k = shape[:, None]
    return vmax[:, None] / (1.0 + (half[:, None] / s) ** k)


def _grid_allocation(spends: np.ndarray, expected: np.ndarray, total: float) -> np.ndarray:
    """Maximize the summed ``expected`` values, one grid point per campaign, spending ``total``.

    Bisection on the price of a unit of budget: each campaign takes the grid spend maximizing
    its expected value minus the price times the spend; the price at which the picks just
    fit the total is found, and the picks are then scaled onto the total (they miss it by
    less than a grid step per campaign).
    """
    low, high = 0.0, float(np.max(expected / spends)) * 10 + 1.0
    pick = spends[:, 0]
    for _ in range(_BISECTIONS):
        price = (low + high) / 2
        pick = np.take_along_axis(spends, np.argmax(expected - price * spends, axis=1)[:, None], axis=1)[:, 0]
        if pick.sum() > total:
            low = price
        else:
            high = price
    pick = np.take_along_axis(spends, np.argmax(expected - high * spends, axis=1)[:, None], axis=1)[:, 0]
    return pick * total / pick.sum()
