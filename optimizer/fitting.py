"""Fitting one Hill response curve and one carryover rate per campaign to its daily spend and value.

Model: ``value_t ~ hill(x_t)`` where ``x_t`` is the campaign's geometric adstock of spend
(``optimizer.adstock``: ``x_t = (1 - theta) spend_t + theta x_{t-1}``, so a steady spend ``s``
gives ``x = s``). The returned curves are therefore the steady-state daily spend -> daily
value curves, and ``diagnostics["adstock"]`` holds each campaign's ``theta``.

Each campaign is fitted in its own units (spend divided by its mean spend on active days,
value by its mean value on those days) as a maximum a posteriori fit: least squares on the
days plus a Gaussian prior on ``(log m1, log rho, shape)``, where ``m1`` is the value at the
mean spend and ``rho = half_saturation / mean spend``. The prior centres ``m1`` on the
observed mean value (a ROAS-scaled prior) and ``rho`` and ``shape`` on the median fit of the
*informative* campaigns of the same platform (enough active days and spend variation). So a
campaign whose data cannot pin a curve down (few days, near-constant spend) goes through
its own observed level with its platform's typical shape, while a campaign with
informative data keeps its own curve. Bounds keep every fit sane: shape in [0.5, 3] and
half_saturation within [0.02, 50] times the campaign's mean spend.

What a budget decision turns on is each curve's local slope: its elasticity ``d log value /
d log spend`` at the mean spend (value there times elasticity over spend is the marginal
ROAS). A few budget changes in 90 noisy days pin the level down well but this slope only
roughly, so the final fit also has an empirical Bayes prior on the elasticity: centred on its
platform's typical elasticity (itself pooled toward the whole market's when platforms do not
differ beyond noise) with the spread campaigns' elasticities really have, both estimated from
the barely regularized first pass net of each campaign's sampling variance. A campaign whose
data pin its slope down keeps it; one whose data do not is pulled toward its platform's by
as much as its data leave open (``diagnostics["elasticity_shrinkage"]``).

The carryover rate is chosen per campaign from the profile likelihood over a grid
(``ADSTOCK_GRID``, refined between grid points by a parabola), with a Gaussian prior around
its platform's typical rate (the median choice of its informative campaigns): data with
clear carryover decide on their own; flat or short series take the platform's rate.

Days whose value is far off the first fit (more than ``OUTLIER_THRESHOLD`` robust standard
deviations of the log ratio: a tracking glitch, a one-off deal) are left out of everything
after it and counted in ``diagnostics["outlier_days"]``; least squares would bend the curve
toward them.

Weekday seasonality (``optimizer.seasonality``) is estimated from the ratios of each day's
value to the first-pass fit, shrunk toward the platform's pattern, and divided out before
the final fit: it would otherwise count as noise (and weaken every curve's evidence).

Uncertainty (``FittedCurves.covariance``) is each campaign's Laplace approximation, plus
``FittedCurves.shared_sd``: the platform's prior centres (its typical elasticity and shape)
are themselves estimates from a few campaigns, and a campaign the prior decided inherits
their error, the same for every campaign of the platform. Left out, totals over many
campaigns would look far more certain than they are.

All campaigns are fitted together by a batched Levenberg-Marquardt solver
(``optimizer.batch_fit``), so thousands of campaigns fit in seconds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from optimizer.adstock import Panel, adstock, panel
from optimizer.batch_fit import Problems, elasticity, fit_batch, predict
from optimizer.curves import HillCurve
from optimizer.daily import validate_daily
from optimizer.fitted import RHO_BOUNDS, SHAPE_BOUNDS, FittedCurves
from optimizer.seasonality import weekday_factors

MIN_DAYS = 14  # active days a campaign needs to count as informative for its platform's prior
MIN_SPEND_CV = 0.15  # ... and this much relative spend variation
# Parameters (log m1, log rho, shape) in normalized units: m1 is the value at the mean spend
# (relative to the mean value), rho the half-saturation relative to the mean spend.
LOWER = np.array([np.log(1e-3), np.log(RHO_BOUNDS[0]), SHAPE_BOUNDS[0]])
UPPER = np.array([np.log(1e3), np.log(RHO_BOUNDS[1]), SHAPE_BOUNDS[1]])
GENERIC = np.array([0.0, 0.0, 1.0])  # prior centre without a platform to learn from
WEAK_PRIOR_SD = np.array([3.0, 2.0, 1.5])  # first pass: barely regularized
PRIOR_SD = np.array([1.0, 0.7, 0.5])  # second pass: around the platform's typical curve
NOISE_FLOOR = 1e-3  # smallest noise level, as a share of the mean value
OUTLIER_THRESHOLD = 5.0  # robust standard deviations of a day's log value ratio to the fit that make it an outlier
OUTLIER_SPREAD_FLOOR = 0.05  # least robust spread assumed (a near-perfect fit must not flag ordinary days)
MAX_AUTOCORRELATION = 0.9  # largest residual autocorrelation credited (beyond it, ~20x fewer effective days)
NOISE_PSEUDO_DAYS = 3.0  # weight of the platform's noise level in each campaign's
ADSTOCK_GRID = np.round(np.arange(0.0, 0.75, 0.1), 2)  # carryover rates profiled
ADSTOCK_PRIOR_SD = 0.15  # spread of campaigns' carryover around their platform's
ELASTICITY_SD_FLOOR = 0.05  # least spread of campaigns' elasticities the empirical Bayes prior allows
ELASTICITY_VARIANCE_FLOOR = 1e-4  # least sampling variance credited to one campaign's elasticity
MIN_ELASTICITY_CAMPAIGNS = 5  # fewer fitted campaigns: no elasticity prior
_EB_ITERATIONS = 50
_RESTART_OFFSETS = np.array([[0.0, 1.2, 0.0], [0.0, -1.2, 0.0]])  # extra starts (log rho) for informative fits


def fit_response_curves(daily: pd.DataFrame, carryover: bool = True, seasonality: bool = True) -> FittedCurves:
    """Fit a Hill curve (and a carryover rate) per campaign to daily spend -> conversion value, pooled by platform.

    ``daily`` has one row per campaign and day with ``campaign_id``, ``date``, ``spend``,
    ``conversion_value`` and optionally ``platform`` (pooling group; without it all
    campaigns form one group). Raises ``ValueError`` naming the problem and campaigns for
    missing columns, NaN, negative values or duplicate (campaign_id, date) rows.

    Days with spend 0 must be present as rows to count as such: a date missing inside a
    campaign's range is treated as unknown, and the carryover restarts after the gap as at
    the first day (in steady state at that day's spend). See ``optimizer.adstock``.

    Two passes: a barely regularized fit of every campaign at every carryover rate of the
    grid, whose informative fits give each platform's typical curve and rate; then the final
    fit of every campaign at its chosen rate with a prior around the platform's curve and an
    empirical Bayes prior on its elasticity (its local slope at the mean spend, estimated
    across all campaigns from the first pass; ``diagnostics["elasticity"]``).
    Campaigns without spend get the platform's median curve; campaigns with spend but no
    value get ``vmax = 0``. ``FittedCurves.diagnostics`` tells which campaigns were which
    and holds each campaign's carryover rate (``adstock``). ``carryover=False`` fixes every
    rate at 0 (value depends on the same day's spend only).

    ``seasonality``: estimate each campaign's weekday factors from the first pass's
    residual ratios (``optimizer.seasonality``: shrunk toward its platform's pattern) and
    divide them out before the final fit; the curves are then for an average weekday, the
    factors are in ``FittedCurves.weekday_factors`` and their half range in
    ``diagnostics["seasonality"]``.
    """
    days = panel(validate_daily(daily))
    stats = _campaign_stats(days)
    fit = np.flatnonzero(stats["method"] == "fit")
    result = {
        "theta": np.zeros((len(days.campaign_ids), 3)),
        "covariance": np.zeros((len(days.campaign_ids), 3, 3)),
        "noise": np.full(len(days.campaign_ids), np.nan),
        "shrinkage": np.full(len(days.campaign_ids), np.nan),
        "elasticity": np.full(len(days.campaign_ids), np.nan),
        "elasticity_shrinkage": np.full(len(days.campaign_ids), np.nan),
        "adstock": np.zeros(len(days.campaign_ids)),
        "shared_sd": np.zeros((len(days.campaign_ids), 3)),
        "autocorrelation": np.full(len(days.campaign_ids), np.nan),
        "outlier_days": np.zeros(len(days.campaign_ids), dtype=int),
    }
    factors = np.ones((len(days.campaign_ids), 7))
    centre, typical_rate = np.empty((0, 3)), np.empty(0)
    if fit.size:
        data = _Data(days, stats, fit)
        first = _first_pass(data, ADSTOCK_GRID if carryover else ADSTOCK_GRID[:1])
        rate, typical_rate, first_theta, first_sse = _choose_rates(data, first)
        carried = adstock(data.x, rate, data.restart)
        result["outlier_days"][fit] = outliers = _drop_outliers(data, carried, first_theta)
        if outliers.any():
            refit = fit_batch(data.weak_problems(carried), first_theta, LOWER, UPPER)
            first_theta, first_sse = refit.theta, refit.sse
        if seasonality:
            factors[fit], first_theta, first_sse = _remove_weekdays(data, carried, first_theta)
        centre, final, elasticity_sd, centre_se, autocorrelation = _final_pass(data, carried, first_theta, first_sse)
        result["theta"][fit] = final.theta
        result["covariance"][fit] = covariance = np.linalg.pinv(final.hessian)
        result["noise"][fit] = np.sqrt(final.sse / np.maximum(data.n - 3, 1))
        e, gradient = elasticity(final.theta)
        prior_covariance = np.linalg.pinv(_prior_precision(gradient, elasticity_sd))
        result["shrinkage"][fit] = np.minimum(covariance[:, 1, 1] / prior_covariance[:, 1, 1], 1.0)
        result["elasticity"][fit] = e
        with np.errstate(invalid="ignore", divide="ignore"):
            e_variance = np.einsum("pi,pij,pj->p", gradient, covariance, gradient)
            e_prior_variance = np.einsum("pi,pij,pj->p", gradient, prior_covariance, gradient)
            result["elasticity_shrinkage"][fit] = np.minimum(e_variance / e_prior_variance, 1.0)
            shape_shrinkage = np.minimum(covariance[:, 2, 2] / prior_covariance[:, 2, 2], 1.0)
        # Each campaign inherits the uncertainty of its platform's prior centres in proportion to
        # how much the prior decided its estimate: a shift shared by the platform's campaigns.
        result["shared_sd"][fit, 1] = np.nan_to_num(result["elasticity_shrinkage"][fit] * centre_se[:, 0])
        result["shared_sd"][fit, 2] = np.nan_to_num(shape_shrinkage * centre_se[:, 1])
        result["adstock"][fit] = rate
        result["autocorrelation"][fit] = autocorrelation
    _fill_unfitted(days, stats, fit, centre, typical_rate, result)
    return _assemble(days, stats, result, factors)


class _Data:
    """The fitted campaigns' days in normalized units (spend and value over their means on active days)."""

    def __init__(self, days: Panel, stats: dict, fit: np.ndarray):
        self.x = days.spend[fit] / stats["spend_scale"][fit, None]
        self.y = days.value[fit] / stats["value_scale"][fit, None]
        self.observed, self.restart, self.weekday = days.observed[fit], days.restart[fit], days.weekday[fit]
        self.groups = days.groups[fit]
        self.informative = stats["informative"][fit]
        self.n = self.observed.sum(axis=1)
        spread = np.sqrt(np.sum(self.observed * (self.y - _mean(self.y, self.observed)[:, None]) ** 2, axis=1) / self.n)
        self.weak_noise = np.maximum(spread, 0.05)  # first-pass noise level: the value's own spread

    def weak_problems(self, carried: np.ndarray) -> Problems:
        """Barely regularized problems around a generic curve."""
        return _problems(carried, self.y, self.observed, self.weak_noise, GENERIC, WEAK_PRIOR_SD)


def _first_pass(data: _Data, grid: np.ndarray) -> list:
    """Barely regularized fits at every carryover rate of ``grid`` (each warm-started from the previous)."""
    first, start = [], np.tile(GENERIC, (data.n.size, 1))
    for rate in grid:
        first.append(fit_batch(data.weak_problems(adstock(data.x, rate, data.restart)), start, LOWER, UPPER))
        start = first[-1].theta
    return first


def _choose_rates(data: _Data, first: list):
    """Each campaign's carryover rate: the profile likelihood over the grid, with a prior around its
    platform's typical rate (the median of its informative campaigns' own choices).

    Returns the rates, the platform rates, and the first-pass parameters and SSE at the grid
    rate nearest each campaign's.
    """
    grid = ADSTOCK_GRID[: len(first)]
    sse = np.array([f.sse for f in first])  # (rates, campaigns)
    profile = -0.5 * data.n * np.log(np.maximum(sse, 1e-12 * data.n))
    typical = _group_medians(_refine(profile, grid), data.groups, data.informative, fallback=0.0)
    rate = _refine(profile - 0.5 * ((grid[:, None] - typical) / ADSTOCK_PRIOR_SD) ** 2, grid)
    nearest = np.abs(grid[:, None] - rate).argmin(axis=0)
    pick = np.arange(rate.size)
    return rate, typical, np.array([f.theta for f in first])[nearest, pick], sse[nearest, pick]


def _drop_outliers(data: _Data, carried: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Drop days whose value is wildly off the first fit ``theta`` (a tracking glitch, a one-off deal).

    A day is an outlier when its log ratio of value to fit is more than ``OUTLIER_THRESHOLD``
    robust standard deviations (1.4826 x the median absolute deviation, at least
    ``OUTLIER_SPREAD_FLOOR``) from its campaign's median ratio. Outliers leave
    ``data.observed`` (their spend still carries over); days without value are never outliers
    (few conversions make them common). Returns the number of outliers per campaign.
    """
    level = predict(theta, carried)
    usable = data.observed & (data.y > 0) & (level > 0)
    ratio = np.log(np.where(usable, data.y, 1.0) / np.where(usable, level, 1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # campaigns without usable days: no outliers
        masked = np.where(usable, ratio, np.nan)
        centre = np.nanmedian(masked, axis=1, keepdims=True)
        spread = 1.4826 * np.nanmedian(np.abs(masked - centre), axis=1, keepdims=True)
    spread = np.maximum(np.nan_to_num(spread, nan=np.inf), OUTLIER_SPREAD_FLOOR)
    outlier = usable & (np.abs(ratio - np.nan_to_num(centre)) > OUTLIER_THRESHOLD * spread)
    data.observed = data.observed & ~outlier
    data.n = data.observed.sum(axis=1)
    return outlier.sum(axis=1)


def _remove_weekdays(data: _Data, carried: np.ndarray, theta: np.ndarray):
    """Weekday factors from the ratios of value to the first fit; divides them out of ``data.y``
    and refits the first pass. Returns the factors and the refit's parameters and SSE."""
    level = predict(theta, carried)
    usable = data.observed & (level > 0.05)
    ratio = np.where(usable, data.y / np.where(usable, level, 1.0), 1.0)
    factors = weekday_factors(ratio, usable, data.weekday, data.groups)
    data.y = data.y / _daily_factors(factors, data.weekday)
    refit = fit_batch(data.weak_problems(carried), theta, LOWER, UPPER)
    return factors, refit.theta, refit.sse


def _elasticity_prior(data: _Data, carried: np.ndarray, theta: np.ndarray, noise: np.ndarray):
    """Empirical Bayes prior of each campaign's elasticity at its mean spend: ``(centre, sd)`` per campaign.

    The elasticity ``e`` (``batch_fit.elasticity``: d log value / d log spend at the mean
    spend) is what a budget decision turns on, and what 90 days of a few budget changes pin
    down worst. Each campaign's ``e_i`` and its sampling variance ``v_i`` come from the barely
    regularized fit ``theta`` (Laplace, at the final ``noise`` level). Model: ``e_i = c_g +
    u_i + eps_i`` with ``u_i ~ N(0, tau^2)`` the campaigns' real spread, ``eps_i ~ N(0, v_i)``
    and ``c_g ~ N(mu, b^2)`` the centre of platform ``g``. Moment estimates, weighted by
    ``1 / (tau^2 + v_i)`` and iterated: ``mu``, each platform's centre shrunk toward ``mu`` by
    ``b^2 / (b^2 + its variance)``, and ``tau^2`` from the residual spread beyond the sampling
    variance (at least ``ELASTICITY_SD_FLOOR^2``). The final fit then shrinks each campaign's
    elasticity toward its platform's centre by as much as its own data leave open.

    With fewer than ``MIN_ELASTICITY_CAMPAIGNS`` campaigns the spread cannot be estimated:
    infinite ``sd`` (no such prior). Also returns each centre's standard error (its
    platform's ``1 / sqrt(sum of weights)``; 0 without a prior).
    """
    count = theta.shape[0]
    none = np.zeros(count), np.full(count, np.inf), np.zeros(count)
    if count < MIN_ELASTICITY_CAMPAIGNS:
        return none
    weak = _problems(carried, data.y, data.observed, noise, GENERIC, WEAK_PRIOR_SD)
    hessian = fit_batch(weak, theta, LOWER, UPPER, max_iter=0).hessian
    e, gradient = elasticity(theta)
    v = np.einsum("pi,pij,pj->p", gradient, np.linalg.pinv(hessian), gradient)
    v = np.where(np.isfinite(v), np.maximum(v, ELASTICITY_VARIANCE_FLOOR), np.inf)
    if np.isfinite(v).sum() < MIN_ELASTICITY_CAMPAIGNS:
        return none
    names, group = np.unique(data.groups.astype(str), return_inverse=True)
    tau2 = max(float(np.var(e) - np.median(v)), ELASTICITY_SD_FLOOR**2)
    for _ in range(_EB_ITERATIONS):
        w = 1.0 / (tau2 + v)
        mu = float(np.sum(w * e) / np.sum(w))
        weight = np.bincount(group, w, names.size)
        means = np.bincount(group, w * e, names.size) / weight
        if names.size > 1:  # platforms' centres, shrunk toward the market's by their spread beyond noise
            between = max(float(np.mean((means - mu) ** 2 - 1.0 / weight)), 0.0)
            means = mu + between / (between + 1.0 / weight) * (means - mu)
        centre = means[group]
        previous, tau2 = tau2, float(np.sum(w**2 * ((e - centre) ** 2 - v)) / np.sum(w**2))
        tau2 = max(tau2, ELASTICITY_SD_FLOOR**2)
        if abs(tau2 - previous) <= 1e-6 * previous:
            break
    weight = np.bincount(group, 1.0 / (tau2 + v), names.size)
    return centre, np.full(count, np.sqrt(tau2)), np.sqrt(1.0 / weight)[group]


def _final_pass(data: _Data, carried: np.ndarray, first_theta: np.ndarray, first_sse: np.ndarray):
    """The MAP fits with priors around each platform's typical curve and a pooled noise level.

    Starts from the platform's curve and the first-pass fit; informative campaigns also from
    half-saturations further out; every campaign's elasticity at its mean spend has an
    empirical Bayes prior (``_elasticity_prior``). Returns the prior centres of the parameters,
    the best fits, the elasticity prior's spread per campaign, the standard errors of each
    campaign's elasticity and shape prior centres (``(campaigns, 2)``) and the residual
    autocorrelation its noise level was widened for (``_residual_autocorrelation``).
    """
    groups, informative = data.groups, data.informative
    centre = np.column_stack(
        [
            np.zeros(groups.size),
            _group_medians(first_theta[:, 1], groups, informative, fallback=GENERIC[1]),
            _group_medians(first_theta[:, 2], groups, informative, fallback=GENERIC[2]),
        ]
    )
    own_noise = np.sqrt(first_sse / np.maximum(data.n - 3, 1))
    group_noise = _group_medians(own_noise, groups, informative, fallback=0.2)
    dof = np.maximum(data.n - 3, 0)
    noise = np.sqrt((dof * own_noise**2 + NOISE_PSEUDO_DAYS * group_noise**2) / (dof + NOISE_PSEUDO_DAYS))
    noise = np.maximum(noise, NOISE_FLOOR)
    # Autocorrelated residuals carry less information than as many independent days: with
    # spend that moves in steps, an AR(1) residual with coefficient r is worth about
    # (1 - r) / (1 + r) independent days each, so the noise level is widened by the inverse.
    autocorrelation = _residual_autocorrelation(data, carried, first_theta)
    noise = noise * np.sqrt((1 + autocorrelation) / (1 - autocorrelation))
    problems = _problems(carried, data.y, data.observed, noise, centre, PRIOR_SD)
    problems.elasticity_mean, problems.elasticity_sd, elasticity_se = _elasticity_prior(data, carried, first_theta, noise)
    final = fit_batch(problems, centre, LOWER, UPPER)
    _keep_better(final, fit_batch(problems, first_theta, LOWER, UPPER), np.arange(groups.size))
    some = np.flatnonzero(informative)
    if some.size:
        subset = problems.take(some)
        for offset in _RESTART_OFFSETS:
            _keep_better(final, fit_batch(subset, centre[some] + offset, LOWER, UPPER), some)
    shape_se = _group_medians(first_theta[:, 2], groups, informative, fallback=PRIOR_SD[2], statistic=_median_se)
    return centre, final, problems.elasticity_sd, np.column_stack([elasticity_se, shape_se]), autocorrelation


def _residual_autocorrelation(data: _Data, carried: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Per campaign, its platform's typical lag-1 autocorrelation of the residuals of the fit ``theta``.

    The median over the platform's informative campaigns (one campaign's 90 residuals give a
    noisy estimate), clipped to ``[0, MAX_AUTOCORRELATION]``: negative autocorrelation is not
    taken as extra information. Pairs of days span neither a gap nor padding.
    """
    residual = np.where(data.observed, data.y - predict(theta, carried), 0.0)
    pairs = data.observed[:, 1:] & data.observed[:, :-1] & ~data.restart[:, 1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        own = np.sum(pairs * residual[:, 1:] * residual[:, :-1], axis=1) / np.sum(residual**2, axis=1)
    own = np.nan_to_num(own)
    return np.clip(_group_medians(own, data.groups, data.informative, fallback=0.0), 0.0, MAX_AUTOCORRELATION)


def _prior_precision(gradient: np.ndarray, elasticity_sd: np.ndarray) -> np.ndarray:
    """The final fit's prior alone as a precision matrix of ``theta``, per campaign: the
    parameters' priors plus the elasticity prior (linearized with ``gradient``)."""
    jacobian = gradient / elasticity_sd[:, None]
    return np.diag(1.0 / PRIOR_SD**2) + jacobian[:, :, None] * jacobian[:, None, :]


def _keep_better(best, other, rows: np.ndarray) -> None:
    """Replace ``best``'s fits at ``rows`` by ``other``'s (fits of those rows) where they cost less."""
    better = other.cost < best.cost[rows]
    for field in ("theta", "cost", "sse", "hessian"):
        getattr(best, field)[rows[better]] = getattr(other, field)[better]


def _daily_factors(factors: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    """The ``(C, T)`` factor of each day (1 on padding)."""
    return np.where(weekday >= 0, np.take_along_axis(factors, np.clip(weekday, 0, 6), axis=1), 1.0)


def _mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Row means of ``values`` over ``mask`` (NaN for empty rows)."""
    count = mask.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.sum(values * mask, axis=1) / count, np.nan)


def _campaign_stats(days: Panel) -> dict[str, np.ndarray]:
    """Per campaign: active days, mean spend and value on them, spend variation, fit method."""
    active = days.observed & (days.spend > 0)
    n_active = active.sum(axis=1)
    spend_scale = _mean(days.spend, active)
    value_scale = _mean(days.value, active)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = np.sqrt(_mean((days.spend - np.nan_to_num(spend_scale)[:, None]) ** 2, active))
        spend_cv = spread / spend_scale
    method = np.where(n_active == 0, "no_spend", np.where(value_scale == 0, "no_value", "fit")).astype(object)
    informative = (method == "fit") & (n_active >= MIN_DAYS) & (spend_cv >= MIN_SPEND_CV)
    return {
        "n_active": n_active,
        "spend_scale": spend_scale,
        "value_scale": value_scale,
        "spend_cv": spend_cv,
        "method": method,
        "informative": informative,
    }


def _problems(x: np.ndarray, y, observed, noise, prior_mean, prior_sd) -> Problems:
    """The batch of MAP problems for adstocked normalized spend ``x`` and normalized value ``y``."""
    has_x = observed & (x > 0)
    count = x.shape[0]
    return Problems(
        log_x=np.log(np.where(has_x, x, 1.0)),
        has_x=has_x.astype(float),
        y=np.where(observed, y, 0.0),
        weight=observed.astype(float),
        noise=np.asarray(noise, dtype=float),
        prior_mean=np.broadcast_to(prior_mean, (count, 3)),
        prior_sd=np.broadcast_to(prior_sd, (count, 3)),
    )


def _refine(scores: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Per column, the grid point with the highest score, moved to the vertex of the parabola through it
    and its neighbours (by at most half a grid step)."""
    best = np.argmax(scores, axis=0)
    rate = grid[best].astype(float)
    inner = (best > 0) & (best < grid.size - 1)
    if grid.size < 3 or not inner.any():
        return rate
    cols = np.flatnonzero(inner)
    left, mid, right = (scores[best[cols] + d, cols] for d in (-1, 0, 1))
    curvature = left - 2.0 * mid + right
    with np.errstate(invalid="ignore", divide="ignore"):
        offset = np.where(curvature < 0, 0.5 * (left - right) / curvature, 0.0)
    rate[cols] += np.clip(np.nan_to_num(offset), -0.5, 0.5) * (grid[1] - grid[0])
    return rate


def _group_medians(
    values: np.ndarray, groups: np.ndarray, informative: np.ndarray, fallback: float, statistic=np.median
) -> np.ndarray:
    """Per campaign, the median (or ``statistic``) of ``values`` over its group's informative campaigns.

    Groups without one borrow the statistic over all informative campaigns, or ``fallback``.
    """
    overall = float(statistic(values[informative])) if informative.any() else fallback
    out = np.full(values.size, overall)
    for group in np.unique(groups):
        members = groups == group
        chosen = members & informative
        if chosen.any():
            out[members] = statistic(values[chosen])
    return out


def _median_se(values: np.ndarray) -> float:
    """Large-sample standard error of the median of ``values`` (robust spread from the MAD).

    A single value has no spread to go on: its error is taken as the prior's shape spread.
    """
    if values.size < 2:
        return float(PRIOR_SD[2])
    spread = 1.4826 * float(np.median(np.abs(values - np.median(values))))
    return 1.2533 * spread / np.sqrt(values.size)


def _fill_unfitted(days: Panel, stats: dict, fit: np.ndarray, centre: np.ndarray, typical_rate, result: dict) -> None:
    """Campaigns without a fit: no value gets vmax 0 (the platform's shape); both get its carryover rate."""
    by_group_centre = {g: c for g, c in zip(days.groups[fit], centre)}
    by_group_rate = {g: r for g, r in zip(days.groups[fit], typical_rate)}
    default_centre = np.median(centre, axis=0) if fit.size else GENERIC
    default_rate = float(np.median(typical_rate)) if fit.size else 0.0
    for i in np.flatnonzero(stats["method"] != "fit"):
        group = days.groups[i]
        result["adstock"][i] = by_group_rate.get(group, default_rate)
        if stats["method"][i] == "no_value":
            c = by_group_centre.get(group, default_centre)
            result["theta"][i] = [-np.inf, c[1], c[2]]


def _assemble(days: Panel, stats: dict, result: dict, factors: np.ndarray) -> FittedCurves:
    """Turn normalized fits into a FittedCurves in original units, with diagnostics."""
    method, groups = stats["method"], days.groups
    spent = method != "no_spend"
    reference = np.where(spent, stats["spend_scale"], 1.0)  # spend at which each campaign's value parameter is taken
    with np.errstate(divide="ignore"):
        offset = np.column_stack(
            [np.where(method == "fit", np.log(np.where(spent, stats["value_scale"], 1.0)), 0.0), np.log(reference)]
        )
    params = result["theta"].copy()  # log value at reference, log half_saturation, shape
    params[:, :2] += offset
    params[~spent] = 0.0
    covariance = result["covariance"]
    with np.errstate(over="ignore"):
        vmax = np.exp(params[:, 0]) * (1.0 + (np.exp(params[:, 1]) / reference) ** params[:, 2])
    for i in np.flatnonzero(~spent):  # no spend: the group's median fitted curve, if there is one
        peers = (method == "fit") & (groups == groups[i])
        if peers.any():
            vmax[i] = np.median(vmax[peers])
            params[i, 1:] = np.median(params[peers, 1:], axis=0)
            reference[i] = np.exp(params[i, 1])  # at the half-saturation spend, value = vmax / 2
            params[i, 0] = np.log(vmax[i] / 2.0)
            covariance[i] = np.diag(PRIOR_SD**2)
        else:
            vmax[i], params[i] = 0.0, [-np.inf, 0.0, 1.0]
    vmax = np.where(np.isfinite(vmax), vmax, 0.0)
    curve = HillCurve(vmax, np.exp(params[:, 1]), params[:, 2])
    return FittedCurves(
        campaign_ids=days.campaign_ids,
        curve=curve,
        diagnostics=_diagnostics(days, stats, result, curve, factors),
        reference_spend=reference,
        covariance=covariance,
        weekday_factors=factors,
        shared_sd=result["shared_sd"],
    )


def _diagnostics(days: Panel, stats: dict, result: dict, curve: HillCurve, factors: np.ndarray) -> pd.DataFrame:
    """``FittedCurves.diagnostics``: one row per campaign, indexed by campaign_id (fit on the reported values)."""
    carried = adstock(days.spend, result["adstock"], days.restart)
    predicted = curve.value(carried.T).T * _daily_factors(factors, days.weekday)
    observed = days.observed
    n_days = observed.sum(axis=1)
    sse = np.sum(observed * (days.value - predicted) ** 2, axis=1)
    sst = np.sum(observed * (days.value - _mean(days.value, observed)[:, None]) ** 2, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(sst > 0, 1.0 - sse / sst, np.nan)
    fit = stats["method"] == "fit"
    return pd.DataFrame(
        {
            "campaign_id": days.campaign_ids,
            "platform": days.groups,
            "n_days": n_days,
            "n_spend_days": stats["n_active"],
            "mean_spend": stats["spend_scale"],
            "spend_cv": stats["spend_cv"],
            "r2": r2,
            "rmse": np.sqrt(sse / n_days),
            "noise": np.where(fit, result["noise"] * np.where(fit, stats["value_scale"], 0.0), np.nan),
            "shrinkage": result["shrinkage"],
            "elasticity": result["elasticity"],
            "elasticity_shrinkage": result["elasticity_shrinkage"],
            "method": stats["method"],
            "adstock": result["adstock"],
            "autocorrelation": result["autocorrelation"],
            "outlier_days": result["outlier_days"],
            "seasonality": (factors.max(axis=1) - factors.min(axis=1)) / 2,
        }
    ).set_index("campaign_id")
