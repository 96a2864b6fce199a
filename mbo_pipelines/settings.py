"""Configuration read from environment variables, with the defaults the demo needs.

Every variable is listed in the README's configuration table. Nothing here
logs or returns a secret except ``database_url()``, whose callers must not log it.
"""

from __future__ import annotations

import math
import os
import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import unquote, urlparse

PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: Largest relative change of a campaign's budget in one plan, and in one push (``MBO_MAX_BUDGET_CHANGE``).
DEFAULT_MAX_BUDGET_CHANGE = 0.30


def _env(name: str, default, parse, what: str):
    """``name`` parsed by ``parse`` (``default`` when unset or blank); ValueError naming it otherwise."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError:
        raise ValueError(f"{name} must be {what}, got {raw!r}") from None


def env_float(name: str, default: float) -> float:
    """``name`` as a finite number (``default`` when unset or blank); ValueError naming it otherwise."""
    value = _env(name, default, float, "a number")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    """``name`` as a whole number of at least ``minimum`` (``default`` when unset or blank)."""
    value = _env(name, default, int, "a whole number")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def env_hours(name: str, default: float) -> timedelta:
    """``name`` as a positive number of hours, such as 30 or 1.5 (``default`` when unset or blank)."""
    value = env_float(name, default)
    if not value > 0:
        raise ValueError(f"{name} must be a positive number of hours, got {value}")
    return timedelta(hours=value)


def parse_amount(raw: str) -> Decimal:
    """``raw`` as a finite, non-negative amount of money in currency units; ValueError otherwise."""
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise ValueError(f"{raw!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{raw!r} is not a finite amount of at least 0")
    return value


def env_amount(name: str) -> Decimal | None:
    """``name`` as a non-negative amount of money in currency units (``12.50``), None when unset or blank."""
    return _env(name, None, parse_amount, "an amount of money of at least 0, such as 12.50")


def mbo_home() -> Path:
    """Where the embedded database and the Dagster instance live (``MBO_HOME``, default ``.mbo/``)."""
    return Path(os.environ.get("MBO_HOME", PROJECT_ROOT / ".mbo")).resolve()


def embedded_port() -> int:
    """TCP port of the embedded PostgreSQL (``MBO_PG_PORT``, default 54329)."""
    from mbo_pipelines.embedded_db import DEFAULT_PORT

    def port(raw: str) -> int:
        if not raw.isdigit() or not 1 <= int(raw) <= 65535:
            raise ValueError(raw)
        return int(raw)

    return _env("MBO_PG_PORT", DEFAULT_PORT, port, "a port number between 1 and 65535")


def embedded_server():
    """The embedded server for this ``MBO_HOME``."""
    from mbo_pipelines.embedded_db import EmbeddedServer

    return EmbeddedServer(pgdata=mbo_home() / "pgdata", port=embedded_port())


#: Seconds a connection attempt to ``MBO_DATABASE_URL`` may take before MBO reports the server unreachable.
CONNECT_TIMEOUT_SECONDS = 4


def external_database_url() -> str | None:
    """``MBO_DATABASE_URL`` (None when unset or blank); ValueError, without the value, unless it is a
    ``postgresql://`` URL with a host."""
    url = os.environ.get("MBO_DATABASE_URL", "").strip()
    if not url:
        return None
    try:
        parsed = urlparse(url)
        parsed.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError("MBO_DATABASE_URL has a port that is not a number") from None
    if parsed.scheme not in ("postgresql", "postgres"):
        raise ValueError("MBO_DATABASE_URL must be a postgresql:// URL"
                         + (f", got a {parsed.scheme}:// URL" if parsed.scheme and parsed.netloc else ""))
    if not parsed.hostname:
        raise ValueError(f"MBO_DATABASE_URL names no host, got {redact_url(url)!r}")
    return url


def database_url() -> str:
    """``MBO_DATABASE_URL`` when set; otherwise start (if needed) the embedded server and return its URL."""
    return external_database_url() or embedded_server().start()


def reporting_currency() -> str:
    """Currency the marts report in (``MBO_REPORTING_CURRENCY``, default USD): a three-letter code, as the dbt macro
    ``reporting_currency()`` demands; ValueError naming the variable otherwise."""
    raw = os.environ.get("MBO_REPORTING_CURRENCY", "").strip()
    code = raw.upper() or "USD"
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise ValueError(f"MBO_REPORTING_CURRENCY must be a three-letter ISO 4217 code, got {raw!r}")
    return code


def fx_max_fill_days() -> int:
    """How many days a published FX rate is carried forward (``MBO_FX_MAX_FILL_DAYS``, default 7): what dbt's
    ``fx_max_fill_days()`` macro accepts, a whole number of days from 0 to 9999."""
    def days(raw: str) -> int:
        if not re.fullmatch(r"[0-9]{1,4}", raw):
            raise ValueError(raw)
        return int(raw)

    return _env("MBO_FX_MAX_FILL_DAYS", 7, days, "a whole number of days from 0 to 9999")


def history_days() -> int:
    """How many days of history the demo extracts and the optimizer fits on (``MBO_HISTORY_DAYS``, default 90)."""
    return env_int("MBO_HISTORY_DAYS", 90, minimum=1)


def max_budget_change() -> float:
    """Largest relative change per campaign, for the planner and the push guardrails alike
    (``MBO_MAX_BUDGET_CHANGE``, a fraction in (0, 1], default 0.30)."""
    def fraction(raw: str) -> float:
        value = float(raw)
        if not (math.isfinite(value) and 0 < value <= 1):
            raise ValueError(raw)
        return value

    return _env("MBO_MAX_BUDGET_CHANGE", DEFAULT_MAX_BUDGET_CHANGE, fraction,
                "a number greater than 0 and at most 1 (a fraction of the budget)")


def target_marginal_roas() -> float:
    """The marginal ROAS of the "how much should I spend at all?" scenario (``MBO_TARGET_MARGINAL_ROAS``,
    default 1.0: break-even, the next unit of spend returns one unit of value)."""
    value = env_float("MBO_TARGET_MARGINAL_ROAS", 1.0)
    if not value > 0:
        raise ValueError(f"MBO_TARGET_MARGINAL_ROAS must be positive, got {value}")
    return value


#: What the optimizer fits its response curves on (``MBO_CONVERSION_SOURCE``): the conversion values as the
#: platforms report them, or de-duplicated against GA4 (``marts.fct_campaign_attribution``).
CONVERSION_SOURCES = ("platform", "deduplicated")


def conversion_source() -> str:
    """Which conversion values the optimizer fits on (``MBO_CONVERSION_SOURCE``): ``platform`` (the default,
    also when blank) or ``deduplicated``, in any case; ValueError naming the variable otherwise."""
    raw = os.environ.get("MBO_CONVERSION_SOURCE", "").strip()
    value = raw.lower() or CONVERSION_SOURCES[0]
    if value not in CONVERSION_SOURCES:
        raise ValueError(f"MBO_CONVERSION_SOURCE must be 'platform' or 'deduplicated', got {raw!r}")
    return value


#: The Meta action type counted as conversions unless ``MBO_META_CONVERSION_ACTION`` names another.
DEFAULT_META_CONVERSION_ACTION = "omni_purchase"


def meta_conversion_action() -> str:
    """The Meta action type counted as conversions (``MBO_META_CONVERSION_ACTION``, default omni_purchase), as
    the dbt staging model ``stg_meta_ads__campaign_daily`` accepts it: lower-case letters, digits and ``_.:-``."""
    raw = os.environ.get("MBO_META_CONVERSION_ACTION", "").strip()
    if raw and not re.fullmatch(r"[a-z0-9_.:-]+", raw):
        raise ValueError(f"MBO_META_CONVERSION_ACTION must be a Meta action type such as omni_purchase, got {raw!r}")
    return raw or DEFAULT_META_CONVERSION_ACTION


def dbt_env(url: str) -> dict[str, str]:
    """The ``MBO_DB_*`` variables ``dbt_project/profiles.yml`` reads, derived from a database URL."""
    parsed = urlparse(url)
    return {
        "MBO_DB_HOST": parsed.hostname or "127.0.0.1",
        "MBO_DB_PORT": str(parsed.port or 5432),
        "MBO_DB_USER": unquote(parsed.username or "postgres"),
        "MBO_DB_PASSWORD": unquote(parsed.password or ""),
        "MBO_DB_NAME": (parsed.path or "/mbo").lstrip("/") or "mbo",
    }


_PASSWORD_PARAMETER = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]+)", re.IGNORECASE)


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***``, safe for logs and metadata: the one after the user name,
    and a ``password=`` parameter (of the query string, or of a ``key=value`` connection string)."""
    try:
        parsed = urlparse(url)
        password = parsed.password
    except ValueError:
        password = None
    if password:
        user, _, host = parsed.netloc.rpartition("@")
        name = user.split(":", 1)[0]
        url = parsed._replace(netloc=f"{name}:***@{host}").geturl()
    return _PASSWORD_PARAMETER.sub(lambda m: m.group(1) + "***", url)
