"""Keep secrets out of logs, metadata, the ledger and error messages.

``redact(text)`` masks the value of every secret MBO is configured with (the
platforms' tokens, the Claude key, the database password) and any
``access_token=...`` query parameter or bearer header an SDK put into its
own exception text. Everything MBO writes about a platform call goes through it.
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote, urlparse

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


def secret_values(extra: tuple[str | None, ...] = ()) -> list[str]:
    """The secrets in the environment (and ``extra``), longest first so a secret inside another is masked whole."""
    values = [os.environ.get(name, "") for name in SECRET_VARIABLES]
    url = os.environ.get("MBO_DATABASE_URL", "")
    if url:
        password = urlparse(url).password
        values += [password or "", unquote(password or "")]
    values += [v or "" for v in extra]
    return sorted({v.strip() for v in values if v and len(v.strip()) >= _MIN_SECRET_LENGTH}, key=len, reverse=True)


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
