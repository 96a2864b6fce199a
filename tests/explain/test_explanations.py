"""Plan explanations: deterministic text, Claude through a real local HTTP server, grounding, fallbacks."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket

import pytest

from mbo_pipelines.defs.explain.deterministic import plan_text
from mbo_pipelines.defs.explain.explanations import (
    CampaignLine,
    PlanFacts,
    claude_explanation,
    deterministic_explanation,
    explain_plan,
)
from mbo_pipelines.defs.explain.facts import plan_payload
from mbo_pipelines.defs.explain.grounding import payload_numbers, quoted_numbers, ungrounded_numbers
from tests.fakes.fake_anthropic import FakeAnthropic

API_KEY = "sk-ant-test-0123456789-secret"
MODEL = "claude-test-model"

BRAND = CampaignLine(
    platform="google_ads", account_id="111-222-3333", campaign_id="c1", campaign_name="Brand Search",
    currency="EUR", current_daily_budget=100.0, recommended_daily_budget=130.0,
    expected_value_current=250.0, expected_value_recommended=310.0, marginal_roas=2.41,
    current_daily_budget_reporting=108.0, recommended_daily_budget_reporting=140.4,
)  # fmt: skip
PROSPECTING = CampaignLine(
    platform="meta", account_id="act_1", campaign_id="c2", campaign_name="Prospecting",
    currency="USD", current_daily_budget=200.0, recommended_daily_budget=170.0,
    expected_value_current=330.0, expected_value_recommended=282.0, marginal_roas=1.61,
)  # fmt: skip
RETARGETING = CampaignLine(
    platform="meta", account_id="act_1", campaign_id="c3", campaign_name="Retargeting",
    currency="USD", current_daily_budget=50.0, recommended_daily_budget=50.0,
    expected_value_current=90.0, expected_value_recommended=90.0, marginal_roas=1.62,
)  # fmt: skip
AWARENESS = CampaignLine(
    platform="tiktok", account_id="adv9", campaign_id="c4", campaign_name="Awareness",
    currency="USD", current_daily_budget=100.0, recommended_daily_budget=70.0,
    expected_value_current=95.0, expected_value_recommended=70.0, marginal_roas=0.85,
)  # fmt: skip
GENERIC = CampaignLine(
    platform="google_ads", account_id="111-222-3333", campaign_id="c5", campaign_name="Generic Search",
    currency="USD", current_daily_budget=100.0, recommended_daily_budget=127.6,
    expected_value_current=235.0, expected_value_recommended=313.0, marginal_roas=1.63,
)  # fmt: skip

PLAN = PlanFacts(
    reporting_currency="USD",
    total_daily_budget_reporting=558.0,
    expected_value_current_reporting=1000.0,
    expected_value_recommended_reporting=1065.0,
    optimality_gap=0.001,
    solver_message="Optimization terminated successfully",
    campaigns=(BRAND, PROSPECTING, RETARGETING, AWARENESS, GENERIC),
    max_change_fraction=0.3,
)

EXPECTED_PLAN_TEXT = (
    "the plan moves 60.00 of 558.00 USD daily budget from 2 campaigns with marginal ROAS 0.85 to 1.61 "
    "to 2 campaigns with marginal ROAS 1.63 to 2.41; 1 campaign unchanged; the plan's marginal ROAS is 1.62. "
    "Expected daily value rises from 1,000.00 to 1,065.00 USD (+65.00, +6.5%). "
    "Largest increases: Brand Search (google_ads) +30.00 EUR (+30%); Generic Search (google_ads) +27.60 USD (+27.6%). "
    "Largest cuts: Prospecting (meta) -30.00 USD (-15%); Awareness (tiktok) -30.00 USD (-30%). "
    "Solver: Optimization terminated successfully; optimality gap 0.10%."
)

EXPECTED_CAMPAIGN_SENTENCES = {
    ("google_ads", "111-222-3333", "c1"):
        "Raise 100.00 → 130.00 EUR (+30%, the max-change cap): marginal ROAS 2.41 is above the plan's 1.62.",
    ("meta", "act_1", "c2"): "Cut 200.00 → 170.00 USD (-15%): marginal ROAS 1.61 is below the plan's 1.62.",
    ("meta", "act_1", "c3"): "Keep 50.00 USD (unchanged): marginal ROAS 1.62 matches the plan's 1.62.",
    ("tiktok", "adv9", "c4"):
        "Cut 100.00 → 70.00 USD (-30%, the max-change cap): marginal ROAS 0.85 is below the plan's 1.62.",
    ("google_ads", "111-222-3333", "c5"):
        "Raise 100.00 → 127.60 USD (+27.6%): marginal ROAS 1.63 is above the plan's 1.62.",
}  # fmt: skip

GROUNDED_REPLY = (
    "The plan moves 60.00 USD of the 558.00 USD daily budget away from Prospecting and Awareness, whose "
    "marginal ROAS (1.61 and 0.85) is below the plan's 1.62, into Brand Search (2.41) and Generic Search "
    "(1.63). Brand Search rises 30%, the max-change cap. Expected daily value grows from 1,000 to 1,065 USD "
    "(+6.5%). The solver reports: Optimization terminated successfully."
)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No real credentials, endpoint or proxy from the environment may reach these tests."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_PROFILE",
                 "ANTHROPIC_CUSTOM_HEADERS", "MBO_CLAUDE_MODEL"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def fake():
    with FakeAnthropic(api_key=API_KEY) as server:
        yield server


def assert_deterministic_fallback(explanation, reason_part: str) -> None:
    assert explanation.source == "deterministic"
    assert explanation.model is None
    assert reason_part in explanation.fallback_reason
    assert explanation.text == (
        f"Deterministic explanation (Claude explanation unavailable: {explanation.fallback_reason}): "
        + EXPECTED_PLAN_TEXT
    )
    assert explanation.campaign_explanations == EXPECTED_CAMPAIGN_SENTENCES
    assert API_KEY not in repr(explanation)


# --- deterministic ------------------------------------------------------------------------------


def test_no_key_gives_labelled_deterministic_explanation_without_any_request(fake, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)  # would catch a stray request

    explanation = explain_plan(PLAN)

    assert explanation.source == "deterministic"
    assert explanation.model is None
    assert explanation.fallback_reason is None
    assert explanation.text == "Deterministic explanation (no ANTHROPIC_API_KEY set): " + EXPECTED_PLAN_TEXT
    assert explanation.campaign_explanations == EXPECTED_CAMPAIGN_SENTENCES
    assert fake.requests == []


def test_blank_key_counts_as_no_key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "  ")
    assert explain_plan(PLAN).source == "deterministic"


def test_deterministic_explanation_matches_explain_plan_without_key():
    assert deterministic_explanation(PLAN) == explain_plan(PLAN)


def test_deterministic_text_quotes_only_grounded_numbers():
    assert ungrounded_numbers(plan_text(PLAN), payload_numbers(plan_payload(PLAN))) == []
    for sentence in EXPECTED_CAMPAIGN_SENTENCES.values():
        assert ungrounded_numbers(sentence, payload_numbers(plan_payload(PLAN))) == []


def test_campaign_sentences_for_new_spend_pause_and_explicit_plan_roas():
    new = dataclasses.replace(GENERIC, campaign_id="new", current_daily_budget=0.0, recommended_daily_budget=20.0)
    paused = dataclasses.replace(
        AWARENESS, recommended_daily_budget=0.0, expected_value_recommended=0.0, marginal_roas=0.4
    )
    plan = dataclasses.replace(
        PLAN, campaigns=(new, paused), max_change_fraction=None, plan_marginal_roas=1.5,
        expected_value_recommended_reporting=900.0,
    )  # fmt: skip

    sentences = deterministic_explanation(plan).campaign_explanations

    assert sentences[new.key] == "Raise 0.00 → 20.00 USD (new spend): marginal ROAS 1.63 is above the plan's 1.50."
    assert sentences[paused.key] == "Cut 100.00 → 0.00 USD (-100%): marginal ROAS 0.40 is below the plan's 1.50."
    text = deterministic_explanation(plan).text
    assert "cuts 100.00 USD from 1 campaign with marginal ROAS 0.40" in text
    assert "adds 20.00 USD to 1 campaign with marginal ROAS 1.63, for a total daily budget of 558.00 USD" in text
    assert "Expected daily value falls from 1,000.00 to 900.00 USD (-100.00, -10%)." in text


def test_change_within_cap_is_not_called_capped():
    line = dataclasses.replace(GENERIC, recommended_daily_budget=129.98)  # +29.98%, two cents under the cap
    plan = dataclasses.replace(PLAN, campaigns=(line,), plan_marginal_roas=1.62)
    sentence = deterministic_explanation(plan).campaign_explanations[line.key]
    assert sentence == "Raise 100.00 → 129.98 USD (+30%): marginal ROAS 1.63 is above the plan's 1.62."


def test_unchanged_plan():
    plan = dataclasses.replace(
        PLAN, campaigns=(RETARGETING,), total_daily_budget_reporting=50.0,
        expected_value_current_reporting=90.0, expected_value_recommended_reporting=90.0, optimality_gap=None,
    )  # fmt: skip
    assert plan_text(plan) == (
        "the plan keeps all 1 campaign at their current budgets (50.00 USD daily). "
        "Expected daily value stays at 90.00 USD. Solver: Optimization terminated successfully."
    )


def test_amounts_in_other_currencies_are_not_added_without_conversions():
    brand = dataclasses.replace(BRAND, current_daily_budget_reporting=None, recommended_daily_budget_reporting=None)
    plan = dataclasses.replace(PLAN, campaigns=(brand, PROSPECTING))
    text = plan_text(plan)
    assert "cuts 30.00 USD from 1 campaign" in text
    assert "adds 30.00 EUR to 1 campaign" in text
    assert "moves" not in text


# --- grounding ------------------------------------------------------------------------------------


def test_quoted_numbers_parse_thousands_decimals_and_suffixes():
    assert [(written, value) for written, value, _ in quoted_numbers("from 1,065.50 to $2.5k (+6.5%), 3x")] == [
        ("1,065.50", 1065.5), ("2.5k", 2500.0), ("6.5", 6.5), ("3", 3.0),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "grounded"),
    [
        ("ROAS 2.41", True),  # exact
        ("ROAS 2.4", True),  # rounded to one decimal
        ("about 2,450 USD", True),  # 2449.6 rounded to units
        ("about 2.4k USD", True),  # 2449.6 rounded to hundreds
        ("a 30% cut", True),  # sign ignored
        ("about 2,400 USD", False),  # too far from 2449.6
        ("ROAS 2.42", False),
        ("up 12%", False),
    ],
)
def test_grounding_tolerates_only_rounding(text, grounded):
    assert (ungrounded_numbers(text, [2.4137, 2449.6, -30.0]) == []) is grounded


# --- Claude through the fake Messages API -----------------------------------------------------


def test_claude_explanation_uses_grounded_reply(fake):
    fake.reply(GROUNDED_REPLY)

    explanation = explain_plan(PLAN, api_key=API_KEY, model=MODEL, base_url=fake.url)

    assert explanation.source == "claude"
    assert explanation.model == MODEL
    assert explanation.text == GROUNDED_REPLY
    assert explanation.fallback_reason is None
    assert explanation.campaign_explanations == EXPECTED_CAMPAIGN_SENTENCES
    assert API_KEY not in repr(explanation)

    [request] = fake.requests
    assert (request.method, request.path) == ("POST", "/v1/messages")
    assert request.api_key == API_KEY
    assert request.headers["anthropic-version"]
    assert request.body["model"] == MODEL
    assert request.body["messages"][0]["role"] == "user"
    system = request.system
    assert "only facts you have" in system and "invent" in system
    payload = json.loads(system.split("Plan JSON:\n", 1)[1])
    assert payload == plan_payload(PLAN)
    assert payload["total_daily_budget_reporting"] == 558.0
    assert payload["expected_value_recommended_reporting"] == 1065.0
    assert [c["recommended_daily_budget"] for c in payload["campaigns"]] == [130.0, 170.0, 50.0, 70.0, 127.6]
    assert [c["marginal_roas"] for c in payload["campaigns"]] == [2.41, 1.61, 1.62, 0.85, 1.63]
    assert payload["plan_marginal_roas"] == 1.62


def test_claude_settings_come_from_the_environment(fake, monkeypatch):
    fake.reply(GROUNDED_REPLY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    monkeypatch.setenv("MBO_CLAUDE_MODEL", "claude-from-env")

    explanation = explain_plan(PLAN)

    assert (explanation.source, explanation.model) == ("claude", "claude-from-env")
    assert fake.requests[0].body["model"] == "claude-from-env"


@pytest.mark.filterwarnings("error:The model .* is deprecated:DeprecationWarning")
def test_default_model_is_not_deprecated(fake):
    fake.reply(GROUNDED_REPLY)
    assert explain_plan(PLAN, api_key=API_KEY, base_url=fake.url).model == "claude-sonnet-4-6"


def test_claude_explanation_with_a_given_client(fake):
    import anthropic

    fake.reply(GROUNDED_REPLY)
    with anthropic.Anthropic(api_key=API_KEY, base_url=fake.url, max_retries=0) as client:
        explanation = claude_explanation(PLAN, client, MODEL)
    assert explanation.source == "claude"


def test_ungrounded_reply_falls_back(fake, caplog):
    fake.reply(GROUNDED_REPLY.replace("(+6.5%)", "(+12.3%), about 41 more sales a day"))

    with caplog.at_level(logging.WARNING):
        explanation = explain_plan(PLAN, api_key=API_KEY, model=MODEL, base_url=fake.url)

    assert_deterministic_fallback(explanation, "Claude's text quotes numbers not in the plan: 12.3, 41")
    assert "12.3" in caplog.text
    assert len(fake.requests) == 1


def test_empty_reply_falls_back(fake):
    fake.reply("", stop_reason="max_tokens")
    explanation = explain_plan(PLAN, api_key=API_KEY, model=MODEL, base_url=fake.url)
    assert_deterministic_fallback(explanation, "Claude returned no text (stop_reason max_tokens)")


def test_wrong_key_falls_back_without_leaking_it(fake, caplog):
    wrong_key = "sk-ant-wrong-9876543210-secret"

    with caplog.at_level(logging.DEBUG):
        explanation = explain_plan(PLAN, api_key=wrong_key, model=MODEL, base_url=fake.url)

    assert_deterministic_fallback(explanation, "AuthenticationError (HTTP 401, authentication_error)")
    assert wrong_key not in repr(explanation)
    assert wrong_key not in caplog.text
    assert len(fake.requests) == 1  # 401 is not retried


def test_overloaded_api_is_retried_once_then_falls_back(fake, caplog):
    fake.fail(529, "Overloaded", retry_after_ms=10)

    with caplog.at_level(logging.DEBUG):
        explanation = explain_plan(PLAN, api_key=API_KEY, model=MODEL, base_url=fake.url)

    assert_deterministic_fallback(explanation, "OverloadedError (HTTP 529, overloaded_error)")
    assert len(fake.requests) == 2  # max_retries=1
    assert API_KEY not in caplog.text


def test_timeout_falls_back(fake):
    fake.reply(GROUNDED_REPLY)
    fake.delay(5.0)

    explanation = explain_plan(PLAN, api_key=API_KEY, model=MODEL, base_url=fake.url, timeout=0.3)

    assert_deterministic_fallback(explanation, "APITimeoutError")
    assert len(fake.requests) == 2


def test_unreachable_api_falls_back():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    explanation = explain_plan(PLAN, api_key=API_KEY, model=MODEL, base_url=f"http://127.0.0.1:{port}", timeout=2)
    assert_deterministic_fallback(explanation, "APIConnectionError")
