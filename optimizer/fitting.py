"""Fitting one Hill response curve per campaign to its daily spend and conversion value.

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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from optimizer.curves import HillCurve
from optimizer.daily import validate_daily
from optimizer.fitted import SHAPE_BOUNDS, FittedCurves

MIN_DAYS = 14  # active days a campaign needs to count as informative for its platform's prior
MIN_SPEND_CV = 0.15  # ... and this much relative spend variation
# Parameters (log m1, log rho, shape) in normalized units: m1 is the value at the mean spend
# (relative to the mean value), rho the half-saturation relative to the mean spend.
LOWER = [*np.log([1e-3, 0.02]), SHAPE_BOUNDS[0]]
UPPER = [*np.log([1e3, 50.0]), SHAPE_BOUNDS[1]]
WEAK_PRIOR_SD = np.array([3.0, 2.0, 1.5])  # first pass: barely regularized
PRIOR_SD = np.array([1.0, 0.7, 0.5])  # second pass: around the platform's typical curve
NOISE_FLOOR = 1e-3  # smallest noise level, as a share of the mean value
NOISE_PSEUDO_DAYS = 3.0  # weight of the platform's noise level in each campaign's


@dataclass
class _Campaign:
    """One campaign's days, normalized, and its fit so far."""

    campaign_id: object
    group: str
    spend: np.ndarray
    value: np.ndarray
    theta: np.ndarray | None = None  # (log m1, log rho, shape)
    noise: float = np.nan  # residual standard deviation, normalized units
    covariance: np.ndarray | None = None
    shrinkage: float = np.nan
    method: str = "fit"

    def __post_init__(self):
        active = self.spend > 0
        self.n_active = int(active.sum())
        self.spend_scale = float(self.spend[active].mean()) if self.n_active else np.nan
        self.value_scale = float(self.value[active].mean()) if self.n_active else np.nan
        self.spend_cv = float(self.spend[active].std() / self.spend_scale) if self.n_active else np.nan
        self.x = self.spend / self.spend_scale if self.n_active else self.spend
        self.y = self.value / self.value_scale if self.value_scale else self.value

    @property
    def informative(self) -> bool:
        """Whether the days can pin down the curve's shape on their own."""
        return self.method == "fit" and self.n_active >= MIN_DAYS and self.spend_cv >= MIN_SPEND_CV


def _hill_terms(theta: np.ndarray, x: np.ndarray):
    """Model value ``m(x) = m1 * (1 + q) / (1 + r)`` with ``q = rho**shape``, ``r = (rho/x)**shape``.

    Returns ``(m, q / (1 + q), r / (1 + r))``; at ``x = 0``, ``m = 0`` and the last term is 1.
    """
    log_m1, log_rho, shape = theta
    q = np.exp(shape * log_rho)
    with np.errstate(divide="ignore", over="ignore"):
        r = (np.exp(log_rho) / x) ** shape
        r_share = 1.0 / (1.0 + 1.0 / r)
    return np.exp(log_m1) * (1.0 + q) / (1.0 + r), q / (1.0 + q), r_share


def _residuals(theta, x, y, noise, prior_mean, prior_sd) -> np.ndarray:
    m, _, _ = _hill_terms(theta, x)
    return np.concatenate([(m - y) / noise, (theta - prior_mean) / prior_sd])


def _jacobian(theta, x, y, noise, prior_mean, prior_sd) -> np.ndarray:
    m, q_share, r_share = _hill_terms(theta, x)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.where(x > 0, theta[1] - np.log(x), 0.0)
    d_rho = m * theta[2] * (q_share - r_share)
    d_shape = m * (q_share * theta[1] - r_share * log_ratio)
    return np.vstack([np.column_stack([m, d_rho, d_shape]) / noise, np.diag(1.0 / prior_sd)])


def _map_fit(c: _Campaign, noise: float, prior_mean: np.ndarray, prior_sd: np.ndarray, starts) -> None:
    """Fit ``c`` by regularized least squares from each start; keep the best, with its Laplace covariance."""
    args = (c.x, c.y, noise, prior_mean, prior_sd)
    margin = 1e-9
    best = None
    for start in starts:
        x0 = np.clip(start, np.add(LOWER, margin), np.subtract(UPPER, margin))
        fit = least_squares(_residuals, x0, jac=_jacobian, bounds=(LOWER, UPPER), args=args, method="trf")
        if best is None or fit.cost < best.cost:
            best = fit
    c.theta = best.x
    c.covariance = np.linalg.pinv(best.jac.T @ best.jac)
    c.shrinkage = float(min(c.covariance[1, 1] / prior_sd[1] ** 2, 1.0))
    residual = best.fun[: c.x.size] * noise
    c.noise = float(np.sqrt(np.sum(residual**2) / max(c.x.size - 3, 1)))


def _prior_centre(log_rho: float, shape: float) -> np.ndarray:
    """Prior mean: a curve through (mean spend, mean value) with the given half-saturation and shape."""
    return np.array([0.0, log_rho, shape])


def _group_priors(campaigns: list[_Campaign]) -> dict[str, tuple[np.ndarray, float]]:
    """Per group: the prior centre and noise level from its informative campaigns' first-pass fits.

    Groups without an informative campaign borrow the median over all groups; without any,
    a generic curve (half-saturation at the mean spend, shape 1) and 20 % noise.
    """

    def summary(members: list[_Campaign]):
        if not members:
            return None
        thetas = np.array([c.theta for c in members])
        noise = float(np.median([c.noise for c in members]))
        return _prior_centre(float(np.median(thetas[:, 1])), float(np.median(thetas[:, 2]))), noise

    informative = [c for c in campaigns if c.informative]
    fallback = summary(informative) or (_prior_centre(0.0, 1.0), 0.2)
    return {
        group: summary([c for c in informative if c.group == group]) or fallback
        for group in {c.group for c in campaigns}
    }


def fit_response_curves(daily: pd.DataFrame) -> FittedCurves:
    """Fit a Hill curve per campaign to daily spend -> conversion value, pooled by platform.

    ``daily`` has one row per campaign and day with ``campaign_id``, ``date``, ``spend``,
    ``conversion_value`` and optionally ``platform`` (pooling group; without it all
    campaigns form one group). Raises ``ValueError`` naming the problem and campaigns for
    missing columns, NaN, negative values or duplicate (campaign_id, date) rows.

    Two passes: a barely regularized fit of every campaign, whose informative fits give each
    platform's typical curve; then the final fit of every campaign with a prior around it.
    Campaigns without spend get the platform's median curve; campaigns with spend but no
    value get ``vmax = 0``. ``FittedCurves.diagnostics`` tells which campaigns were which.
    """
    frame = validate_daily(daily)
    campaigns = [
        _Campaign(cid, rows["group"].iloc[0], rows["spend"].to_numpy(), rows["conversion_value"].to_numpy())
        for cid, rows in frame.groupby("campaign_id", sort=True)
    ]
    for c in campaigns:
        if c.n_active == 0:
            c.method = "no_spend"
        elif c.value_scale == 0:
            c.method = "no_value"
        else:
            generic = _prior_centre(0.0, 1.0)
            _map_fit(c, max(float(np.std(c.y)), 0.05), generic, WEAK_PRIOR_SD, [generic])
    priors = _group_priors(campaigns)
    for c in campaigns:
        centre, group_noise = priors[c.group]
        if c.method == "no_value":
            c.theta, c.covariance = np.array([-np.inf, centre[1], centre[2]]), np.zeros((3, 3))
            continue
        if c.method != "fit":
            continue
        dof = max(c.x.size - 3, 0)
        noise = np.sqrt((dof * c.noise**2 + NOISE_PSEUDO_DAYS * group_noise**2) / (dof + NOISE_PSEUDO_DAYS))
        starts = [centre]
        if c.informative:
            starts += [c.theta, centre + [0.0, 1.2, 0.0], centre - [0.0, 1.2, 0.0]]
        _map_fit(c, max(noise, NOISE_FLOOR), centre, PRIOR_SD, starts)
    return _assemble(campaigns)


def _assemble(campaigns: list[_Campaign]) -> FittedCurves:
    """Turn normalized fits into a FittedCurves in original units, with diagnostics."""
    n = len(campaigns)
    reference = np.ones(n)  # spend at which each campaign's value parameter is taken
    params = np.zeros((n, 3))  # log value at reference, log half_saturation, shape
    covariance = np.zeros((n, 3, 3))
    for i, c in enumerate(campaigns):
        if c.method != "no_spend":
            reference[i] = c.spend_scale
            params[i] = c.theta + [np.log(c.value_scale) if c.value_scale else 0.0, np.log(c.spend_scale), 0.0]
            covariance[i] = c.covariance
    vmax = np.exp(params[:, 0]) * (1.0 + (np.exp(params[:, 1]) / reference) ** params[:, 2])
    for i, c in enumerate(campaigns):  # no spend: the group's median fitted curve, if there is one
        peers = [j for j, p in enumerate(campaigns) if p.method == "fit" and p.group == c.group]
        if c.method == "no_spend" and peers:
            vmax[i] = np.median(vmax[peers])
            params[i, 1:] = np.median(params[peers, 1:], axis=0)
            reference[i] = np.exp(params[i, 1])  # at the half-saturation spend, value = vmax / 2
            params[i, 0] = np.log(vmax[i] / 2.0)
            covariance[i] = np.diag(PRIOR_SD**2)
        elif c.method == "no_spend":
            vmax[i], params[i] = 0.0, [-np.inf, 0.0, 1.0]
    curve = HillCurve(vmax, np.exp(params[:, 1]), params[:, 2])
    diagnostics = pd.DataFrame([_diagnostics(c, curve.take([i])) for i, c in enumerate(campaigns)])
    return FittedCurves(
        campaign_ids=np.array([c.campaign_id for c in campaigns], dtype=object),
        curve=curve,
        diagnostics=diagnostics.set_index("campaign_id"),
        reference_spend=reference,
        covariance=covariance,
    )


def _diagnostics(c: _Campaign, curve: HillCurve) -> dict:
    """One campaign's row of ``FittedCurves.diagnostics``."""
    predicted = curve.value(c.spend[:, None])[:, 0]
    sse = float(np.sum((c.value - predicted) ** 2))
    sst = float(np.sum((c.value - c.value.mean()) ** 2))
    return {
        "campaign_id": c.campaign_id,
        "platform": c.group,
        "n_days": int(c.spend.size),
        "n_spend_days": c.n_active,
        "mean_spend": c.spend_scale,
        "spend_cv": c.spend_cv,
        "r2": 1.0 - sse / sst if sst > 0 else np.nan,
        "rmse": float(np.sqrt(sse / c.spend.size)),
        "noise": c.noise * c.value_scale if c.method == "fit" else np.nan,
        "shrinkage": c.shrinkage,
        "method": c.method,
    }
