"""Geometric adstock (carryover) and the padded per-campaign day panels the fit works on.

Adstock: ``x_t = (1 - theta) * spend_t + theta * x_{t-1}``. The ``1 - theta`` factor
normalizes it so a steady spend ``s`` gives ``x = s``: a curve fitted to ``value_t ~ f(x_t)``
is the steady-state daily spend -> daily value curve the allocator needs.

Days are a campaign's rows in date order. A row with spend 0 is a day without spend (the
carryover decays through it). A date *missing* inside a campaign's range is unknown, not
zero spend: the series restarts after the gap, exactly as at its first day, where the
carryover is assumed to be in steady state at that day's spend (``x = spend``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True, eq=False)
class Panel:
    """``C`` campaigns' days, padded to ``T``: ``(C, T)`` arrays in date order per campaign.

    ``observed`` marks real rows (padding is False); ``restart`` marks each campaign's first
    day and the first day after a gap in its dates.
    """

    campaign_ids: np.ndarray
    groups: np.ndarray
    spend: np.ndarray
    value: np.ndarray
    observed: np.ndarray
    restart: np.ndarray
    weekday: np.ndarray  # 0 = Monday; -1 on padding

    @property
    def n_days(self) -> np.ndarray:
        return self.observed.sum(axis=1)


def panel(frame: pd.DataFrame) -> Panel:
    """The panel of a validated daily frame (``optimizer.daily.validate_daily``: sorted by campaign, date)."""
    codes, ids = pd.factorize(frame["campaign_id"], sort=True)
    position = frame.groupby(codes, sort=False).cumcount().to_numpy()
    n, width = ids.size, int(position.max()) + 1
    dates = frame["date"].to_numpy()
    gap = np.ones(len(frame), dtype=bool)
    gap[1:] = (codes[1:] != codes[:-1]) | (dates[1:] - dates[:-1] != np.timedelta64(1, "D"))

    def padded(values, fill, dtype):
        out = np.full((n, width), fill, dtype=dtype)
        out[codes, position] = values
        return out

    groups = frame.groupby(codes, sort=True)["group"].first().to_numpy()
    return Panel(
        campaign_ids=np.asarray(ids, dtype=object),
        groups=np.asarray(groups, dtype=object),
        spend=padded(frame["spend"].to_numpy(float), 0.0, float),
        value=padded(frame["conversion_value"].to_numpy(float), 0.0, float),
        observed=padded(True, False, bool),
        restart=padded(gap, True, bool),
        weekday=padded(frame["date"].dt.day_of_week.to_numpy(), -1, int),
    )


def adstock(spend: np.ndarray, theta, restart: np.ndarray) -> np.ndarray:
    """Geometric adstock of ``spend`` (``(..., C, T)``) with carryover ``theta`` (broadcasts to ``(..., C)``).

    ``restart`` (``(C, T)``) marks days where the carryover starts afresh in steady state.
    """
    theta = np.asarray(theta, dtype=float)
    shape = np.broadcast_shapes(spend.shape, theta.shape + (1,))
    out = np.empty(shape)
    carry = np.broadcast_to(spend[..., 0], shape[:-1]).copy()
    keep = np.broadcast_to(theta, shape[:-1])
    fresh = 1.0 - keep
    for t in range(shape[-1]):
        s = spend[..., t]
        carry = np.where(restart[:, t], s, fresh * s + keep * carry)
        out[..., t] = carry
    return out
