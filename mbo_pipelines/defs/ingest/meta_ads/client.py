"""The Meta (Facebook) Marketing API connector: campaign insights per day, campaign budgets, budget writes.

Built on facebook-business (``FacebookAdsApi`` with its own session, passed to
every object with ``api=``: never the SDK's process-wide default, never its
crash reporter). Environment (``MetaConnector.from_env``):

- ``META_ACCESS_TOKEN``: a system-user token with ``ads_read`` (and ``ads_management`` to write budgets);
- ``MBO_META_AD_ACCOUNT_IDS``: ad accounts, comma-separated, with or without ``act_``;
- ``MBO_META_GRAPH_URL``: the Graph base URL (default https://graph.facebook.com; tests point it at a fake);
- ``MBO_META_CONVERSION_ACTION``: the action type dbt staging counts as a conversion (default
  ``omni_purchase``); the connector keeps the API's whole ``actions``/``action_values`` lists and
  only warns when no row of an account reports that action type.

Every call goes through ``retrying.call_with_retries`` (rate-limit codes 4, 17, 32, 613,
80000-80014, HTTP 429/5xx, network errors); pages are retried one at a time.

Budget writes leave ``last_write`` (``mbo_pipelines.connectors.WriteReceipt``):
the ``x-fb-request-id`` of each campaign's update request (else its
``x-fb-trace-id``) and Meta's JSON answer, token masked.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adreportrun import AdReportRun
from facebook_business.adobjects.campaign import Campaign

from mbo_pipelines import platform_setup
from mbo_pipelines.connectors import BudgetChange, ConnectorError, WriteReceipt
from mbo_pipelines.defs.ingest.meta_ads import rows
from mbo_pipelines.defs.ingest.meta_ads.graph import (
    DEFAULT_GRAPH_URL,
    RATE_LIMIT_CODES,
    GraphApi,
    GraphError,
    UnreadableResponse,
    classify,
    crash_reporter_off,
)
from mbo_pipelines.defs.ingest.retrying import backoff_seconds, call_with_retries
from mbo_pipelines.redaction import redact

T = TypeVar("T")
DEFAULT_CONVERSION_ACTION = "omni_purchase"
#: Longer ranges go through an async report job (Meta times out big synchronous Insights reads).
SYNC_MAX_DAYS = 30
#: How long an async report job may run before we give up on it.
ASYNC_TIMEOUT_SECONDS = 30 * 60
#: Graph codes that mean the token itself is bad: no later write would fare better.
AUTH_CODES = frozenset({102, 190})
_HINTS = {
    190: "META_ACCESS_TOKEN is invalid or expired: create a new system-user token",
    102: "META_ACCESS_TOKEN's session is invalid: create a new system-user token",
    200: "the token lacks permission on this account (needs ads_read, and ads_management to write budgets)",
    10: "the token lacks permission on this account (needs ads_read, and ads_management to write budgets)",
    100: "Meta rejected a parameter (see the message)",
}


class MetaCallError(ConnectorError):
    """A Meta call that failed for good; ``graph_code`` is Meta's error code when it gave one."""

    def __init__(self, message: str, graph_code: int | None = None):
        super().__init__(message)
        self.graph_code = graph_code


class _Log:
    """A logger (``logging`` or Dagster's ``context.log``) or a plain callable, every line redacted."""

    def __init__(self, sink: Any, secret: str):
        self._sink = sink or logging.getLogger(__name__)
        self._secret = secret

    def _emit(self, level: str, message: str) -> None:
        message = redact(message, extra=(self._secret,))
        method = getattr(self._sink, level, None)
        (method or self._sink)(message)

    def info(self, message: str) -> None:
        self._emit("info", message)

    def warning(self, message: str) -> None:
        self._emit("warning", message)


class MetaConnector:
    """Meta ad accounts through the Marketing API: reads insights and campaigns, writes campaign daily budgets."""

    platform = "meta_ads"
    is_live = True
    supports_validate_only = True

    def __init__(self, access_token: str, account_ids: Sequence[str], *, graph_url: str = DEFAULT_GRAPH_URL,
                 conversion_action: str = DEFAULT_CONVERSION_ACTION, page_size: int = 500, log: Any = None,
                 sleep: Callable[[float], None] = time.sleep):
        if not access_token:
            raise ConnectorError("meta_ads: META_ACCESS_TOKEN is not set; create a system-user token with ads_read "
                                 "(and ads_management to write budgets) and set it")
        self.account_ids = platform_setup.meta_account_ids(",".join(account_ids))
        self.conversion_action = conversion_action
        self.page_size = page_size
        self._token = access_token
        self._log = _Log(log, access_token)
        self._sleep = sleep
        crash_reporter_off(self._log.warning)
        self._api = GraphApi(access_token, graph_url, log_wait=self._log.warning, sleep=sleep)
        self._accounts: dict[str, dict[str, str]] = {}
        #: What Meta answered to the last budget write call (``mbo_pipelines.connectors``).
        self.last_write: WriteReceipt | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, log: Any = None) -> MetaConnector:
        """The connector ``META_ACCESS_TOKEN``, ``MBO_META_AD_ACCOUNT_IDS``, ``MBO_META_GRAPH_URL`` and
        ``MBO_META_CONVERSION_ACTION`` describe (``env`` defaults to ``os.environ``)."""
        env = os.environ if env is None else env
        accounts = platform_setup.meta_account_ids((env.get("MBO_META_AD_ACCOUNT_IDS") or "").strip())
        if not accounts:
            raise ConnectorError("meta_ads: MBO_META_AD_ACCOUNT_IDS is not set; list the ad accounts (act_<digits>)")
        return cls((env.get("META_ACCESS_TOKEN") or "").strip(), accounts,
                   graph_url=(env.get("MBO_META_GRAPH_URL") or "").strip() or DEFAULT_GRAPH_URL,
                   conversion_action=(env.get("MBO_META_CONVERSION_ACTION") or "").strip() or DEFAULT_CONVERSION_ACTION,
                   log=log)

    # -- plumbing -----------------------------------------------------------------------------
    def _call(self, what: str, call: Callable[[], T]) -> T:
        """``call()`` with retries; a ConnectorError naming ``what``, the request id and a hint, token masked."""
        last: list[BaseException] = []

        def classify_and_keep(exc: BaseException) -> Any:
            last[:] = [exc]
            return classify(exc)

        try:
            return call_with_retries(call, what=f"meta_ads {what}", classify=classify_and_keep, log=self._log.warning)
        except ConnectorError as exc:
            error = last[0] if last else None
            code = error.code if isinstance(error, GraphError) else None
            hint = _HINTS.get(code, "") if code is not None else ""
            if code in RATE_LIMIT_CODES:
                hint = "Meta kept rate-limiting this app/account: run again later"
            elif isinstance(error, UnreadableResponse):
                hint = "the answer was cut off or garbled: run again, and report it if it persists"
            message = f"{exc}" + (f" — {hint}" if hint else "")
            raise MetaCallError(redact(message, extra=(self._token,)), code) from None

    def _pages(self, what: str, first_page: Callable[[], Any]) -> list[dict[str, Any]]:
        """Every object of a paged edge: the SDK's Cursor, each page fetched (and retried) on its own."""
        cursor = self._call(f"{what}, page 1", first_page)
        out = [cursor[i].export_all_data() for i in range(len(cursor))]
        page = 1
        while True:
            page += 1
            if not self._call(f"{what}, page {page}", cursor.load_next_page):
                return out
            out += [cursor[i].export_all_data() for i in range(len(cursor))]

    def _account(self, account_id: str) -> dict[str, str]:
        """The account's id (digits), currency and time zone, read once."""
        account_id = account_id.removeprefix("act_")
        if account_id not in self._accounts:
            fields = ["account_id", "currency", "timezone_name"]
            data = self._call(f"account act_{account_id}: read currency and time zone",
                              lambda: AdAccount(f"act_{account_id}", api=self._api).api_get(fields=fields)).export_all_data()
            currency, tz = data.get("currency"), data.get("timezone_name")
            if not (isinstance(currency, str) and len(currency) == 3 and isinstance(tz, str) and tz):
                raise ConnectorError(f"meta_ads account act_{account_id}: the API gave currency {currency!r} and "
                                     f"time zone {tz!r}; check the account id and the token's access to it")
            self._accounts[account_id] = {"account_id": account_id, "currency": currency.upper(), "timezone_name": tz}
        return self._accounts[account_id]

    # -- reads --------------------------------------------------------------------------------
    def fetch_campaign_daily(self, start: date, end: date) -> list[dict[str, Any]]:
        """One row per campaign and day in [start, end] (account time zone) for every account.

        Values are judged later by the quality checks (``rows``); a campaign-day sent twice (pages that shifted
        while reading) fails the account."""
        if end < start:
            return []
        out: list[dict[str, Any]] = []
        for account_id in self.account_ids:
            account = self._account(account_id)
            data = self._insights(account_id, start, end)
            account_rows = [rows.insight_row(d, account, start, end) for d in data]
            keys = [(repr(r["campaign_id"]), repr(r["date_start"])) for r in account_rows]
            if len(set(keys)) != len(keys):
                raise ConnectorError(f"meta_ads account act_{account_id}: the Insights API returned a campaign-day "
                                     "twice; nothing from this account was loaded. Run the extract again.")
            self._check_conversion_action(account_id, account_rows)
            out += account_rows
        return out

    def _insights(self, account_id: str, start: date, end: date) -> list[dict[str, Any]]:
        params = {"level": "campaign", "time_increment": "1", "limit": self.page_size,
                  "time_range": {"since": start.isoformat(), "until": end.isoformat()}}
        account = AdAccount(f"act_{account_id}", api=self._api)
        what = f"account act_{account_id}: insights {start}..{end}"
        if (end - start).days + 1 <= SYNC_MAX_DAYS:
            return self._pages(what, lambda: account.get_insights(fields=list(rows.INSIGHT_FIELDS), params=dict(params)))
        report = self._call(f"{what}: start async report",
                            lambda: account.get_insights(fields=list(rows.INSIGHT_FIELDS), params=dict(params),
                                                         is_async=True))
        report_id = report.get_id()
        if not report_id:
            raise ConnectorError(f"meta_ads {what}: the async report request returned no report_run_id; run again")
        self._await_report(what, report_id)
        run = AdReportRun(report_id, api=self._api)
        return self._pages(f"{what}: report {report_id}", lambda: run.get_insights(params={"limit": self.page_size}))

    def _await_report(self, what: str, report_id: str) -> None:
        """Poll the report run until 'Job Completed' at 100%; ConnectorError on 'Job Failed'/'Job Skipped' or timeout."""
        deadline = time.monotonic() + ASYNC_TIMEOUT_SECONDS
        delay, cap = backoff_seconds()
        fields = ["async_status", "async_percent_completion"]
        while True:
            run = self._call(f"{what}: poll report {report_id}",
                             lambda: AdReportRun(report_id, api=self._api).api_get(fields=fields))
            status, percent = run.get("async_status"), run.get("async_percent_completion")
            if status == "Job Completed" and percent == 100:
                return
            if status in ("Job Failed", "Job Skipped"):
                raise ConnectorError(f"meta_ads {what}: async report {report_id} ended '{status}'; run the extract "
                                     "again, or with a shorter range")
            if time.monotonic() > deadline:
                raise ConnectorError(f"meta_ads {what}: async report {report_id} still '{status}' at {percent}% after "
                                     f"{ASYNC_TIMEOUT_SECONDS // 60} minutes; run again later or with a shorter range")
            self._sleep(delay)
            delay = min(max(delay * 1.5, 0.01), cap)

    def _check_conversion_action(self, account_id: str, account_rows: list[dict[str, Any]]) -> None:
        # Malformed lists pass through to the quality checks (rows.py): only well-formed entries name a type.
        seen = {a["action_type"] for r in account_rows for field in ("actions", "action_values")
                for a in (r[field] if isinstance(r[field], list) else [])
                if isinstance(a, dict) and isinstance(a.get("action_type"), str)}
        if account_rows and self.conversion_action not in seen:
            self._log.warning(
                f"meta_ads account act_{account_id}: no insights row reports action type '{self.conversion_action}' "
                f"(MBO_META_CONVERSION_ACTION), so its conversions count as zero; action types seen: "
                f"{', '.join(sorted(seen)) or 'none'}")

    def fetch_campaigns(self) -> list[dict[str, Any]]:
        """Every campaign's name, effective status and daily budget (Meta's minor units; None without one)."""
        return self.fetch_campaigns_of(self.account_ids)

    def fetch_campaigns_of(self, account_ids: Collection[str]) -> list[dict[str, Any]]:
        """``fetch_campaigns()`` of the configured ad accounts among ``account_ids`` (with or without ``act_``)."""
        wanted = {str(a).removeprefix("act_") for a in account_ids}
        out: list[dict[str, Any]] = []
        for account_id in (a for a in self.account_ids if a in wanted):
            account = self._account(account_id)
            api_account = AdAccount(f"act_{account_id}", api=self._api)
            data = self._pages(f"account act_{account_id}: campaigns",
                               lambda: api_account.get_campaigns(fields=list(rows.CAMPAIGN_FIELDS),
                                                                 params={"limit": self.page_size}))
            out += [rows.campaign_row(d, account) for d in data]
        return out

    # -- writes -------------------------------------------------------------------------------
    def set_daily_budgets(self, changes: Sequence[BudgetChange], validate_only: bool = False) -> list[str | None]:
        """Write each campaign's ``daily_budget`` (one request per change); with ``validate_only`` Meta checks
        without applying. One result per change: None when accepted, else Meta's reason (code, fbtrace_id).

        Raises ``ConnectorError`` when the token itself is rejected (nothing further is sent).
        Sets ``last_write`` to the receipts of the update requests sent, in order."""
        receipts: list[WriteReceipt] = []
        try:
            results: list[str | None] = []
            for change in changes:
                results.append(self._write_one(change, validate_only, applied=results.count(None), receipts=receipts))
            return results
        finally:
            self.last_write = WriteReceipt.combine(receipts)

    def _write_one(self, change: BudgetChange, validate_only: bool, applied: int,
                   receipts: list[WriteReceipt]) -> str | None:
        """One change's result; a rejected token (Graph 102/190) raises instead, as no later write would fare better."""
        try:
            return self._send_budget(change, validate_only, receipts)
        except MetaCallError as exc:
            if exc.graph_code in AUTH_CODES:
                raise MetaCallError(f"{exc} ({applied} earlier change(s) of this push were accepted)",
                                    exc.graph_code) from None
            return str(exc)

    def _send_budget(self, change: BudgetChange, validate_only: bool, receipts: list[WriteReceipt]) -> str | None:
        account_id = str(change.account_id).removeprefix("act_")
        where = f"account act_{account_id} campaign {change.campaign_id}"
        amount = Decimal(str(change.amount))
        if not amount.is_finite() or amount <= 0:
            return f"meta_ads {where}: refusing daily budget {amount}: must be a positive number"
        currency = self._account(account_id)["currency"]
        minor = rows.to_minor_units(amount, currency)
        if minor <= 0:
            return f"meta_ads {where}: refusing daily budget {amount} {currency}: it rounds to 0 minor units"
        params: dict[str, Any] = {"daily_budget": minor}
        if validate_only:
            params["execution_options"] = ["validate_only"]
        verb = "validate" if validate_only else "set"
        campaign = Campaign(change.campaign_id, api=self._api)
        try:
            self._call(f"{where}: {verb} daily_budget {minor} ({amount} {currency})",
                       lambda: campaign.api_update(params=dict(params)))
        except Exception as exc:
            receipts.append(self._receipt(change.campaign_id, exc))
            raise
        receipts.append(self._receipt(change.campaign_id))
        self._log.info(f"meta_ads {where}: {verb} daily_budget {minor} minor units ({amount} {currency}): accepted")
        return None

    def _receipt(self, campaign_id: str, error: BaseException | None = None) -> WriteReceipt:
        """The last update request's receipt: Meta's request id and answer, or the error when Meta did not answer."""
        answer = self._api.last_answer()
        if answer is None:
            return WriteReceipt.of(None, f"campaign {campaign_id}: no answer: {error}", (self._token,))
        return WriteReceipt.of(answer.request_id, f"campaign {campaign_id}: HTTP {answer.status} {answer.body}",
                               (self._token,))

    def set_daily_budget(self, account_id: str, campaign_id: str, amount: Decimal) -> None:
        """Set one campaign's daily budget (account currency units); ConnectorError when Meta refuses it."""
        result = self.set_daily_budgets([BudgetChange(account_id, campaign_id, Decimal(str(amount)))])[0]
        if result is not None:
            raise ConnectorError(result)

