"""A batched MAP fit of Hill curves: many small regularized least-squares problems at once.

Each problem ``p`` fits ``theta = (log m1, log rho, shape)`` of the normalized model

    m(x) = m1 * (1 + rho**shape) / (1 + (rho / x)**shape)        (m1 = m(1); m(0) = 0)

to its days by minimizing

    F(theta) = 1/2 * sum_t w_t (m(x_t) - y_t)**2 / noise**2 + 1/2 * sum_k ((theta_k - mean_k) / sd_k)**2

within box bounds, plus optionally ``1/2 * ((e(theta) - e_mean) / e_sd)**2``: a Gaussian
prior on the elasticity ``e`` at ``x = 1`` (``elasticity``). All problems advance together
(one array pass per iteration over all of them) with a projected Levenberg-Marquardt method: Gauss-Newton steps damped per
problem, clipped to the box, with the parameters stuck at a bound (gradient pointing out)
held fixed. Problems drop out as they converge, so stragglers cost little. The Gauss-Newton
matrix at the solution, ``J'J + diag(1/sd**2)`` (plus the elasticity prior's ``g g' / e_sd**2``,
``g`` the gradient of ``e``), is returned for the Laplace covariance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

MAX_ITER = 100
# An accepted step lowering the cost (a negative log posterior) by less than this has converged:
# far below anything that matters statistically. Large-residual fits converge only linearly
# along their flat directions (Gauss-Newton), so a tighter tolerance costs many iterations.
_COST_ATOL = 1e-6
_STEP_TOL = 1e-10  # ... as has a step this small (in the parameters: logs and the shape)
_DAMPING_START, _DAMPING_MIN, _DAMPING_MAX = 1e-3, 1e-12, 1e12


@dataclass
class Problems:
    """Data of ``P`` problems padded to ``T`` days: ``(P, T)`` arrays and per-problem settings.

    ``log_x`` is finite everywhere (its value does not matter where ``has_x`` is false);
    ``weight`` is 1 on observed days, 0 on padding; ``has_x`` marks observed days with
    ``x > 0`` (the model is 0 elsewhere).
    """

    log_x: np.ndarray
    has_x: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    noise: np.ndarray  # (P,)
    prior_mean: np.ndarray  # (P, 3)
    prior_sd: np.ndarray  # (P, 3)
    # Optional Gaussian prior on the elasticity at x = 1 (see ``elasticity``): (P,) centres and
    # spreads (an infinite spread switches it off for that problem). None: no such prior.
    elasticity_mean: np.ndarray | None = None
    elasticity_sd: np.ndarray | None = None

    def take(self, index: np.ndarray) -> Problems:
        return Problems(
            *(None if getattr(self, f) is None else getattr(self, f)[index] for f in self.__dataclass_fields__)
        )


@dataclass
class Fit:
    """Per problem: parameters, the MAP objective, the weighted sum of squared residuals (in
    ``y`` units, without the noise) and the Gauss-Newton matrix."""

    theta: np.ndarray  # (P, 3)
    cost: np.ndarray  # (P,)
    sse: np.ndarray  # (P,)
    hessian: np.ndarray  # (P, 3, 3)


def predict(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The model ``m(x)`` of each problem (``theta`` ``(P, 3)``, ``x`` ``(P, T)``, 0 where ``x`` is 0)."""
    log_m1, log_rho, shape = (theta[:, k : k + 1] for k in range(3))
    with np.errstate(divide="ignore"):
        z = shape * (log_rho - np.log(x))
    return np.exp(log_m1) * (1.0 + np.exp(shape * log_rho)) * expit(-z)


def elasticity(theta: np.ndarray):
    """The elasticity ``d log m / d log x`` at ``x = 1`` of each problem, and its gradient in ``theta``.

    ``e = shape * q / (1 + q)`` with ``q = rho**shape``: the local slope of the curve at the
    mean spend in log-log terms (value at the mean spend times ``e`` is the marginal ROAS there).
    """
    log_rho, shape = theta[:, 1], theta[:, 2]
    share = expit(shape * log_rho)  # q / (1 + q)
    spread = share * (1.0 - share)  # q / (1 + q)**2
    gradient = np.column_stack([np.zeros_like(shape), shape * shape * spread, share + shape * log_rho * spread])
    return shape * share, gradient


def _evaluate(problems: Problems, theta: np.ndarray):
    """Cost, gradient, Gauss-Newton matrix and data SSE of every problem at ``theta``."""
    log_m1, log_rho, shape = (theta[:, k : k + 1] for k in range(3))
    q = np.exp(shape * log_rho)
    q_share = q / (1.0 + q)
    u = log_rho - problems.log_x  # log(rho / x)
    z = shape * u
    r_share = expit(z)  # r / (1 + r), r = (rho / x)**shape
    m = np.exp(log_m1) * (1.0 + q) * expit(-z) * problems.has_x
    residual = (m - problems.y) * problems.weight
    scale = 1.0 / problems.noise[:, None]
    j0 = m * problems.weight * scale
    j1 = j0 * shape * (q_share - r_share)
    j2 = j0 * (q_share * log_rho - r_share * u)
    e = residual * scale
    columns = (j0, j1, j2)
    prior = (theta - problems.prior_mean) / problems.prior_sd
    gradient = np.column_stack([np.einsum("pt,pt->p", c, e) for c in columns]) + prior / problems.prior_sd
    hessian = np.empty((theta.shape[0], 3, 3))
    for i in range(3):
        for j in range(i, 3):
            hessian[:, i, j] = hessian[:, j, i] = np.einsum("pt,pt->p", columns[i], columns[j])
    hessian[:, [0, 1, 2], [0, 1, 2]] += 1.0 / problems.prior_sd**2
    sse = np.einsum("pt,pt->p", residual, residual)
    cost = 0.5 * (sse / problems.noise**2 + np.sum(prior**2, axis=1))
    if problems.elasticity_sd is not None:  # one more (nonlinear) residual: (e - mean) / sd
        e, e_gradient = elasticity(theta)
        inverse_sd = 1.0 / problems.elasticity_sd
        e_residual = (e - problems.elasticity_mean) * inverse_sd
        e_jacobian = e_gradient * inverse_sd[:, None]
        cost = cost + 0.5 * e_residual**2
        gradient = gradient + e_jacobian * e_residual[:, None]
        hessian = hessian + e_jacobian[:, :, None] * e_jacobian[:, None, :]
    return cost, gradient, hessian, sse


def fit_batch(problems: Problems, start: np.ndarray, lower, upper, max_iter: int = MAX_ITER) -> Fit:
    """Minimize every problem's ``F`` from ``start`` (``(P, 3)``) within ``[lower, upper]``."""
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    theta = np.clip(np.asarray(start, dtype=float), lower, upper)
    cost, gradient, hessian, sse = _evaluate(problems, theta)
    damping = np.full(theta.shape[0], _DAMPING_START)
    todo = np.arange(theta.shape[0])
    work = problems
    eye = np.eye(3)
    for _ in range(max_iter):
        if not todo.size:
            break
        t, g, h = theta[todo], gradient[todo], hessian[todo]
        stuck = ((t <= lower) & (g > 0)) | ((t >= upper) & (g < 0))
        diag = np.maximum(np.diagonal(h, axis1=1, axis2=2), 1e-12)
        a = h + (damping[todo, None] * diag)[:, :, None] * eye
        free = ~stuck
        a = a * (free[:, :, None] & free[:, None, :]) + stuck[:, :, None] * eye
        step = np.linalg.solve(a, (-g * free)[..., None])[..., 0]
        trial = np.clip(t + step, lower, upper)
        new_cost, new_gradient, new_hessian, new_sse = _evaluate(work, trial)
        better = new_cost < cost[todo]
        accepted = todo[better]
        gain = cost[accepted] - new_cost[better]
        theta[accepted], cost[accepted] = trial[better], new_cost[better]
        gradient[accepted], hessian[accepted] = new_gradient[better], new_hessian[better]
        sse[accepted] = new_sse[better]
        damping[todo] = np.where(
            better, np.maximum(damping[todo] / 3.0, _DAMPING_MIN), np.minimum(damping[todo] * 5.0, _DAMPING_MAX)
        )
        moved = np.max(np.abs(trial - t), axis=1)
        done = np.zeros(todo.size, dtype=bool)
        done[better] = gain <= _COST_ATOL
        done |= moved <= _STEP_TOL
        done |= damping[todo] >= _DAMPING_MAX
        keep = ~done
        if keep.all():
            continue
        todo = todo[keep]
        work = work.take(keep)
    return Fit(theta, cost, sse, hessian)
