"""``FittedCurves``: fitted Hill curves labelled by campaign, with fit diagnostics and uncertainty."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from optimizer.curves import HillCurve, ResponseCurves, spend_array

_INTERVAL_CHUNK = 500  # campaigns per batch of parameter draws: bounds the temporaries to tens of MB at 1000 draws
SHAPE_BOUNDS = (0.5, 3.0)  # Hill shapes the fit allows
RHO_BOUNDS = (0.02, 50.0)  # half-saturations the fit allows, relative to the mean spend


@dataclass(frozen=True, eq=False)
class FittedCurves(ResponseCurves):
    """Hill curves fitted per campaign, usable wherever a curve set is.

    Attributes:
        campaign_ids: the campaign of each position; every array here and in an
            ``Allocation`` of these curves follows this order.
        curve: the underlying ``HillCurve``.
        diagnostics: one row per campaign (index ``campaign_id``): platform, n_days,
            n_spend_days, mean_spend (on active days), spend_cv, r2, rmse, noise (residual
            standard deviation), shrinkage (posterior over prior variance of the
            half-saturation: near 1, the platform prior decided it; near 0, the data did),
            elasticity (``d log value / d log spend`` at mean_spend: the curve's local slope;
            value times elasticity over spend is the marginal ROAS there),
            elasticity_shrinkage (the same ratio for the elasticity, whose prior is its
            platform's typical elasticity with the campaigns' estimated spread),
            method (``fit``; ``no_spend``: the platform's median curve; ``no_value``: vmax 0),
            adstock (the carryover rate theta of ``x_t = (1 - theta) spend_t + theta x_{t-1}``,
            see ``optimizer.adstock``), autocorrelation (the platform's typical lag-1
            autocorrelation of residuals, at least 0: the noise level was widened by
            ``sqrt((1 + r) / (1 - r))`` for it, so autocorrelated days count as fewer),
            outlier_days (days left out of the fit because their value was far off it: see
            ``optimizer.fitting.OUTLIER_THRESHOLD``) and seasonality (half the range of the
            weekday factors).
        reference_spend: per campaign, the spend the value parameter below refers to (the
            campaign's mean spend on active days).
        covariance: per campaign, the approximate posterior covariance of ``(log value at
            reference_spend, log half_saturation, shape)`` (Laplace approximation), given the
            campaign's carryover rate (``diagnostics["adstock"]``, not itself uncertain here).
        weekday_factors: per campaign, 7 multiplicative day-of-week factors (Monday first,
            mean 1) divided out before the fit: the curves are for an average weekday, and a
            Monday's expected value is ``value(spend) * weekday_factors[:, 0]``. ``None``: all 1.
        shared_sd: per campaign, the standard deviation of a shift of its ``(log value at
            reference, elasticity at reference, shape)`` that it shares with every campaign of
            its platform (``diagnostics["platform"]``): the uncertainty of the platform's prior
            centres, in proportion to how much the prior decided the campaign's estimate. It
            does not average out over campaigns, so the intervals of totals include it.
            ``None``: no shared uncertainty.
    """

    campaign_ids: np.ndarray
    curve: HillCurve
    diagnostics: pd.DataFrame
    reference_spend: np.ndarray
    covariance: np.ndarray
    weekday_factors: np.ndarray | None = None
    shared_sd: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.curve)

    def __repr__(self) -> str:
        return f"FittedCurves(<{len(self)} campaigns>)"

    def value(self, spend) -> np.ndarray:
        """Expected value per day at ``spend`` (see ``HillCurve.value``)."""
        return self.curve.value(spend)

    def marginal(self, spend) -> np.ndarray:
        """Marginal ROAS at ``spend`` (see ``HillCurve.marginal``)."""
        return self.curve.marginal(spend)

    def inflection(self) -> np.ndarray:
        """Spend from which each curve is concave (see ``HillCurve.inflection``)."""
        return self.curve.inflection()

    def inverse_marginal(self, marginal, start=None) -> np.ndarray:
        """Spend on the concave branch with the given marginal (see ``HillCurve.inverse_marginal``)."""
        return self.curve.inverse_marginal(marginal, start)

    def take(self, indices) -> FittedCurves:
        """The fitted curves of the campaigns at ``indices``, in that order."""
        indices = np.arange(len(self))[indices]
        return FittedCurves(
            campaign_ids=self.campaign_ids[indices],
            curve=self.curve.take(indices),
            diagnostics=self.diagnostics.iloc[indices],
            reference_spend=self.reference_spend[indices],
            covariance=self.covariance[indices],
            weekday_factors=None if self.weekday_factors is None else self.weekday_factors[indices],
            shared_sd=None if self.shared_sd is None else self.shared_sd[indices],
        )

    def select(self, campaign_ids) -> FittedCurves:
        """The fitted curves of ``campaign_ids``, in that order; ValueError for unknown ids."""
        position = {cid: i for i, cid in enumerate(self.campaign_ids)}
        unknown = [cid for cid in campaign_ids if cid not in position]
        if unknown:
            raise ValueError(f"no fitted curve for campaign(s) {', '.join(map(repr, unknown[:5]))}")
        return self.take([position[cid] for cid in campaign_ids])

    @property
    def r2(self) -> np.ndarray:
        """Coefficient of determination of each campaign's fit on its own days (NaN if undefined)."""
        return self.diagnostics["r2"].to_numpy()

    @property
    def n_days(self) -> np.ndarray:
        """Number of days of data per campaign."""
        return self.diagnostics["n_days"].to_numpy()

    def value_interval(self, spend, level: float = 0.9, draws: int = 1000, seed: int = 0):
        """``(low, high)``: a central ``level`` interval of the expected value at ``spend``, per campaign.

        Parameter uncertainty only (not day-to-day noise): draws of the parameters from each
        campaign's Laplace approximation (see ``covariance``) plus its platform's shared shift
        (``shared_sd``), shape kept within the fitting bounds, evaluated at ``spend`` and
        summarized by quantiles.
        """
        quantiles = _quantile_levels(level)
        low, high = np.empty(len(self)), np.empty(len(self))
        for part, (values,) in self._posterior_values([spend], draws, seed):
            low[part], high[part] = np.quantile(values, quantiles, axis=0)
        return low, high

    def total_value_interval(self, spend, level: float = 0.9, draws: int = 1000, seed: int = 0) -> tuple[float, float]:
        """``(low, high)``: a central ``level`` interval of the TOTAL expected value at ``spend``.

        Each draw takes one joint parameter draw per campaign (as ``value_interval``) and sums
        the campaigns' values; the interval is the quantiles of those sums. Campaigns' own draws
        are independent (their posteriors are fitted separately); the shift of their platform's
        prior centres (``shared_sd``) is common to a platform's campaigns in each draw.
        """
        totals = np.zeros(_check_draws(draws))
        for _, (values,) in self._posterior_values([spend], draws, seed):
            totals += values.sum(axis=1)
        low, high = np.quantile(totals, _quantile_levels(level))
        return float(low), float(high)

    def uplift_interval(
        self, current, recommended, level: float = 0.9, draws: int = 1000, seed: int = 0
    ) -> tuple[float, float]:
        """``(low, high)``: a central ``level`` interval of the total expected value change.

        The change is ``sum_i value_i(recommended_i) - value_i(current_i)``. Each draw evaluates
        the SAME parameter draw of a campaign at both spends (so shared uncertainty cancels:
        ``recommended == current`` gives ``(0, 0)``), sums over campaigns, and the interval is
        the quantiles of those sums. Parameter uncertainty only, as ``value_interval``.
        """
        totals = np.zeros(_check_draws(draws))
        for _, (after, before) in self._posterior_values([recommended, current], draws, seed):
            totals += (after - before).sum(axis=1)
        low, high = np.quantile(totals, _quantile_levels(level))
        return float(low), float(high)

    def _posterior_values(self, spends, draws: int, seed: int):
        """Yield ``(part, [values at each of spends])`` per chunk of campaigns.

        ``values`` has shape ``(draws, campaigns in part)``: the expected value at that spend
        under joint draws from each campaign's Laplace approximation (``covariance``), taken in
        the coordinates ``(log value at reference, elasticity at reference, shape)`` (the same
        Gaussian, linearly transformed): data and priors pin the level and the local slope
        down, so the posterior is close to Gaussian in these, while a narrow posterior of the
        slope is a curved ridge in ``(log half_saturation, shape)`` whose straight Gaussian
        draws would bias it. Shape is clipped to the fitting bounds and the half-saturation
        to ``RHO_BOUNDS`` times the reference spend. Every spend in ``spends`` is evaluated
        with the same draws. Each draw adds one shift per platform, scaled per campaign by
        ``shared_sd``: the uncertainty of the platform's prior centres.
        """
        draws = _check_draws(draws)
        spends = [np.broadcast_to(spend_array(s, len(self)), (len(self),)) for s in spends]
        reference, shape = self.reference_spend, self.curve.shape
        log_rho = np.log(self.curve.half_saturation / reference)
        share = expit(shape * log_rho)  # q / (1 + q), q = rho**shape
        jacobian = np.zeros((len(self), 3, 3))  # d(log value, elasticity, shape) / d(log value, log half, shape)
        jacobian[:, 0, 0] = jacobian[:, 2, 2] = 1.0
        jacobian[:, 1, 1] = shape * shape * share * (1.0 - share)
        jacobian[:, 1, 2] = share + shape * log_rho * share * (1.0 - share)
        covariance = jacobian @ self.covariance @ jacobian.transpose(0, 2, 1)
        with np.errstate(divide="ignore"):  # vmax = 0 gives -inf: a value of 0 in every draw
            params = np.column_stack([np.log(self.curve.value(reference)), shape * share, shape])
        log_rho_bounds = np.log(RHO_BOUNDS)
        rng = np.random.default_rng(seed)
        shared_sd = np.zeros((len(self), 3)) if self.shared_sd is None else self.shared_sd
        _, platform = np.unique(self.diagnostics["platform"].astype(str), return_inverse=True)
        shift = rng.standard_normal((draws, platform.max(initial=-1) + 1, 3))  # one per platform and draw
        for start in range(0, len(self), _INTERVAL_CHUNK):
            part = slice(start, start + _INTERVAL_CHUNK)
            factor = np.linalg.cholesky(covariance[part] + 1e-12 * np.eye(3))
            noise = rng.standard_normal((draws, factor.shape[0], 3))
            theta = params[part] + np.einsum("nij,dnj->dni", factor, noise) + shared_sd[part] * shift[:, platform[part]]
            k = np.clip(theta[..., 2], *SHAPE_BOUNDS)
            e = theta[..., 1]
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                log_q = np.where(e <= 0, -np.inf, np.where(e >= k, np.inf, np.log(e / (k - e))))
                rho = np.exp(np.clip(log_q / k, *log_rho_bounds))
                half = rho * reference[part]
                vmax = np.exp(theta[..., 0]) * (1.0 + rho**k)
                values = [np.nan_to_num(vmax / (1.0 + (half / s[part]) ** k)) for s in spends]
            yield part, values


def _quantile_levels(level: float) -> list[float]:
    """The two quantiles of a central ``level`` interval; ValueError unless 0 < level < 1."""
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    return [(1 - level) / 2, (1 + level) / 2]


def _check_draws(draws) -> int:
    """``draws`` as a positive int; ValueError otherwise."""
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
        raise ValueError(f"draws must be a positive integer, got {draws!r}")
    return int(draws)
