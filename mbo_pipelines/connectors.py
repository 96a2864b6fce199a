"""What every platform connector answers: campaign performance per day, campaign settings, and budget writes.

The sandbox implements this for the demo; the live connectors (Google Ads,
Meta, TikTok, under ``mbo_pipelines/defs/ingest/<platform>/``) implement the
same calls against the platforms' APIs. Rows use the platform's own column
names, exactly those of its ``raw`` tables.

Budget writes come in two shapes. Every connector has ``set_daily_budget``
(one campaign, an absolute amount). A connector whose API takes many changes
in one request, and can check them without applying them (Google Ads'
``validate_only``, Meta's ``execution_options``), also has
``set_daily_budgets``; ``send_budget_changes`` picks the right one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable


class ConnectorError(RuntimeError):
    """A platform call failed or returned data we refuse to load."""


@dataclass(frozen=True)
class BudgetChange:
    """One campaign's new daily budget, in the account's currency units.

    ``current`` is the budget the change starts from (what the platform
    reported just before the push); connectors of platforms where several
    campaigns share one budget move that budget by the sum of the differences.
    """

    account_id: str
    campaign_id: str
    amount: Decimal
    current: Decimal | None = None


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


@runtime_checkable
class BatchBudgetWriter(Protocol):
    """A connector that sends many budget changes per request, and can validate them without applying."""

    #: True when ``validate_only=True`` sends a request the platform checks but does not apply.
    supports_validate_only: bool

    def set_daily_budgets(self, changes: Sequence[BudgetChange], validate_only: bool = False) -> list[str | None]:
        """Send ``changes``; one result per change, in order: None when accepted, else the platform's reason.

        Raises ``ConnectorError`` when the request as a whole failed (nothing is known to be applied).
        """


def send_budget_changes(
    connector: PlatformConnector, changes: Sequence[BudgetChange], validate_only: bool = False
) -> list[str | None]:
    """Apply (or, with ``validate_only``, only validate) ``changes`` through whichever write call the connector has.

    Returns one result per change: None when accepted, else the reason. A
    connector without a validate-only request is sent nothing when
    ``validate_only`` is set: every change then counts as accepted unchecked.
    """
    if isinstance(connector, BatchBudgetWriter):
        if validate_only and not connector.supports_validate_only:
            return [None] * len(changes)
        return connector.set_daily_budgets(changes, validate_only=validate_only)
    if validate_only:
        return [None] * len(changes)
    results: list[str | None] = []
    for change in changes:
        try:
            connector.set_daily_budget(change.account_id, change.campaign_id, change.amount)
        except Exception as exc:  # noqa: BLE001 - one campaign's failure is its own result
            results.append(f"{type(exc).__name__}: {exc}")
        else:
            results.append(None)
    return results
