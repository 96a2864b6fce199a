"""Plan explanations: Claude's when it is configured and stays grounded, deterministic otherwise.

``explain_plan`` is the entry point. With an Anthropic API key it asks Claude
(Messages API) to explain the solver's numbers, checks that every number
Claude quotes is one of them, and falls back to ``deterministic_explanation``
when the call fails or the text is not grounded. Per-campaign sentences are
always the deterministic ones. The API key never appears in a returned
object, a message or a log line.
"""

from __future__ import annotations

import json
import logging
import os

import anthropic

from mbo_pipelines.defs.explain.deterministic import campaign_explanations, deterministic_explanation
from mbo_pipelines.defs.explain.facts import CampaignLine, Explanation, PlanFacts, plan_payload
from mbo_pipelines.defs.explain.grounding import payload_numbers, ungrounded_numbers

__all__ = [
    "CampaignLine",
    "Explanation",
    "PlanFacts",
    "claude_explanation",
    "deterministic_explanation",
    "explain_plan",
]

log = logging.getLogger(__name__)

# claude-sonnet-4-5 reaches end-of-life on 2026-11-30 (the SDK warns): its successor in the same price tier.
DEFAULT_MODEL = "claude-sonnet-4-6"
DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_TOKENS = 400
MAX_WORDS = 120
PROMPT_CAMPAIGNS = 40  # campaigns listed in the prompt: those whose budgets move most

SYSTEM_PROMPT = """You explain a marketing budget plan to a marketer. An optimizer computed the plan; \
its numbers are the JSON below, and they are the only facts you have.

Rules:
- Quote only numbers that appear in the JSON (you may round them). Do not compute, estimate or \
invent any other figure: no new totals, ratios, forecasts, dates or counts.
- Explain where the daily budget moves and why, using marginal ROAS (the value one more unit of \
spend earns): budget goes to campaigns whose marginal ROAS is above plan_marginal_roas and away \
from those below it. Campaigns with capped_by_max_change true hit the per-campaign change limit \
(max_change_pct).
- Say how expected daily value changes, in reporting_currency, and mention the solver's message.
- conversion_source names the conversion values the response curves were fitted on: "platform" (as the ad \
platforms report them, overlapping claims included) or "deduplicated" (platform claims scaled so that, per day, \
they do not exceed what GA4 observed for paid traffic; campaigns GA4 could not match, ga4_unmatched_spend_pct \
of the history's spend, keep their platform numbers). You may say which in a few words.
- campaigns lists only the campaigns_listed whose budgets move most, of campaign_count in the plan.
- Write at most {max_words} words of plain prose: no headings, lists or markdown.

Plan JSON:
{payload}"""

USER_PROMPT = "Explain this budget plan."


def system_prompt(plan: PlanFacts) -> str:
    """The system prompt: the rules and the plan's numbers as JSON."""
    payload = json.dumps(plan_payload(plan, PROMPT_CAMPAIGNS), indent=2, ensure_ascii=False)
    return SYSTEM_PROMPT.format(max_words=MAX_WORDS, payload=payload)


def _failure_reason(error: Exception) -> str:
    """The error's type and HTTP status (and Anthropic error type), never its request or headers."""
    name = type(error).__name__
    if isinstance(error, anthropic.APIStatusError):
        detail = f"HTTP {error.status_code}"
        body = error.body if isinstance(error.body, dict) else {}
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("type"), str):
            detail += f", {inner['type']}"
        return f"{name} ({detail})"
    if isinstance(error, anthropic.APITimeoutError):
        return f"{name} (request timed out)"
    if isinstance(error, anthropic.APIConnectionError):
        return f"{name} (could not reach the API)"
    return name


def _redacted(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


# Public names for the other Claude explainers (alerts), so they report failures and redact the same way.
failure_reason = _failure_reason
redacted = _redacted


def _fallback(plan: PlanFacts, reason: str, secret: str | None) -> Explanation:
    reason = _redacted(reason, secret)
    log.warning("Claude explanation not used (%s); using the deterministic explanation", reason)
    return deterministic_explanation(plan, fallback_reason=reason)


def claude_explanation(plan: PlanFacts, client: anthropic.Anthropic, model: str) -> Explanation:
    """Claude's plan-level text, if the call succeeds and every number it quotes is the plan's.

    Otherwise the deterministic explanation, with ``fallback_reason`` saying why.
    """
    secret = getattr(client, "api_key", None)
    try:
        response = client.messages.create(
            model=model,
            max_tokens=MAX_TOKENS,
            system=system_prompt(plan),
            messages=[{"role": "user", "content": USER_PROMPT}],
        )
    except anthropic.AnthropicError as error:  # HTTP errors, timeouts, connection failures
        return _fallback(plan, _failure_reason(error), secret)
    text = "".join(block.text for block in response.content if getattr(block, "type", None) == "text").strip()
    if not text:
        return _fallback(plan, f"Claude returned no text (stop_reason {response.stop_reason})", secret)
    missing = ungrounded_numbers(text, payload_numbers(plan_payload(plan, PROMPT_CAMPAIGNS)))
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        return _fallback(plan, f"Claude's text quotes numbers not in the plan: {shown}", secret)
    return Explanation(
        text=text,
        source="claude",
        model=response.model or model,
        campaign_explanations=campaign_explanations(plan),
    )


def explain_plan(
    plan: PlanFacts,
    api_key: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> Explanation:
    """Explain a plan with Claude when an API key is available, else deterministically.

    ``api_key`` defaults to ``ANTHROPIC_API_KEY``; ``model`` to ``MBO_CLAUDE_MODEL``
    (default ``claude-sonnet-4-6``); ``base_url`` to what the SDK reads from
    ``ANTHROPIC_BASE_URL``. One retry, ``timeout`` seconds per attempt.
    """
    api_key = (api_key if api_key is not None else os.environ.get("ANTHROPIC_API_KEY", "")).strip()
    if not api_key:
        return deterministic_explanation(plan)
    model = model or os.environ.get("MBO_CLAUDE_MODEL", "").strip() or DEFAULT_MODEL
    try:
        client = anthropic.Anthropic(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=1)
    except anthropic.AnthropicError as error:  # e.g. a credentials problem
        return _fallback(plan, _failure_reason(error), api_key)
    with client:
        return claude_explanation(plan, client, model)
