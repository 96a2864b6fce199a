"""A real HTTP server on 127.0.0.1 that serves a ``FakeWorld`` as TikTok's Business API v1.3.

Endpoints (under ``fake.url``, which ends in ``/open_api`` like the real base URL):
``GET v1.3/advertiser/info/``, ``GET v1.3/report/integrated/get/`` (paged, at
most 30 days per request or code 40002), ``GET v1.3/campaign/get/`` (paged)
and ``POST v1.3/campaign/update/`` (sets ``world.campaigns[i].daily_budget``).
Like TikTok, errors come as HTTP 200 with a nonzero ``code`` and a
``request_id``; a missing or wrong ``Access-Token`` header gets code 40105,
whose message echoes the token it received (as a careless server might) so
tests can check that the connector masks it.

    world = make_world([FakeAccount("7001", "USD", "America/New_York")], start, end)
    with FakeTikTok(world, access_token="tt-test-token") as fake:
        connector = TikTokConnector.from_env({
            "MBO_TIKTOK_API_URL": fake.url, "TIKTOK_ACCESS_TOKEN": "tt-test-token",
            "MBO_TIKTOK_ADVERTISER_IDS": "7001"})
        rows = connector.fetch_campaign_daily(start, end)
        connector.set_daily_budget("7001", "1000", Decimal("120.00"))
        assert fake.budgets()[("7001", "1000")] == Decimal("120.00")

Fault injection (each applies to the next matching requests, then clears):
``error_next(code=40100, times=1, message=None)`` answers with a TikTok error code;
``http_error_next(status=503, times=1, on=None)`` with an HTTP error status (429 sends ``Retry-After: 1``;
``on``: only requests to that endpoint, e.g. ``"campaign/update"``);
``drop_next(times=1, on=None)`` closes the connection without an answer (a network error);
``truncate_page(n)`` cuts the JSON of the next response serving page ``n`` of a paged endpoint in half;
``reject_budget(campaign_id, code=40002, message=...)`` refuses every budget write to that campaign;
``override_field(campaign_id, field, value)`` serves ``value`` (a string) for that report field of
the campaign's rows (a dimension like ``stat_time_day`` or a metric like ``spend``);
``set_budget_mode(campaign_id, mode)`` makes ``campaign/get`` report another budget mode;
``edit_items(edit, on=None)`` serves ``edit(items)`` instead of the list items of every
report or campaign listing (of endpoint ``on``, if given; before paging) until ``clear_edits()``;
``serve_body_next(body, on=None, times=1)`` answers the next requests (to endpoint ``on``) with
HTTP 200 and ``body`` verbatim (text or bytes: not JSON, cut off, or JSON of the wrong shape).
Every request is recorded in ``fake.requests``, with the ``request_id`` it was answered
with: distinct per request, in the JSON body and the ``X-Tt-Logid`` header (an HTTP
error carries it in the header only).
"""

from __future__ import annotations

import json
import math
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.loopback_http import LoopbackHTTPServer
from tests.fakes.ad_world import ZERO_DECIMAL_CURRENCIES, FakeWorld

PREFIX = "/open_api/v1.3/"
MAX_DAYS = 30
MAX_PAGE_SIZE = 1000
REPORT_METRICS = {"campaign_name", "spend", "impressions", "clicks", "conversion", "total_purchase_value"}
DEFAULT_MESSAGES = {
    40100: "Too many requests. Please retry in some time.",
    50000: "System error. Please try again later.",
    40002: "Invalid parameter.",
    40001: "No permission to operate advertiser.",
}


@dataclass
class RecordedRequest:
    """One request the server received: ``endpoint`` like ``report/integrated/get``, query ``params``, JSON ``body``."""

    method: str
    endpoint: str
    params: dict[str, str]
    headers: dict[str, str]
    body: Any
    #: TikTok has no validate-only write; kept so every fake's log reads alike.
    validate_only: bool = False
    #: What the server answered: the TikTok ``code`` (None for an HTTP error) and ``request_id`` (``X-Tt-Logid``).
    code: int | None = None
    request_id: str | None = None

    def json_param(self, name: str) -> Any:
        """A JSON-encoded query parameter (``dimensions``, ``metrics``, ``fields``), decoded."""
        return json.loads(self.params[name])


@dataclass
class FakeTikTok(LoopbackHTTPServer):
    """The server; use as a context manager, or call ``start()`` / ``stop()``."""

    world: FakeWorld
    access_token: str = "tt-test-access-token"
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._errors: list[tuple[int, str | None]] = []
        self._http_errors: list[tuple[int, str | None]] = []
        self._drops: list[str | None] = []
        self._truncate_pages: set[int] = set()
        self._rejections: dict[str, tuple[int, str]] = {}
        self._overrides: dict[tuple[str, str], str] = {}
        self._budget_modes: dict[str, str] = {}
        self._edits: list[tuple[Callable[[list[Any]], list[Any]], str | None]] = []
        self._bodies: list[tuple[bytes, str | None]] = []
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        """Answer one request."""
        url = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        endpoint = url.path.removeprefix(PREFIX).strip("/") if url.path.startswith(PREFIX) else url.path
        with self._lock:
            drop = next((i for i, on in enumerate(self._drops) if on in (None, endpoint)), None)
            if drop is not None:
                del self._drops[drop]
                self.requests.append(RecordedRequest(method, endpoint, dict(parse_qsl(url.query)),
                                                     {k.lower(): v for k, v in request.headers.items()}, body))
        if drop is not None:
            request.close_connection = True
            return
        status, headers, payload = self._respond(
            method, endpoint, dict(parse_qsl(url.query)), {k.lower(): v for k, v in request.headers.items()}, body)
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    @property
    def url(self) -> str:
        """The base URL to set as ``MBO_TIKTOK_API_URL``."""
        return f"http://127.0.0.1:{self.port}/open_api"

    # --- fault injection ---------------------------------------------------------------------------

    def error_next(self, code: int = 40100, times: int = 1, message: str | None = None) -> None:
        """The next ``times`` requests get HTTP 200 with TikTok error ``code``."""
        with self._lock:
            self._errors += [(code, message)] * times

    def http_error_next(self, status: int = 503, times: int = 1, on: str | None = None) -> None:
        """The next ``times`` requests (to endpoint ``on``, if given) get HTTP ``status`` (429 with ``Retry-After: 1``)."""
        with self._lock:
            self._http_errors += [(status, on)] * times

    def drop_next(self, times: int = 1, on: str | None = None) -> None:
        """The next ``times`` requests (to endpoint ``on``, if given) get no answer: the connection is closed."""
        with self._lock:
            self._drops += [on] * times

    def truncate_page(self, page: int) -> None:
        """The next response serving page ``page`` (report or campaign list) is cut in half."""
        with self._lock:
            self._truncate_pages.add(page)

    def reject_budget(self, campaign_id: str, code: int = 40002, message: str = "Budget is too low.") -> None:
        """Every budget write to ``campaign_id`` fails with ``code`` and ``message``."""
        with self._lock:
            self._rejections[campaign_id] = (code, message)

    def override_field(self, campaign_id: str, name: str, value: str) -> None:
        """Serve ``value`` for report dimension or metric ``name`` in every row of ``campaign_id``."""
        with self._lock:
            self._overrides[(campaign_id, name)] = value

    def edit_items(self, edit: Callable[[list[Any]], list[Any]], on: str | None = None) -> None:
        """Serve ``edit(items)`` instead of the list items of every listing (of endpoint ``on``, e.g.
        ``"report/integrated/get"``), before paging, until ``clear_edits()``."""
        with self._lock:
            self._edits.append((edit, on))

    def clear_edits(self) -> None:
        """Serve the world as it is again (drops ``edit_items`` and pending ``serve_body_next``)."""
        with self._lock:
            self._edits.clear()
            self._bodies.clear()

    def serve_body_next(self, body: str | bytes, on: str | None = None, times: int = 1) -> None:
        """The next ``times`` requests (to endpoint ``on``, if given) get HTTP 200 and ``body`` verbatim."""
        with self._lock:
            self._bodies += [(body if isinstance(body, bytes) else body.encode(), on)] * times

    def set_budget_mode(self, campaign_id: str, mode: str) -> None:
        """``campaign/get`` reports ``mode`` (e.g. ``BUDGET_MODE_TOTAL``) for ``campaign_id``."""
        with self._lock:
            self._budget_modes[campaign_id] = mode

    # --- inspection --------------------------------------------------------------------------------

    def budgets(self) -> dict[tuple[str, str], Decimal]:
        """Every campaign's daily budget now, by (advertiser_id, campaign_id), in currency units."""
        with self._lock:
            return {(c.account_id, c.campaign_id): c.daily_budget for c in self.world.campaigns}

    def calls(self, endpoint: str) -> list[RecordedRequest]:
        """The recorded requests to ``endpoint`` (e.g. ``report/integrated/get``)."""
        return [r for r in self.requests if r.endpoint == endpoint]

    # --- endpoints (called under the lock) ---------------------------------------------------------

    def _advertiser_info(self, params: dict[str, str], body: Any) -> tuple[int, Any]:
        ids = [str(i) for i in json.loads(params.get("advertiser_ids", "[]"))]
        known = {a.account_id: a for a in self.world.accounts}
        if not ids or any(i not in known for i in ids):
            return 40001, None
        return 0, {"list": [{
            "advertiser_id": i, "name": known[i].name or f"Advertiser {i}", "currency": known[i].currency,
            "timezone": known[i].timezone, "display_timezone": known[i].timezone, "status": "STATUS_ENABLE",
        } for i in ids]}

    def _report(self, params: dict[str, str], body: Any) -> tuple[int, Any]:
        advertiser = params.get("advertiser_id", "")
        if advertiser not in {a.account_id for a in self.world.accounts}:
            return 40001, None
        try:
            dimensions, metrics = json.loads(params["dimensions"]), json.loads(params["metrics"])
            start, end = date.fromisoformat(params["start_date"]), date.fromisoformat(params["end_date"])
            page, size = _paging(params)
        except (KeyError, ValueError):
            return 40002, None
        if (params.get("report_type"), params.get("data_level")) != ("BASIC", "AUCTION_CAMPAIGN") \
                or sorted(dimensions) != ["campaign_id", "stat_time_day"] or not set(metrics) <= REPORT_METRICS:
            return 40002, None
        if end < start or (end - start).days + 1 > MAX_DAYS:
            return 40002, f"The time range of start_date and end_date cannot exceed {MAX_DAYS} days."
        items = []
        for campaign, day in self.world.rows(advertiser, start, end):
            values = {
                "stat_time_day": f"{day.day.isoformat()} 00:00:00", "campaign_id": campaign.campaign_id,
                "campaign_name": campaign.name, "spend": str(day.spend), "impressions": str(day.impressions),
                "clicks": str(day.clicks), "conversion": str(day.conversions),
                "total_purchase_value": str(day.conversion_value),
            }
            values.update({k: v for (cid, k), v in self._overrides.items() if cid == campaign.campaign_id})
            items.append({"dimensions": {d: values[d] for d in dimensions}, "metrics": {m: values[m] for m in metrics}})
        return 0, _page(self._edited("report/integrated/get", items), page, size)

    def _campaigns(self, params: dict[str, str], body: Any) -> tuple[int, Any]:
        advertiser = params.get("advertiser_id", "")
        if advertiser not in {a.account_id for a in self.world.accounts}:
            return 40001, None
        try:
            page, size = _paging(params)
            fields = json.loads(params["fields"]) if "fields" in params else None
        except ValueError:
            return 40002, None
        items = []
        for c in self.world.campaigns:
            if c.account_id != advertiser:
                continue
            record = {
                "advertiser_id": advertiser, "campaign_id": c.campaign_id, "campaign_name": c.name,
                "operation_status": "ENABLE" if c.status == "active" else "DISABLE",
                "budget_mode": self._budget_modes.get(c.campaign_id, "BUDGET_MODE_DAY"),
                "budget": float(c.daily_budget), "objective_type": "WEB_CONVERSIONS",
            }
            items.append({k: v for k, v in record.items() if fields is None or k in fields or k == "campaign_id"})
        return 0, _page(self._edited("campaign/get", items), page, size)

    def _edited(self, endpoint: str, items: list[Any]) -> list[Any]:
        for edit, on in self._edits:
            if on in (None, endpoint):
                items = edit(items)
        return items

    def _update(self, params: dict[str, str], body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return 40002, "The request body must be a JSON object."
        advertiser, campaign_id, budget = str(body.get("advertiser_id")), str(body.get("campaign_id")), body.get("budget")
        matches = [c for c in self.world.campaigns if (c.account_id, c.campaign_id) == (advertiser, campaign_id)]
        if not matches:
            return 40002, f"Campaign {campaign_id} does not exist."
        if campaign_id in self._rejections:
            return self._rejections[campaign_id]
        currency = self.world.account(advertiser).currency
        if not isinstance(budget, (int, float)) or isinstance(budget, bool) or not math.isfinite(budget) or budget <= 0:
            return 40002, f"Invalid budget {budget!r}."
        amount = Decimal(str(budget))
        places = 0 if currency in ZERO_DECIMAL_CURRENCIES else 2
        if amount != round(amount, places):
            return 40002, f"Budget {budget} has more decimal places than {currency} allows."
        matches[0].daily_budget = amount.quantize(Decimal(1).scaleb(-places))
        return 0, {"campaign_id": campaign_id, "budget": budget, "budget_mode": "BUDGET_MODE_DAY"}

    _ROUTES = {
        ("GET", "advertiser/info"): _advertiser_info,
        ("GET", "report/integrated/get"): _report,
        ("GET", "campaign/get"): _campaigns,
        ("POST", "campaign/update"): _update,
    }

    def _respond(self, method: str, endpoint: str, params: dict[str, str], headers: dict[str, str],
                 body: Any) -> tuple[int, dict[str, str], bytes]:
        """(HTTP status, extra headers, body bytes) for one request; records it."""
        with self._lock:
            record = RecordedRequest(method, endpoint, params, headers, body)
            self.requests.append(record)
            record.request_id = f"2025{uuid.uuid4().hex[:20].upper()}"
            body_due = next((b for b in self._bodies if b[1] in (None, endpoint)), None)
            if body_due is not None:
                self._bodies.remove(body_due)
                return 200, {"Content-Type": "application/json", "X-Tt-Logid": record.request_id}, body_due[0]
            due = next((e for e in self._http_errors if e[1] in (None, endpoint)), None)
            if due is not None:
                self._http_errors.remove(due)
                status = due[0]
                extra = {"Retry-After": "1"} if status == 429 else {}
                return (status, {**extra, "X-Tt-Logid": record.request_id},
                        f"<html><body>{status} Service error</body></html>".encode())
            token = headers.get("access-token")
            if token != self.access_token:
                code, data, message = 40105, None, f"Access token {token} is incorrect or has been revoked."
            elif self._errors:
                (code, message), data = self._errors.pop(0), None
            elif (method, endpoint) not in self._ROUTES:
                code, data, message = 40002, None, f"Unknown endpoint {method} {endpoint}."
            else:
                code, data = self._ROUTES[(method, endpoint)](self, params, body)
                message = None
                if code != 0:
                    message, data = data, None
            record.code = code
            payload = {"code": code, "message": message or DEFAULT_MESSAGES.get(code, "OK" if code == 0 else "Error"),
                       "request_id": record.request_id, "data": data or {}}
            raw = json.dumps(payload, ensure_ascii=False).encode()
            page = data.get("page_info", {}).get("page") if isinstance(data, dict) else None
            if page in self._truncate_pages:
                self._truncate_pages.discard(page)
                raw = raw[: len(raw) // 2]
            return 200, {"Content-Type": "application/json", "X-Tt-Logid": record.request_id}, raw


def _paging(params: dict[str, str]) -> tuple[int, int]:
    page, size = int(params.get("page", "1")), int(params.get("page_size", "10"))
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise ValueError("bad paging")
    return page, size


def _page(items: list[Any], page: int, size: int) -> dict[str, Any]:
    return {
        "list": items[(page - 1) * size: page * size],
        "page_info": {"page": page, "page_size": size, "total_number": len(items), "total_page": math.ceil(len(items) / size)},
    }
