"""Input checks that turn user values into clean float arrays, with errors naming the culprit."""

from __future__ import annotations

import numpy as np

_MAX_LISTED = 5


def describe_indices(indices, values=None) -> str:
    """``"campaign 3 (got nan)"`` or ``"campaigns 3, 7, ... (12 in all)"`` for an error message."""
    indices = list(indices)
    shown = indices[:_MAX_LISTED]
    if values is None:
        parts = [str(i) for i in shown]
    else:
        parts = [f"{i} (got {float(values[i]):g})" for i in shown]
    word = "campaign" if len(indices) == 1 else "campaigns"
    text = f"{word} {', '.join(parts)}"
    if len(indices) > _MAX_LISTED:
        text += f", ... ({len(indices)} in all)"
    return text


def float_array(values, name: str, n: int | None = None) -> np.ndarray:
    """``values`` as a 1-D float64 array, broadcast to length ``n`` when given.

    Raises ``ValueError`` if the values are not numeric or their shape does not fit.
    """
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    if array.ndim > 1:
        raise ValueError(f"{name} must be a scalar or a 1-D array, got shape {array.shape}")
    if n is None:
        return np.atleast_1d(array).copy()
    if array.ndim == 1 and array.shape[0] != n:
        raise ValueError(f"{name} has {array.shape[0]} elements but there are {n} campaigns")
    return np.broadcast_to(array, (n,)).copy()


def check_range(array: np.ndarray, name: str, *, positive: bool = False, allow_inf: bool = False) -> np.ndarray:
    """Raise ``ValueError`` naming the campaigns where ``array`` is NaN, infinite or too small.

    Values must be non-negative, or strictly positive when ``positive``; ``+inf`` passes only
    with ``allow_inf``. Returns the array unchanged so calls can be chained.
    """
    too_small = array <= 0 if positive else array < 0
    bad = np.isnan(array) | too_small | (np.isinf(array) & ~np.bool_(allow_inf))
    if np.any(bad):
        rule = "positive" if positive else "non-negative"
        rule += "" if allow_inf else " and finite"
        raise ValueError(f"{name} must be {rule}; {describe_indices(np.flatnonzero(bad), array)}")
    return array


def non_negative_number(value, name: str) -> float:
    """``value`` as a finite, non-negative float; ValueError naming ``name`` otherwise."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be finite and non-negative, got {number!r}")
    return number


def read_only(array: np.ndarray) -> np.ndarray:
    """Mark ``array`` read-only (curve parameters never change after validation) and return it."""
    array.flags.writeable = False
    return array
