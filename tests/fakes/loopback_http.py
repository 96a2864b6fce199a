"""The part every HTTP fake shares: a threaded server on a free port of 127.0.0.1, started and stopped with it."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackHTTPServer:
    """Mixin for a fake platform: serves ``self.handle(request, method)`` for GET and POST on 127.0.0.1.

    Use the fake as a context manager, or call ``start()`` / ``stop()``; ``port`` is where it listens.
    """

    _server: ThreadingHTTPServer | None = None

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        """Answer one request (write the status, headers and body to ``request``)."""
        raise NotImplementedError

    def start(self):
        """Listen on a free port of 127.0.0.1 in a background thread."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                fake.handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                fake.handle(self, "POST")

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server, f"{type(self).__name__} is not started"
        return self._server.server_address[1]
