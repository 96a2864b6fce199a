"""Robust, seasonality-aware expectations: the median and MAD of the same weekday over past weeks.

Everything works on a matrix of campaigns (rows) by consecutive days
(columns), NaN where a value is unknown, so a market of 20 000 campaigns costs
a few array operations per examined day, not a loop per campaign.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaincc

#: 1.4826 x MAD estimates the standard deviation of normal data, and is not moved by a few wild days.
MAD_TO_SIGMA = 1.4826
#: The spread is at least this share of the median: a series that never moved (a capped budget spent to the
#: cent) must not make every small wobble "infinitely unusual".
MIN_RELATIVE_SPREAD = 0.1


@dataclass(frozen=True)
class Band:
    """Per row: the expected value (median), its robust spread and how many past values it rests on."""

    median: np.ndarray
    sigma: np.ndarray
    count: np.ndarray


def _nanmedian(values: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():  # an all-NaN row is simply unknown
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, axis=1)


def band_of(history: np.ndarray) -> Band:
    """The band of each row of ``history`` (rows x past values, NaN where missing)."""
    median = _nanmedian(history)
    mad = _nanmedian(np.abs(history - median[:, None]))
    sigma = np.maximum(MAD_TO_SIGMA * mad, MIN_RELATIVE_SPREAD * np.abs(median))
    return Band(median, sigma, np.sum(np.isfinite(history), axis=1))


def weekday_band(matrix: np.ndarray, day: int, weeks: int) -> Band:
    """The band of column ``day`` from the same weekday in the ``weeks`` weeks before it."""
    columns = [day - 7 * k for k in range(1, weeks + 1) if day - 7 * k >= 0]
    if not columns:
        empty = np.full(matrix.shape[0], np.nan)
        return Band(empty, empty, np.zeros(matrix.shape[0], dtype=int))
    return band_of(matrix[:, columns])


def recent_band(matrix: np.ndarray, day: int, days: int = 7) -> Band:
    """The band of column ``day`` from the ``days`` days just before it (the recent level)."""
    return band_of(matrix[:, max(day - days, 0):day]) if day > 0 else weekday_band(matrix, day, 0)


def poisson_at_most(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """P(X <= observed) for X ~ Poisson(expected), elementwise (observed rounded down to a count)."""
    k = np.floor(np.maximum(observed, 0)) + 1
    with np.errstate(invalid="ignore"):
        return np.where(expected > 0, gammaincc(k, np.maximum(expected, 1e-300)), 1.0)
