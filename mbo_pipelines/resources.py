"""Dagster resources: where the warehouse is and which connectors to use, configured from env vars."""

from __future__ import annotations

import os
from datetime import date

import dagster as dg

from mbo_pipelines import settings
from mbo_pipelines.connectors import PlatformConnector

PLATFORMS = ("google_ads", "meta_ads", "tiktok_ads")


class MboResource(dg.ConfigurableResource):
    """The warehouse URL and the platform connectors.

    ``database_url`` None means ``MBO_DATABASE_URL`` or the embedded server.
    ``source`` picks the connectors: only ``sandbox`` exists so far.
    ``sandbox_today`` pins the sandbox's clock (ISO date) for reproducible runs.
    """

    database_url: str | None = None
    source: str = "sandbox"
    sandbox_seed: int = 7
    sandbox_today: str | None = None

    def url(self) -> str:
        """The warehouse URL (never log it: it may hold a password)."""
        return self.database_url or settings.database_url()

    def today(self) -> date | None:
        return date.fromisoformat(self.sandbox_today) if self.sandbox_today else None

    def connector(self, platform: str) -> PlatformConnector:
        """The connector for ``platform`` from the configured source."""
        if self.source != "sandbox":
            raise ValueError(
                f"source {self.source!r} (MBO_SOURCE) is not available: only the 'sandbox' connector exists so far. "
                "Unset MBO_SOURCE (or set it to 'sandbox') to run on the simulated market."
            )
        from mbo_pipelines.sandbox.platforms import SandboxMarket

        return SandboxMarket(self.url(), seed=self.sandbox_seed, today=self.today()).connector(platform)


def mbo_resource_from_env() -> MboResource:
    """The resource as configured by ``MBO_SOURCE``, ``MBO_SANDBOX_SEED`` and ``MBO_SANDBOX_TODAY``."""
    return MboResource(
        source=os.environ.get("MBO_SOURCE", "sandbox"),
        sandbox_seed=settings.env_int("MBO_SANDBOX_SEED", 7),
        sandbox_today=os.environ.get("MBO_SANDBOX_TODAY") or None,
    )
