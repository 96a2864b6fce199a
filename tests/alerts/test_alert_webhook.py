"""Alerts to a Slack-compatible webhook: one message per alert, retries, and the webhook URL kept secret."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from datetime import date

import pytest

from mbo_pipelines.defs.alerts.model import ERROR, SPEND_SPIKE, TRACKING_BREAK, WARN, Alert
from mbo_pipelines.defs.alerts.webhook import WHERE, post_alerts, slack_message, webhook_url
from tests.fakes.fake_webhook import FakeWebhook

# Tiny waits: the retry tests run in milliseconds, and a honoured Retry-After stands out against them.
FAST = {"wait": 0.001, "max_wait": 0.01}

SPIKE = Alert(
    kind=SPEND_SPIKE, severity=ERROR, platform="meta", account_id="act_1", campaign_id="c2", metric="spend",
    observed=912.5, expected=300.0, expected_low=240.0, expected_high=360.0, first_day=date(2026, 3, 2),
    last_day=date(2026, 3, 4), message="Spend 912.50 USD is 3.0x the expected 300.00 USD.",
    campaign_name="Prospecting", currency="USD",
)  # fmt: skip
BREAK = Alert(
    kind=TRACKING_BREAK, severity=WARN, platform="google_ads", account_id="111-222-3333", campaign_id="c1",
    metric="conversions", observed=0, expected=41, expected_low=30, expected_high=52, first_day=date(2026, 3, 3),
    last_day=date(2026, 3, 3), message="No conversions on a day with 1,204 clicks.", campaign_name="Brand Search",
)  # fmt: skip
EXPLANATION = "Spend tripled after the bid strategy changed on 2 March."


@pytest.fixture
def fake():
    with FakeWebhook() as server:
        yield server


def _alert_id_of(body: dict) -> str:
    return next(block["elements"][0]["text"] for block in body["blocks"] if block["type"] == "context").split("`")[1]


def _block_text(body: dict) -> str:
    return json.dumps(body["blocks"], ensure_ascii=False)


def test_one_message_per_alert_with_its_facts(fake):
    result = post_alerts(fake.url, [SPIKE, BREAK], {SPIKE.alert_id: EXPLANATION}, **FAST)

    assert result.delivered == (SPIKE.alert_id, BREAK.alert_id) and result.ok
    assert [request.method for request in fake.requests] == ["POST", "POST"]
    assert all(request.headers["content-type"] == "application/json" for request in fake.requests)
    spike, brk = fake.bodies
    assert [_alert_id_of(spike), _alert_id_of(brk)] == [SPIKE.alert_id, BREAK.alert_id]
    for text in ("ERROR", "spend_spike", "meta/act_1/c2", "Prospecting", SPIKE.message):
        assert text in spike["text"]
    blocks = _block_text(spike)
    for fact in ("spend", "912.50 USD", "300.00 USD", "240.00 USD to 360.00 USD", "2026-03-02 to 2026-03-04",
                 "3 days", SPIKE.alert_id, EXPLANATION):
        assert fact in blocks
    blocks = _block_text(brk)
    for fact in ("conversions", "Observed*\\n0", "Expected*\\n41 (band 30 to 52)", "2026-03-03 to 2026-03-03",
                 "1 day)", BREAK.alert_id):
        assert fact in blocks
    assert "WARN" in brk["text"] and "tracking_break" in brk["text"] and "Brand Search" in brk["text"]
    # The explanation goes with its own alert only.
    assert EXPLANATION not in json.dumps(brk)


def test_messages_are_valid_slack_payloads():
    weird = dataclasses.replace(SPIKE, campaign_name="<!channel> & Co " + "x" * 300,
                                message="Line one\nline two <https://evil.example|click>")
    for body in (slack_message(SPIKE), slack_message(BREAK, EXPLANATION), slack_message(weird, "A & B <@U123>")):
        assert isinstance(body["text"], str) and body["text"] and "\n" not in body["text"]
        assert isinstance(body["blocks"], list) and body["blocks"]
        for block in body["blocks"]:
            assert block["type"] in {"header", "section", "context", "divider"}
            if block["type"] == "header":
                assert block["text"]["type"] == "plain_text" and 0 < len(block["text"]["text"]) <= 150
            elif block["type"] == "section":
                texts = [block["text"]] if "text" in block else block["fields"]
                assert texts and len(texts) <= 10
                assert all(t["type"] in {"mrkdwn", "plain_text"} and 0 < len(t["text"]) <= 3000 for t in texts)
            elif block["type"] == "context":
                assert all(e["type"] in {"mrkdwn", "plain_text"} and e["text"] for e in block["elements"])
        json.dumps(body)
    # Slack reads <...> as mentions and links: a campaign name or explanation must not ping anyone or link anywhere.
    weird_body = json.dumps(slack_message(weird, "A & B <@U123>"))
    assert "<!channel>" not in weird_body and "<@U123>" not in weird_body and "<https://" not in weird_body
    assert "&lt;!channel&gt; &amp; Co" in weird_body


def test_messages_carry_no_secrets(fake, monkeypatch):
    secrets = {
        "MBO_DATABASE_URL": "postgresql://mbo:db-password-0451@db.internal:5432/mbo",
        "ANTHROPIC_API_KEY": "sk-ant-api-key-0451",
        "META_ACCESS_TOKEN": "EAAB-meta-token-0451",
        "TIKTOK_ACCESS_TOKEN": "tt-token-0451",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)

    post_alerts(fake.url, [SPIKE, BREAK], {SPIKE.alert_id: EXPLANATION}, **FAST)

    sent = json.dumps([(request.headers, request.body) for request in fake.requests])
    for value in [*secrets.values(), "db-password-0451", fake.secret_path]:
        assert value not in sent


def test_a_500_then_200_is_retried_and_delivered_once(fake):
    fake.fail_next(1, status=500)

    result = post_alerts(fake.url, [SPIKE], **FAST)

    assert result.delivered == (SPIKE.alert_id,) and result.failed == {}
    assert [request.status for request in fake.requests] == [500, 200]
    assert fake.bodies[0] == fake.bodies[1] == slack_message(SPIKE)


@pytest.mark.parametrize("fault", ["drop", "timeout"])
def test_connection_errors_and_timeouts_are_retried(fake, fault):
    if fault == "drop":
        fake.drop_next(1)
    else:
        fake.delay_next(1.0)

    result = post_alerts(fake.url, [SPIKE], timeout=0.2, **FAST)

    assert result.delivered == (SPIKE.alert_id,)
    assert len(fake.requests) == 2


def test_503_forever_gives_up_after_attempts_and_the_next_alert_is_still_delivered(fake):
    fake.fail_next(3, status=503)

    result = post_alerts(fake.url, [SPIKE, BREAK], attempts=3, **FAST)

    assert result.delivered == (BREAK.alert_id,)
    assert list(result.failed) == [SPIKE.alert_id]
    reason = result.failed[SPIKE.alert_id]
    assert WHERE in reason and "HTTP 503" in reason and "after 3 tries" in reason
    assert [request.status for request in fake.requests] == [503, 503, 503, 200]
    assert _alert_id_of(fake.bodies[-1]) == BREAK.alert_id


def test_a_webhook_that_always_fails_gets_attempts_tries_per_alert(fake):
    fake.always(503)

    result = post_alerts(fake.url, [SPIKE, BREAK], attempts=4, **FAST)

    assert result.delivered == () and set(result.failed) == {SPIKE.alert_id, BREAK.alert_id}
    assert [_alert_id_of(body) for body in fake.bodies] == [SPIKE.alert_id] * 4 + [BREAK.alert_id] * 4


def test_a_400_is_not_retried(fake):
    fake.fail_next(1, status=400)

    result = post_alerts(fake.url, [SPIKE, BREAK], **FAST)

    assert result.delivered == (BREAK.alert_id,)
    assert result.failed == {SPIKE.alert_id: f"{WHERE} answered HTTP 400: invalid_payload (not retried)"}
    assert [request.status for request in fake.requests] == [400, 200]


def test_429_waits_as_long_as_retry_after_says(fake):
    fake.fail_next(1, status=429, retry_after=0.5)

    started = time.monotonic()
    result = post_alerts(fake.url, [SPIKE], wait=0.001, max_wait=5.0)
    elapsed = time.monotonic() - started

    assert result.delivered == (SPIKE.alert_id,)
    assert [request.status for request in fake.requests] == [429, 200]
    assert elapsed >= 0.5


def test_retry_after_is_capped(fake):
    fake.fail_next(1, status=429, retry_after=30)

    started = time.monotonic()
    result = post_alerts(fake.url, [SPIKE], wait=0.001, max_wait=0.05)

    assert result.delivered == (SPIKE.alert_id,)
    assert time.monotonic() - started < 5


def test_the_webhook_url_never_appears_in_reasons_or_logs(fake, caplog):
    fake.fail_next(2, status=503)
    fake.fail_next(1, status=404)
    fake.drop_next(1)
    alerts = [SPIKE, BREAK, dataclasses.replace(SPIKE, first_day=date(2026, 3, 1), alert_id="")]

    with caplog.at_level(logging.DEBUG):
        result = post_alerts(fake.url, alerts, attempts=2, timeout=2.0, **FAST)

    assert len(result.failed) == 2 and len(result.delivered) == 1
    # httpx logs every request with its URL: the lines are there, the URL is not.
    assert "HTTP Request: POST" in caplog.text and WHERE in caplog.text
    said = caplog.text + json.dumps(result.failed) + repr(result)
    assert fake.secret_path not in said and "fakeWebhookSecretToken123" not in said
    assert all(WHERE in reason for reason in result.failed.values())


def test_webhook_url_from_the_environment(monkeypatch):
    monkeypatch.delenv("MBO_ALERT_WEBHOOK_URL", raising=False)
    assert webhook_url() is None
    monkeypatch.setenv("MBO_ALERT_WEBHOOK_URL", "   ")
    assert webhook_url() is None
    monkeypatch.setenv("MBO_ALERT_WEBHOOK_URL", " https://hooks.slack.com/services/T1/B2/tok3n ")
    assert webhook_url() == "https://hooks.slack.com/services/T1/B2/tok3n"


@pytest.mark.parametrize("url", [
    "ftp://hooks.example/services/T1/B2/s3cr3tT0ken",
    "https:///services/T1/B2/s3cr3tT0ken",
    "hooks.example/services/T1/B2/s3cr3tT0ken",
    "https://hooks.example:port/services/T1/B2/s3cr3tT0ken?token=s3cr3tT0ken",
    "s3cr3tT0ken",
])  # fmt: skip
def test_a_bad_webhook_url_is_refused_without_echoing_it(monkeypatch, url):
    monkeypatch.setenv("MBO_ALERT_WEBHOOK_URL", url)
    with pytest.raises(ValueError, match="MBO_ALERT_WEBHOOK_URL") as webhook_error:
        webhook_url()
    with pytest.raises(ValueError) as post_error:
        post_alerts(url, [SPIKE], **FAST)
    for error in (webhook_error.value, post_error.value):
        assert "s3cr3tT0ken" not in str(error) and "services" not in str(error) and error.__cause__ is None
