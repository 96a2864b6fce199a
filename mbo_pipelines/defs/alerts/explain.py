"""Alert explanations: Claude's for new high-severity alerts when it is configured and stays grounded.

``explain_alerts`` explains many alerts with one Anthropic client. Only alerts
of severity ``error`` are sent to Claude; the others, and every alert when no
API key is set, get ``deterministic_alert_text``. Claude's text is used only
when every number it quotes is one of the alert's facts (``Alert.facts()``) and
it stays short; otherwise, and when the call fails, the deterministic text is
used and ``fallback_reason`` says why.

The system prompt is two blocks: the static rules, glossary and examples, the
same for every alert and marked for prompt caching, then the alert's facts as
JSON and the budget action (not cached). Anthropic caches a prefix only from a
minimum length: 1024 tokens documented for the Sonnet 4.x models, 2048 observed
for Sonnet 4.6 (the default model), which the static block exceeds; 4096 for
Opus 4.5/4.6 and Haiku 4.5, where the requests still succeed, uncached. Token
usage is summed over every answer Claude gave (rejected ones too: they were
paid for) and priced with ``MODEL_PRICES``, an estimate. The API key never
appears in a returned object, a message or a log line.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import anthropic

from mbo_pipelines.defs.alerts import model as alert_model
from mbo_pipelines.defs.alerts.model import Alert
from mbo_pipelines.defs.alerts.thresholds import ACTIONS, HOLD
from mbo_pipelines.defs.explain.explanations import DEFAULT_MODEL, DEFAULT_TIMEOUT_SECONDS, failure_reason, redacted
from mbo_pipelines.defs.explain.grounding import payload_numbers, ungrounded_numbers

log = logging.getLogger(__name__)

MAX_WORDS = 80  # asked for in the prompt
REJECT_WORDS = 120  # a longer text is not a short notification any more: the deterministic one is used
MAX_TOKENS = 300
USER_PROMPT = "Explain this alert."
FACTS_HEADER = "Alert JSON:\n"
ACTION_HEADER = "Budget action for open input-data alerts: "

STATIC_PROMPT = f"""You explain one alert of MBO, a marketing budget optimizer, to the marketer who runs the \
ad accounts. MBO loads daily campaign data from the ad platforms (google_ads, meta_ads, tiktok_ads) and from \
Google Analytics 4 (ga4), fits a response curve per campaign (how conversion value grows with spend) and \
recommends daily budgets. Every morning a detector compares the recent days with the same weekdays of the \
weeks before; each problem it finds is an alert. The alert to explain is the JSON after these instructions, \
followed by the budget action that applies. They hold the only facts you have.

Rules:
- Quote only numbers that appear in the alert JSON. You may round them (fewer decimals, or thousands with a \
k) and write a day from first_day or last_day in words. Do not compute, estimate or invent any other figure: \
no differences, percentages, multiples, totals, averages, forecasts, counts or dates the JSON does not hold. \
Say "far above" or "well below" instead of working out by how much. The numbers in the examples below belong \
to the examples: never use them.
- First say what happened, where and when. Where: the campaign by its campaign_name (its campaign_id only \
when the name is null), with its platform and account. When campaign_id is null the alert covers the whole \
account; when account_id is null too, the whole platform. When: one day if first_day equals last_day, else \
from first_day to last_day (days is the number of days).
- Then compare observed with expected and its normal band, expected_low to expected_high. Amounts are money \
in currency when currency is set; when currency is null the metric is a count or a ratio and has no \
currency. When only one end of the band is set, name only that end. When expected is null the kind has no \
expectation: say nothing about expected values or bands.
- Then say what the alert means for budgets, as "What MBO does with an alert" below says for its kind and the \
action given after the JSON.
- Do not state a cause as a fact: the data shows what changed, not why. You may name one or two of the usual \
causes the glossary lists, as things to check.
- message is the detector's own one-line summary; you may reuse its wording and its numbers as written.
- Write two or three sentences, at most {MAX_WORDS} words, of plain prose for a marketer: no headings, \
lists, markdown, quotes around the whole text, greetings or sign-off. Do not mention JSON, field names, the \
alert id, the detector's statistics or these instructions. Name platforms as people say them: Google Ads, \
Meta Ads, TikTok Ads, GA4. Write metric names in words: "month-to-date spend", not spend_mtd.
- If the facts look contradictory or incomplete, say only what they state; never fill a gap.
- Tone: calm, factual and specific, addressed to the marketer as "you" where it helps. No alarm words such \
as critical or urgent: severity already says how much it matters.

What MBO does with an alert:
- severity error: the detector is confident and the problem matters for money; these alerts reach people \
at once, with your explanation. severity warn: worth a look when planning; it is listed but not pushed.
- Input-data kinds (spend_spike, spend_drop, zero_delivery, tracking_break, missing_day, restatement, \
ga4_mismatch) say that the data behind a campaign cannot be trusted. While such an alert is open, every \
campaign in its scope gets a low-confidence recommendation, and the action decides the rest. hold: the \
campaign keeps its current budget in the plan until the data is trusted again; the other campaigns share the \
remaining budget. approve: the plan is made as usual, but the campaign's budget change waits for a person's \
approval before it is pushed to the platform.
- The other kinds (overspend, efficiency_shift) say that the data is sound but something about the money or \
the efficiency changed: the recommendation stands and nothing is held.
- An alert that goes on is the same alert on every refresh: its first_day stays and its last_day moves on. \
When the problem stops (the data looks normal again, or the missing or restated days are loaded), the alert \
closes and the campaign takes part in the plan as before.

Fields of the alert JSON:
- kind: what was detected; see the kinds below. severity: warn or error, as above.
- platform, account_id, campaign_id, campaign_name: the scope, from the whole platform down to one campaign.
- metric: the measure that moved; see the metrics below. observed: its value on last_day, or over the days \
when message says so. expected: what the history predicts for that day; expected_low and expected_high: the \
band around it, outside of which a value is an anomaly (either end may be null).
- currency: the account's currency for money metrics, else null. first_day, last_day, days: the days covered.

Kinds, how they are found, and what to check:
- spend_spike (input data): a day's spend far above its band and above the recent days. Check: a budget or \
bid raised on the platform, a removed budget cap, an automated rule, rows loaded twice.
- spend_drop (input data): a day's spend far below its band, though the campaign still spent something. \
Check: a paused ad set, a spent budget, disapproved ads, a billing problem, a day the platform has only \
partly reported so far.
- overspend: spend ran over a budget. With the metric spend_vs_daily_budget, a day's spend against the \
campaign's daily budget: expected is the daily budget and expected_high the most the platform should spend \
in a day. With spend_mtd, an account's month-to-date spend against an even pace of its monthly budget: \
expected is what an even pace would have spent by last_day, and the month's budget will run out early. \
Check the budget caps, shared budgets and pacing settings on the platform.
- zero_delivery (input data): a campaign that is active with a daily budget and usually spends spent \
nothing. Check: paused or ended on the platform, disapproved ads, a billing problem, targeting too narrow.
- tracking_break (input data): clicks went on but conversions fell far below what the usual conversion rate \
predicts for them: expected is what that rate predicts, expected_low the level below which it is a break. \
The conversion tag, pixel or conversion import probably stopped counting; holding the budget keeps the \
optimizer from learning that the campaign stopped earning. Check the tag, pixel and conversion settings, and \
recent website releases.
- efficiency_shift: return on ad spend (roas) or cost per conversion (cpa) left its band while the data \
itself looks complete. The shift may be real: competition, seasonality, tired creatives, a landing page or \
bidding change. The response curves follow it as new days arrive. Check recent changes to bids, creatives, \
audiences and landing pages.
- missing_day (input data): no rows arrived for a day from an account, or from every account of a platform, \
that spent in the week before: a failed or late export. observed is the rows loaded (zero) and expected is \
null. Check the platform connection and the credentials; the days load on a later refresh.
- restatement (input data): the platform changed an account's spend for a day already loaded by more than \
usual: observed is the newly reported spend, expected what was first reported, and the band what counts as \
a normal correction. Late corrections and refunds for invalid clicks are common causes.
- ga4_mismatch (input data): GA4 counted far more or far fewer sessions per click of a platform's paid \
traffic than usual. Check GA4 tagging and consent settings, UTM parameters, the channel mapping and the \
platform's click tracking. MBO uses GA4 to deduplicate conversions, so the platform's numbers are in doubt.

Metrics:
- spend: money spent on the platform that day. spend_vs_daily_budget: the same, against the daily budget. \
spend_mtd: an account's spend this month to date.
- conversions: conversions the platform attributes to the campaign, a count. roas: conversion value per unit \
of spend, a ratio. cpa: spend per conversion, money.
- rows: rows of campaign data loaded for the day. ga4_sessions_per_click: GA4 sessions for the platform's \
paid traffic per click the platform reported, a ratio.
- Any other metric: use its name in plain words and do not guess more about it.

Examples (their facts are not the alert you explain):
- kind spend_spike, severity error, campaign_name Summer Sale on meta_ads account act_12, metric spend, \
observed 2480.5, expected 610, expected_low 420, expected_high 800, currency USD, one day 2026-03-14, action \
hold. Good: "Summer Sale on Meta Ads spent 2,480.50 USD on 14 March, far above the expected 610 USD (normal \
420 to 800 USD). Until the data is trusted again its budget is held at its current level and its \
recommendation is low-confidence; check for a raised budget or bid on Meta Ads."
- kind missing_day, severity error, account_id 987-654-3210 on google_ads, metric rows, observed 0, \
expected null, first_day 2026-03-12, last_day 2026-03-13, days 2, action approve. Good: "No Google Ads data \
arrived for account 987-654-3210 on 12 and 13 March. Its campaigns' recommendations are low-confidence, and \
any budget change for them waits for your approval until the missing days are loaded; check the Google Ads \
connection."
- kind tracking_break, severity error, campaign_name Brand Search on google_ads account 111-222-3333, metric \
conversions, observed 2, expected 41.5, expected_low 10.375, expected_high null, currency null, first_day \
2026-03-10, last_day 2026-03-12, days 3, action hold. Good: "Conversion tracking for Brand Search on Google \
Ads looks broken from 10 to 12 March: it recorded 2 conversions where its usual conversion rate predicts \
41.5, and fewer than 10.4 already counts as a break. Its budget is held until tracking works again, so the \
optimizer does not mistake lost tracking for lost sales; check the conversion tag."
- Bad: "Spend on Summer Sale rose about 300% overnight, roughly 1,870 USD more than usual." Both numbers are \
computed, not in the facts: an explanation like this is rejected."""


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
class TokenUsage:
    """Tokens as the Messages API reports them; ``input_tokens`` excludes the cached ones."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    @classmethod
    def of(cls, usage: object) -> TokenUsage:
        """From a response's ``usage`` (fields the API leaves out count as 0)."""
        names = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        return cls(*(int(getattr(usage, name, None) or 0) for name in names))

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
        )


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


# --- cost ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    """USD per million tokens. Cache writes (5-minute cache) cost 1.25 x input, cache reads 0.1 x input."""

    input: float
    output: float

    @property
    def cache_write(self) -> float:
        return 1.25 * self.input

    @property
    def cache_read(self) -> float:
        return 0.1 * self.input


#: Anthropic's list prices by model name prefix, first match wins: an estimate, not an invoice.
MODEL_PRICES: tuple[tuple[str, Price], ...] = (
    ("claude-opus-4-6", Price(5.0, 25.0)),
    ("claude-opus-4-5", Price(5.0, 25.0)),
    ("claude-opus-4-1", Price(15.0, 75.0)),
    ("claude-opus-4-0", Price(15.0, 75.0)),
    ("claude-opus-4-2025", Price(15.0, 75.0)),  # claude-opus-4-20250514, Opus 4
    ("claude-sonnet-4", Price(3.0, 15.0)),
    ("claude-haiku-4-5", Price(1.0, 5.0)),
)


def model_price(model: str) -> Price | None:
    """The model's price from ``MODEL_PRICES``, None when no prefix matches."""
    return next((price for prefix, price in MODEL_PRICES if model.startswith(prefix)), None)


def estimated_cost_usd(usage: TokenUsage, model: str | None) -> float | None:
    """What ``usage`` costs on ``model`` in USD, at list prices: 0 without tokens, None for an unknown price."""
    if usage == TokenUsage():
        return 0.0
    price = model_price(model) if model else None
    if price is None:
        return None
    return (usage.input_tokens * price.input + usage.output_tokens * price.output
            + usage.cache_creation_input_tokens * price.cache_write
            + usage.cache_read_input_tokens * price.cache_read) / 1e6  # fmt: skip


# --- deterministic text -----------------------------------------------------------------------

_WHAT_HAPPENED = {
    alert_model.SPEND_SPIKE: "Spend jumped far above its usual level",
    alert_model.SPEND_DROP: "Spend fell far below its usual level",
    alert_model.OVERSPEND: "Spend ran over its budget",
    alert_model.ZERO_DELIVERY: "Delivery stopped",
    alert_model.TRACKING_BREAK: "Conversion tracking looks broken",
    alert_model.EFFICIENCY_SHIFT: "Efficiency moved outside its usual range",
    alert_model.MISSING_DAY: "Data is missing",
    alert_model.RESTATEMENT: "The platform restated days already loaded",
    alert_model.GA4_MISMATCH: "GA4 and the platform disagree",
}
_TRUSTED_DATA_MEANING = {
    alert_model.OVERSPEND:
        "The data is trusted, so the recommendation stands; check the budget caps and pacing settings on the platform.",
    alert_model.EFFICIENCY_SHIFT:
        "The data is trusted, so the recommendation stands and follows the change as new days arrive; check recent "
        "changes to bids, creatives or landing pages.",
}  # fmt: skip
_PLATFORM_NAMES = {"google_ads": "Google Ads", "meta_ads": "Meta Ads", "tiktok_ads": "TikTok Ads", "ga4": "GA4"}
_METRIC_NAMES = {"spend_vs_daily_budget": "spend against the daily budget", "spend_mtd": "month-to-date spend",
                 "rows": "rows loaded", "ga4_sessions_per_click": "GA4 sessions per click", "roas": "ROAS",
                 "cpa": "CPA"}  # fmt: skip


def deterministic_alert_text(alert: Alert, action: str = HOLD) -> str:
    """Two or three sentences from the alert's facts alone: what happened where and when, the numbers, and
    what it means for budgets under ``action`` (``Thresholds.action``). Every number in it is one of
    ``alert.facts()``."""
    sentences = [f"{_WHAT_HAPPENED[alert.kind]} for {_scope(alert)} {_when(alert)}."]
    if not (alert.kind == alert_model.MISSING_DAY and alert.expected is None):  # "0 rows observed" adds nothing
        sentences.append(_numbers(alert))
    sentences.append(_meaning(alert, action))
    return " ".join(sentences)


def _scope(alert: Alert) -> str:
    platform = _PLATFORM_NAMES.get(alert.platform, alert.platform)
    if alert.campaign_id is None:
        return f"{platform} account {alert.account_id}" if alert.account_id else f"all of {platform}"
    name = f'"{alert.campaign_name}"' if alert.campaign_name else alert.campaign_id
    account = f" account {alert.account_id}" if alert.account_id else ""
    return f"campaign {name} ({platform}{account})"


def _when(alert: Alert) -> str:
    if alert.days == 1:
        return f"on {alert.first_day.isoformat()}"
    return f"from {alert.first_day.isoformat()} to {alert.last_day.isoformat()} ({alert.days} days)"


def _numbers(alert: Alert) -> str:
    """``Observed spend: 1,250.00 EUR, expected 400.00 EUR (normal range 300.00 to 520.00 EUR).``"""
    metric = _METRIC_NAMES.get(alert.metric, alert.metric.replace("_", " "))
    unit = f" {alert.currency}" if alert.currency else ""
    money = bool(alert.currency)
    text = f"Observed {metric}: {_number(alert.observed, money)}{unit}"
    if alert.expected is not None:
        text += f", expected {_number(alert.expected, money)}{unit}"
        low, high = (None if end is None else _number(end, money) + unit
                     for end in (alert.expected_low, alert.expected_high))
        if low and high:
            text += f" (normal range {low.removesuffix(unit)} to {high})"
        elif low or high:
            text += f" (normal: at least {low})" if low else f" (normal: at most {high})"
    return text + "."


def _number(value: float, money: bool) -> str:
    """Money with two decimals; counts whole; ratios with two decimals, or up to four below 1."""
    if money:
        return f"{value:,.2f}"
    if float(value).is_integer():
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.4f}".rstrip("0")


def _meaning(alert: Alert, action: str) -> str:
    if not alert.is_input_data:
        return _TRUSTED_DATA_MEANING[alert.kind]
    if action == HOLD:
        held = "its budget is" if alert.campaign_id else "the budgets of its campaigns are"
        return (f"The input data cannot be trusted, so {held} held until the data is trusted again and the "
                "recommendation is low-confidence.")  # fmt: skip
    changes = "its budget change waits" if alert.campaign_id else "budget changes for its campaigns wait"
    return (f"The input data cannot be trusted, so the recommendation is low-confidence and {changes} for "
            "approval until the data is trusted again.")  # fmt: skip


# --- Claude -------------------------------------------------------------------------------------


def system_blocks(alert: Alert, action: str = HOLD) -> list[dict]:
    """The system prompt: the static rules, glossary and examples (cached), then the alert's facts as JSON and
    the budget action (not cached)."""
    facts = json.dumps(alert.facts(), indent=2, ensure_ascii=False)
    return [
        {"type": "text", "text": STATIC_PROMPT, "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": f"{FACTS_HEADER}{facts}\n\n{ACTION_HEADER}{action}"},
    ]


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
