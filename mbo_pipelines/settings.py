"""Configuration read from environment variables, with the defaults the demo needs.

Every variable is listed in the README's configuration table. Nothing here
logs or returns a secret except ``database_url()``, whose callers must not log it.
"""

from __future__ import annotations

import math
import os
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

    raw = os.environ.get("MBO_PG_PORT", str(DEFAULT_PORT))
    if not raw.isdigit():
        raise ValueError(f"MBO_PG_PORT must be a port number, got {raw!r}")
    return int(raw)


def embedded_server():
    """The embedded server for this ``MBO_HOME``."""
    from mbo_pipelines.embedded_db import EmbeddedServer

    return EmbeddedServer(pgdata=mbo_home() / "pgdata", port=embedded_port())


def database_url() -> str:
    """``MBO_DATABASE_URL`` when set; otherwise start (if needed) the embedded server and return its URL."""
    url = os.environ.get("MBO_DATABASE_URL", "").strip()
    if url:
        return url
    return embedded_server().start()


def reporting_currency() -> str:
    """Currency the marts report in (``MBO_REPORTING_CURRENCY``, default USD)."""
    return os.environ.get("MBO_REPORTING_CURRENCY", "USD").strip().upper() or "USD"


def history_days() -> int:
    """How many days of history the demo extracts and the optimizer fits on (``MBO_HISTORY_DAYS``, default 90)."""
    return env_int("MBO_HISTORY_DAYS", 90, minimum=1)


def max_budget_change() -> float:
    """Largest relative change per campaign, for the planner and the push guardrails alike
    (``MBO_MAX_BUDGET_CHANGE``, a fraction in (0, 1], default 0.30)."""
    value = env_float("MBO_MAX_BUDGET_CHANGE", DEFAULT_MAX_BUDGET_CHANGE)
    if not 0 < value <= 1:
        raise ValueError(f"MBO_MAX_BUDGET_CHANGE must be between 0 and 1, got {value}")
    return value


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


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***``, safe for logs and metadata."""
    parsed = urlparse(url)
    if not parsed.password:
        return url
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
    return parsed._replace(netloc=netloc).geturl()
