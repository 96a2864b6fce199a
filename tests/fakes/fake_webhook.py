"""A real HTTP server on 127.0.0.1 that acts as a Slack-compatible incoming webhook.

It answers every POST to its secret path with ``200 ok`` (as Slack does; another
path gets ``404 no_service``, a GET ``405``) and records the JSON body and
headers; ``fake.url`` has a Slack-like secret path (``fake.secret_path``) so
tests can check that it never leaks.

    with FakeWebhook() as fake:
        fake.fail_next(2, status=503)
        post_alerts(fake.url, alerts, wait=0.001)
        assert len(fake.requests) == 2 + len(alerts)

Fault injection: ``fail_next(times, status=503, retry_after=None)`` answers the
next ``times`` requests with ``status`` (and a ``Retry-After`` header, if
given); ``always(status)`` answers every request with ``status`` until
``always(None)``; ``drop_next(times)`` closes the connection without an answer
(a network error); ``delay_next(seconds, times)`` answers only after ``seconds``
(a timeout for a client that waits less). A failure answers with a Slack-style
error code as its body (``invalid_payload``, ``rate_limited``, ...).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback_http import LoopbackHTTPServer

SECRET_PATH = "/services/T0FAKE000/B0FAKE000/fakeWebhookSecretToken123"
ERROR_BODIES = {400: "invalid_payload", 403: "invalid_token", 404: "no_service", 405: "invalid_method",
                410: "channel_is_archived", 429: "rate_limited"}


@dataclass(frozen=True)
class RecordedPost:
    """One request the server received: ``headers`` with lower-case names, ``body`` parsed JSON (or the raw text
    if it was not JSON), and the ``status`` it was answered with (None: dropped without an answer)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int | None


@dataclass
class FakeWebhook(LoopbackHTTPServer):
    """The server; use as a context manager, or call ``start()`` / ``stop()``."""

    secret_path: str = SECRET_PATH
    requests: list[RecordedPost] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[tuple[int, float | None]] = []
        self._always: int | None = None
        self._drops = 0
        self._delays: list[float] = []

    @property
    def url(self) -> str:
        """The webhook URL, secret path included."""
        return f"http://127.0.0.1:{self.port}{self.secret_path}"

    @property
    def bodies(self) -> list[Any]:
        """The JSON bodies received, in order."""
        return [request.body for request in self.requests]

    def fail_next(self, times: int = 1, status: int = 503, retry_after: float | None = None) -> None:
        """The next ``times`` requests get HTTP ``status`` (with ``Retry-After: retry_after``, if given)."""
        with self._lock:
            self._failures += [(status, retry_after)] * times

    def always(self, status: int | None) -> None:
        """Every request gets HTTP ``status`` (after any ``fail_next``); None: answer 200 again."""
        with self._lock:
            self._always = status

    def drop_next(self, times: int = 1) -> None:
        """The next ``times`` requests get no answer: the connection is closed."""
        with self._lock:
            self._drops += times

    def delay_next(self, seconds: float, times: int = 1) -> None:
        """The next ``times`` requests are answered only after ``seconds``."""
        with self._lock:
            self._delays += [seconds] * times

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        """Record the request, then answer it as configured."""
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        headers = {name.lower(): value for name, value in request.headers.items()}
        with self._lock:
            drop = self._drops > 0
            self._drops -= drop
            delay = self._delays.pop(0) if self._delays else 0.0
            if drop:
                status, retry_after = None, None
            elif self._failures:
                status, retry_after = self._failures.pop(0)
            else:
                status, retry_after = self._always or 200, None
            if status == 200 and request.path != self.secret_path:
                status = 404
            elif status == 200 and method != "POST":
                status = 405
            self.requests.append(RecordedPost(method, request.path, headers, body, status))
        if status is None:
            request.close_connection = True
            return
        if delay:
            time.sleep(delay)
        payload = ("ok" if status == 200 else ERROR_BODIES.get(status, "internal_error")).encode()
        try:
            request.send_response(status)
            request.send_header("Content-Type", "text/plain")
            request.send_header("Content-Length", str(len(payload)))
            if retry_after is not None:
                request.send_header("Retry-After", f"{retry_after:g}")
            request.end_headers()
            request.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # a client that timed out during a delay has gone: expected, not a server error
