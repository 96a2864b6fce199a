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


#: ISO 4217 alphabetic codes of currencies in circulation (and the few recently withdrawn ones old reports
#: still carry: ANG, BGN, SLL, ZWL); not the metals, the test code XTS or "no currency" XXX.
ISO_4217_CODES = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW
KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN
NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL
SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES
VND VUV WST XAF XCD XCG XOF XPF XSU XUA YER ZAR ZMW ZWG ZWL
""".split())
