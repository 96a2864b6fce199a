"""Day-of-week seasonality: multiplicative weekday factors per campaign, shrunk toward their platform's.

A campaign's raw factor for a weekday is the mean, over its days on that weekday, of the
ratio of the value to a fit that ignores weekdays (so spend changes are not mistaken for
weekday effects). Raw factors are noisy (about 13 days per weekday in 90 days), so they are
shrunk by empirical Bayes, twice: each platform's mean pattern toward no seasonality, then
each campaign's pattern toward its platform's, each by ``signal / (signal + noise)``
variances estimated from the spread of the patterns themselves. Factors average 1 over
the week, so dividing them out leaves the curve for an average weekday.
"""

from __future__ import annotations

import numpy as np

MIN_DAYS = 2  # a weekday with fewer usable days leaves the campaign with its platform's pattern


def weekday_factors(ratio: np.ndarray, usable: np.ndarray, weekday: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``(C, 7)`` multiplicative factors (mean 1 per campaign) from padded ``(C, T)`` panels.

    ``ratio``: each day's value over its fitted value (without weekday effects), where
    ``usable``; ``weekday`` is 0-6 (Monday = 0); ``groups`` the platform of each campaign.
    Campaigns without enough usable days get their platform's pattern (or none).
    """
    n = ratio.shape[0]
    factors = np.ones((n, 7))
    centre_day = np.clip(weekday, 0, 6)
    raw = np.full((n, 7), np.nan)
    counts = np.zeros((n, 7))
    for day in range(7):
        mask = usable & (centre_day == day)
        counts[:, day] = mask.sum(axis=1)
        total = np.sum(np.where(mask, ratio, 0.0), axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            raw[:, day] = np.where(counts[:, day] >= MIN_DAYS, total / counts[:, day], np.nan)
    complete = ~np.isnan(raw).any(axis=1)
    if not complete.any():
        return factors
    raw[complete] /= raw[complete].mean(axis=1, keepdims=True)
    residual = np.where(usable, ratio - np.take_along_axis(np.where(np.isnan(raw), 1.0, raw), centre_day, axis=1), 0)
    spread = np.sum(residual**2, axis=1) / np.maximum(usable.sum(axis=1) - 7, 1)  # per-day variance of the ratio
    noise = spread[:, None] / np.maximum(counts, 1)  # variance of each raw factor

    for group in np.unique(groups):
        members = np.flatnonzero((groups == group) & complete)
        if not members.size:
            continue
        pattern = raw[members].mean(axis=0)
        pattern_noise = noise[members].mean() / members.size
        signal = max(float(np.mean((pattern - 1.0) ** 2)) - pattern_noise, 0.0)
        pattern = 1.0 + signal / (signal + pattern_noise) * (pattern - 1.0) if signal > 0 else np.ones(7)
        deviation = raw[members] - pattern
        own_signal = max(float(np.mean(deviation**2) - np.mean(noise[members])), 0.0)
        weight = own_signal / (own_signal + noise[members]) if own_signal > 0 else np.zeros_like(deviation)
        shrunk = pattern + weight * deviation
        factors[members] = shrunk / shrunk.mean(axis=1, keepdims=True)
        others = np.flatnonzero((groups == group) & ~complete)
        factors[others] = pattern / pattern.mean()
    return factors

