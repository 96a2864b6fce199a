"""`mbo platforms` says which platforms are enabled and, for the others, which variable is missing."""

import os
import subprocess
import sys


def _platforms(**env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MBO_", "GOOGLE_ADS_", "META_", "TIKTOK_"))}
    return subprocess.run([sys.executable, "-m", "mbo_pipelines.cli", "platforms"], env={**clean, **env},
                          capture_output=True, text=True, timeout=60)


def _line(output: str, platform: str) -> str:
    return next(line for line in output.splitlines() if line.strip().startswith(platform + " "))


def test_live_platforms_enabled_missing_and_disabled():
    out = _platforms(MBO_SOURCE="live", MBO_META_AD_ACCOUNT_IDS="act_1,2", META_ACCESS_TOKEN="EAAB-secret-value",
                     MBO_GOOGLE_ADS_CUSTOMER_IDS="123-456-7890", MBO_IMPORT_DIR="/data/imports")
    assert out.returncode == 0, out.stderr
    assert "enabled: 2 account(s): 1, 2" in _line(out.stdout, "meta_ads")
    google = _line(out.stdout, "google_ads")
    assert "missing GOOGLE_ADS_DEVELOPER_TOKEN" in google and "GOOGLE_ADS_REFRESH_TOKEN" in google
    assert "disabled: set MBO_TIKTOK_ADVERTISER_IDS" in _line(out.stdout, "tiktok_ads")
    assert "disabled: set MBO_GA4_PROPERTY_IDS" in _line(out.stdout, "ga4")
    assert "enabled: files in /data/imports" in _line(out.stdout, "csv")
    assert "dry-run" in out.stdout
    assert "EAAB-secret-value" not in out.stdout + out.stderr


def test_a_loopback_google_endpoint_needs_only_the_developer_token():
    out = _platforms(MBO_SOURCE="live", MBO_GOOGLE_ADS_CUSTOMER_IDS="1234567890", GOOGLE_ADS_DEVELOPER_TOKEN="t0ken-abc",
                     MBO_GOOGLE_ADS_ENDPOINT="127.0.0.1:50051")
    assert "enabled: 1 account(s): 1234567890" in _line(out.stdout, "google_ads")


def test_bad_settings_fail_with_the_variable_named():
    out = _platforms(MBO_SOURCE="live", MBO_GOOGLE_ADS_CUSTOMER_IDS="12-34")
    assert out.returncode == 1
    assert "MBO_GOOGLE_ADS_CUSTOMER_IDS: 1234 is not a 10-digit customer id" in out.stderr
    assert _platforms(MBO_SOURCE="production").stderr.strip() == "mbo: MBO_SOURCE must be 'sandbox' or 'live', got 'production'"
