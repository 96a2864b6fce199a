"""The sandbox's daily FX rates: what a central bank would have published for the simulated market.

Each currency's rate is a mean-reverting random walk (an AR(1) in log space) around its anchor
rate, with daily moves of about 0.4 % and never more than 10 % away from the anchor. Rates are
published on business days only (Monday to Friday, except 1 January and 25-26 December), like the
ECB's reference rates. The walk starts at the anchor on ``ORIGIN`` and each calendar year of moves
comes from its own (seed, currency, year) random stream, so a day's rate depends only on the seed,
the currency and the day: never on the window asked for.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from functools import lru_cache

import numpy as np

#: US dollars per one unit of each currency the sandbox publishes (the old static seed's rates).
ANCHOR_RATES_TO_USD: dict[str, float] = {
    "USD": 1.0,
    "EUR": 1.08,
    "GBP": 1.27,
    "PLN": 0.25,
    "CHF": 1.13,
    "SEK": 0.095,
    "NOK": 0.093,
    "DKK": 0.145,
    "CZK": 0.043,
    "HUF": 0.0027,
    "RON": 0.22,
    "CAD": 0.73,
    "AUD": 0.66,
    "NZD": 0.60,
    "MXN": 0.055,
    "BRL": 0.19,
    "JPY": 0.0067,
    "KRW": 0.00074,
    "CNY": 0.138,
    "HKD": 0.128,
    "SGD": 0.74,
    "TWD": 0.031,
    "INR": 0.012,
    "AED": 0.2723,
    "ZAR": 0.054,
}
#: First day the sandbox publishes rates (the walk starts at the anchor here).
ORIGIN = date(2020, 1, 1)
#: Standard deviation of a published day's move (log scale).
DAILY_SD = 0.004
#: Pull back towards the anchor per published day: the walk keeps PERSISTENCE of yesterday's deviation.
PERSISTENCE = 0.99
#: The walk never leaves anchor x (1 ± MAX_DEVIATION).
MAX_DEVIATION = 0.10
#: Decimals kept, as raw.fx_rates stores them (numeric(20, 10)).
DECIMALS = 10
SOURCE = "sandbox"
_STREAM = 12  # tags this module's random streams apart from the market's ([seed, 0..2, ...])
_LOW, _HIGH = math.log(1 - MAX_DEVIATION), math.log(1 + MAX_DEVIATION)


def is_published(day: date) -> bool:
    """Whether the sandbox publishes rates on ``day``: Monday to Friday, except 1 Jan and 25-26 Dec."""
    if day.weekday() >= 5:
        return False
    return (day.month, day.day) not in ((1, 1), (12, 25), (12, 26))


def rate_to_usd(seed: int, currency: str, day: date) -> float:
    """US dollars per one unit of ``currency``: the sandbox rate published on ``day``, or last before it."""
    currency = _known(currency)
    if day < ORIGIN:
        raise ValueError(f"the sandbox publishes no FX rates before {ORIGIN.isoformat()} (asked for {day})")
    while not is_published(day):
        day -= timedelta(days=1)
    if currency == "USD":
        return 1.0
    return _year_rates(seed, currency, day.year)[day]


def published_rates(seed: int, start: date, end: date) -> list[dict]:
    """raw.fx_rates rows (date, currency, rate_to_usd, source) of every published day in [start, end].

    Days before ``ORIGIN`` have no rates; USD is 1 on every published day.
    """
    rows = []
    day = max(start, ORIGIN)
    while day <= end:
        if is_published(day):
            for currency in ANCHOR_RATES_TO_USD:
                rate = 1.0 if currency == "USD" else _year_rates(seed, currency, day.year)[day]
                rows.append({"date": day, "currency": currency, "rate_to_usd": rate, "source": SOURCE})
        day += timedelta(days=1)
    return rows


def _known(currency: str) -> str:
    if currency not in ANCHOR_RATES_TO_USD:
        raise ValueError(
            f"the sandbox publishes no FX rate for currency {currency!r}; it knows {', '.join(ANCHOR_RATES_TO_USD)}"
        )
    return currency


def _published_days(year: int) -> list[date]:
    day, days = date(year, 1, 1), []
    while day.year == year:
        if is_published(day) and day >= ORIGIN:
            days.append(day)
        day += timedelta(days=1)
    return days


@lru_cache(maxsize=4096)
def _year_deviation(seed: int, currency: str, year: int) -> tuple[float, ...]:
    """Log deviation from the anchor on each published day of ``year`` (the walk from ORIGIN)."""
    previous = 0.0 if year <= ORIGIN.year else _year_deviation(seed, currency, year - 1)[-1]
    days = _published_days(year)
    code = int.from_bytes(currency.encode("ascii"), "big")
    moves = np.random.default_rng([seed, _STREAM, code, year]).normal(0.0, DAILY_SD, len(days))
    deviation = []
    for move in moves:
        previous = min(max(PERSISTENCE * previous + float(move), _LOW), _HIGH)
        deviation.append(previous)
    return tuple(deviation)


@lru_cache(maxsize=4096)
def _year_rates(seed: int, currency: str, year: int) -> dict[date, float]:
    anchor = ANCHOR_RATES_TO_USD[currency]
    days = _published_days(year)
    return {
        day: round(anchor * math.exp(deviation), DECIMALS)
        for day, deviation in zip(days, _year_deviation(seed, currency, year), strict=True)
    }
