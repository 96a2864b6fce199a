"""The Graph API transport for the Meta connector: the SDK's own ``FacebookAdsApi``, made strict and polite.

``GraphApi`` is facebook-business' API object pointed at a chosen Graph URL,
with three additions every call goes through: it waits when Meta's usage
headers (``x-business-use-case-usage``, ``x-ad-account-usage``,
``x-app-usage``, ``x-fb-ads-insights-throttle``) say the app or account is
near its limit; it turns the SDK's ``FacebookRequestError`` into a short
``GraphError`` (code, subcode, message, HTTP status, fbtrace_id; never the
request parameters); and it refuses answers the SDK would take as success (a
5xx with an HTML body, a cut-off JSON page). It also keeps the last answer
of each thread's latest call (``last_answer``: status, headers, body), so
budget writes can name Meta's request id (``x-fb-request-id``) and quote
what Meta said. ``classify`` says which failures
another try can fix, for ``retrying.call_with_retries``. The SDK sends the
token as a query parameter, so urllib3's DEBUG lines get it masked too.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from facebook_business.api import FacebookAdsApi
from facebook_business.exceptions import FacebookRequestError
from facebook_business.session import FacebookSession

from mbo_pipelines.defs.ingest.retrying import Retry, backoff_seconds
from mbo_pipelines.redaction import redact

DEFAULT_GRAPH_URL = "https://graph.facebook.com"
#: Seconds one HTTP request may take before it counts as failed (and is retried).
REQUEST_TIMEOUT_SECONDS = 120
#: Graph error codes that mean "too many calls, slow down": app, user, page, hourly, and the
#: business-use-case limits (80000-80014: ads insights, ads management, custom audiences, ...).
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
#: "An unknown error occurred" and "Service temporarily unavailable": Meta asks to retry these.
TRANSIENT_CODES = frozenset({1, 2})
#: Usage (percent of the limit) from which the connector pauses before its next call.
USAGE_PAUSE_PERCENT = 95.0
USAGE_HEADERS = ("x-business-use-case-usage", "x-ad-account-usage", "x-app-usage", "x-fb-ads-insights-throttle")

log = logging.getLogger(__name__)


class GraphError(Exception):
    """A Graph API error answer, in a few words: code, subcode, type, message, HTTP status, fbtrace_id."""

    def __init__(self, http_status: int | None, code: int | None, message: str, *, subcode: int | None = None,
                 error_type: str | None = None, fbtrace_id: str | None = None, transient: bool = False,
                 headers: Mapping[str, str] | None = None):
        self.http_status, self.code, self.subcode = http_status, code, subcode
        self.error_type, self.fbtrace_id, self.transient = error_type, fbtrace_id, transient
        self.headers = dict(headers or {})
        self.api_message = message
        code_text = f"Graph API error {code}" + (f"/{subcode}" if subcode else "") if code is not None else "Graph API error"
        kind = f" ({error_type})" if error_type else ""
        trace = f", fbtrace_id {fbtrace_id}" if fbtrace_id else ""
        super().__init__(f"{code_text}{kind}: {message} [HTTP {http_status}{trace}]")

    @classmethod
    def from_sdk(cls, exc: FacebookRequestError) -> GraphError:
        """The SDK's error, without its request dump."""
        body = exc.body() if isinstance(exc.body(), dict) else {}
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        headers = _lower(exc.http_headers())
        message = exc.api_error_message() or (str(exc.body())[:200] if not error else "no message")
        return cls(exc.http_status(), exc.api_error_code(), message, subcode=exc.api_error_subcode(),
                   error_type=exc.api_error_type(), fbtrace_id=error.get("fbtrace_id") or headers.get("x-fb-trace-id"),
                   transient=bool(exc.api_transient_error()), headers=headers)


@dataclass(frozen=True)
class Answer:
    """One HTTP answer from Graph: status, headers (names lower-cased) and body text."""

    status: int
    headers: dict[str, str]
    body: str

    @property
    def request_id(self) -> str | None:
        """Meta's id of the request: ``x-fb-request-id``, else the ``x-fb-trace-id`` to quote to Meta support."""
        return self.headers.get("x-fb-request-id") or self.headers.get("x-fb-trace-id") or None


class UnreadableResponse(Exception):
    """A successful HTTP answer whose body is not the JSON object Graph sends (cut off, or not JSON at all)."""


def _lower(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (headers or {}).items()}


def _numbers(entry: Mapping[str, Any], keys: tuple[str, ...]) -> list[float]:
    out = []
    for key in keys:
        try:
            value = float(entry.get(key))
        except (TypeError, ValueError):
            continue
        if math.isfinite(value):
            out.append(value)
    return out


def usage_pause(headers: Mapping[str, str] | None) -> tuple[float, str] | None:
    """Seconds to wait before the next call, and why, from Meta's usage headers; None when usage is fine.

    ``estimated_time_to_regain_access`` (minutes) > 0 means "blocked for that
    long"; usage at or above ``USAGE_PAUSE_PERCENT`` means "slow down": wait
    the header's ``reset_time_duration`` (seconds) if it gives one, else the
    longest backoff. Callers cap the wait at ``MBO_API_MAX_BACKOFF_SECONDS``.
    """
    cap = backoff_seconds()[1]
    waits: list[tuple[float, str]] = []
    headers = _lower(headers)
    for name in USAGE_HEADERS:
        try:
            value = json.loads(headers[name]) if name in headers else None
        except ValueError:
            continue
        entries: list[Mapping[str, Any]] = []
        if name == "x-business-use-case-usage" and isinstance(value, dict):
            entries = [e for group in value.values() if isinstance(group, list) for e in group if isinstance(e, dict)]
        elif isinstance(value, dict):
            entries = [value]
        for entry in entries:
            regain = _numbers(entry, ("estimated_time_to_regain_access",))
            percent = max(_numbers(entry, ("call_count", "total_cputime", "total_time", "acc_id_util_pct",
                                           "app_id_util_pct")), default=0.0)
            reset = _numbers(entry, ("reset_time_duration",))
            if regain and regain[0] > 0:
                waits.append((regain[0] * 60, f"{name} says access returns in {regain[0]:g} min"))
            elif percent >= USAGE_PAUSE_PERCENT:
                seconds = reset[0] if reset and reset[0] > 0 else cap
                waits.append((seconds, f"{name} reports {percent:g}% of the limit used"))
    if not waits:
        return None
    seconds, why = max(waits)
    return min(seconds, cap), why


def classify(exc: BaseException) -> Retry | None:
    """A ``Retry`` for rate limits (with the usage headers' wait), transient Graph errors, 429/5xx and network errors."""
    if isinstance(exc, GraphError):
        rate_limited = exc.code in RATE_LIMIT_CODES or exc.http_status == 429
        if rate_limited or exc.transient or exc.code in TRANSIENT_CODES or (exc.http_status or 0) >= 500:
            pause = usage_pause(exc.headers)
            return Retry(delay=pause[0] if pause else None, request_id=exc.fbtrace_id,
                         reason="rate limited" if rate_limited else "transient error")
        return None
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)):
        return Retry(reason="network error")
    return None


class GraphApi(FacebookAdsApi):
    """``FacebookAdsApi`` on ``graph_url``, waiting out heavy usage and raising ``GraphError`` / ``UnreadableResponse``.

    Not the SDK's default API: objects get it through ``api=``, so other accounts
    and tests in the same process are unaffected.
    """

    def __init__(self, access_token: str, graph_url: str = DEFAULT_GRAPH_URL,
                 log_wait: Callable[[str], None] | None = None, sleep: Callable[[float], None] = time.sleep):
        session = FacebookSession(access_token=access_token, timeout=REQUEST_TIMEOUT_SECONDS)
        session.GRAPH = graph_url.rstrip("/")  # the class attribute is graph.facebook.com
        session.requests.hooks["response"].append(self._inspect)
        redact_http_debug_logs()
        super().__init__(session)
        self._log_wait = log_wait or log.warning
        self._sleep = sleep
        self._lock = threading.Lock()
        self._not_before = 0.0
        self._answers = threading.local()

    def call(self, method, path, params=None, headers=None, files=None, url_override=None, api_version=None):
        """The SDK's call, after any wait the last usage headers asked for; ``GraphError`` instead of its error."""
        self._answers.last = None
        self._wait_if_asked()
        try:
            return super().call(method, path, params=params, headers=headers, files=files,
                                url_override=url_override, api_version=api_version)
        except FacebookRequestError as exc:
            raise GraphError.from_sdk(exc) from None

    def _inspect(self, response: requests.Response, *args, **kwargs) -> None:
        """requests' response hook: note the usage headers, refuse bodies that are not a JSON object.

        This runs before the SDK reads the body, which matters: the SDK takes a
        non-JSON body for success (or fails with a TypeError on one that
        contains "error").
        """
        headers = _lower(response.headers)
        self._answers.last = response
        self._note_usage(headers)
        try:
            body = json.loads(response.text)
        except ValueError:
            body = None
        if isinstance(body, dict):
            return
        size = len(response.content or b"")
        if response.status_code >= 400:
            raise GraphError(response.status_code, None, f"answer is not Graph's JSON error ({size} bytes)",
                             fbtrace_id=headers.get("x-fb-trace-id"),
                             transient=response.status_code >= 500 or response.status_code == 429, headers=headers)
        raise UnreadableResponse(f"HTTP {response.status_code} answer is not a JSON object ({size} bytes; cut off?)")

    def last_answer(self) -> Answer | None:
        """The answer to this thread's latest ``call`` (None when it got none: a network error, or no call yet)."""
        response = getattr(self._answers, "last", None)
        return Answer(response.status_code, _lower(response.headers), response.text) if response is not None else None

    def _note_usage(self, headers: Mapping[str, str]) -> None:
        pause = usage_pause(headers)
        if pause:
            with self._lock:
                self._not_before = max(self._not_before, time.monotonic() + pause[0])
            self._log_wait(f"meta_ads: {pause[1]}; waiting {pause[0]:.1f}s before the next call")

    def _wait_if_asked(self) -> None:
        with self._lock:
            remaining = self._not_before - time.monotonic()
        if remaining > 0:
            self._sleep(remaining)


class _RedactingFilter(logging.Filter):
    """Masks ``access_token=...`` in urllib3's DEBUG lines, which quote every request URL whole."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def redact_http_debug_logs() -> None:
    """Install the filter on urllib3's connection-pool logger (once per process): the SDK sends the token in the query."""
    pool_log = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _RedactingFilter) for f in pool_log.filters):
        pool_log.addFilter(_RedactingFilter())


def crash_reporter_off(warn: Callable[[str], None] | None = None) -> None:
    """Make sure the SDK's crash reporter (which uploads tracebacks to Facebook) is not installed."""
    from facebook_business.crashreporter import CrashReporter

    if CrashReporter.reporter_instance is not None:
        CrashReporter.disable()
        (warn or log.warning)("meta_ads: turned off facebook-business' crash reporter (it uploads tracebacks to Facebook)")
