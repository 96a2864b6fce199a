"""The redaction helper masks every form of every secret: as configured, URL-encoded either way, URL-decoded
and escaped in JSON; a database password whether the URL carries it encoded or not."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

import pytest

from mbo_pipelines.redaction import MASK, SECRET_VARIABLES, redact

#: A password and a token with every character that changes form: +, /, =, &, @, :, %, space, quote, backslash.
PASSWORD = 'pa+ss/w=rd&x@y:z%41 "q"\\'
TOKEN = "EAAB+x/9z==Tok&en"


def _forms(secret: str) -> dict[str, str]:
    return {"as is": secret, "url-encoded": quote(secret, safe=""), "form-encoded": quote_plus(secret),
            "json-escaped": json.dumps(secret)[1:-1]}


@pytest.fixture(autouse=True)
def _secrets(monkeypatch):
    for name in SECRET_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("META_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("MBO_DATABASE_URL", f"postgresql://mbo_app:{quote(PASSWORD, safe='')}@127.0.0.1:5432/mbo")


@pytest.mark.parametrize("secret", [PASSWORD, TOKEN], ids=["database password", "platform token"])
def test_every_form_of_a_configured_secret_is_masked(secret):
    for form_name, form in _forms(secret).items():
        text = f"connect failed: FATAL for {form} (at the end: {form})"
        masked = redact(text)
        assert form not in masked, form_name
        assert masked.count(MASK) >= 2, (form_name, masked)


def test_a_password_passed_in_its_url_encoded_form_is_masked_decoded_too():
    encoded = quote("s3cr et+pass", safe="")
    for shown in ("s3cr et+pass", encoded, quote_plus("s3cr et+pass")):
        assert "s3cr" not in redact(f"error: {shown}", extra=(encoded,)), shown


def test_ordinary_text_is_left_alone():
    assert redact("3 campaigns in account act_123 were applied") == "3 campaigns in account act_123 were applied"
