"""A real HTTP server on 127.0.0.1 that speaks the Anthropic Messages API wire format.

Point the real ``anthropic`` SDK at ``FakeAnthropic.url`` (``base_url=``) and
the request goes over TCP like any other: headers, JSON body, status codes,
retries. The server checks the API key (``x-api-key``, or the ``Authorization:
Bearer`` header anthropic SDK 2.x sends) and ``anthropic-version``, answers
``POST /v1/messages`` with a message object or a configured error in
Anthropic's error shape, and records every request it receives and every
message it answers.

    with FakeAnthropic(api_key="sk-test") as fake:
        fake.reply("The plan moves 150.00 USD ...")
        client = anthropic.Anthropic(api_key="sk-test", base_url=fake.url)

Usage is estimated at ``estimated_tokens`` (4 characters a token) and reports
prompt caching like the real API, for ``system`` blocks only: when ``system``
is a list with a block marked ``cache_control``, the blocks up to and including
the last marked one are the cached prefix. Its tokens count as
``cache_creation_input_tokens`` the first time this server sees that prefix for
that model and as ``cache_read_input_tokens`` afterwards, the rest as
``input_tokens``; a prefix shorter than ``min_cacheable_tokens`` is not cached.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


#: Where real Anthropic credentials, endpoints or proxies could reach a test from the environment.
REAL_ANTHROPIC_ENVIRONMENT = (
    "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_PROFILE", "ANTHROPIC_CUSTOM_HEADERS",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
)  # fmt: skip


def isolate_from_real_anthropic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset ``REAL_ANTHROPIC_ENVIRONMENT`` and keep requests to this loopback server off any proxy."""
    for name in REAL_ANTHROPIC_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def estimated_tokens(text: str) -> int:
    """The fake's token count for a text: one token per 4 characters."""
    return len(text) // 4


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict | None

    @property
    def api_key(self) -> str | None:
        """The key the client sent: ``x-api-key``, or the ``Authorization: Bearer`` token newer SDKs send."""
        if "x-api-key" in self.headers:
            return self.headers["x-api-key"]
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" else None

    @property
    def system(self) -> str:
        """The request's system prompt as one string (it may be a string or a list of text blocks)."""
        system = (self.body or {}).get("system", "")
        if isinstance(system, list):
            return "".join(block.get("text", "") for block in system)
        return system


@dataclass
class _Behaviour:
    text: str = "OK."
    status: int = 200
    error_message: str = ""
    retry_after_ms: int | None = None
    delay_seconds: float = 0.0
    stop_reason: str = "end_turn"
    answer: Callable[[RecordedRequest], str] | None = None


@dataclass
class FakeAnthropic:
    """The server; use as a context manager, or call ``start()`` / ``stop()``.

    ``responses`` holds every message object it answered with (usage included), in order.
    """

    api_key: str = "sk-ant-test-key"
    requests: list[RecordedRequest] = field(default_factory=list)
    responses: list[dict] = field(default_factory=list)
    min_cacheable_tokens: int = 1024

    def __post_init__(self) -> None:
        self._behaviour = _Behaviour()
        self._cached_prefixes: set[str] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # configuration ------------------------------------------------------

    def reply(self, text: str, *, stop_reason: str = "end_turn") -> None:
        """Answer every request with a message whose only content block is ``text``."""
        self._behaviour = _Behaviour(text=text, stop_reason=stop_reason)

    def reply_with(self, answer: Callable[[RecordedRequest], str], *, stop_reason: str = "end_turn") -> None:
        """Answer each request with the text ``answer(request)`` returns (e.g. echoing a number it holds)."""
        self._behaviour = _Behaviour(answer=answer, stop_reason=stop_reason)

    def fail(self, status: int, message: str = "", *, retry_after_ms: int | None = None) -> None:
        """Answer every request with an Anthropic error of HTTP ``status``."""
        self._behaviour = _Behaviour(status=status, error_message=message, retry_after_ms=retry_after_ms)

    def delay(self, seconds: float) -> None:
        """Wait this long before answering (to make clients time out)."""
        self._behaviour.delay_seconds = seconds

    # lifecycle ----------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeAnthropic:
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-anthropic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # request handling ---------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _respond(self, request: RecordedRequest) -> tuple[int, dict, dict[str, str]]:
        """Status, JSON body and extra headers for one request."""
        if request.method != "POST" or request.path.split("?")[0] != "/v1/messages":
            return _error(404, f"{request.method} {request.path} not found")
        if request.api_key != self.api_key:
            return _error(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return _error(400, "anthropic-version: header is required")
        body = request.body
        if not isinstance(body, dict) or not all(key in body for key in ("model", "max_tokens", "messages")):
            return _error(400, "model, max_tokens and messages are required")
        behaviour = self._behaviour
        if behaviour.delay_seconds:
            self._stopping.wait(behaviour.delay_seconds)
        if behaviour.status != 200:
            status, payload, headers = _error(behaviour.status, behaviour.error_message)
            if behaviour.retry_after_ms is not None:
                headers["retry-after-ms"] = str(behaviour.retry_after_ms)
            return status, payload, headers
        text = behaviour.answer(request) if behaviour.answer is not None else behaviour.text
        message = {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": text}],
            "stop_reason": behaviour.stop_reason,
            "stop_sequence": None,
            "usage": {**self._input_usage(body), "output_tokens": max(1, estimated_tokens(text))},
        }
        with self._lock:
            self.responses.append(message)
        return 200, message, {}

    def _input_usage(self, body: dict) -> dict[str, int]:
        """Input tokens, split into cache writes, cache reads and the rest as the real API reports them."""
        total = estimated_tokens(json.dumps(body))
        usage = {"input_tokens": total, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        prefix = _cached_prefix(body.get("system"))
        cached = sum(estimated_tokens(str(block.get("text", ""))) for block in prefix)
        if not prefix or cached < self.min_cacheable_tokens:
            return usage
        key = json.dumps([body["model"], [block.get("text") for block in prefix]])
        with self._lock:
            seen = key in self._cached_prefixes
            self._cached_prefixes.add(key)
        usage["cache_read_input_tokens" if seen else "cache_creation_input_tokens"] = cached
        usage["input_tokens"] = max(0, total - cached)
        return usage


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that gave up (timed out) closes its socket; writing the late answer then fails."""


def _cached_prefix(system: object) -> list[dict]:
    """The ``system`` blocks up to and including the last one marked ``cache_control`` (none: empty)."""
    if not isinstance(system, list):
        return []
    marked = [i for i, block in enumerate(system) if isinstance(block, dict) and block.get("cache_control")]
    return [block for block in system[: marked[-1] + 1] if isinstance(block, dict)] if marked else []


def _error(status: int, message: str) -> tuple[int, dict, dict[str, str]]:
    error_type = ERROR_TYPES.get(status, "api_error")
    request_id = f"req_{uuid.uuid4().hex[:24]}"
    body = {"type": "error", "error": {"type": error_type, "message": message or error_type}, "request_id": request_id}
    return status, body, {}


def _handler_for(fake: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            request = RecordedRequest(
                method=self.command,
                path=self.path,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
            )
            fake._record(request)
            status, payload, headers = fake._respond(request)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("request-id", payload.get("request_id") or f"req_{uuid.uuid4().hex[:24]}")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_POST = _handle
        do_GET = _handle

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

    return Handler
