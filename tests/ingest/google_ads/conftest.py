"""Retries take milliseconds in the Google Ads tests (Google's own retry hints are honoured up to 2 s)."""

import pytest


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setenv("MBO_API_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("MBO_API_BACKOFF_SECONDS", "0.001")
    monkeypatch.setenv("MBO_API_MAX_BACKOFF_SECONDS", "2")
