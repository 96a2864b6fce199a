"""The live connectors, built from the environment: one place that maps a platform name to its client."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from mbo_pipelines.connectors import ConnectorError, PlatformConnector
from mbo_pipelines.platform_setup import live_setups

#: platform -> (module, class) of its connector; imported on first use (the SDKs are heavy).
_CONNECTORS = {
    "google_ads": ("mbo_pipelines.defs.ingest.google_ads.client", "GoogleAdsConnector"),
    "meta_ads": ("mbo_pipelines.defs.ingest.meta_ads.client", "MetaConnector"),
    "tiktok_ads": ("mbo_pipelines.defs.ingest.tiktok_ads.client", "TikTokConnector"),
}


def live_connector(platform: str, env: Mapping[str, str] | None = None, log=None) -> PlatformConnector:
    """The real connector for ``platform``; ConnectorError naming the variables to set when it is not configured."""
    if platform not in _CONNECTORS:
        raise ConnectorError(f"no live connector for platform {platform!r}; known: {', '.join(_CONNECTORS)}")
    setup = live_setups(env)[platform]
    if not setup.enabled:
        raise ConnectorError(f"{platform} is not enabled: set {setup.accounts_variable} (see `mbo platforms`)")
    if setup.missing:
        raise ConnectorError(f"{platform} is enabled but {', '.join(setup.missing)} "
                             f"{'is' if len(setup.missing) == 1 else 'are'} not set (see `mbo platforms`)")
    module, name = _CONNECTORS[platform]
    return getattr(importlib.import_module(module), name).from_env(env, log=log)


class UnavailableConnector:
    """Stands in for a connector that could not be built (e.g. a missing token): every call fails with why.

    The push then records that platform's changes as failed, with the reason, and goes on with the others.
    """

    is_live = True

    def __init__(self, platform: str, reason: str):
        self.platform = platform
        self.reason = reason

    def _fail(self, *args, **kwargs):
        raise ConnectorError(self.reason)

    fetch_campaign_daily = fetch_campaigns = set_daily_budget = _fail


def live_connector_or_reason(platform: str, env: Mapping[str, str] | None = None, log=None) -> PlatformConnector:
    """``live_connector``, or an ``UnavailableConnector`` carrying the reason it could not be built."""
    try:
        return live_connector(platform, env, log=log)
    except ConnectorError as error:
        return UnavailableConnector(platform, str(error))


def ga4_reader(env: Mapping[str, str] | None = None, log=None):
    """The GA4 reader, configured from ``MBO_GA4_PROPERTY_IDS`` and ``MBO_GA4_ENDPOINT``."""
    from mbo_pipelines.defs.ingest.ga4.client import GA4Reader

    return GA4Reader.from_env(env, log=log)
