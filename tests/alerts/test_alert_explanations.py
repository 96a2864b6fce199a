"""Alert explanations: deterministic text, Claude through a real local HTTP server, grounding, caching, cost."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from datetime import date

import pytest

from mbo_pipelines.defs.alerts import model as alert_model
from mbo_pipelines.defs.alerts.alert_text import deterministic_alert_text
from mbo_pipelines.defs.alerts.costs import TokenUsage, estimated_cost_usd, model_price
from mbo_pipelines.defs.alerts.explain import explain_alerts
from mbo_pipelines.defs.alerts.prompt import STATIC_PROMPT, USER_PROMPT
from mbo_pipelines.defs.alerts.model import Alert
from mbo_pipelines.defs.alerts.thresholds import APPROVE
from mbo_pipelines.defs.explain.grounding import payload_numbers, ungrounded_numbers
from tests.fakes.fake_anthropic import FakeAnthropic, RecordedRequest, estimated_tokens, isolate_from_real_anthropic

API_KEY = "sk-ant-test-0123456789-secret"
MODEL = "claude-sonnet-4-6"  # priced $3 / $15 per million tokens

SPIKE = Alert(
    kind=alert_model.SPEND_SPIKE, severity=alert_model.ERROR, platform="google_ads", account_id="111-222-3333",
    campaign_id="c1", campaign_name="Brand Search", metric="spend", observed=1250.0, expected=400.0,
    expected_low=300.0, expected_high=520.0, first_day=date(2026, 5, 3), last_day=date(2026, 5, 3),
    message="spend 1250.00 EUR is above the expected band 300.00-520.00", currency="EUR",
)  # fmt: skip
MISSING = Alert(
    kind=alert_model.MISSING_DAY, severity=alert_model.ERROR, platform="meta_ads", account_id="act_77",
    campaign_id=None, metric="rows", observed=0.0, expected=None, expected_low=None, expected_high=None,
    first_day=date(2026, 5, 1), last_day=date(2026, 5, 3), message="no rows for 3 days",
)  # fmt: skip
SHIFT = Alert(
    kind=alert_model.EFFICIENCY_SHIFT, severity=alert_model.WARN, platform="tiktok_ads", account_id="adv9",
    campaign_id="c4", campaign_name="Awareness", metric="roas", observed=0.8512, expected=1.9, expected_low=1.4,
    expected_high=2.35, first_day=date(2026, 4, 28), last_day=date(2026, 5, 2), message="roas below band",
)  # fmt: skip

EXPECTED_SPIKE_TEXT = (
    'Spend jumped far above its usual level for campaign "Brand Search" (Google Ads account 111-222-3333) '
    "on 2026-05-03. Observed spend: 1,250.00 EUR, expected 400.00 EUR (normal range 300.00 to 520.00 EUR). "
    "The input data cannot be trusted, so its budget is held until the data is trusted again and the "
    "recommendation is low-confidence."
)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No real credentials, endpoint, proxy or model setting from the environment may reach these tests."""
    isolate_from_real_anthropic(monkeypatch)
    monkeypatch.delenv("MBO_CLAUDE_MODEL", raising=False)


@pytest.fixture
def fake():
    with FakeAnthropic(api_key=API_KEY) as server:
        yield server


def alert_facts(request: RecordedRequest) -> dict:
    """The alert JSON a request's second system block starts with."""
    return json.JSONDecoder().raw_decode(request.body["system"][1]["text"].removeprefix("Alert JSON:\n"))[0]


def grounded_reply(request: RecordedRequest) -> str:
    """What a well-behaved Claude writes: only the request's own numbers."""
    facts = alert_facts(request)
    return (f"Spend on {facts['campaign_name'] or facts['account_id']} reached {facts['observed']:,.2f} "
            f"{facts['currency'] or ''} on {facts['last_day']}, far above the usual level. "
            "Its budget is held until the data is trusted again.")  # fmt: skip


def explain(fake: FakeAnthropic, alerts, **kwargs):
    """``explain_alerts`` against the fake, with the test key and model unless given."""
    return explain_alerts(alerts, **{"api_key": API_KEY, "model": MODEL, "base_url": fake.url, **kwargs})


def sentences(text: str) -> int:
    return len(re.findall(r"[.!?](?:\s|$)", text))


# --- deterministic ------------------------------------------------------------------------------


def test_deterministic_text_of_a_campaign_spike():
    assert deterministic_alert_text(SPIKE) == EXPECTED_SPIKE_TEXT


def test_deterministic_text_of_an_account_missing_days_has_no_expected_numbers():
    assert deterministic_alert_text(MISSING) == (
        "Data is missing for Meta Ads account act_77 from 2026-05-01 to 2026-05-03 (3 days). The input data "
        "cannot be trusted, so the budgets of its campaigns are held until the data is trusted again and the "
        "recommendation is low-confidence."
    )


def test_deterministic_text_of_a_ratio_says_the_recommendation_stands():
    assert deterministic_alert_text(SHIFT) == (
        'Efficiency moved outside its usual range for campaign "Awareness" (TikTok Ads account adv9) from '
        "2026-04-28 to 2026-05-02 (5 days). Observed ROAS: 0.8512, expected 1.90 (normal range 1.40 to 2.35). "
        "The data is trusted, so the recommendation stands and follows the change as new days arrive; check "
        "recent changes to bids, creatives or landing pages."
    )


def test_with_the_approve_action_the_change_waits_for_approval_instead():
    text = deterministic_alert_text(SPIKE, APPROVE)
    assert text.endswith(
        "The input data cannot be trusted, so the recommendation is low-confidence and its budget change waits "
        "for approval until the data is trusted again."
    )
    assert deterministic_alert_text(SHIFT, APPROVE) == deterministic_alert_text(SHIFT)  # nothing is held or waits


def test_a_band_with_one_end_names_that_end():
    tracking = dataclasses.replace(
        SPIKE, kind=alert_model.TRACKING_BREAK, metric="conversions", observed=2.0, expected=41.5,
        expected_low=10.375, expected_high=None, currency=None, alert_id="",
    )  # fmt: skip
    assert "Observed conversions: 2, expected 41.50 (normal: at least 10.38)." in deterministic_alert_text(tracking)


@pytest.mark.parametrize("kind", alert_model.KINDS)
@pytest.mark.parametrize("scope", [("c1", "111-222-3333"), (None, "111-222-3333"), (None, None)])
def test_every_kind_gets_two_or_three_grounded_sentences(kind, scope):
    campaign_id, account_id = scope
    alert = dataclasses.replace(SPIKE, kind=kind, campaign_id=campaign_id, account_id=account_id, alert_id="")
    text = deterministic_alert_text(alert)

    assert 2 <= sentences(text) <= 3, text
    assert ungrounded_numbers(text, payload_numbers(alert.facts())) == []
    assert ("held until the data is trusted again" in text) is alert.is_input_data
    assert text.count("Brand Search") == (campaign_id is not None)
    assert ("all of Google Ads" in text) is (account_id is None)


def test_the_static_prompt_is_long_enough_to_be_cached_and_names_every_kind():
    # Anthropic caches a prefix from 1024 tokens (documented for Sonnet 4.x), 2048 observed for Sonnet 4.6, the
    # default model; ~4 characters a token, with a margin for a tokenizer that packs more into one.
    assert len(STATIC_PROMPT) / 4 > 2200
    assert estimated_tokens(STATIC_PROMPT) >= FakeAnthropic().min_cacheable_tokens
    for kind in alert_model.KINDS:
        assert f"- {kind} (input data):" in STATIC_PROMPT or f"- {kind}:" in STATIC_PROMPT


# --- cost ---------------------------------------------------------------------------------------


def test_price_table():
    assert (model_price("claude-sonnet-4-5-20250929").input, model_price("claude-sonnet-4-6").output) == (3.0, 15.0)
    assert (model_price("claude-opus-4-5").input, model_price("claude-opus-4-5-20251101").output) == (5.0, 25.0)
    assert (model_price("claude-opus-4-1").input, model_price("claude-opus-4-20250514").output) == (15.0, 75.0)
    assert (model_price("claude-haiku-4-5").input, model_price("claude-haiku-4-5").output) == (1.0, 5.0)
    usage = TokenUsage(input_tokens=1_000_000, output_tokens=1_000_000, cache_creation_input_tokens=1_000_000,
                       cache_read_input_tokens=1_000_000)  # fmt: skip
    assert estimated_cost_usd(usage, "claude-sonnet-4-5") == pytest.approx(3 + 15 + 3.75 + 0.3)
    assert estimated_cost_usd(usage, "claude-test-model") is None
    assert estimated_cost_usd(TokenUsage(), "claude-test-model") == 0.0


# --- Claude through the fake Messages API -----------------------------------------------------


def test_no_key_is_all_deterministic_without_any_request(fake, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)  # would catch a stray request

    result = explain_alerts([SPIKE, MISSING])

    assert [(e.source, e.model, e.fallback_reason) for e in result.explanations] == [("deterministic", None, None)] * 2
    assert result.by_alert_id[SPIKE.alert_id].text == EXPECTED_SPIKE_TEXT
    assert (result.model, result.usage, result.cost_usd) == (None, TokenUsage(), 0.0)
    assert fake.requests == []


def test_grounded_explanation_is_accepted(fake, monkeypatch):
    fake.reply_with(grounded_reply)
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    monkeypatch.setenv("MBO_CLAUDE_MODEL", MODEL)

    [explanation] = explain_alerts([SPIKE]).explanations

    assert explanation.text == (
        "Spend on Brand Search reached 1,250.00 EUR on 2026-05-03, far above the usual level. "
        "Its budget is held until the data is trusted again."
    )
    assert (explanation.alert_id, explanation.source, explanation.model) == (SPIKE.alert_id, "claude", MODEL)
    assert explanation.fallback_reason is None
    [request] = fake.requests
    assert request.body["model"] == MODEL
    assert request.body["messages"] == [{"role": "user", "content": USER_PROMPT}]
    assert request.body["system"][1]["text"].endswith("\n\nBudget action for open input-data alerts: hold")


def test_the_action_reaches_claude_and_a_bad_one_is_refused(fake):
    fake.reply_with(grounded_reply)
    explain(fake, [SPIKE], action=APPROVE)
    assert fake.requests[0].body["system"][1]["text"].endswith("Budget action for open input-data alerts: approve")
    with pytest.raises(ValueError, match="unknown alert action 'pause'"):
        explain(fake, [SPIKE], action="pause")


def test_invented_number_is_rejected_for_the_deterministic_text(fake, caplog):
    fake.reply_with(lambda request: grounded_reply(request).replace("far above", "212% above, about 47.5 sales"))

    with caplog.at_level(logging.WARNING):
        [explanation] = explain(fake, [SPIKE]).explanations

    assert explanation.source == "deterministic"
    assert explanation.model is None
    assert explanation.text == EXPECTED_SPIKE_TEXT
    assert explanation.fallback_reason == "Claude's text quotes numbers not in the alert: 212, 47.5"
    assert "212, 47.5" in caplog.text


def test_a_text_far_longer_than_asked_is_rejected(fake):
    fake.reply("The campaign spent far more than usual. " * 25)
    [explanation] = explain(fake, [SPIKE]).explanations
    assert explanation.source == "deterministic"
    assert explanation.fallback_reason == "Claude's text is too long (175 words, at most 120)"


def test_empty_text_falls_back(fake):
    fake.reply("", stop_reason="max_tokens")
    [explanation] = explain(fake, [SPIKE]).explanations
    assert (explanation.source, explanation.text) == ("deterministic", EXPECTED_SPIKE_TEXT)
    assert explanation.fallback_reason == "Claude returned no text (stop_reason max_tokens)"


def test_static_block_is_cached_and_shared_while_the_alert_json_differs(fake):
    fake.reply_with(grounded_reply)

    explain(fake, [SPIKE, MISSING])

    first, second = (request.body["system"] for request in fake.requests)
    assert first[0] == second[0] == {"type": "text", "text": STATIC_PROMPT, "cache_control": {"type": "ephemeral"}}
    assert "cache_control" not in first[1] and "cache_control" not in second[1]
    assert alert_facts(fake.requests[0]) == SPIKE.facts()
    assert alert_facts(fake.requests[1]) == MISSING.facts()


def test_the_second_request_reads_the_cache_and_usage_is_summed_and_priced(fake):
    fake.reply_with(grounded_reply)

    result = explain(fake, [SPIKE, MISSING])

    cached = estimated_tokens(STATIC_PROMPT)
    first, second = (response["usage"] for response in fake.responses)
    assert (first["cache_creation_input_tokens"], first["cache_read_input_tokens"]) == (cached, 0)
    assert (second["cache_creation_input_tokens"], second["cache_read_input_tokens"]) == (0, cached)
    assert result.usage == TokenUsage(
        input_tokens=first["input_tokens"] + second["input_tokens"],
        output_tokens=first["output_tokens"] + second["output_tokens"],
        cache_creation_input_tokens=cached,
        cache_read_input_tokens=cached,
    )
    assert 0 < result.usage.input_tokens < cached  # the alert JSON is the small, uncached part
    usage = result.usage
    assert result.model == MODEL
    assert result.cost_usd == pytest.approx(
        (usage.input_tokens * 3 + usage.output_tokens * 15 + cached * 3 * 1.25 + cached * 3 * 0.1) / 1e6
    )


def test_unknown_model_has_no_cost(fake):
    fake.reply_with(grounded_reply)
    result = explain(fake, [SPIKE], model="claude-test-model")
    assert result.usage.output_tokens > 0
    assert result.cost_usd is None


def test_warn_alerts_are_not_sent(fake):
    fake.reply_with(grounded_reply)

    result = explain(fake, [SHIFT, SPIKE])

    assert [alert_facts(request)["alert_id"] for request in fake.requests] == [SPIKE.alert_id]
    shift, spike = result.explanations
    assert (shift.alert_id, shift.source, shift.fallback_reason) == (SHIFT.alert_id, "deterministic", None)
    assert shift.text == deterministic_alert_text(SHIFT)
    assert spike.source == "claude"


def test_only_warn_alerts_need_no_client(fake):
    result = explain(fake, [SHIFT])
    assert (result.explanations[0].source, result.model, result.cost_usd) == ("deterministic", None, 0.0)
    assert fake.requests == []


def test_http_500_falls_back_with_the_reason(fake, caplog):
    fake.fail(500, "Internal server error")

    with caplog.at_level(logging.DEBUG):
        result = explain(fake, [SPIKE, MISSING])

    assert [(e.source, e.fallback_reason) for e in result.explanations] == [
        ("deterministic", "InternalServerError (HTTP 500, api_error)")
    ] * 2
    assert [e.text for e in result.explanations] == [deterministic_alert_text(SPIKE), deterministic_alert_text(MISSING)]
    assert len(fake.requests) == 4  # each alert tried, with one retry
    assert (result.usage, result.cost_usd) == (TokenUsage(), 0.0)
    assert API_KEY not in caplog.text
    assert API_KEY not in repr(result)


def test_a_timeout_stops_sending_the_rest(fake):
    fake.reply_with(grounded_reply)
    fake.delay(5.0)

    first, second = explain(fake, [SPIKE, MISSING], timeout=0.3).explanations

    assert "APITimeoutError" in first.fallback_reason
    assert second.fallback_reason == f"not sent after an earlier failure: {first.fallback_reason}"
    assert len(fake.requests) == 2  # the first alert and its retry


def test_the_key_appears_nowhere(fake, caplog):
    fake.reply_with(grounded_reply)
    wrong_key = "sk-ant-wrong-9876543210-secret"

    with caplog.at_level(logging.DEBUG):
        good = explain(fake, [SPIKE, SHIFT])
        bad = explain(fake, [SPIKE, MISSING], api_key=wrong_key)

    assert good.explanations[0].source == "claude"
    assert [e.fallback_reason for e in bad.explanations] == [
        "AuthenticationError (HTTP 401, authentication_error)",
        "not sent after an earlier failure: AuthenticationError (HTTP 401, authentication_error)",
    ]
    assert len(fake.requests) == 2  # a bad key is neither retried nor tried again for the next alert
    for secret in (API_KEY, wrong_key):
        assert secret not in caplog.text
        assert secret not in repr(good) and secret not in repr(bad)
