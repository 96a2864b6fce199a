"""Benchmark inputs: allocation problems with bounds and max-change, and synthetic daily history.

Everything is generated from a seed, so a problem can be rebuilt anywhere (e.g. in the
SLSQP worker process) and every run of the benchmark solves the same problems.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer import HillCurve

MAX_CHANGE = 0.3
# Hill shape ranges: <= 1 is concave, > 1 S-shaped (convex, then concave).
VARIANTS = {"concave": (0.5, 1.0), "s-shaped": (0.5, 3.0)}
VARIANT_TITLES = {
    "concave": "concave Hill curves (shape 0.5–1.0)",
    "s-shaped": "mixed concave and S-shaped Hill curves (shape 0.5–3)",
}
COMMITTED_SHARE = 0.1  # campaigns with a minimum spend (lower bound at 90 % of current)
CAPPED_SHARE = 0.1  # campaigns with a spend cap (upper bound at 110 % of current)
PLATFORMS = ("google_ads", "meta_ads", "tiktok_ads")


@dataclass(frozen=True, eq=False)
class AllocationProblem:
    """One budget allocation problem: Hill curves, current budgets, bounds, max-change, total."""

    variant: str
    vmax: np.ndarray
    half_saturation: np.ndarray
    shape: np.ndarray
    current: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    total: float
    max_change: float = MAX_CHANGE

    @property
    def n(self) -> int:
        """Number of campaigns."""
        return self.vmax.size

    def curves(self) -> HillCurve:
        """A fresh curve set (so no cached per-curve quantity carries over between timed runs)."""
        return HillCurve(self.vmax, self.half_saturation, self.shape)

    def allocate_kwargs(self) -> dict:
        """The keyword arguments of ``optimizer.allocate`` besides the curves."""
        return {
            "total_budget": self.total,
            "lower": self.lower,
            "upper": self.upper,
            "current": self.current,
            "max_change": self.max_change,
        }

    def box(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-campaign spend bounds: ``current * (1 ± max_change)`` intersected with ``[lower, upper]``."""
        low = np.maximum(self.lower, self.current * (1.0 - self.max_change))
        high = np.minimum(self.upper, self.current * (1.0 + self.max_change))
        return low, high

    def value(self, spend: np.ndarray) -> float:
        """Total expected value at ``spend`` (the Hill formula, written out independently of ``optimizer``)."""
        s = np.asarray(spend, dtype=float)
        return float(np.sum(self.vmax / (1.0 + (self.half_saturation / s) ** self.shape)))


def allocation_problem(n: int, variant: str, seed: int = 0) -> AllocationProblem:
    """``n`` campaigns with random Hill curves and current budgets; the total is the current total.

    The curves are drawn independently of the current budgets, so reallocating the same total
    pays and most campaigns end at a max-change, minimum or cap bound. Both variants share
    every draw but the shape.
    """
    shape_low, shape_high = VARIANTS[variant]
    rng = np.random.default_rng([seed, n])
    vmax = rng.uniform(10.0, 1000.0, n)
    half = rng.uniform(10.0, 500.0, n)
    current = rng.uniform(20.0, 200.0, n)
    shape = shape_low + (shape_high - shape_low) * rng.random(n)
    lower = np.where(rng.random(n) < COMMITTED_SHARE, 0.9 * current, 0.0)
    upper = np.where(rng.random(n) < CAPPED_SHARE, 1.1 * current, np.inf)
    return AllocationProblem(variant, vmax, half, shape, current, lower, upper, float(current.sum()))


def daily_history(campaigns: int, days: int, seed: int = 0) -> pd.DataFrame:
    """Synthetic daily rows (campaign_id, platform, date, spend, conversion_value) from known Hill curves.

    Spend varies day to day around each campaign's level (log-normal, 30 %); value is the
    true curve times 10 % log-normal noise; campaigns are spread over three platforms.
    """
    rng = np.random.default_rng([seed, campaigns, days])
    vmax = rng.uniform(100.0, 5000.0, campaigns)
    half = rng.uniform(50.0, 1000.0, campaigns)
    shape = rng.uniform(0.5, 2.5, campaigns)
    level = half * rng.uniform(0.3, 2.0, campaigns)
    spend = level[:, None] * rng.lognormal(0.0, 0.3, (campaigns, days))
    value = vmax[:, None] / (1.0 + (half[:, None] / spend) ** shape[:, None]) * rng.lognormal(0.0, 0.1, spend.shape)
    ids = np.array([f"c{i:05d}" for i in range(campaigns)])
    return pd.DataFrame(
        {
            "campaign_id": np.repeat(ids, days),
            "platform": np.repeat(np.array(PLATFORMS)[np.arange(campaigns) % len(PLATFORMS)], days),
            "date": np.tile(pd.date_range("2025-01-01", periods=days, freq="D"), campaigns),
            "spend": spend.ravel(),
            "conversion_value": value.ravel(),
        }
    )
