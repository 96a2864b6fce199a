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

Two weaker oracles locate the fitted plans' shortfall (``bench.shortfall``): the same oracle
told the carryover, weekday factors and noise the *fit* estimated instead of the true ones
(``fitted_evidence``), and the plug-in plan: ``allocate`` on one Hill curve per campaign at the
oracle's posterior-mean parameters instead of maximizing the posterior expected value.

The prior draws are a Monte Carlo approximation (importance sampling from the prior), so
the ceiling carries a little sampling noise; the grid has ``GRID`` points per campaign.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from optimizer import HillCurve, allocate
from optimizer.adstock import adstock

if TYPE_CHECKING:
    from bench.decision_quality import Market
    from optimizer import FittedCurves

CEILING_DRAWS = 20_000  # prior draws per campaign
GRID = 121  # spends per campaign, evenly across the allowed change
MAX_CHANGE = 0.3
_BISECTIONS = 100


@dataclass
class Evidence:
    """What the oracle is told besides the history, ``(campaigns, days)`` arrays in the market's order:
    each day's adstocked spend and weekday factor, and each campaign's log-normal noise level."""

    effective: np.ndarray
    season: np.ndarray
    noise: np.ndarray


@dataclass
class Posterior:
    """Per campaign: posterior expected value at each grid spend, and the posterior mean of
    ``(log vmax, log half_saturation, shape)``."""

    spends: np.ndarray
    expected: np.ndarray
    mean_parameters: np.ndarray


def true_evidence(market: Market) -> Evidence:
    """The simulation's own carryover, weekday factors and noise levels."""
    return Evidence(market.effective, market.season, market.noise)


def fitted_evidence(market: Market, fitted: FittedCurves) -> Evidence:
    """The carryover, weekday factors and noise levels ``fitted`` estimated from the market's history.

    Effective spend is the history's spend carried over at each fitted rate by the fit's own
    ``optimizer.adstock`` (in steady state on the first day); the noise level is the fit's
    residual standard deviation relative to the campaign's mean value (about the log-normal sigma).
    """
    shape = market.effective.shape
    spend = market.daily["spend"].to_numpy().reshape(shape)
    value = market.daily["conversion_value"].to_numpy().reshape(shape)
    weekday = market.daily["date"].dt.day_of_week.to_numpy().reshape(shape)
    diagnostics = fitted.diagnostics
    factors = np.ones((shape[0], 7)) if fitted.weekday_factors is None else fitted.weekday_factors
    return Evidence(
        effective=adstock(spend, diagnostics["adstock"].to_numpy(), restart=np.broadcast_to(np.arange(shape[1]) == 0, shape)),
        season=np.take_along_axis(factors, weekday, axis=1),
        noise=diagnostics["noise"].to_numpy() / value.mean(axis=1),
    )


def posterior(market: Market, draws: int = CEILING_DRAWS, seed: int = 0, evidence: Evidence | None = None) -> Posterior:
    """The oracle's posterior of each campaign's curve, given ``evidence`` (default: the truth)."""
    evidence = evidence or true_evidence(market)
    rng = np.random.default_rng(seed)
    value = market.daily["conversion_value"].to_numpy().reshape(market.effective.shape)
    log_observed = np.log(np.maximum(value / evidence.season, 1e-12))
    steps = np.linspace(1 - MAX_CHANGE, 1 + MAX_CHANGE, GRID)
    spends = market.current[:, None] * steps[None, :]
    expected = np.empty_like(spends)
    mean_parameters = np.empty((len(market.current), 3))
    for i in range(len(market.current)):
        vmax, half, shape = market.prior(market.base[i], draws, rng)
        sigma = evidence.noise[i]
        curve = _hill(vmax, half, shape, evidence.effective[i])
        residual = log_observed[i] - np.log(np.maximum(curve, 1e-300)) + sigma**2 / 2
        log_weight = -np.sum(residual**2, axis=1) / (2 * sigma**2)
        weight = np.exp(log_weight - log_weight.max())
        weight /= weight.sum()
        expected[i] = weight @ _hill(vmax, half, shape, spends[i])
        mean_parameters[i] = weight @ np.column_stack([np.log(vmax), np.log(half), shape])
    return Posterior(spends, expected, mean_parameters)


def bayes_plan(market: Market, draws: int = CEILING_DRAWS, seed: int = 0, evidence: Evidence | None = None) -> np.ndarray:
    """The oracle's Bayes-optimal daily spends (summing to today's total, within +-``MAX_CHANGE``)."""
    post = posterior(market, draws, seed, evidence)
    return grid_allocation(post.spends, post.expected, float(market.current.sum()))


def plugin_plan(market: Market, post: Posterior) -> np.ndarray:
    """``allocate`` on the Hill curves at the posterior-mean parameters of ``post`` (same budget and bounds)."""
    log_vmax, log_half, shape = post.mean_parameters.T
    curves = HillCurve(np.exp(log_vmax), np.exp(log_half), shape)
    return allocate(curves, float(market.current.sum()), current=market.current, max_change=MAX_CHANGE).spend


def _hill(vmax, half, shape, spend) -> np.ndarray:
    """``(draws, len(spend))`` values of the drawn Hill curves at ``spend``."""
    s = np.asarray(spend, dtype=float)[None, :]
    k = shape[:, None]
    return vmax[:, None] / (1.0 + (half[:, None] / s) ** k)


def grid_allocation(spends: np.ndarray, expected: np.ndarray, total: float) -> np.ndarray:
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
