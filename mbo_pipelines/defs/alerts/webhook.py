"""Post alerts to a Slack-compatible incoming webhook: one message per alert, retried, no secrets in anything said.

The webhook URL (``MBO_ALERT_WEBHOOK_URL``) is itself a secret: a Slack
webhook's path is its token. So nothing here ever prints it: failures, log
lines and errors name ``WHERE`` instead, with the HTTP status or error type.
A message carries only the alert's facts (and its explanation, when given).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import tenacity

from mbo_pipelines.defs.alerts.model import Alert

log = logging.getLogger(__name__)

ENV_VAR = "MBO_ALERT_WEBHOOK_URL"
#: How every message names the webhook: never its URL.
WHERE = f"the alert webhook ({ENV_VAR})"
# Slack's limits: header text 150 characters, section text 3000.
_HEADER_MAX, _TEXT_MAX = 150, 2900
# Slack answers a failed post with a short error code (``invalid_payload``, ``no_service``): worth quoting.
_ERROR_CODE = re.compile(r"[a-z_]{1,40}")
_PARTIAL_ENTITY = re.compile(r"&[a-z]*$")


@dataclass(frozen=True)
class WebhookResult:
    """What ``post_alerts`` did: the alert ids delivered (in order), and those that were not, with a short reason."""

    delivered: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every alert was delivered."""
        return not self.failed


def webhook_url() -> str | None:
    """``MBO_ALERT_WEBHOOK_URL``, checked to be an http(s) URL with a host; None when unset or blank."""
    url = os.environ.get(ENV_VAR, "").strip()
    if not url:
        return None
    _check_url(url)
    return url


def slack_message(alert: Alert, explanation: str | None = None) -> dict:
    """The Slack message for one alert: a one-line ``text`` fallback and ``blocks`` with its facts."""
    name = alert.campaign_name or alert.campaign_id or alert.account_id or alert.platform
    expected = "n/a" if alert.expected is None else _number(alert.expected, alert.currency)
    if alert.expected_low is not None and alert.expected_high is not None:
        expected += (f" (band {_number(alert.expected_low, alert.currency)} to "
                     f"{_number(alert.expected_high, alert.currency)})")
    days = f"{alert.first_day.isoformat()} to {alert.last_day.isoformat()} ({alert.days} day{'s' * (alert.days != 1)})"
    fields = [("Severity", alert.severity.upper()), ("Scope", alert.scope), ("Metric", alert.metric),
              ("Observed", _number(alert.observed, alert.currency)), ("Expected", expected), ("Days", days)]
    blocks: list[dict] = [
        {"type": "header",
         "text": {"type": "plain_text",
                  "text": _slack_text(f"{alert.severity.upper()}: {alert.kind} on {name}", _HEADER_MAX)}},
        {"type": "section", "text": _mrkdwn(_one_line(alert.message))},
        {"type": "section", "fields": [_mrkdwn(f"*{label}*\n{value}") for label, value in fields]},
    ]
    if explanation and explanation.strip():
        blocks.append({"type": "section", "text": _mrkdwn(explanation.strip())})
    blocks.append({"type": "context", "elements": [_mrkdwn(f"Alert id `{alert.alert_id}`")]})
    text = f"[{alert.severity.upper()}] {alert.kind} on {alert.scope} ({name}): {_one_line(alert.message)}"
    return {"text": _slack_text(text, _TEXT_MAX), "blocks": blocks}


def post_alerts(
    url: str,
    alerts: Iterable[Alert],
    explanations: Mapping[str, str] | None = None,
    *,
    attempts: int = 4,
    timeout: float = 10.0,
    wait: float = 1.0,
    max_wait: float = 30.0,
) -> WebhookResult:
    """POST one ``slack_message`` per alert, in order, each tried up to ``attempts`` times; never raises for a
    failed post, so one alert's failure does not stop the others.

    Connection errors, timeouts, HTTP 429 and 5xx are tried again after an exponential backoff with jitter
    (first ``wait`` seconds, at most ``max_wait``), or after the ``Retry-After`` seconds the webhook asked for,
    capped at ``max_wait``. Any other status fails at once: sending the same message again will not fix it.
    """
    _check_url(url)
    explanations = explanations or {}
    delivered: list[str] = []
    failed: dict[str, str] = {}
    masking = _MaskURL(url)
    httpx_log = logging.getLogger("httpx")
    # httpx logs every request's full URL at INFO: that would put the webhook's token into the logs.
    httpx_log.addFilter(masking)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            for alert in alerts:
                message = slack_message(alert, explanations.get(alert.alert_id))
                reason = _deliver(client, url, message, alert.alert_id, attempts=attempts, wait=wait, max_wait=max_wait)
                if reason is None:
                    delivered.append(alert.alert_id)
                else:
                    failed[alert.alert_id] = reason
                    log.warning("alert %s not delivered: %s", alert.alert_id, reason)
    finally:
        httpx_log.removeFilter(masking)
    return WebhookResult(tuple(delivered), failed)


class _Failure(Exception):
    """One failed post: ``reason`` says why without the URL; ``retry`` whether another try may succeed."""

    def __init__(self, reason: str, retry: bool, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.retry, self.delay = reason, retry, delay


def _deliver(client: httpx.Client, url: str, message: dict, alert_id: str, *, attempts: int, wait: float,
             max_wait: float) -> str | None:
    """Post ``message`` with retries: None once delivered, else why it was not."""
    backoff = tenacity.wait_exponential_jitter(multiplier=wait, max=max_wait, jitter=wait)

    def pause(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hint = min(exc.delay, max_wait) if isinstance(exc, _Failure) and exc.delay else 0.0
        return max(hint, backoff(state))

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.info("alert %s: try %d of %d failed (%s); retrying in %.2fs", alert_id, state.attempt_number, attempts,
                 getattr(exc, "reason", type(exc).__name__), state.next_action.sleep if state.next_action else 0.0)

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max(1, attempts)),
        wait=pause,
        retry=tenacity.retry_if_exception(lambda exc: isinstance(exc, _Failure) and exc.retry),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        retrying(_post, client, url, message)
    except _Failure as exc:
        tries = f"after {attempts} tries" if exc.retry else "(not retried)"
        return f"{exc.reason} {tries}"
    return None


def _post(client: httpx.Client, url: str, message: dict) -> None:
    """One POST; raises ``_Failure`` unless the webhook answered 2xx."""
    try:
        response = client.post(url, json=message, headers={"Content-Type": "application/json"})
    except httpx.TimeoutException as exc:
        raise _Failure(f"{WHERE} timed out ({type(exc).__name__})", retry=True) from None
    except httpx.TransportError as exc:
        # Only the type: a transport error's text may quote the URL.
        raise _Failure(f"{WHERE} could not be reached ({type(exc).__name__})", retry=True) from None
    if response.is_success:
        return
    status = response.status_code
    body = response.text.strip()
    code = f": {body}" if _ERROR_CODE.fullmatch(body) else ""
    raise _Failure(f"{WHERE} answered HTTP {status}{code}", retry=status == 429 or status >= 500,
                   delay=_retry_after(response))


def _retry_after(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds, or None (absent, negative, or an HTTP date)."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _check_url(url: str) -> None:
    """ValueError unless ``url`` is http(s) with a host; the message never quotes the URL (its path is a token)."""
    try:
        parts = urlsplit(url)
        # .port raises ValueError on a malformed port, whose message quotes it.
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(f"{ENV_VAR} must be an http(s) URL with a host (its value is not shown: "
                         "a webhook URL carries a token)") from None


class _MaskURL(logging.Filter):
    """Rewrites log records that quote the webhook URL (or its path) to say ``WHERE`` instead."""

    def __init__(self, url: str) -> None:
        super().__init__()
        path = urlsplit(url).path
        forms = {url, str(httpx.URL(url))} | ({path} if len(path) > 1 else set())
        self._forms = sorted(forms, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = message
        for form in self._forms:
            masked = masked.replace(form, WHERE)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def _mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": _slack_text(text, _TEXT_MAX)}


def _slack_text(text: str, limit: int) -> str:
    """``text`` escaped for Slack, cut to ``limit`` characters (never inside an ``&...;`` entity)."""
    # Slack reads <...> as links and mentions: a campaign named "<!channel>" must not ping everyone.
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if len(escaped) <= limit:
        return escaped
    return _PARTIAL_ENTITY.sub("", escaped[: limit - 1]) + "…"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _number(value: float, currency: str | None) -> str:
    """Money with two decimals and its currency; a count without decimals; a ratio with up to four."""
    if currency:
        return f"{value:,.2f} {currency}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.4f}".rstrip("0")
