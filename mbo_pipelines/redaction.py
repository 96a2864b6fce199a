"""Keep secrets out of logs, metadata, the ledger and error messages.

``redact(text)`` masks the value of every secret MBO is configured with (the
platforms' tokens, the Claude key, the database password) and any
``access_token=...`` query parameter or bearer header an SDK put into its
own exception text. Everything MBO writes about a platform call goes through it.

A secret is masked in every form a library may print it in (``secret_forms``):
as configured, URL-decoded, URL-encoded (``%2B`` and ``+`` styles) and escaped
inside a JSON string; a password taken from a URL is masked decoded too.
"""

from __future__ import annotations

import json
import os
import re
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlparse

#: Environment variables whose values are secrets.
SECRET_VARIABLES = (
    "GOOGLE_ADS_DEVELOPER_TOKEN",
    "GOOGLE_ADS_CLIENT_SECRET",
    "GOOGLE_ADS_REFRESH_TOKEN",
    "GOOGLE_ADS_JSON_KEY_FILE_PATH",
    "META_ACCESS_TOKEN",
    "META_APP_SECRET",
    "TIKTOK_ACCESS_TOKEN",
    "ANTHROPIC_API_KEY",
    "MBO_DB_PASSWORD",
)
MASK = "***"
# Tokens SDKs echo back in URLs and headers, whatever their value.
_PATTERNS = (
    re.compile(r"(access_token=)[^&\s'\"]+", re.IGNORECASE),
    re.compile(r"(Access-Token['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+", re.IGNORECASE),
    re.compile(r"(Bearer\s+)[A-Za-z0-9._\-~+/]+=*", re.IGNORECASE),
    re.compile(r"(developer-token['\"]?\s*[:=,]\s*['\"]?)[^\s'\",)]+", re.IGNORECASE),
)
# Shorter values would mask ordinary words; real tokens are far longer.
_MIN_SECRET_LENGTH = 6


def secret_forms(value: str) -> set[str]:
    """Every form ``value`` may appear in: as given, URL-decoded (``%XX``, and ``+`` as a space), URL-encoded
    (``%XX`` with nothing kept, and form style) and escaped inside a JSON string, of each of those."""
    forms = {value, unquote(value), unquote_plus(value)}
    for form in list(forms):
        forms |= {quote(form, safe=""), quote_plus(form, safe=""), json.dumps(form)[1:-1]}
    return forms


def secret_values(extra: tuple[str | None, ...] = ()) -> list[str]:
    """The secrets in the environment (and ``extra``), in every form (``secret_forms``), longest first so a
    secret inside another is masked whole."""
    values = [os.environ.get(name, "") for name in SECRET_VARIABLES]
    url = os.environ.get("MBO_DATABASE_URL", "")
    if url:
        values.append(urlparse(url).password or "")
    values += [v or "" for v in extra]
    forms = {form.strip() for v in values if v and v.strip() for form in secret_forms(v.strip())}
    return sorted((f for f in forms if len(f) >= _MIN_SECRET_LENGTH), key=len, reverse=True)


def redact(text: str, extra: tuple[str | None, ...] = ()) -> str:
    """``text`` with every known secret (and token-shaped parameter) replaced by ``***``."""
    for secret in secret_values(extra):
        text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


def redacted_error(exc: BaseException, extra: tuple[str | None, ...] = ()) -> str:
    """An exception as ``Class: message`` with its secrets masked."""
    return redact(f"{type(exc).__name__}: {exc}", extra)


def emit(log, level: int, message: str) -> None:
    """Send ``message`` to ``log``: a logger (``logging.Logger``, Dagster's ``context.log``) or a plain callable."""
    if hasattr(log, "log"):
        log.log(level, message)
    else:
        log(message)
