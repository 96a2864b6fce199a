"""Currency units the ad platforms budget in: which currencies have no minor unit, and rounding to the smallest step.

Google Ads, Meta and TikTok agree on the currencies without minor units
(budgets in whole units: JPY, KRW, ...); every other currency is budgeted in
hundredths, including BHD/JOD/KWD, which ISO 4217 gives three digits. The dbt
macro ``currency_minor_digits`` holds the same list for staging.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

ZERO_DECIMAL_CURRENCIES = frozenset({"CLP", "COP", "CRC", "HUF", "ISK", "IDR", "JPY", "KRW", "PYG", "TWD", "VND"})


def minor_units_per_unit(currency: str) -> int:
    """1 for a currency without minor units, else 100 (Meta's budget "offset")."""
    return 1 if currency.strip().upper() in ZERO_DECIMAL_CURRENCIES else 100


def smallest_step(currency: str) -> Decimal:
    """The smallest budget step: ``1`` or ``0.01`` currency units."""
    return Decimal(1) / minor_units_per_unit(currency)


def round_to_step(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half up to the currency's smallest budget step."""
    return Decimal(amount).quantize(smallest_step(currency), rounding=ROUND_HALF_UP)
