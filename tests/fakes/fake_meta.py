"""A real HTTP server on 127.0.0.1 that speaks the Graph API (Marketing API) wire format of facebook-business.

It serves a ``FakeWorld``'s accounts (ids as digits; requests use ``act_<digits>``)
the way the SDK calls them: GET parameters in the query string, POST
parameters as a form body, lists and maps JSON-encoded, the access token as
the ``access_token`` query parameter. Errors come in Graph's shape, HTTP 400
with ``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``.

    world = make_world([FakeAccount("1234567", "USD", "America/New_York")], start, end)
    with FakeMeta(world, access_token="meta-test-token", page_size=5) as fake:
        env = fake.env()   # META_ACCESS_TOKEN, MBO_META_AD_ACCOUNT_IDS, MBO_META_GRAPH_URL
        connector = MetaConnector.from_env(env)
        rows = connector.fetch_campaign_daily(start, end)
        fake.rate_limit_next(code=17)          # the next request answers "User request limit reached"
        connector.set_daily_budget("act_1234567", "1000", Decimal("55.00"))
        assert fake.budgets()[("1234567", "1000")] == Decimal("55.00")

Endpoints (any ``/v<major>.<minor>/`` prefix):
``GET /act_<id>`` (account fields), ``GET /act_<id>/insights`` (synchronous,
paged: ``paging.cursors.after`` plus a ``paging.next`` URL back to this
server), ``POST /act_<id>/insights`` (async job: ``{"report_run_id"}``),
``GET /<report_run_id>`` ('Job Running' on the first poll, then 'Job
Completed'), ``GET /<report_run_id>/insights`` (paged), ``GET
/act_<id>/campaigns`` (paged), ``POST /<campaign_id>`` (``daily_budget`` in
minor units; ``execution_options=["validate_only"]`` checks without applying;
answers ``{"success": true}``). A wrong or missing token gets error 190.

Fault injection (each fires on the next matching requests; ``on`` restricts it to
paths containing that text, ``page`` to that page number of a paged listing):
``rate_limit_next(times=1, code=17, on=None, page=None, regain_minutes=1)``,
``fail_next(status=500, times=1, on=None, page=None, body=None)`` (``body``:
raw text instead of Graph's JSON error), ``high_usage_next(times=1, percent=97,
regain_minutes=0)`` (a successful answer whose usage headers report heavy use),
``truncate_page(n, on=None)`` (page n of the next listing is cut-off JSON),
``drop_next(times=1, on=None)`` (the connection is closed without an answer: a network error),
``reject_budget(campaign_id, message, code=100)`` (that campaign's budget writes
fail until ``clear_faults()``), ``fail_next_report(status="Job Failed")``.

Malformed data (for the data-quality corpus): ``edit_rows(edit, on=None)`` passes
every listing's rows (insights and campaigns, as the wire's dicts, before paging)
through ``edit(rows) -> rows`` until ``clear_faults()``; ``serve_body_next(body,
on=None, page=None, times=1)`` answers the next matching requests with HTTP 200,
a JSON content type and ``body`` as it is (text or bytes: not JSON, cut off, or
JSON of the wrong shape such as ``{"data": 5}``).

``fake.requests`` lists every request (``FakeMetaRequest``: method, path without
the version, params without the token, ``validate_only``, ``page``, and the
``request_id`` the fake answered it with in its ``x-fb-request-id`` header,
distinct for every request);
``fake.budgets()`` maps (account_id, campaign_id) to the daily budget in
currency units.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.fakes.loopback_http import LoopbackHTTPServer
from tests.fakes.ad_world import ZERO_DECIMAL_CURRENCIES, FakeCampaign, FakeWorld

RATE_LIMIT_MESSAGES = {
    4: "Application request limit reached",
    17: "User request limit reached",
    32: "Page request limit reached",
    613: "Calls within one hour have exceeded the rate limit",
}
_VERSION = re.compile(r"^/v\d+\.\d+(?=/)")


@dataclass(frozen=True)
class FakeMetaRequest:
    """One request the fake received: ``path`` without the API version, ``params`` decoded, token removed."""

    method: str
    path: str
    params: dict[str, Any]
    validate_only: bool = False
    #: For a paged listing, the 1-based page asked for; None otherwise.
    page: int | None = None
    #: The ``x-fb-request-id`` header of the fake's answer.
    request_id: str | None = None


@dataclass
class _Fault:
    kind: str  # "rate_limit" | "fail" | "usage" | "truncate" | "drop" | "body"
    times: int
    on: str | None = None
    page: int | None = None
    code: int = 17
    status: int = 500
    body: str | bytes | None = None
    percent: float = 97.0
    regain_minutes: int = 0

    def matches(self, path: str, page: int | None) -> bool:
        if self.on is not None and self.on not in path:
            return False
        return self.page is None or self.page == page


class _GraphError(Exception):
    def __init__(self, status: int, code: int, message: str, subcode: int | None = None,
                 headers: dict[str, str] | None = None, transient: bool = False):
        super().__init__(message)
        self.status, self.code, self.message, self.subcode = status, code, message, subcode
        self.headers = headers or {}
        self.transient = transient


def minor_units(currency: str) -> int:
    """Meta's budget offset: 1 for currencies without minor units, else 100."""
    return 1 if currency in ZERO_DECIMAL_CURRENCIES else 100


def _decode(value: str) -> Any:
    if value[:1] in "[{" or value in ("true", "false"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _fields(params: dict[str, Any]) -> list[str]:
    raw = params.get("fields") or []
    return [f.strip() for f in raw.split(",")] if isinstance(raw, str) else list(raw)


def _cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    return int(base64.b64decode(cursor.encode()).decode().split(":", 1)[1])


@dataclass
class FakeMeta(LoopbackHTTPServer):
    """The server; use as a context manager, or call ``start()`` / ``stop()``."""

    world: FakeWorld
    access_token: str = "fake-meta-access-token"
    #: Default page size when a request sends no ``limit``.
    page_size: int = 25
    #: The action type conversions are reported under (``MBO_META_CONVERSION_ACTION``'s default).
    conversion_action: str = "omni_purchase"
    requests: list[FakeMetaRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._faults: list[_Fault] = []
        self._rejected: dict[str, tuple[str, int]] = {}
        self._report_failures: list[str] = []
        self._reports: dict[str, dict[str, Any]] = {}
        self._edits: list[tuple[Callable[[list[dict[str, Any]]], list[Any]], str | None]] = []
        self._next_id = 6_100_000_000
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """The Graph base URL to give the SDK (``MBO_META_GRAPH_URL``)."""
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The environment ``MetaConnector.from_env`` needs to read this world through this server."""
        return {
            "META_ACCESS_TOKEN": self.access_token,
            "MBO_META_AD_ACCOUNT_IDS": ",".join(f"act_{a.account_id}" for a in self.world.accounts),
            "MBO_META_GRAPH_URL": self.url,
        }

    # -- inspection and faults ---------------------------------------------------------------
    def budgets(self) -> dict[tuple[str, str], Decimal | None]:
        """Every campaign's daily budget in currency units, by (account_id, campaign_id)."""
        with self._lock:
            return {(c.account_id, c.campaign_id): c.daily_budget for c in self.world.campaigns}

    def rate_limit_next(self, times: int = 1, code: int = 17, on: str | None = None, page: int | None = None,
                        regain_minutes: int = 1) -> None:
        """Answer the next ``times`` matching requests with rate-limit error ``code`` (4, 17, 32, 613, 80000-80014)."""
        self._add(_Fault("rate_limit", times, on, page, code=code, regain_minutes=regain_minutes))

    def fail_next(self, status: int = 500, times: int = 1, on: str | None = None, page: int | None = None,
                  body: str | None = None) -> None:
        """Answer the next ``times`` matching requests with HTTP ``status`` (Graph's JSON error, or ``body``)."""
        self._add(_Fault("fail", times, on, page, status=status, body=body))

    def drop_next(self, times: int = 1, on: str | None = None) -> None:
        """Close the connection of the next ``times`` matching requests without answering."""
        self._add(_Fault("drop", times, on))

    def high_usage_next(self, times: int = 1, percent: float = 97.0, regain_minutes: int = 0) -> None:
        """Answer the next ``times`` requests normally, with usage headers reporting ``percent`` % use."""
        self._add(_Fault("usage", times, percent=percent, regain_minutes=regain_minutes))

    def truncate_page(self, n: int, on: str | None = None) -> None:
        """Serve page ``n`` (1-based) of the next matching listing as cut-off JSON, once."""
        self._add(_Fault("truncate", 1, on, n))

    def edit_rows(self, edit: Callable[[list[dict[str, Any]]], list[Any]], on: str | None = None) -> None:
        """Serve ``edit(rows)`` instead of the rows of every listing whose path contains ``on`` (all listings
        when None), until ``clear_faults()``. ``rows`` are the wire's dicts (strings for numbers), before paging."""
        with self._lock:
            self._edits.append((edit, on))

    def serve_body_next(self, body: str | bytes, on: str | None = None, page: int | None = None,
                        times: int = 1) -> None:
        """Answer the next ``times`` matching requests with HTTP 200, a JSON content type and ``body`` verbatim."""
        self._add(_Fault("body", times, on, page, body=body))

    def reject_budget(self, campaign_id: str, message: str, code: int = 100) -> None:
        """Fail every budget write to ``campaign_id`` with Graph error ``code`` and ``message``."""
        with self._lock:
            self._rejected[campaign_id] = (message, code)

    def fail_next_report(self, status: str = "Job Failed") -> None:
        """The next async report job ends with ``status`` ('Job Failed' or 'Job Skipped')."""
        with self._lock:
            self._report_failures.append(status)

    def clear_faults(self) -> None:
        """Drop every pending fault and budget rejection."""
        with self._lock:
            self._faults.clear()
            self._edits.clear()
            self._rejected.clear()
            self._report_failures.clear()

    def _add(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take(self, kinds: tuple[str, ...], path: str, page: int | None) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.matches(path, page):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- HTTP --------------------------------------------------------------------------------
    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(handler.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        form: dict[str, str] = {}
        if method == "POST":
            length = int(handler.headers.get("Content-Length") or 0)
            form = dict(parse_qsl(handler.rfile.read(length).decode(), keep_blank_values=True))
        raw = {**query, **form}
        token = raw.pop("access_token", None)
        params = {k: _decode(v) for k, v in raw.items()}
        path = _VERSION.sub("", split.path).rstrip("/") or "/"
        page = self._page_of(method, path, params)
        validate_only = "validate_only" in (params.get("execution_options") or [])
        request_id = f"AFakeRequest{uuid.uuid4().hex}"
        with self._lock:
            self.requests.append(FakeMetaRequest(method, path, params, validate_only, page, request_id))
        try:
            if token != self.access_token:
                raise _GraphError(400, 190, "Invalid OAuth access token - Cannot parse access token")
            fault = self._take(("rate_limit", "fail", "drop", "body"), path, page)
            if fault and fault.kind == "drop":
                handler.close_connection = True
                return
            if fault and fault.kind == "body":
                body = fault.body if isinstance(fault.body, bytes) else str(fault.body).encode()
                self._send(handler, 200, body, {"Content-Type": "application/json; charset=UTF-8"}, request_id)
                return
            if fault and fault.kind == "fail" and fault.body is not None:
                self._send(handler, fault.status, fault.body.encode(), {"Content-Type": "text/html"}, request_id)
                return
            if fault:
                raise self._fault_error(fault, path)
            body = self._route(method, path, params, query, split.path)
        except _GraphError as err:
            self._send_error(handler, err, request_id)
            return
        headers = {"x-app-usage": json.dumps({"call_count": 1, "total_cputime": 1, "total_time": 1})}
        usage = self._take(("usage",), path, page)
        if usage:
            headers["x-ad-account-usage"] = json.dumps(
                {"acc_id_util_pct": usage.percent, "reset_time_duration": 30, "ads_api_access_tier": "standard_access"})
            headers["x-business-use-case-usage"] = json.dumps({"1": [{
                "type": "ads_management", "call_count": usage.percent, "total_cputime": 5, "total_time": 5,
                "estimated_time_to_regain_access": usage.regain_minutes}]})
        data = json.dumps(body).encode()
        if page is not None and self._take(("truncate",), path, page):
            data = data[: max(1, len(data) // 2)]
        self._send(handler, 200, data, {"Content-Type": "application/json; charset=UTF-8", **headers}, request_id)

    def _send(self, handler: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict[str, str],
              request_id: str) -> None:
        handler.send_response(status)
        handler.send_header("x-fb-request-id", request_id)
        for name, value in headers.items():
            handler.send_header(name, value)
        with self._lock:
            self._next_id += 1
            trace = f"AFakeTrace{self._next_id}"
        handler.send_header("x-fb-trace-id", trace)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _send_error(self, handler: BaseHTTPRequestHandler, err: _GraphError, request_id: str) -> None:
        with self._lock:
            self._next_id += 1
            trace = f"AFakeTrace{self._next_id}"
        error: dict[str, Any] = {"message": err.message, "type": "OAuthException", "code": err.code, "fbtrace_id": trace}
        if err.subcode is not None:
            error["error_subcode"] = err.subcode
        if err.transient:
            error["is_transient"] = True
        self._send(handler, err.status, json.dumps({"error": error}).encode(),
                   {"Content-Type": "application/json; charset=UTF-8", **err.headers}, request_id)

    def _fault_error(self, fault: _Fault, path: str) -> _GraphError:
        if fault.kind == "fail":
            code = 2 if fault.status == 503 else 1
            message = "Service temporarily unavailable" if code == 2 else "An unknown error occurred"
            return _GraphError(fault.status, code, message, transient=True)
        account = next((p.removeprefix("act_") for p in path.split("/") if p.startswith("act_")), "0")
        usage = {account: [{"type": "ads_insights" if "insights" in path else "ads_management", "call_count": 100,
                            "total_cputime": 30, "total_time": 30,
                            "estimated_time_to_regain_access": fault.regain_minutes}]}
        message = RATE_LIMIT_MESSAGES.get(
            fault.code, "There have been too many calls from this ad-account. Wait a bit and try again.")
        subcode = 2446079 if fault.code == 17 else None
        return _GraphError(400, fault.code, message, subcode, {"x-business-use-case-usage": json.dumps(usage)})

    def _page_of(self, method: str, path: str, params: dict[str, Any]) -> int | None:
        if method != "GET" or not (path.endswith("/insights") or path.endswith("/campaigns")):
            return None
        return _offset(params.get("after")) // self._limit(params) + 1

    def _limit(self, params: dict[str, Any]) -> int:
        return max(1, int(params.get("limit") or self.page_size))

    # -- routes ------------------------------------------------------------------------------
    def _route(self, method: str, path: str, params: dict[str, Any], query: dict[str, str],
               full_path: str) -> dict[str, Any]:
        parts = [p for p in path.split("/") if p]
        node, edge = parts[0] if parts else "", parts[1] if len(parts) > 1 else None
        if len(parts) > 2 or not node:
            raise self._unsupported(method, path)
        if node.startswith("act_"):
            account = next((a for a in self.world.accounts if a.account_id == node.removeprefix("act_")), None)
            if account is None:
                raise self._unsupported(method, node)
            if method == "GET" and edge is None:
                return self._account(account, params)
            if method == "GET" and edge == "insights":
                rows = self._edited(path, self._insight_rows(account.account_id, params))
                return self._paged(rows, full_path, params, query)
            if method == "POST" and edge == "insights":
                return self._start_report(account.account_id, params)
            if method == "GET" and edge == "campaigns":
                return self._paged(self._edited(path, self._campaign_rows(account.account_id, params)),
                                   full_path, params, query)
            raise self._unsupported(method, path)
        with self._lock:
            report = self._reports.get(node)
        if report is not None and method == "GET":
            if edge is None:
                return self._poll_report(node, report)
            if edge == "insights":
                if report["status"] != "Job Completed":
                    raise _GraphError(400, 100, "Report is not ready yet", 1487750)
                rows = self._edited(path, self._insight_rows(report["account_id"], report["params"]))
                return self._paged(rows, full_path, params, query)
        campaign = next((c for c in self.world.campaigns if c.campaign_id == node), None)
        if campaign is not None and edge is None:
            if method == "POST":
                return self._update_campaign(campaign, params)
            return self._campaign_row(campaign, _fields(params) or ["id"])
        raise self._unsupported(method, node)

    def _edited(self, path: str, rows: list[dict[str, Any]]) -> list[Any]:
        with self._lock:
            edits = [edit for edit, on in self._edits if on is None or on in path]
        for edit in edits:
            rows = edit(rows)
        return rows

    @staticmethod
    def _unsupported(method: str, what: str) -> _GraphError:
        return _GraphError(400, 100, f"Unsupported {method.lower()} request. Object with ID '{what}' does not exist, "
                                     "cannot be loaded due to missing permissions, or does not support this operation.", 33)

    def _account(self, account, params: dict[str, Any]) -> dict[str, Any]:
        values = {"id": f"act_{account.account_id}", "account_id": account.account_id, "currency": account.currency,
                  "timezone_name": account.timezone, "name": account.name or f"Account {account.account_id}"}
        return {k: values[k] for k in ["id", *_fields(params)] if k in values}

    def _paged(self, rows: list[dict[str, Any]], path: str, params: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        limit, offset = self._limit(params), _offset(params.get("after"))
        body: dict[str, Any] = {"data": rows[offset: offset + limit]}
        if rows:
            # Graph's "after" cursor is opaque; this fake's decodes to the offset of the next page.
            body["paging"] = {"cursors": {"before": _cursor(offset), "after": _cursor(offset + limit)}}
            if offset + limit < len(rows):
                # Like Graph's, the next URL repeats every parameter, the access token included.
                next_query = {**query, "after": _cursor(offset + limit)}
                body["paging"]["next"] = f"{self.url}{path}?{urlencode(next_query)}"
        return body

    def _insight_rows(self, account_id: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        if params.get("level", "campaign") != "campaign":
            raise _GraphError(400, 100, "(#100) this fake serves level=campaign only")
        if str(params.get("time_increment", "1")) != "1":
            raise _GraphError(400, 100, "(#100) this fake serves time_increment=1 only")
        time_range = params.get("time_range")
        if not isinstance(time_range, dict) or not {"since", "until"} <= time_range.keys():
            raise _GraphError(400, 100, "(#100) time_range must be {'since': 'YYYY-MM-DD', 'until': 'YYYY-MM-DD'}")
        since, until = date.fromisoformat(time_range["since"]), date.fromisoformat(time_range["until"])
        if until < since:
            raise _GraphError(400, 100, "(#100) time_range: since must be on or before until")
        account = self.world.account(account_id)
        wanted = _fields(params)
        out = []
        with self._lock:
            pairs = self.world.rows(account_id, since, until)
        for campaign, day in pairs:
            row = {
                "account_id": account_id, "account_currency": account.currency,
                "account_name": account.name, "campaign_id": campaign.campaign_id, "campaign_name": campaign.name,
                "date_start": day.day.isoformat(), "date_stop": day.day.isoformat(), "spend": str(day.spend),
                "impressions": str(day.impressions), "clicks": str(day.clicks),
            }
            actions = [{"action_type": "link_click", "value": str(day.clicks)}] if day.clicks else []
            if day.conversions:
                actions.append({"action_type": self.conversion_action, "value": repr(day.conversions)})
            if actions:
                row["actions"] = actions
            if day.conversion_value:
                row["action_values"] = [{"action_type": self.conversion_action, "value": repr(day.conversion_value)}]
            out.append({k: v for k, v in row.items() if k in wanted or k in ("date_start", "date_stop")})
        return out

    def _campaign_row(self, campaign: FakeCampaign, wanted: list[str]) -> dict[str, Any]:
        account = self.world.account(campaign.account_id)
        values: dict[str, Any] = {
            "id": campaign.campaign_id, "name": campaign.name, "account_id": campaign.account_id,
            "status": campaign.status.upper(), "effective_status": campaign.status.upper(),
        }
        if campaign.daily_budget is not None:
            values["daily_budget"] = str(int(campaign.daily_budget * minor_units(account.currency)))
        return {k: values[k] for k in ["id", *wanted] if k in values}

    def _campaign_rows(self, account_id: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        with self._lock:
            return [self._campaign_row(c, _fields(params)) for c in self.world.campaigns if c.account_id == account_id]

    def _start_report(self, account_id: str, params: dict[str, Any]) -> dict[str, Any]:
        self._insight_rows(account_id, params)  # the same parameter checks as the synchronous call
        with self._lock:
            self._next_id += 1
            report_id = str(self._next_id)
            final = self._report_failures.pop(0) if self._report_failures else "Job Completed"
            self._reports[report_id] = {"account_id": account_id, "params": params, "polls": 0,
                                        "status": "Job Not Started", "final": final}
        return {"report_run_id": report_id}

    def _poll_report(self, report_id: str, report: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            report["polls"] += 1
            report["status"] = "Job Running" if report["polls"] == 1 else report["final"]
            done = report["status"] == "Job Completed"
        return {"id": report_id, "account_id": report["account_id"], "async_status": report["status"],
                "async_percent_completion": 100 if done else 50}

    def _update_campaign(self, campaign: FakeCampaign, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            rejected = self._rejected.get(campaign.campaign_id)
        if rejected:
            raise _GraphError(400, rejected[1], rejected[0], 1885272)
        raw = str(params.get("daily_budget", ""))
        if not raw.isdigit() or int(raw) <= 0:
            raise _GraphError(400, 100, f"(#100) Param daily_budget must be a positive integer, got {raw!r}")
        if campaign.daily_budget is None:
            raise _GraphError(400, 100, "Campaign budget optimization is off: the budgets are on the ad sets", 1885621)
        if "validate_only" in (params.get("execution_options") or []):
            return {"success": True}
        currency = self.world.account(campaign.account_id).currency
        step = Decimal(1) if minor_units(currency) == 1 else Decimal("0.01")
        with self._lock:
            campaign.daily_budget = (Decimal(int(raw)) / minor_units(currency)).quantize(step, rounding=ROUND_HALF_UP)
        return {"success": True}
