"""What every platform connector answers: campaign performance per day, campaign settings, and budget writes.

The sandbox implements this for the demo; a real connector (Google Ads,
Meta, TikTok) implements the same three calls against its API. Rows use the
platform's own column names, exactly those of its ``raw`` tables.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable


class ConnectorError(RuntimeError):
    """A platform call failed or returned data we refuse to load."""


@runtime_checkable
class PlatformConnector(Protocol):
    """One ad platform's read and write surface."""

    platform: str
    #: True for a real ad platform: budget writes then default to dry-run.
    is_live: bool

    def fetch_campaign_daily(self, start: date, end: date) -> list[dict[str, Any]]:
        """Performance rows for every campaign and every day in [start, end]."""

    def fetch_campaigns(self) -> list[dict[str, Any]]:
        """Current settings of every campaign (name, status, daily budget, currency)."""

    def set_daily_budget(self, account_id: str, campaign_id: str, amount: Decimal) -> None:
        """Set a campaign's daily budget, in the account's currency units."""
