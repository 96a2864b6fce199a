"""A real HTTP server on 127.0.0.1 that answers the GA4 Data API's ``runReport`` in its REST JSON format.

``POST /v1beta/properties/{id}:runReport`` returns ``dimensionHeaders``,
``metricHeaders``, ``rows`` (every value a string, dates as ``YYYYMMDD``),
``rowCount`` and ``metadata {currencyCode, timeZone}``, honouring the request's
``dateRanges``, ``offset`` and ``limit``. An unknown property gets 403
PERMISSION_DENIED. Point the real SDK at it with ``MBO_GA4_ENDPOINT=fake.url``
(the reader then uses the REST transport over plain HTTP, no credentials).

    world = make_world([FakeAccount("7001", "USD", "America/New_York")], start, end)
    with FakeGA4({"123456": ga4_rows_from_world(world)}, currency="USD") as fake:
        reader = GA4Reader.from_env({"MBO_GA4_PROPERTY_IDS": "123456", "MBO_GA4_ENDPOINT": fake.url})
        rows = reader.fetch_traffic_daily(start, end)

Fault injection (each applies to the next requests, then clears):
``fail_next(status=429, times=1)`` answers with an HTTP error in Google's error shape
(429 RESOURCE_EXHAUSTED, 500 INTERNAL, 503 UNAVAILABLE, ...);
``truncate_next()`` cuts the next successful response's JSON in half;
``serve_body_next(body, times=1)`` answers the next requests with HTTP 200 and ``body`` verbatim
(text or bytes: not JSON, or JSON of the wrong shape such as ``"rows": 5``);
``edit_report(edit)`` serves ``edit(report)`` instead of every report (the REST JSON as a dict: a test
can add fields, drop values or repeat rows) until ``clear_edits()``.
Every request is recorded in ``fake.requests``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.loopback_http import LoopbackHTTPServer
from tests.fakes.ad_world import FakeWorld

_PATH = re.compile(r"^/v1beta/properties/(?P<id>[^/:]+):runReport$")
_STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
           503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
METRIC_TYPES = {"sessions": "TYPE_INTEGER", "keyEvents": "TYPE_FLOAT", "totalRevenue": "TYPE_CURRENCY"}
DIMENSIONS = ("date", "sessionSourceMedium", "sessionCampaignName")
DEFAULT_LIMIT = 10_000


@dataclass(frozen=True)
class GA4Row:
    """One day × source / medium × campaign of a property. Values are served as ``str(value)``, so a test
    can pass a malformed one (``sessions="lots"``); ``day`` as a date is served as ``YYYYMMDD``."""

    day: date | str
    source_medium: str
    campaign_name: str
    sessions: int | str
    key_events: float | str
    total_revenue: float | str

    def values(self) -> dict[str, str]:
        day = self.day.strftime("%Y%m%d") if isinstance(self.day, date) else self.day
        return {"date": day, "sessionSourceMedium": self.source_medium, "sessionCampaignName": self.campaign_name,
                "sessions": str(self.sessions), "keyEvents": str(self.key_events), "totalRevenue": str(self.total_revenue)}


def ga4_rows_from_world(world: FakeWorld, source_medium: str = "google / cpc", sessions_per_click: float = 0.9,
                        account_ids: set[str] | None = None) -> list[GA4Row]:
    """The traffic a site would see from ``world``'s ads: per campaign and day, sessions ≈ clicks ×
    ``sessions_per_click``, key events = conversions, revenue = conversion value, campaign name as
    ``sessionCampaignName``. Rows of campaigns with the same name on the same day are summed (as GA4 would)."""
    totals: dict[tuple[date, str], list[float]] = {}
    for campaign in world.campaigns:
        if account_ids is not None and campaign.account_id not in account_ids:
            continue
        for day in world.daily.get((campaign.account_id, campaign.campaign_id), []):
            total = totals.setdefault((day.day, campaign.name), [0, 0.0, 0.0])
            total[0] += round(day.clicks * sessions_per_click)
            total[1] += day.conversions
            total[2] += day.conversion_value
    return [GA4Row(day, source_medium, name, int(s), round(k, 2), round(v, 2))
            for (day, name), (s, k, v) in sorted(totals.items())]


@dataclass
class RecordedRequest:
    """One request the server received: the property id and the JSON body (``dateRanges``, ``offset``, ...)."""

    method: str
    path: str
    property_id: str | None
    body: Any

    @property
    def offset(self) -> int:
        return int((self.body or {}).get("offset", 0))

    @property
    def limit(self) -> int | None:
        value = (self.body or {}).get("limit")
        return None if value is None else int(value)


@dataclass
class FakeGA4(LoopbackHTTPServer):
    """The server; use as a context manager, or call ``start()`` / ``stop()``.

    ``currency`` and ``time_zone`` are the properties' settings: one value for all, or a mapping by property id.
    """

    rows_by_property: Mapping[str, list[GA4Row]]
    currency: str | Mapping[str, str] = "USD"
    time_zone: str | Mapping[str, str] = "America/New_York"
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[int] = []
        self._truncate = False
        self._bodies: list[bytes] = []
        self._edits: list[Callable[[dict[str, Any]], dict[str, Any]]] = []
        self._server: ThreadingHTTPServer | None = None

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        """Answer one request."""
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        status, payload = self._respond(method, request.path.split("?", 1)[0], body)
        request.send_response(status)
        request.send_header("Content-Type", "application/json; charset=UTF-8")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    @property
    def url(self) -> str:
        """The endpoint to set as ``MBO_GA4_ENDPOINT``."""
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, status: int = 429, times: int = 1) -> None:
        """The next ``times`` requests get HTTP ``status`` with a Google error body."""
        with self._lock:
            self._failures += [status] * times

    def truncate_next(self) -> None:
        """The next successful response's JSON is cut in half."""
        with self._lock:
            self._truncate = True

    def serve_body_next(self, body: str | bytes, times: int = 1) -> None:
        """The next ``times`` requests get HTTP 200 and ``body`` verbatim."""
        with self._lock:
            self._bodies += [body if isinstance(body, bytes) else body.encode()] * times

    def edit_report(self, edit: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Serve ``edit(report)`` instead of every report (REST JSON as a dict), until ``clear_edits()``."""
        with self._lock:
            self._edits.append(edit)

    def clear_edits(self) -> None:
        """Serve the reports as they are again (drops ``edit_report`` and pending ``serve_body_next``)."""
        with self._lock:
            self._edits.clear()
            self._bodies.clear()

    def _setting(self, value: str | Mapping[str, str], property_id: str) -> str:
        return value if isinstance(value, str) else value[property_id]

    def _respond(self, method: str, path: str, body: Any) -> tuple[int, bytes]:
        match = _PATH.match(path)
        with self._lock:
            self.requests.append(RecordedRequest(method, path, match["id"] if match else None, body))
            if self._failures:
                status = self._failures.pop(0)
                message = "Exhausted concurrent requests quota." if status == 429 else "The service is unavailable."
                return status, _error(status, message)
            if self._bodies:
                return 200, self._bodies.pop(0)
            if method != "POST" or not match:
                return 404, _error(404, f"Unknown path {path}.")
            property_id = match["id"]
            if property_id not in self.rows_by_property:
                return 403, _error(403, "User does not have sufficient permissions for this property.")
            try:
                report = self._report(property_id, body)
            except (KeyError, ValueError, TypeError) as exc:
                return 400, _error(400, f"Invalid request: {exc}")
            for edit in self._edits:
                report = edit(report)
            raw = json.dumps(report, ensure_ascii=False).encode()
            if self._truncate:
                self._truncate, raw = False, raw[: len(raw) // 2]
            return 200, raw

    def _report(self, property_id: str, body: dict[str, Any]) -> dict[str, Any]:
        (date_range,) = body["dateRanges"]
        start, end = date.fromisoformat(date_range["startDate"]), date.fromisoformat(date_range["endDate"])
        dimensions = [d["name"] for d in body.get("dimensions", [])]
        metrics = [m["name"] for m in body.get("metrics", [])]
        unknown = [n for n in dimensions if n not in DIMENSIONS] + [n for n in metrics if n not in METRIC_TYPES]
        if unknown:
            raise ValueError(f"unknown fields {unknown}")
        offset, limit = int(body.get("offset", 0)), int(body.get("limit", DEFAULT_LIMIT))
        selected = []
        for row in self.rows_by_property[property_id]:
            values = row.values()
            try:
                in_range = start <= date(int(values["date"][:4]), int(values["date"][4:6]), int(values["date"][6:])) <= end
            except ValueError:
                in_range = True  # a malformed date a test planted: serve it
            if in_range:
                selected.append(values)
        selected.sort(key=lambda v: (v["date"], v["sessionSourceMedium"], v["sessionCampaignName"]))
        page = selected[offset: offset + limit]
        report: dict[str, Any] = {
            "dimensionHeaders": [{"name": n} for n in dimensions],
            "metricHeaders": [{"name": n, "type": METRIC_TYPES[n]} for n in metrics],
            "rows": [{"dimensionValues": [{"value": v[n]} for n in dimensions],
                      "metricValues": [{"value": v[n]} for n in metrics]} for v in page],
            "rowCount": len(selected),
            "metadata": {"currencyCode": self._setting(self.currency, property_id),
                         "timeZone": self._setting(self.time_zone, property_id)},
            "kind": "analyticsData#runReport",
        }
        if not page:
            del report["rows"]  # proto3 JSON omits empty lists
        return report


def _error(status: int, message: str) -> bytes:
    return json.dumps({"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}).encode()
