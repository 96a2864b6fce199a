"""Alert explanations: Claude's for new high-severity alerts when it is configured and stays grounded.

``explain_alerts`` explains many alerts with one Anthropic client. Only alerts
of severity ``error`` are sent to Claude; the others, and every alert when no
API key is set, get ``deterministic_alert_text``. Claude's text is used only
when every number it quotes is one of the alert's facts (``Alert.facts()``) and
it stays short; otherwise, and when the call fails, the deterministic text is
used and ``fallback_reason`` says why.

The system prompt (``prompt.system_blocks``) is two blocks: the static rules, glossary and examples, the
same for every alert and marked for prompt caching, then the alert's facts as
JSON and the budget action (not cached). Anthropic caches a prefix only from a
minimum length: 1024 tokens documented for the Sonnet 4.x models, 2048 observed
for Sonnet 4.6 (the default model), which the static block exceeds; 4096 for
Opus 4.5/4.6 and Haiku 4.5, where the requests still succeed, uncached. Token
usage is summed over every answer Claude gave (rejected ones too: they were
paid for) and priced with ``costs.MODEL_PRICES``, an estimate. The API key never
appears in a returned object, a message or a log line.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import anthropic

from mbo_pipelines.defs.alerts import model as alert_model
from mbo_pipelines.defs.alerts.alert_text import deterministic_alert_text
from mbo_pipelines.defs.alerts.costs import TokenUsage, estimated_cost_usd
from mbo_pipelines.defs.alerts.model import Alert
from mbo_pipelines.defs.alerts.prompt import MAX_TOKENS, REJECT_WORDS, USER_PROMPT, system_blocks
from mbo_pipelines.defs.alerts.thresholds import ACTIONS, HOLD
from mbo_pipelines.defs.explain.explanations import DEFAULT_MODEL, DEFAULT_TIMEOUT_SECONDS, failure_reason, redacted
from mbo_pipelines.defs.explain.grounding import payload_numbers, ungrounded_numbers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertExplanation:
    """One alert's text: ``source`` "claude" (``model`` set) or "deterministic" (``fallback_reason`` when Claude
    was asked but its text could not be used; None when the alert was not sent)."""

    alert_id: str
    text: str
    source: str
    model: str | None = None
    fallback_reason: str | None = None


@dataclass(frozen=True)
class AlertExplanations:
    """The explanations in the alerts' order, the model asked (None: none was), tokens and estimated cost.

    ``cost_usd`` is 0 when no token was used and None when the model's price is unknown.
    """

    explanations: tuple[AlertExplanation, ...]
    model: str | None = None
    usage: TokenUsage = field(default_factory=TokenUsage)
    cost_usd: float | None = 0.0

    @property
    def by_alert_id(self) -> dict[str, AlertExplanation]:
        """The explanations keyed by alert id."""
        return {explanation.alert_id: explanation for explanation in self.explanations}


def _deterministic(alert: Alert, action: str, reason: str | None = None) -> AlertExplanation:
    text = deterministic_alert_text(alert, action)
    return AlertExplanation(alert.alert_id, text, "deterministic", fallback_reason=reason)


def _fallback(alert: Alert, action: str, reason: str, secret: str) -> AlertExplanation:
    reason = redacted(reason, secret)
    log.warning("Claude explanation of %s not used (%s); using the deterministic text", alert.alert_id, reason)
    return _deterministic(alert, action, reason)


def _rejection(text: str, alert: Alert, stop_reason: str | None) -> str | None:
    """Why Claude's text cannot be used, or None when it can."""
    if not text:
        return f"Claude returned no text (stop_reason {stop_reason})"
    words = len(text.split())
    if words > REJECT_WORDS:
        return f"Claude's text is too long ({words} words, at most {REJECT_WORDS})"
    missing = ungrounded_numbers(text, payload_numbers(alert.facts()))
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        return f"Claude's text quotes numbers not in the alert: {shown}"
    return None


def _claude(alert: Alert, client: anthropic.Anthropic, model: str, secret: str,
            action: str) -> tuple[AlertExplanation, TokenUsage]:
    """Claude's explanation of one alert, or the deterministic one with the reason; and the tokens it used.

    Raises the SDK's error when the call fails, for ``explain_alerts`` to decide whether to go on.
    """
    response = client.messages.create(
        model=model,
        max_tokens=MAX_TOKENS,
        system=system_blocks(alert, action),
        messages=[{"role": "user", "content": USER_PROMPT}],
    )
    usage = TokenUsage.of(response.usage)
    blocks = [block.text for block in response.content if getattr(block, "type", None) == "text"]
    text = " ".join(" ".join(blocks).split())  # one paragraph: a notification has no room for line breaks
    reason = _rejection(text, alert, response.stop_reason)
    if reason:
        return _fallback(alert, action, reason, secret), usage
    return AlertExplanation(alert.alert_id, text, "claude", model=response.model or model), usage


def _repeats(error: anthropic.AnthropicError) -> bool:
    """Whether the next request would fail the same way: a bad key, no permission, an unreachable API."""
    return isinstance(error, (anthropic.AuthenticationError, anthropic.PermissionDeniedError,
                              anthropic.APIConnectionError))  # fmt: skip


def _explain_each(alerts: list[Alert], client: anthropic.Anthropic, model: str, secret: str,
                  action: str) -> tuple[list[AlertExplanation], TokenUsage]:
    """Every alert's explanation, Claude asked for the errors, and the tokens used."""
    explanations, usage, stopped = [], TokenUsage(), None
    for alert in alerts:
        if alert.severity != alert_model.ERROR:
            explanations.append(_deterministic(alert, action))
            continue
        if stopped is not None:
            explanations.append(_fallback(alert, action, f"not sent after an earlier failure: {stopped}", secret))
            continue
        try:
            explanation, used = _claude(alert, client, model, secret, action)
        except anthropic.AnthropicError as error:  # HTTP errors, timeouts, connection failures
            explanation, used = _fallback(alert, action, failure_reason(error), secret), TokenUsage()
            stopped = failure_reason(error) if _repeats(error) else None
        explanations.append(explanation)
        usage += used
    return explanations, usage


def explain_alerts(
    alerts: Iterable[Alert],
    api_key: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    action: str = HOLD,
) -> AlertExplanations:
    """Explain alerts, Claude for those of severity ``error`` when an API key is available, one client for all.

    Alerts of severity ``warn`` always get the deterministic text (the caller may pass only new alerts, so
    that an alert is not paid for again on every refresh). ``api_key`` defaults to ``ANTHROPIC_API_KEY``
    (none: all deterministic, no request, no tokens); ``model`` to ``MBO_CLAUDE_MODEL`` (default
    ``DEFAULT_MODEL``, as for plan explanations); ``base_url`` to what the SDK reads from
    ``ANTHROPIC_BASE_URL``. One retry, ``timeout`` seconds per attempt. After a failure that would repeat
    (a bad key, an unreachable API) the remaining alerts are not sent. ``action`` is what an open input-data
    alert does to its campaigns (``Thresholds.action``: hold or approve), for the texts to say.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown alert action {action!r}; one of {', '.join(ACTIONS)}")
    alerts = list(alerts)
    api_key = (api_key if api_key is not None else os.environ.get("ANTHROPIC_API_KEY", "")).strip()
    if not api_key or not any(alert.severity == alert_model.ERROR for alert in alerts):
        return AlertExplanations(tuple(_deterministic(alert, action) for alert in alerts))
    model = model or os.environ.get("MBO_CLAUDE_MODEL", "").strip() or DEFAULT_MODEL
    try:
        client = anthropic.Anthropic(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=1)
    except anthropic.AnthropicError as error:  # e.g. a credentials problem
        reason = failure_reason(error)
        return AlertExplanations(tuple(
            _fallback(alert, action, reason, api_key) if alert.severity == alert_model.ERROR
            else _deterministic(alert, action)
            for alert in alerts
        ), model=model)  # fmt: skip
    with client:
        explanations, usage = _explain_each(alerts, client, model, api_key, action)
    cost = estimated_cost_usd(usage, model)
    log.info("Explained %d alerts, %d by Claude (%s): %s, estimated cost %s USD", len(alerts),
             sum(e.source == "claude" for e in explanations), model, usage, cost)  # fmt: skip
    return AlertExplanations(tuple(explanations), model=model, usage=usage, cost_usd=cost)
