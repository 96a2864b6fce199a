"""A Bayes plan with a prior learned from the market itself: what empirical Bayes can do without the oracle.

The Bayes ceiling's oracle knows the distribution the true curves were drawn from. A method
fitted on one market can only estimate it from that market's campaigns. This one does so
nonparametrically, as a competitor to ``fit_response_curves`` on the benchmark:

- candidate curves: ``ATOMS`` points ``(rho, shape)`` spread evenly over log rho in
  [log 0.05, log 20] and shape in [0.5, 3], with ``rho`` the half-saturation relative to the
  campaign's mean spend (the fit's own bounds, give or take);
- each campaign's likelihood of each candidate: log-normal noise around the curve at the
  effective spend (carryover, weekday factors and noise level as the fit estimated them:
  ``bench.bayes_ceiling.fitted_evidence``), with the curve's level profiled out;
- the prior: weights on the candidates by the EM algorithm for the nonparametric maximum
  likelihood estimate (Laird 1978), stopped after ``ITERATIONS`` steps (run to convergence it
  concentrates on a few atoms and decides worse);
- the plan: the posterior expected value on the ceiling's spend grid, maximized under the
  same budget and bounds (``bench.bayes_ceiling.grid_allocation``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from bench.bayes_ceiling import GRID, MAX_CHANGE, Evidence, grid_allocation

if TYPE_CHECKING:
    from bench.decision_quality import Market

ATOMS = 4000
ITERATIONS = 30
RHO_RANGE, SHAPE_RANGE = (0.05, 20.0), (0.5, 3.0)


def learned_prior_plan(market: Market, evidence: Evidence, atoms: int = ATOMS, iterations: int = ITERATIONS, seed: int = 0):
    """Daily spends maximizing the posterior expected value under a prior learned from ``market``."""
    rng = np.random.default_rng(seed)
    rho = np.exp(rng.uniform(*np.log(RHO_RANGE), atoms))
    shape = rng.uniform(*SHAPE_RANGE, atoms)
    days = market.effective.shape
    scale = market.daily["spend"].to_numpy().reshape(days).mean(axis=1)
    value = market.daily["conversion_value"].to_numpy().reshape(days)
    log_y = np.log(np.maximum(value / evidence.season, 1e-12))
    x = evidence.effective / scale[:, None]
    log_likelihood = np.empty((days[0], atoms))
    log_level = np.empty((days[0], atoms))
    for i in range(days[0]):
        residual = log_y[i][None, :] - _log_hill(x[i][None, :], rho[:, None], shape[:, None])
        mean = residual.mean(axis=1)
        sigma2 = evidence.noise[i] ** 2
        log_likelihood[i] = -np.sum((residual - mean[:, None]) ** 2, axis=1) / (2 * sigma2)
        log_level[i] = mean + sigma2 / 2 * (1 + 1 / days[1])  # E[value] of a log-normal, level estimated
    likelihood = np.exp(log_likelihood - log_likelihood.max(axis=1, keepdims=True))
    prior = np.full(atoms, 1.0 / atoms)
    for _ in range(iterations):
        prior = _posterior(likelihood, prior).mean(axis=0)
    weights = _posterior(likelihood, prior)
    spends = market.current[:, None] * np.linspace(1 - MAX_CHANGE, 1 + MAX_CHANGE, GRID)[None, :]
    expected = np.empty_like(spends)
    for i in range(days[0]):
        curves = np.exp(log_level[i][:, None] + _log_hill(spends[i][None, :] / scale[i], rho[:, None], shape[:, None]))
        expected[i] = weights[i] @ curves
    return grid_allocation(spends, expected, float(market.current.sum()))


def _posterior(likelihood: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Each campaign's posterior weights on the candidates."""
    joint = likelihood * prior
    return joint / joint.sum(axis=1, keepdims=True)


def _log_hill(x, rho, shape):
    """log of x^shape / (x^shape + rho^shape), the Hill curve with vmax 1."""
    return shape * np.log(x) - np.logaddexp(shape * np.log(x), shape * np.log(rho))
