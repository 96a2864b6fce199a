"""Parsing one CSV import value per column: typed values, or a FieldError saying what was expected.

Numbers are strict on purpose: a thousands separator or a currency symbol
is refused rather than guessed, because a wrong guess moves money by a factor
of a thousand. The decimal mark follows the file's separator: a point in a
comma-separated file, a comma in a semicolon-separated one (European Excel
saves "CSV" that way: ``12,50`` in a ``;`` file), where a point is refused
because it may be a thousands separator there (``1.234`` = 1234). Spend and
budgets stay ``Decimal`` exactly as written (no float round trip).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

from mbo_pipelines.platform_setup import NATIVE_PLATFORMS


class FieldError(ValueError):
    """A value that does not fit its column; the message says what the column expects."""


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_WHOLE = re.compile(r"\+?\d+(?:\.0*)?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_EXCEL_SCIENTIFIC_ID = re.compile(r"\d(?:[.,]\d+)?[eE]\+\d+")
#: numeric(18, 4) holds up to 14 digits before the point; bigint up to 2**63 - 1.
_MAX_MONEY = Decimal(10) ** 14
_MAX_BIGINT = 2**63 - 1
#: Spellings of the platforms that have a native connector (compared without case, spaces or punctuation).
_NATIVE_ALIASES = {
    "googleads": "google_ads", "google": "google_ads", "adwords": "google_ads", "googleadwords": "google_ads",
    "metaads": "meta_ads", "meta": "meta_ads", "facebook": "meta_ads", "facebookads": "meta_ads",
    "instagram": "meta_ads", "instagramads": "meta_ads",
    "tiktokads": "tiktok_ads", "tiktok": "tiktok_ads",
}
assert set(_NATIVE_ALIASES.values()) == set(NATIVE_PLATFORMS)

DATE_EXPECTED = "an ISO date YYYY-MM-DD, e.g. 2024-03-31"
MONEY_EXPECTED = "a number >= 0 with a decimal point, e.g. 1234.56"
COUNT_EXPECTED = "a whole number >= 0, e.g. 1234"
FLOAT_EXPECTED = "a number >= 0 with a decimal point, e.g. 12.5"

#: What each column expects, in the words of the error messages.
EXPECTED = {
    "date": DATE_EXPECTED,
    "platform": "the platform's name, e.g. linkedin_ads",
    "account_id": "the ad account's id",
    "campaign_id": "the campaign's id",
    "campaign_name": "the campaign's name",
    "currency": "a 3-letter ISO 4217 currency code, e.g. USD",
    "spend": MONEY_EXPECTED,
    "impressions": COUNT_EXPECTED,
    "clicks": COUNT_EXPECTED,
    "conversions": FLOAT_EXPECTED,
    "conversion_value": FLOAT_EXPECTED,
    "daily_budget": MONEY_EXPECTED,
    "status": "active or paused",
}


@lru_cache(maxsize=4096)  # values repeat on every row
def parse_date(text: str) -> date:
    """An ISO calendar date (YYYY-MM-DD), nothing else."""
    value = text.strip()
    if _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise FieldError(f"a real calendar date, {DATE_EXPECTED}") from None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ].*", value):
        raise FieldError(f"{DATE_EXPECTED}, without a time of day")
    if re.fullmatch(r"\d{1,2}[./-]\d{1,2}[./-]\d{2,4}", value):
        raise FieldError(f"{DATE_EXPECTED} (year first: day/month orders are ambiguous)")
    raise FieldError(DATE_EXPECTED)


@lru_cache(maxsize=4096)
def parse_platform(text: str) -> str:
    """The platform name, lower-cased and trimmed; refused when the platform has a native connector."""
    platform = text.strip().lower()
    native = _NATIVE_ALIASES.get(re.sub(r"[^a-z0-9]", "", platform))
    if native:
        raise FieldError(
            f"a platform without a native connector: {native} is read from its API by the native connector, "
            f"so importing it from a CSV would count its spend twice; remove these rows and use the native "
            f"connector (set its account list, see `mbo platforms`)"
        )
    return platform


def parse_id(text: str) -> str:
    """An account or campaign id, trimmed; refused when a spreadsheet turned it into scientific notation."""
    value = text.strip()
    if _EXCEL_SCIENTIFIC_ID.fullmatch(value):
        raise FieldError(
            "the id exactly as the platform shows it; this looks like a spreadsheet turned it into scientific "
            "notation (format the column as text before saving)"
        )
    return value


def parse_name(text: str) -> str:
    """The campaign name as written (not trimmed: names are the platform's own)."""
    return text


@lru_cache(maxsize=4096)
def parse_currency(text: str) -> str:
    """A 3-letter currency code, upper-cased."""
    value = text.strip().upper()
    if not _CURRENCY.fullmatch(value):
        raise FieldError(EXPECTED["currency"])
    return value


def parse_money(text: str) -> Decimal:
    """A non-negative amount in currency units, as a Decimal exactly as written."""
    value = text.strip()
    if not _NUMBER.fullmatch(value):
        raise FieldError(_not_a_number(value, MONEY_EXPECTED))
    amount = Decimal(value)
    if amount < 0:
        raise FieldError(f"{MONEY_EXPECTED} (amounts cannot be negative)")
    if amount >= _MAX_MONEY:
        raise FieldError(f"{MONEY_EXPECTED} below 100000000000000")
    return amount


def parse_count(text: str) -> int:
    """A non-negative whole number ("12.0" is accepted as 12)."""
    value = text.strip()
    if not _WHOLE.fullmatch(value):
        if value.startswith("-") and _WHOLE.fullmatch(value[1:]):
            raise FieldError(f"{COUNT_EXPECTED} (counts cannot be negative)")
        if _NUMBER.fullmatch(value):
            raise FieldError(f"{COUNT_EXPECTED} (no fraction)")
        raise FieldError(_not_a_number(value, COUNT_EXPECTED))
    count = int(value.split(".", 1)[0])
    if count > _MAX_BIGINT:
        raise FieldError(f"{COUNT_EXPECTED} below 2**63")
    return count


def parse_float(text: str) -> float:
    """A non-negative, finite number (conversions can be fractional: attribution splits them)."""
    value = text.strip()
    if not _NUMBER.fullmatch(value):
        raise FieldError(_not_a_number(value, FLOAT_EXPECTED))
    number = float(value)
    if not math.isfinite(number):
        raise FieldError(f"{FLOAT_EXPECTED} (a finite number)")
    if number < 0:
        raise FieldError(f"{FLOAT_EXPECTED} (cannot be negative)")
    return number


@lru_cache(maxsize=4096)
def parse_status(text: str) -> str:
    """``active`` or ``paused``, lower-cased."""
    value = text.strip().lower()
    if value not in ("active", "paused"):
        raise FieldError(EXPECTED["status"])
    return value


def _not_a_number(value: str, expected: str) -> str:
    bare = value.lstrip("+-").lower()
    if bare in ("nan", "inf", "infinity"):
        return f"{expected}, not NaN or infinity"
    if "," in value:
        return f"{expected}: use a decimal point (12.50, not 12,50) and no thousands separators"
    return f"{expected} (digits and a decimal point only: no currency symbols, spaces or thousands separators)"


def _decimal_comma(parse: Callable[[str], Any], expected: str) -> Callable[[str], Any]:
    """``parse`` for numbers written with a decimal comma (a point refused), its messages in decimal-comma terms."""

    def parse_with_decimal_comma(text: str) -> Any:
        value = text.strip()
        if "." in value or value.count(",") > 1:
            raise FieldError(
                f"{_in_decimal_comma(expected)}: this file is semicolon-separated (as European Excel saves CSV), so "
                f"numbers use a decimal comma and no thousands separators; a point is refused because it may be a "
                f"thousands separator (1.234 = 1234). Write 1234,56, or save the file as 'CSV UTF-8 (Comma "
                f"delimited)' with decimal points"
            )
        try:
            return parse(value.replace(",", "."))
        except FieldError as exc:
            raise FieldError(_in_decimal_comma(str(exc))) from None

    return parse_with_decimal_comma


def _in_decimal_comma(message: str) -> str:
    for point, comma in (("1234.56", "1234,56"), ("12.5", "12,5"), ("decimal point", "decimal comma")):
        message = message.replace(point, comma)
    return message


#: Column -> parser, in CSV_COLUMNS order.
PARSERS = {
    "date": parse_date,
    "platform": parse_platform,
    "account_id": parse_id,
    "campaign_id": parse_id,
    "campaign_name": parse_name,
    "currency": parse_currency,
    "spend": parse_money,
    "impressions": parse_count,
    "clicks": parse_count,
    "conversions": parse_float,
    "conversion_value": parse_float,
    "daily_budget": parse_money,
    "status": parse_status,
}
#: The same for a semicolon-separated file: its numbers use a decimal comma.
DECIMAL_COMMA_PARSERS = {
    **PARSERS,
    "spend": _decimal_comma(parse_money, MONEY_EXPECTED),
    "impressions": _decimal_comma(parse_count, COUNT_EXPECTED),
    "clicks": _decimal_comma(parse_count, COUNT_EXPECTED),
    "conversions": _decimal_comma(parse_float, FLOAT_EXPECTED),
    "conversion_value": _decimal_comma(parse_float, FLOAT_EXPECTED),
    "daily_budget": _decimal_comma(parse_money, MONEY_EXPECTED),
}
