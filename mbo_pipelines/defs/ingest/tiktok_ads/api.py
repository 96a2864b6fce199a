"""TikTok Business API v1.3 over HTTP: one call with its retries, and the API's errors in MBO's words.

TikTok answers most errors with HTTP 200 and a nonzero ``code`` (plus a
``request_id`` to quote to TikTok support). Rate limits (40100) and system
errors (50000), HTTP 429 and 5xx, and network failures are tried again
through ``call_with_retries``; anything else fails at once with a
``ConnectorError`` naming the advertiser, the code, TikTok's message and the
request id. The access token travels only in the ``Access-Token`` header and
is masked in every message this module raises or logs. ``last_answer()``
tells what TikTok answered to the latest try of the latest call (request id,
code and message), for budget-write receipts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx

from mbo_pipelines.connectors import ConnectorError, WriteReceipt
from mbo_pipelines.defs.ingest.retrying import Retry, call_with_retries
from mbo_pipelines.redaction import emit, redact

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://business-api.tiktok.com/open_api"
TIMEOUT_SECONDS = 60.0
#: TikTok's "too many requests" and "system error": another try usually works.
RETRYABLE_CODES = frozenset({40100, 50000})
#: What to do about the codes an operator can fix.
_HINTS = {
    40001: "the token has no permission on this advertiser: authorise the app on it in TikTok Business Center",
    40105: "the access token is wrong, expired or revoked: create a new one and set TIKTOK_ACCESS_TOKEN",
}


class TikTokApiError(Exception):
    """A failure another try may fix: a retryable ``code``, HTTP 429 or 5xx, or a network error."""

    def __init__(self, message: str, *, request_id: str | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.request_id = request_id
        self.retry_after = retry_after


def classify(exc: BaseException) -> Retry | None:
    """``call_with_retries``' view of a TikTok failure: only ``TikTokApiError`` is worth another try."""
    if isinstance(exc, TikTokApiError):
        return Retry(delay=exc.retry_after, request_id=exc.request_id, reason=str(exc))
    return None


class TikTokApi:
    """An authenticated HTTP session on the Business API (``base_url`` ends in ``/open_api``)."""

    def __init__(self, base_url: str, access_token: str, log: Callable[[str], None] | None = None):
        self._token = access_token
        self._log_to = log
        self._client = httpx.Client(base_url=base_url.rstrip("/") + "/", headers={"Access-Token": access_token},
                                    timeout=TIMEOUT_SECONDS)
        self._last_response: httpx.Response | None = None

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def redact(self, text: str) -> str:
        """``text`` with the token masked (also when it was passed in, not read from the environment)."""
        return redact(text, extra=(self._token,))

    def log(self, message: str, level: int = logging.INFO) -> None:
        """Log ``message``, secrets masked, to the caller's ``log`` (a Dagster context's) or this module's logger."""
        if self._log_to:
            emit(self._log_to, level, self.redact(message))
        else:
            logger.log(level, self.redact(message))

    def _log_retry(self, message: str) -> None:
        self.log(message, logging.WARNING)

    def get(self, path: str, params: dict[str, Any], *, advertiser_id: str, what: str) -> dict[str, Any]:
        """GET ``path`` (e.g. ``v1.3/campaign/get/``) and return the response's ``data``."""
        return self._call("GET", path, advertiser_id, what, params=params)

    def post(self, path: str, body: dict[str, Any], *, advertiser_id: str, what: str) -> dict[str, Any]:
        """POST ``body`` as JSON to ``path`` and return the response's ``data``."""
        return self._call("POST", path, advertiser_id, what, json=body)

    def _call(self, method: str, path: str, advertiser_id: str, what: str, **kwargs: Any) -> dict[str, Any]:
        label = f"TikTok advertiser {advertiser_id}: {what}"
        return call_with_retries(lambda: self._once(method, path, label, **kwargs), what=label,
                                 classify=classify, log=self._log_retry)

    def _once(self, method: str, path: str, label: str, **kwargs: Any) -> dict[str, Any]:
        self._last_response = None
        try:
            response = self._client.request(method, path.lstrip("/"), **kwargs)
        except httpx.TransportError as exc:
            raise TikTokApiError(self.redact(f"network error: {type(exc).__name__}: {exc}")) from None
        self._last_response = response
        if response.status_code == 429 or response.status_code >= 500:
            raise TikTokApiError(f"HTTP {response.status_code}", retry_after=_retry_after(response),
                                 request_id=response.headers.get("X-Tt-Logid"))
        if response.status_code >= 400:
            raise ConnectorError(self.redact(
                f"{label} failed: HTTP {response.status_code} from {response.url.path} "
                f"({response.text[:200]!r}); check MBO_TIKTOK_API_URL"))
        try:
            payload = response.json()
        except ValueError:
            raise ConnectorError(
                f"{label}: TikTok's response was not valid JSON ({len(response.content)} bytes, truncated?); "
                "run again, and tell TikTok support if it persists"
            ) from None
        if not isinstance(payload, dict) or not isinstance(payload.get("code"), int):
            raise ConnectorError(f"{label}: TikTok's response has no error code, so it is not the Business API's; "
                                 "check MBO_TIKTOK_API_URL")
        code, request_id = payload["code"], str(payload.get("request_id") or "") or None
        message = self.redact(str(payload.get("message") or ""))[:300]
        if code in RETRYABLE_CODES:
            raise TikTokApiError(f"code {code}: {message}", request_id=request_id)
        if code != 0:
            hint = _HINTS.get(code)
            raise ConnectorError(f"{label} failed: code {code}: {message} (request id {request_id})"
                                 + (f"; {hint}" if hint else ""))
        data = payload.get("data")
        return data if isinstance(data, dict) else {}

    def last_answer(self) -> WriteReceipt | None:
        """TikTok's answer to the latest try of the latest call: its request id and ``code N: message`` (the HTTP
        status and the start of the body for an answer that is not the API's JSON); None when it got no answer."""
        response = self._last_response
        if response is None:
            return None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        logid = response.headers.get("X-Tt-Logid")
        if isinstance(payload, dict) and "code" in payload:
            request_id = str(payload.get("request_id") or "") or logid
            return WriteReceipt.of(request_id, f"code {payload.get('code')}: {payload.get('message') or ''}",
                                   (self._token,))
        return WriteReceipt.of(logid, f"HTTP {response.status_code}: {response.text[:200]!r}", (self._token,))


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
