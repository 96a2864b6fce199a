"""The batched MAP solver agrees with scipy's least_squares problem by problem."""

import numpy as np
from scipy.optimize import least_squares

from optimizer.batch_fit import Problems, elasticity, fit_batch, predict

LOWER = np.array([np.log(1e-3), np.log(0.02), 0.5])
UPPER = np.array([np.log(1e3), np.log(50.0), 3.0])


def test_matches_scipy_least_squares_per_problem():
    rng = np.random.default_rng(0)
    p, t = 12, 60
    x = rng.uniform(0.4, 1.8, (p, t))
    truth = np.column_stack([rng.normal(0, 0.2, p), rng.normal(0, 0.5, p), rng.uniform(0.6, 2.5, p)])
    y = predict(truth, x) * rng.normal(1.0, 0.1, (p, t))
    weight = np.ones((p, t))
    weight[:3, 40:] = 0.0  # shorter series, padded
    noise = np.full(p, 0.1)
    mean, sd = np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.7, 0.5])
    problems = Problems(
        np.log(x), np.ones((p, t)), y * weight, weight, noise, np.tile(mean, (p, 1)), np.tile(sd, (p, 1))
    )
    fit = fit_batch(problems, np.tile(mean, (p, 1)), LOWER, UPPER)
    for i in range(p):
        keep = weight[i] > 0

        def residuals(theta, i=i, keep=keep):
            m = predict(theta[None, :], x[i : i + 1, keep])[0]
            return np.concatenate([(m - y[i, keep]) / noise[i], (theta - mean) / sd])

        reference = least_squares(residuals, mean, bounds=(LOWER, UPPER), xtol=1e-12, ftol=1e-12, gtol=1e-12)
        assert fit.cost[i] <= reference.cost + 1e-5
        np.testing.assert_allclose(fit.theta[i], reference.x, atol=2e-3)
        np.testing.assert_allclose(fit.hessian[i], reference.jac.T @ reference.jac, rtol=1e-2, atol=1e-6)


def test_parameters_at_a_bound_stay_there():
    x = np.linspace(0.5, 2.0, 30)[None, :]
    y = x**8 / (x**8 + 1.0)  # steeper than the steepest allowed shape (3)
    problems = Problems(
        np.log(x), np.ones_like(x), y, np.ones_like(x), np.array([0.01]), np.zeros((1, 3)), np.array([[3.0, 2.0, 1.5]])
    )
    fit = fit_batch(problems, np.array([[0.0, 0.0, 1.0]]), LOWER, UPPER)
    assert fit.theta[0, 2] == UPPER[2]
    assert np.all(np.isfinite(fit.theta)) and np.isfinite(fit.cost[0])


def test_elasticity_and_its_gradient():
    rng = np.random.default_rng(1)
    theta = np.column_stack([rng.normal(0, 0.3, 8), rng.normal(0, 1.0, 8), rng.uniform(0.5, 3.0, 8)])
    e, gradient = elasticity(theta)
    step = 1e-6  # d log m / d log x at x = 1, numerically
    numeric = (np.log(predict(theta, np.full((8, 1), np.exp(step)))) - np.log(predict(theta, np.ones((8, 1))))) / step
    np.testing.assert_allclose(e, numeric[:, 0], rtol=1e-4)
    for k in range(3):
        moved = theta.copy()
        moved[:, k] += step
        np.testing.assert_allclose(gradient[:, k], (elasticity(moved)[0] - e) / step, atol=1e-5)


def test_elasticity_prior_matches_scipy_least_squares():
    """With a prior on the elasticity at x = 1, each problem's MAP is least squares with one more residual."""
    rng = np.random.default_rng(3)
    p, t = 8, 45
    x = rng.uniform(0.85, 1.15, (p, t))  # little spend variation: the slope is weakly identified
    truth = np.column_stack([rng.normal(0, 0.2, p), rng.normal(0.3, 0.4, p), rng.uniform(0.7, 1.5, p)])
    y = predict(truth, x) * rng.normal(1.0, 0.15, (p, t))
    noise = np.full(p, 0.15)
    mean, sd = np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.7, 0.5])
    e_mean, e_sd = np.full(p, 0.5), np.full(p, 0.1)
    e_sd[-1] = np.inf  # switched off for the last problem
    problems = Problems(
        np.log(x), np.ones((p, t)), y, np.ones((p, t)), noise, np.tile(mean, (p, 1)), np.tile(sd, (p, 1)), e_mean, e_sd
    )
    fit = fit_batch(problems, np.tile(mean, (p, 1)), LOWER, UPPER)
    for i in range(p):

        def residuals(theta, i=i):
            m = predict(theta[None, :], x[i : i + 1])[0]
            extra = (elasticity(theta[None, :])[0] - e_mean[i]) / e_sd[i]
            return np.concatenate([(m - y[i]) / noise[i], (theta - mean) / sd, extra])

        reference = least_squares(residuals, mean, bounds=(LOWER, UPPER), xtol=1e-12, ftol=1e-12, gtol=1e-12)
        assert fit.cost[i] <= reference.cost + 1e-5
        np.testing.assert_allclose(fit.theta[i], reference.x, atol=2e-3)
    # the prior pulls the weakly identified elasticities toward its centre
    e_fit = elasticity(fit.theta)[0]
    plain_problems = Problems(np.log(x), np.ones((p, t)), y, np.ones((p, t)), noise, problems.prior_mean, problems.prior_sd)
    plain = fit_batch(plain_problems, np.tile(mean, (p, 1)), LOWER, UPPER)
    e_plain = elasticity(plain.theta)[0]
    assert np.all(np.abs(e_fit[:-1] - 0.5) <= np.abs(e_plain[:-1] - 0.5) + 1e-9)
    np.testing.assert_allclose(fit.theta[-1], plain.theta[-1], atol=1e-6)
