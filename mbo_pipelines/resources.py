"""Dagster resources: where the warehouse is and which connectors to use, configured from env vars.

Secrets (platform tokens) are not resource config: the connectors read them
from the environment when they are built, so they never show in run config,
the Dagster UI or the event log.
"""

from __future__ import annotations

import os
from datetime import date

import dagster as dg

from mbo_pipelines import platform_setup, settings
from mbo_pipelines.connectors import PlatformConnector

#: The native ad platforms (each with a connector that reads performance and writes budgets).
PLATFORMS = platform_setup.NATIVE_PLATFORMS


class MboResource(dg.ConfigurableResource):
    """The warehouse URL, the platform connectors and the GA4 reader.

    ``database_url`` None means ``MBO_DATABASE_URL`` or the embedded server.
    ``source`` picks the connectors: ``sandbox`` (the simulated market) or ``live`` (the real platforms,
    configured by their env vars: see ``mbo platforms``).
    ``sandbox_today`` pins the sandbox's clock (ISO date) for reproducible runs.
    ``sandbox_campaigns`` sizes the sandbox market (that many campaigns; None: the default market of 51).
    ``sandbox_faults`` injects faults into what the sandbox reports (``sandbox.faults``' spec; None: none).
    """

    database_url: str | None = None
    source: str = "sandbox"
    sandbox_seed: int = 7
    sandbox_today: str | None = None
    sandbox_campaigns: int | None = None
    sandbox_faults: str | None = None

    def url(self) -> str:
        """The warehouse URL (never log it: it may hold a password)."""
        return self.database_url or settings.database_url()

    def today(self) -> date | None:
        return date.fromisoformat(self.sandbox_today) if self.sandbox_today else None

    def is_live(self) -> bool:
        return platform_setup.source({"MBO_SOURCE": self.source}) == platform_setup.LIVE

    def platforms(self) -> tuple[str, ...]:
        """The native platforms this resource extracts and pushes."""
        return platform_setup.ad_platforms({**os.environ, "MBO_SOURCE": self.source})

    def connector(self, platform: str, log=None) -> PlatformConnector:
        """The connector for ``platform`` from the configured source."""
        if self.is_live():
            from mbo_pipelines.defs.ingest.live_connectors import live_connector

            return live_connector(platform, log=log)
        return self._sandbox_market().connector(platform)

    def _sandbox_market(self):
        """The sandbox market this resource reads and writes (seed, clock, size and faults as configured)."""
        from mbo_pipelines.sandbox.platforms import SandboxMarket

        return SandboxMarket(self.url(), seed=self.sandbox_seed, today=self.today(), campaigns=self.sandbox_campaigns,
                             faults=self.sandbox_faults)

    def ga4_reader(self, log=None):
        """The GA4 reader of the configured source: the sandbox's GA4 property, or the live ``GA4Reader``
        (``MBO_GA4_PROPERTY_IDS``). Both answer ``fetch_traffic_daily(start, end)``."""
        if self.is_live():
            from mbo_pipelines.defs.ingest import live_connectors

            return live_connectors.ga4_reader(log=log)
        from mbo_pipelines.sandbox.ga4 import SandboxGA4

        return SandboxGA4(self._sandbox_market())


def mbo_resource_from_env() -> MboResource:
    """The resource as configured by ``MBO_SOURCE``, ``MBO_SANDBOX_SEED``, ``MBO_SANDBOX_TODAY``,
    ``MBO_SANDBOX_CAMPAIGNS`` (unset or blank: the default market) and ``MBO_SANDBOX_FAULTS`` (checked here)."""
    sized = (os.environ.get("MBO_SANDBOX_CAMPAIGNS") or "").strip()
    return MboResource(
        source=platform_setup.source(),
        sandbox_seed=settings.env_int("MBO_SANDBOX_SEED", 7),
        sandbox_today=os.environ.get("MBO_SANDBOX_TODAY") or None,
        sandbox_campaigns=settings.env_int("MBO_SANDBOX_CAMPAIGNS", 1, minimum=1) if sized else None,
        sandbox_faults=sandbox_faults_from_env(),
    )


def sandbox_faults_from_env() -> str | None:
    """``MBO_SANDBOX_FAULTS``, its syntax checked (``sandbox.faults.parse_spec``); None when unset or blank."""
    from mbo_pipelines.sandbox.faults import parse_spec

    raw = (os.environ.get("MBO_SANDBOX_FAULTS") or "").strip()
    try:
        parse_spec(raw)
    except ValueError as error:
        raise ValueError(f"MBO_SANDBOX_FAULTS: {error}") from None
    return raw or None
