"""Run ``mbo`` in a subprocess as a user would, with a clean environment of the test's choosing."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

#: Variables of the developer's shell that must not leak into a test's `mbo` (accounts, tokens, modes, servers).
_PREFIXES = ("MBO_", "GOOGLE_ADS_", "META_", "TIKTOK_", "ANTHROPIC_", "DAGSTER_HOME", "DBT_", "GOOGLE_APPLICATION")
ROOT = Path(__file__).resolve().parents[2]


def clean_env(home: Path, **variables: str) -> dict[str, str]:
    """The environment without any MBO or platform variable, with ``MBO_HOME`` at ``home`` and ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_PREFIXES)}
    env["MBO_HOME"] = str(home)
    env.update(variables)
    return env


def mbo(*args: str, env: dict[str, str], timeout: float = 120) -> tuple[subprocess.CompletedProcess, float]:
    """``mbo ARGS`` in a subprocess: the completed process (text output) and its wall time in seconds."""
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "mbo_pipelines.cli", *args], env=env, capture_output=True,
                            text=True, timeout=timeout, cwd=ROOT)
    return result, time.monotonic() - started


def stderr_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


@contextlib.contextmanager
def server_home() -> Iterator[Path]:
    """An MBO_HOME for a test that starts the embedded server: outside pytest's basetemp, whose root another pytest
    session on the machine may make private again (0700) under the running server's system user; the server is
    stopped (when a data directory below it has a postmaster.pid: a server was started) and the folder removed
    afterwards."""
    home = Path(tempfile.mkdtemp(prefix="mbo-cli-test-"))
    try:
        yield home
    finally:
        for pid_file in home.rglob("postmaster.pid"):
            env = {k: v for k, v in os.environ.items() if not k.startswith(_PREFIXES)}
            subprocess.run([sys.executable, "-m", "mbo_pipelines.cli", "db", "stop"],
                           env={**env, "MBO_HOME": str(pid_file.parent.parent)}, capture_output=True, timeout=120,
                           cwd=ROOT)
        shutil.rmtree(home, ignore_errors=True)
