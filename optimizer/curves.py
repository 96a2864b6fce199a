"""Response curves: expected conversion value per day as a function of daily spend.

A curve *set* holds one curve per campaign, its parameters as arrays, and evaluates all
campaigns at once. The allocator needs only the abstract methods of ``ResponseCurves``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cached_property

import numpy as np

from optimizer.validation import check_range, float_array, read_only

_NEWTON_TOL = 1e-12
_NEWTON_MAX_ITER = 100
_EPS = np.finfo(float).eps


class ResponseCurves(ABC):
    """A set of per-campaign response curves (value per day as a function of spend per day).

    ``spend`` arguments are a scalar or an array whose last axis runs over the campaigns;
    spend must be non-negative (``inf`` is allowed and gives the saturation value).
    """

    @abstractmethod
    def __len__(self) -> int:
        """Number of campaigns."""

    @abstractmethod
    def value(self, spend) -> np.ndarray:
        """Expected value per day at ``spend``."""

    @abstractmethod
    def marginal(self, spend) -> np.ndarray:
        """Derivative of the value with respect to spend (the marginal ROAS) at ``spend``."""

    @abstractmethod
    def inflection(self) -> np.ndarray:
        """Spend from which each curve is concave: 0 for concave curves, positive for S-shaped ones."""

    @abstractmethod
    def inverse_marginal(self, marginal, start=None) -> np.ndarray:
        """Spend at or above the inflection where the marginal equals ``marginal`` (scalar or per campaign).

        Where ``marginal`` is at or above the largest marginal of the concave branch the result
        is the inflection; where it is 0 and the curve still rises, ``inf``. ``start`` is an
        optional guess (e.g. the result at a nearby marginal) that iterative methods may use.
        """

    @abstractmethod
    def take(self, indices) -> ResponseCurves:
        """The curves of the campaigns at ``indices`` (integer array or boolean mask), in that order."""

    @property
    def is_concave(self) -> bool:
        """True when every curve is concave over all spend (no S-shaped campaign)."""
        return not np.any(self.inflection() > 0)

    def _spend(self, spend) -> np.ndarray:
        return spend_array(spend, len(self))

    def _multiplier(self, marginal) -> np.ndarray:
        """A target marginal as one non-negative float per campaign."""
        lam = float_array(marginal, "marginal", len(self))
        if np.any(np.isnan(lam)) or np.any(lam < 0):
            raise ValueError("marginal must be non-negative and not NaN")
        return lam


def spend_array(spend, n: int) -> np.ndarray:
    """``spend`` as floats whose last axis (if any) runs over ``n`` campaigns; ValueError if NaN or negative."""
    s = np.asarray(spend, dtype=float)
    if s.ndim and s.shape[-1] != n:
        raise ValueError(f"spend has {s.shape[-1]} values along its last axis but there are {n} campaigns")
    if np.any(np.isnan(s)) or np.any(s < 0):
        raise ValueError("spend must be non-negative and not NaN")
    return s


def _parameters(kind: str, **values) -> list[np.ndarray]:
    """Broadcast named curve parameters to one common length, as float arrays."""
    arrays = [float_array(v, f"{kind} {name}") for name, v in values.items()]
    try:
        return list(np.broadcast_arrays(*arrays))
    except ValueError:
        lengths = ", ".join(f"{name}={len(a)}" for name, a in zip(values, arrays))
        raise ValueError(f"{kind} parameters have incompatible lengths ({lengths})") from None


class HillCurve(ResponseCurves):
    """Hill curves ``vmax * s**shape / (s**shape + half_saturation**shape)``, one per campaign.

    ``vmax`` (saturation value, >= 0), ``half_saturation`` (spend giving vmax/2, > 0) and
    ``shape`` (> 0) are scalars or arrays and broadcast together. Shape <= 1 gives a concave
    curve; shape > 1 an S-shaped one, convex below ``inflection()`` and concave above.
    """

    def __init__(self, vmax, half_saturation, shape=1.0):
        vmax, half, shape = _parameters("HillCurve", vmax=vmax, half_saturation=half_saturation, shape=shape)
        self.vmax = read_only(check_range(vmax, "HillCurve vmax"))
        self.half_saturation = read_only(check_range(half, "HillCurve half_saturation", positive=True))
        self.shape = read_only(check_range(shape, "HillCurve shape", positive=True))

    def __len__(self) -> int:
        return self.vmax.shape[0]

    def __repr__(self) -> str:
        return f"HillCurve(<{len(self)} campaigns>)"

    def _ratio(self, s: np.ndarray) -> np.ndarray:
        """``(half_saturation / s) ** shape``: inf at zero spend, 0 at infinite spend."""
        with np.errstate(divide="ignore", over="ignore"):
            return (self.half_saturation / s) ** self.shape

    def value(self, spend) -> np.ndarray:
        """Expected value per day at ``spend``."""
        return self.vmax / (1.0 + self._ratio(self._spend(spend)))

    def marginal(self, spend) -> np.ndarray:
        """Derivative ``vmax * shape / (s * (2 + r + 1/r))`` with ``r = (half_saturation/s)**shape``."""
        s = self._spend(spend)
        r = self._ratio(s)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            m = self.vmax * self.shape / (s * (2.0 + r + 1.0 / r))
            at_zero = np.where(self.shape > 1, 0.0, np.where(self.shape == 1, self.vmax / self.half_saturation, np.inf))
        return np.where(s == 0, np.where(self.vmax > 0, at_zero, 0.0), m)

    def inflection(self) -> np.ndarray:
        """``half_saturation * ((shape-1)/(shape+1))**(1/shape)`` for shape > 1, else 0."""
        return self._inflection

    @cached_property
    def _inflection(self) -> np.ndarray:
        k = self.shape
        ratio = np.clip((k - 1.0) / (k + 1.0), 0.0, None)
        return read_only(np.where(k > 1, self.half_saturation * ratio ** (1.0 / k), 0.0))

    @cached_property
    def _peak_marginal(self) -> np.ndarray:
        """The largest marginal of the concave branch (at the inflection; inf for shape < 1)."""
        return read_only(self.marginal(self._inflection))

    def inverse_marginal(self, marginal, start=None) -> np.ndarray:
        """Spend on the concave branch with the given marginal, by Newton's method in log-spend.

        In ``z = log(s / half_saturation)`` the log-marginal is concave and, on the concave
        branch, decreasing, so Newton's method converges from any start on that branch
        (monotonically once right of the root). Without ``start`` it begins at the root of an
        asymptote, which lies right of the root.
        """
        lam = self._multiplier(marginal)
        floor = self._inflection
        out = floor.copy()
        rising = (lam < self._peak_marginal) & (self.vmax > 0)
        out[rising & (lam == 0)] = np.inf
        todo = np.flatnonzero(rising & (lam > 0))
        if todo.size:
            k, half = self.shape[todo], self.half_saturation[todo]
            target = np.log(lam[todo] * half / (self.vmax[todo] * k))
            with np.errstate(divide="ignore", invalid="ignore"):
                z_floor = np.log(floor[todo] / half)
                z_start = None if start is None else np.log(np.asarray(start, dtype=float)[todo] / half)
            out[todo] = half * np.exp(_log_marginal_root(target, k, z_floor, z_start))
        return out

    def take(self, indices) -> HillCurve:
        """The curves of the campaigns at ``indices``, in that order."""
        return HillCurve(self.vmax[indices], self.half_saturation[indices], self.shape[indices])


def _log_marginal_root(target: np.ndarray, k: np.ndarray, z_floor: np.ndarray, z_start=None) -> np.ndarray:
    """Solve ``phi(z) = (k-1) z - 2 softplus(k z) - target = 0`` on the decreasing branch (z > z_floor).

    ``phi`` is concave, so Newton's method converges from any start on the branch (after one
    step, monotonically from the right). The start is ``z_start`` where given and valid, else
    the root of an upper bound of ``phi`` (from its asymptotes); for S-shaped curves it is
    moved left to the root of the quadratic expansion at the inflection when that is smaller,
    which avoids Newton's slow linear approach to a root next to the inflection.
    """
    z = -target / (k + 1.0)  # root of the large-spend asymptote (k-1) z - 2 k z
    with np.errstate(divide="ignore", invalid="ignore"):
        small = np.where(k < 1, target / (k - 1.0), np.inf)  # root of the small-spend asymptote
        z = np.maximum(np.minimum(z, small), z_floor)
        if z_start is not None:
            z = np.where(np.isfinite(z_start) & (z_start > z_floor), z_start, z)
        height = _phi(z_floor, k, target)  # phi at the inflection (its maximum) where k > 1
        near = np.where(k > 1, z_floor + 2.0 * np.sqrt(np.maximum(height, 0.0) / (k * k - 1.0)), np.inf)
    z = np.minimum(z, near)
    todo = np.arange(z.size)
    for _ in range(_NEWTON_MAX_ITER):
        kk, zz, tt = k[todo], z[todo], target[todo]
        kz = kk * zz
        tail = np.exp(-np.abs(kz))  # softplus and logistic of kz share this
        phi = (kk - 1.0) * zz - 2.0 * (np.maximum(kz, 0.0) + np.log1p(tail)) - tt
        slope = (kk - 1.0) - 2.0 * kk * np.where(kz >= 0, 1.0, tail) / (1.0 + tail)
        step = -phi / np.minimum(slope, -1e-300)
        z[todo] = np.maximum(zz + step, z_floor[todo])
        moving = np.abs(step) > _NEWTON_TOL * np.maximum(1.0, np.abs(zz))
        resolvable = np.abs(phi) > 8 * _EPS * (1.0 + np.abs(tt) + np.abs(kz))  # phi above rounding noise
        todo = todo[moving & resolvable]
        if not todo.size:
            break
    return z


def _phi(z, k, target):
    """``(k-1) z - 2 softplus(k z) - target`` (NaN where z is -inf)."""
    return (k - 1.0) * z - 2.0 * np.logaddexp(0.0, k * z) - target


class ExponentialCurve(ResponseCurves):
    """Exponential saturation curves ``vmax * (1 - exp(-s / scale))``, one per campaign (all concave)."""

    def __init__(self, vmax, scale):
        vmax, scale = _parameters("ExponentialCurve", vmax=vmax, scale=scale)
        self.vmax = read_only(check_range(vmax, "ExponentialCurve vmax"))
        self.scale = read_only(check_range(scale, "ExponentialCurve scale", positive=True))

    def __len__(self) -> int:
        return self.vmax.shape[0]

    def __repr__(self) -> str:
        return f"ExponentialCurve(<{len(self)} campaigns>)"

    def value(self, spend) -> np.ndarray:
        """Expected value per day at ``spend``."""
        return -self.vmax * np.expm1(-self._spend(spend) / self.scale)

    def marginal(self, spend) -> np.ndarray:
        """Derivative ``vmax / scale * exp(-s / scale)``."""
        return self.vmax / self.scale * np.exp(-self._spend(spend) / self.scale)

    def inflection(self) -> np.ndarray:
        """All zeros: exponential curves are concave everywhere."""
        return np.zeros(len(self))

    def inverse_marginal(self, marginal, start=None) -> np.ndarray:
        """``scale * log(vmax / (scale * marginal))``, at least 0 (closed form; ``start`` is unused)."""
        lam = self._multiplier(marginal)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = self.scale * np.log(self.vmax / (self.scale * lam))
        return np.where(self.vmax > 0, np.clip(s, 0.0, None), 0.0)

    def take(self, indices) -> ExponentialCurve:
        """The curves of the campaigns at ``indices``, in that order."""
        return ExponentialCurve(self.vmax[indices], self.scale[indices])
