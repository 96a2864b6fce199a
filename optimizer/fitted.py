"""``FittedCurves``: fitted Hill curves labelled by campaign, with fit diagnostics and uncertainty."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.curves import HillCurve, ResponseCurves, spend_array

_INTERVAL_CHUNK = 2_000  # campaigns per batch of parameter draws (bounds memory)
SHAPE_BOUNDS = (0.5, 3.0)  # Hill shapes the fit allows


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
            half-saturation: near 1, the platform prior decided it; near 0, the data did) and
            method (``fit``; ``no_spend``: the platform's median curve; ``no_value``: vmax 0).
        reference_spend: per campaign, the spend the value parameter below refers to (the
            campaign's mean spend on active days).
        covariance: per campaign, the approximate posterior covariance of ``(log value at
            reference_spend, log half_saturation, shape)`` (Laplace approximation).
    """

    campaign_ids: np.ndarray
    curve: HillCurve
    diagnostics: pd.DataFrame
    reference_spend: np.ndarray
    covariance: np.ndarray

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
        campaign's Laplace approximation (see ``covariance``), shape kept within the fitting
        bounds, evaluated at ``spend`` and summarized by quantiles.
        """
        if not 0 < level < 1:
            raise ValueError(f"level must be between 0 and 1, got {level!r}")
        spend = np.broadcast_to(spend_array(spend, len(self)), (len(self),))
        with np.errstate(divide="ignore"):  # vmax = 0 gives -inf: a value of 0 in every draw
            params = np.column_stack(
                [np.log(self.curve.value(self.reference_spend)), np.log(self.curve.half_saturation), self.curve.shape]
            )
        rng = np.random.default_rng(seed)
        low, high = np.empty(len(self)), np.empty(len(self))
        quantiles = [(1 - level) / 2, (1 + level) / 2]
        for start in range(0, len(self), _INTERVAL_CHUNK):
            part = slice(start, start + _INTERVAL_CHUNK)
            factor = np.linalg.cholesky(self.covariance[part] + 1e-12 * np.eye(3))
            noise = rng.standard_normal((draws, factor.shape[0], 3))
            theta = params[part] + np.einsum("nij,dnj->dni", factor, noise)
            shape = np.clip(theta[..., 2], *SHAPE_BOUNDS)
            half = np.exp(theta[..., 1])
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                vmax = np.exp(theta[..., 0]) * (1.0 + (half / self.reference_spend[part]) ** shape)
                values = np.nan_to_num(vmax / (1.0 + (half / spend[part]) ** shape))
            low[part], high[part] = np.quantile(values, quantiles, axis=0)
        return low, high
