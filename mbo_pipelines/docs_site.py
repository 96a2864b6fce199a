"""``mbo docs``: the dbt documentation of the marts, generated offline and served on localhost.

``dbt docs generate --static`` reads the project and the warehouse's catalog
(column types, row counts) and writes one self-contained HTML page. Only that
page is published, as ``index.html`` in ``$MBO_HOME/dbt-docs/site``: dbt's
target folder (compiled SQL, parse caches) stays private, and nothing but
127.0.0.1 can reach the server.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
from pathlib import Path

from mbo_pipelines import settings
from mbo_pipelines.defs.transform.project import DBT_PROJECT_DIR, dbt_executable
from mbo_pipelines.redaction import redact

#: dbt docs serve's port is 8080, which many machines already use; this one is MBO's own.
DEFAULT_PORT = 8580
HOST = "127.0.0.1"


class DocsError(RuntimeError):
    """The documentation could not be generated (dbt's own message, secrets masked, says why)."""


def docs_home() -> Path:
    """Where ``mbo docs`` keeps dbt's target folder and the published site (under ``MBO_HOME``)."""
    return settings.mbo_home() / "dbt-docs"


def generate(url: str, home: Path | None = None) -> Path:
    """Run ``dbt docs generate --static`` against the warehouse at ``url``; return the site folder.

    Works offline: dbt reads the project and the database, nothing else.
    """
    home = home or docs_home()
    target, site = home / "target", home / "site"
    env = {**os.environ, **settings.dbt_env(url)}
    result = subprocess.run(
        [dbt_executable(), "docs", "generate", "--static",
         "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(target), "--log-path", str(home / "logs")],
        env=env, capture_output=True, text=True, timeout=600,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise DocsError(f"dbt docs generate failed (exit {result.returncode}); is the warehouse built "
                        f"(`mbo refresh` or `make demo`)?\n{redact(tail)}")
    site.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(target / "static_index.html", site / "index.html")
    return site


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site folder; one log line per request is noise for a docs browser."""

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass


def server(site: Path, port: int = DEFAULT_PORT) -> http.server.ThreadingHTTPServer:
    """An HTTP server for ``site`` on 127.0.0.1:``port`` (0: any free port); call ``serve_forever``."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    return http.server.ThreadingHTTPServer((HOST, port), handler)
