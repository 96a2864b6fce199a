"""The TikTok connector: campaign performance and settings from the Business API v1.3, and daily budget writes.

Configured from the environment (``TikTokConnector.from_env``):
``MBO_TIKTOK_ADVERTISER_IDS`` (comma-separated advertiser ids),
``TIKTOK_ACCESS_TOKEN`` (a long-term token of an app authorised on them) and
``MBO_TIKTOK_API_URL`` (default ``https://business-api.tiktok.com/open_api``;
plain ``http://`` only for a loopback test server).

Reports come from ``report/integrated/get`` (BASIC, campaign level, one row per
campaign and day) in windows of at most 30 days, the most TikTok serves by
day; the advertiser's currency and time zone from ``advertiser/info``, once
per advertiser. TikTok has no validate-only write, so a dry run sends nothing.
Budget writes leave ``last_write`` (``mbo_pipelines.connectors.WriteReceipt``):
the ``request_id`` of each ``campaign/update`` answer and its code and message.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from mbo_pipelines.connectors import BudgetChange, ConnectorError, WriteReceipt
from mbo_pipelines.currencies import round_to_step, smallest_step
from mbo_pipelines.defs.ingest.tiktok_ads.api import DEFAULT_BASE_URL, TikTokApi
from mbo_pipelines.defs.ingest.tiktok_ads.rows import (
    CAMPAIGN_FIELDS,
    REPORT_DIMENSIONS,
    REPORT_METRICS,
    advertiser_settings,
    campaign_row,
    report_row,
)
from mbo_pipelines.platform_setup import is_loopback_endpoint, numeric_ids

REPORT_PATH = "v1.3/report/integrated/get/"
ADVERTISER_PATH = "v1.3/advertiser/info/"
CAMPAIGNS_PATH = "v1.3/campaign/get/"
UPDATE_PATH = "v1.3/campaign/update/"
#: Longest date range TikTok reports by day in one request (start and end included).
MAX_REPORT_DAYS = 30
#: Largest page TikTok serves.
MAX_PAGE_SIZE = 1000
#: Budget modes whose ``budget`` is a daily amount; a lifetime (``BUDGET_MODE_TOTAL``) or no
#: campaign budget (``BUDGET_MODE_INFINITE``, set on the ad groups) must not be written as one.
DAILY_BUDGET_MODES = frozenset({"BUDGET_MODE_DAY", "BUDGET_MODE_DYNAMIC_DAILY_BUDGET"})
#: Pages of one listing before we stop believing ``total_page``.
_MAX_PAGES = 10_000


def report_windows(start: date, end: date, days: int = MAX_REPORT_DAYS) -> list[tuple[date, date]]:
    """[start, end] cut into consecutive windows of at most ``days`` days each."""
    windows = []
    while start <= end:
        last = min(end, start + timedelta(days=days - 1))
        windows.append((start, last))
        start = last + timedelta(days=1)
    return windows


def budget_amount(amount: Decimal | float | str, currency: str) -> Decimal:
    """``amount`` rounded to the currency's smallest unit (whole units for JPY and the like); ValueError unless > 0."""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise ValueError(f"daily budget {amount!r} is not a number") from None
    if not value.is_finite() or round_to_step(value, currency) <= 0:
        raise ValueError(f"daily budget {amount} {currency} is not a finite amount of at least {smallest_step(currency)}")
    return round_to_step(value, currency)


class TikTokConnector:
    """Reads campaign performance and settings of TikTok advertisers and writes their daily budgets."""

    platform = "tiktok_ads"
    is_live = True
    supports_validate_only = False

    def __init__(self, advertiser_ids: Sequence[str], access_token: str, base_url: str = DEFAULT_BASE_URL,
                 log: Callable[[str], None] | None = None, page_size: int = MAX_PAGE_SIZE):
        if not advertiser_ids:
            raise ConnectorError("TikTok: no advertiser ids; set MBO_TIKTOK_ADVERTISER_IDS")
        if not access_token:
            raise ConnectorError("TikTok: no access token; set TIKTOK_ACCESS_TOKEN")
        if not base_url.startswith("https://") and not (base_url.startswith("http://") and is_loopback_endpoint(base_url)):
            raise ConnectorError(f"MBO_TIKTOK_API_URL {base_url!r} must be an https:// URL (plain http only for a "
                                 "loopback test server: the access token would travel unencrypted)")
        self.advertiser_ids = tuple(str(a) for a in advertiser_ids)
        self.page_size = max(1, min(int(page_size), MAX_PAGE_SIZE))
        self._api = TikTokApi(base_url, access_token, log=log)
        self._settings: dict[str, tuple[str, str]] = {}
        #: What TikTok answered to the last budget write call (``mbo_pipelines.connectors``).
        self.last_write: WriteReceipt | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, log: Callable[[str], None] | None = None,
                 **kwargs: Any) -> TikTokConnector:
        """The connector configured by ``MBO_TIKTOK_ADVERTISER_IDS``, ``TIKTOK_ACCESS_TOKEN``, ``MBO_TIKTOK_API_URL``."""
        env = os.environ if env is None else env
        return cls(
            numeric_ids("MBO_TIKTOK_ADVERTISER_IDS", env.get("MBO_TIKTOK_ADVERTISER_IDS", "")),
            (env.get("TIKTOK_ACCESS_TOKEN") or "").strip(),
            (env.get("MBO_TIKTOK_API_URL") or "").strip() or DEFAULT_BASE_URL,
            log=log, **kwargs,
        )

    def close(self) -> None:
        """Close the HTTP connections."""
        self._api.close()

    def __enter__(self) -> TikTokConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reads ---------------------------------------------------------------------------------

    def fetch_campaign_daily(self, start: date, end: date) -> list[dict[str, Any]]:
        """One row per campaign and day with data in [start, end], every configured advertiser."""
        rows: list[dict[str, Any]] = []
        seen: set[tuple[str, str, date]] = set()
        for advertiser in self.advertiser_ids:
            currency, timezone = self.advertiser_settings(advertiser)
            before = len(rows)
            for first, last in report_windows(start, end):
                params = {
                    "advertiser_id": advertiser, "report_type": "BASIC", "data_level": "AUCTION_CAMPAIGN",
                    "dimensions": json.dumps(list(REPORT_DIMENSIONS)), "metrics": json.dumps(list(REPORT_METRICS)),
                    "start_date": first.isoformat(), "end_date": last.isoformat(),
                }
                for item in self._pages(REPORT_PATH, params, advertiser, f"report {first}..{last}"):
                    row = report_row(item, advertiser, currency, timezone, first, last)
                    key = (advertiser, row["campaign_id"], row["stat_time_day"])
                    if key in seen:
                        raise ConnectorError(f"TikTok advertiser {advertiser}: the report has campaign {key[1]} on "
                                             f"{key[2]} twice (pages shifted while reading?); run again")
                    seen.add(key)
                    rows.append(row)
            self._api.log(f"TikTok advertiser {advertiser}: {len(rows) - before} campaign-day rows for {start}..{end}")
        return rows

    def fetch_campaigns(self) -> list[dict[str, Any]]:
        """Every campaign's name, status, budget mode and budget (currency units), every configured advertiser."""
        return self.fetch_campaigns_of(self.advertiser_ids)

    def fetch_campaigns_of(self, account_ids: Collection[str]) -> list[dict[str, Any]]:
        """``fetch_campaigns()`` of the configured advertisers among ``account_ids``."""
        wanted = {str(a) for a in account_ids}
        rows = []
        for advertiser in (a for a in self.advertiser_ids if a in wanted):
            currency, timezone = self.advertiser_settings(advertiser)
            rows += [campaign_row(item, advertiser, currency, timezone) for item in self._campaign_items(advertiser)]
        return rows

    def advertiser_settings(self, advertiser_id: str) -> tuple[str, str]:
        """(currency, time zone) of an advertiser, asked of ``advertiser/info`` once per connector."""
        if advertiser_id not in self._settings:
            data = self._api.get(ADVERTISER_PATH, {
                "advertiser_ids": json.dumps([advertiser_id]),
                "fields": json.dumps(["advertiser_id", "currency", "timezone", "display_timezone"]),
            }, advertiser_id=advertiser_id, what="advertiser/info")
            self._settings[advertiser_id] = advertiser_settings(data, advertiser_id)
        return self._settings[advertiser_id]

    def _campaign_items(self, advertiser: str) -> Iterator[Any]:
        params = {"advertiser_id": advertiser, "fields": json.dumps(list(CAMPAIGN_FIELDS))}
        return self._pages(CAMPAIGNS_PATH, params, advertiser, "campaign/get")

    def _pages(self, path: str, params: dict[str, Any], advertiser: str, what: str) -> Iterator[Any]:
        """The ``list`` items of every page of a paged endpoint, following ``page_info.total_page``."""
        page, total = 1, 1
        while page <= total:
            data = self._api.get(path, {**params, "page": page, "page_size": self.page_size},
                                 advertiser_id=advertiser, what=f"{what} page {page}")
            items, info = data.get("list"), data.get("page_info")
            if not isinstance(items, list) or not isinstance(info, dict) or not isinstance(info.get("total_page"), int):
                raise ConnectorError(f"TikTok advertiser {advertiser}: {what} page {page} has no list or page_info; "
                                     "nothing was loaded (run again)")
            total = min(info["total_page"], _MAX_PAGES)
            yield from items
            page += 1

    # --- writes --------------------------------------------------------------------------------

    def set_daily_budgets(self, changes: Sequence[BudgetChange], validate_only: bool = False) -> list[str | None]:
        """One ``campaign/update`` per change; per change None when applied, else why not.

        With ``validate_only`` nothing is sent (TikTok cannot check a change
        without applying it) and every result is None. Only campaigns whose
        budget is a daily budget are written.
        """
        self.last_write = None
        if validate_only:
            return [None] * len(changes)
        modes: dict[str, dict[str, str] | ConnectorError] = {}
        receipts: list[WriteReceipt] = []
        results: list[str | None] = []
        try:
            for change in changes:
                try:
                    self._write_budget(change, modes, receipts)
                except ConnectorError as exc:
                    results.append(str(exc))  # already masked where it was raised
                else:
                    results.append(None)
            return results
        finally:
            self.last_write = WriteReceipt.combine(receipts)

    def set_daily_budget(self, account_id: str, campaign_id: str, amount: Decimal) -> None:
        """Set one campaign's daily budget (currency units); ConnectorError when TikTok refuses it."""
        error = self.set_daily_budgets([BudgetChange(str(account_id), str(campaign_id), Decimal(str(amount)))])[0]
        if error:
            raise ConnectorError(error)

    def _write_budget(self, change: BudgetChange, modes: dict[str, dict[str, str] | ConnectorError],
                      receipts: list[WriteReceipt]) -> None:
        advertiser, campaign = str(change.account_id), str(change.campaign_id)
        label = f"TikTok advertiser {advertiser}, campaign {campaign}"
        if advertiser not in self.advertiser_ids:
            raise ConnectorError(f"{label}: the advertiser is not in MBO_TIKTOK_ADVERTISER_IDS; nothing sent")
        currency, _ = self.advertiser_settings(advertiser)
        try:
            amount = budget_amount(change.amount, currency)
        except ValueError as exc:
            raise ConnectorError(f"{label}: {exc}; nothing sent") from None
        mode = self._budget_modes(advertiser, modes).get(campaign)
        if mode is None:
            raise ConnectorError(f"{label}: no such campaign (deleted?); nothing sent")
        if mode not in DAILY_BUDGET_MODES:
            raise ConnectorError(f"{label}: budget mode is {mode}, not a daily budget; nothing sent "
                                 "(change it in TikTok Ads Manager)")
        # JSON has no decimals: whole units go as integers, others as the float nearest the cent amount.
        budget: int | float = int(amount) if amount == amount.to_integral_value() else float(amount)
        try:
            self._api.post(UPDATE_PATH, {"advertiser_id": advertiser, "campaign_id": campaign, "budget": budget},
                           advertiser_id=advertiser, what=f"campaign/update of campaign {campaign} to {amount} {currency}")
        except Exception as exc:
            receipts.append(self._receipt(campaign, exc))
            raise
        receipts.append(self._receipt(campaign))
        self._api.log(f"{label}: daily budget set to {amount} {currency}")

    def _receipt(self, campaign: str, error: BaseException | None = None) -> WriteReceipt:
        """The receipt of the ``campaign/update`` just sent: TikTok's answer, or the error when it gave none."""
        answer = self._api.last_answer()
        if answer is None:
            return WriteReceipt(None, self._api.redact(f"campaign {campaign}: no answer: {error}"))
        return WriteReceipt(answer.request_id, f"campaign {campaign}: {answer.response}")

    def _budget_modes(self, advertiser: str, modes: dict[str, dict[str, str] | ConnectorError]) -> dict[str, str]:
        """campaign_id → budget_mode of an advertiser, read once per batch of writes."""
        if advertiser not in modes:
            try:
                modes[advertiser] = {str(item.get("campaign_id")): str(item.get("budget_mode"))
                                     for item in self._campaign_items(advertiser) if isinstance(item, dict)}
            except ConnectorError as exc:
                modes[advertiser] = exc
        found = modes[advertiser]
        if isinstance(found, ConnectorError):
            raise found
        return found
