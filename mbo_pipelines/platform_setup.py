"""Which platforms a deployment reads and writes, and what each still needs: the environment, parsed once.

``MBO_SOURCE=sandbox`` (the default) reads the simulated market's three
platforms and its GA4 property. ``MBO_SOURCE=live`` reads every real platform
whose account list is set. ``MBO_IMPORT_DIR`` adds CSV imports beside either.
``mbo platforms`` prints this module's view; the Dagster definitions build
assets only for the enabled platforms.

Secrets are never stored here: a setup only says whether they are set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

SANDBOX, LIVE = "sandbox", "live"
#: Platforms with a native connector that reads performance and writes budgets.
NATIVE_PLATFORMS = ("google_ads", "meta_ads", "tiktok_ads")
#: Readers without budgets: GA4 (web analytics) and CSV imports.
GA4, CSV = "ga4", "csv"
#: The daily FX rates (``raw/fx_rates``): not a platform, but every deployment reads them.
FX_RATES = "fx_rates"


@dataclass(frozen=True)
class PlatformSetup:
    """One platform's configuration: its accounts and the variables it still lacks."""

    platform: str
    accounts_variable: str
    accounts: tuple[str, ...]
    #: Required variables (credentials, endpoints) that are not set.
    missing: tuple[str, ...]
    #: Variables that are read, in the README's words (for ``mbo platforms``).
    variables: tuple[str, ...]

    @property
    def enabled(self) -> bool:
        """A platform is enabled when its account list is set."""
        return bool(self.accounts)

    @property
    def ready(self) -> bool:
        """Enabled and nothing required missing."""
        return self.enabled and not self.missing


def _env(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or "").strip()


def split_ids(raw: str) -> tuple[str, ...]:
    """A comma-separated id list, blanks dropped, order kept, duplicates removed."""
    seen: dict[str, None] = {}
    for part in raw.split(","):
        if part.strip():
            seen.setdefault(part.strip(), None)
    return tuple(seen)


def google_customer_ids(raw: str) -> tuple[str, ...]:
    """``123-456-7890, 9876543210`` → ``('1234567890', '9876543210')``; ValueError for anything but 10 digits."""
    ids = tuple(part.replace("-", "") for part in split_ids(raw))
    bad = [i for i in ids if not re.fullmatch(r"\d{10}", i)]
    if bad:
        raise ValueError(f"MBO_GOOGLE_ADS_CUSTOMER_IDS: {', '.join(bad)} is not a 10-digit customer id (dashes allowed)")
    return ids


def meta_account_ids(raw: str) -> tuple[str, ...]:
    """``act_123, 456`` → ``('123', '456')`` (the Insights API's ``account_id`` has no ``act_``)."""
    ids = tuple(part.removeprefix("act_") for part in split_ids(raw))
    bad = [i for i in ids if not i.isdigit()]
    if bad:
        raise ValueError(f"MBO_META_AD_ACCOUNT_IDS: {', '.join(bad)} is not an ad account id (digits, with or without act_)")
    return ids


def numeric_ids(variable: str, raw: str) -> tuple[str, ...]:
    """A comma-separated list of numeric ids; ValueError naming ``variable`` otherwise."""
    ids = split_ids(raw)
    bad = [i for i in ids if not i.isdigit()]
    if bad:
        raise ValueError(f"{variable}: {', '.join(bad)} is not a numeric id")
    return ids


def _google(env: Mapping[str, str]) -> PlatformSetup:
    required = ["GOOGLE_ADS_DEVELOPER_TOKEN"]
    if not is_loopback_endpoint(_env(env, "MBO_GOOGLE_ADS_ENDPOINT")):
        required += ["GOOGLE_ADS_CLIENT_ID", "GOOGLE_ADS_CLIENT_SECRET", "GOOGLE_ADS_REFRESH_TOKEN"]
    return PlatformSetup(
        "google_ads", "MBO_GOOGLE_ADS_CUSTOMER_IDS",
        google_customer_ids(_env(env, "MBO_GOOGLE_ADS_CUSTOMER_IDS")),
        tuple(v for v in required if not _env(env, v)),
        ("MBO_GOOGLE_ADS_CUSTOMER_IDS", "GOOGLE_ADS_DEVELOPER_TOKEN", "GOOGLE_ADS_CLIENT_ID",
         "GOOGLE_ADS_CLIENT_SECRET", "GOOGLE_ADS_REFRESH_TOKEN", "GOOGLE_ADS_LOGIN_CUSTOMER_ID",
         "MBO_GOOGLE_ADS_ENDPOINT"),
    )


def _meta(env: Mapping[str, str]) -> PlatformSetup:
    return PlatformSetup(
        "meta_ads", "MBO_META_AD_ACCOUNT_IDS", meta_account_ids(_env(env, "MBO_META_AD_ACCOUNT_IDS")),
        tuple(v for v in ("META_ACCESS_TOKEN",) if not _env(env, v)),
        ("MBO_META_AD_ACCOUNT_IDS", "META_ACCESS_TOKEN", "MBO_META_GRAPH_URL", "MBO_META_CONVERSION_ACTION"),
    )


def _tiktok(env: Mapping[str, str]) -> PlatformSetup:
    return PlatformSetup(
        "tiktok_ads", "MBO_TIKTOK_ADVERTISER_IDS",
        numeric_ids("MBO_TIKTOK_ADVERTISER_IDS", _env(env, "MBO_TIKTOK_ADVERTISER_IDS")),
        tuple(v for v in ("TIKTOK_ACCESS_TOKEN",) if not _env(env, v)),
        ("MBO_TIKTOK_ADVERTISER_IDS", "TIKTOK_ACCESS_TOKEN", "MBO_TIKTOK_API_URL"),
    )


def _ga4(env: Mapping[str, str]) -> PlatformSetup:
    return PlatformSetup(
        GA4, "MBO_GA4_PROPERTY_IDS", numeric_ids("MBO_GA4_PROPERTY_IDS", _env(env, "MBO_GA4_PROPERTY_IDS")),
        (), ("MBO_GA4_PROPERTY_IDS", "GOOGLE_APPLICATION_CREDENTIALS", "MBO_GA4_ENDPOINT"),
    )


def _csv(env: Mapping[str, str]) -> PlatformSetup:
    directory = _env(env, "MBO_IMPORT_DIR")
    return PlatformSetup(CSV, "MBO_IMPORT_DIR", (directory,) if directory else (), (), ("MBO_IMPORT_DIR",))


def source(env: Mapping[str, str] | None = None) -> str:
    """``MBO_SOURCE``: ``sandbox`` (default) or ``live``; ValueError for anything else."""
    value = _env(os.environ if env is None else env, "MBO_SOURCE").lower() or SANDBOX
    if value not in (SANDBOX, LIVE):
        raise ValueError(f"MBO_SOURCE must be 'sandbox' or 'live', got {value!r}")
    return value


def live_setups(env: Mapping[str, str] | None = None) -> dict[str, PlatformSetup]:
    """Every live reader's setup, enabled or not: the three ad platforms and GA4."""
    env = os.environ if env is None else env
    return {s.platform: s for s in (_google(env), _meta(env), _tiktok(env), _ga4(env))}


def csv_setup(env: Mapping[str, str] | None = None) -> PlatformSetup:
    """The CSV import's setup (enabled when ``MBO_IMPORT_DIR`` is set)."""
    return _csv(os.environ if env is None else env)


def ad_platforms(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The native ad platforms to extract and push: all three on the sandbox, the enabled ones in live mode."""
    env = os.environ if env is None else env
    if source(env) == SANDBOX:
        return NATIVE_PLATFORMS
    setups = live_setups(env)
    return tuple(p for p in NATIVE_PLATFORMS if setups[p].enabled)


def ga4_enabled(env: Mapping[str, str] | None = None) -> bool:
    """GA4 is read in sandbox mode (the sandbox's own GA4 property), and in live mode when
    ``MBO_GA4_PROPERTY_IDS`` is set."""
    env = os.environ if env is None else env
    return source(env) == SANDBOX or live_setups(env)[GA4].enabled


def csv_enabled(env: Mapping[str, str] | None = None) -> bool:
    """CSV imports are read whenever ``MBO_IMPORT_DIR`` is set, beside the sandbox or the live platforms."""
    return csv_setup(env).enabled


def is_loopback_endpoint(endpoint: str) -> bool:
    """True for ``host:port`` or a URL on 127.0.0.0/8, ``localhost`` or ``[::1]``: the tests' fake servers."""
    if not endpoint:
        return False
    host = endpoint.split("://", 1)[-1].rsplit("@", 1)[-1]
    host = host[1:host.index("]")] if host.startswith("[") else host.split(":", 1)[0].split("/", 1)[0]
    return host in ("localhost", "::1") or host.startswith("127.")


def fx_rates_state(env: Mapping[str, str] | None = None) -> str:
    """Where ``raw/fx_rates`` reads its rates from, for ``mbo platforms``: the file, the sandbox, or what is missing."""
    env = os.environ if env is None else env
    path = _env(env, "MBO_FX_RATES_CSV")
    if path:
        return f"ECB rates file {path} (MBO_FX_RATES_CSV)"
    if source(env) == SANDBOX:
        return "the sandbox's simulated daily rates (set MBO_FX_RATES_CSV to an ECB file for real rates)"
    return "MISSING: set MBO_FX_RATES_CSV to an ECB rates file; refreshes fail until it is set"
