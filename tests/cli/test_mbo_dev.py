"""`mbo dev --port/--host` (and `make dev PORT= HOST=`) reach `dagster dev` as -p/-h; `mbo dev --help` is still help;
a taken port is one line, before the database is touched."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess

import pytest

from mbo_pipelines import cli
from mbo_pipelines.embedded_db import free_port
from tests.cli.cli_helpers import ROOT, clean_env, mbo, stderr_lines


@pytest.fixture
def exec_argv(monkeypatch):
    """Run `mbo dev` in this process up to the exec of `dagster dev`: the argv it would exec (no database, no check)."""
    captured: list[list[str]] = []

    def fake_execv(path, argv):
        captured.append(list(argv))
        raise SystemExit(0)

    monkeypatch.setattr(cli, "_problems_stop", lambda args: False)
    monkeypatch.setattr("mbo_pipelines.instance.prepare_environment", lambda: "postgresql://unused")
    monkeypatch.setattr(os, "execv", fake_execv)
    monkeypatch.setenv("PATH", os.environ.get("PATH", ""))  # _dev prepends the venv's bin; restored afterwards
    return captured


def _option(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_port_and_host_reach_dagster_dev(exec_argv, capsys):
    port = free_port()
    with pytest.raises(SystemExit):
        cli.main(["dev", "--port", str(port), "--host", "127.0.0.2", "--", "--log-level", "debug"])
    [argv] = exec_argv
    assert argv[1] == "dev" and _option(argv, "-p") == str(port) and _option(argv, "-h") == "127.0.0.2"
    assert argv[-2:] == ["--log-level", "debug"] and "--" not in argv
    assert capsys.readouterr().err == ""


def test_defaults_and_the_short_port_option(exec_argv):
    with pytest.raises(SystemExit):
        cli.main(["dev", "-p", "3999"])
    [argv] = exec_argv
    assert _option(argv, "-p") == "3999" and _option(argv, "-h") == "127.0.0.1"


def test_a_public_address_warns_that_the_ui_has_no_login(exec_argv, capsys):
    with pytest.raises(SystemExit):
        cli.main(["dev", "--host", "0.0.0.0", "--port", str(free_port())])
    assert "no login" in capsys.readouterr().err


def test_help_is_still_help():
    result, _ = mbo("dev", "--help", env=clean_env(ROOT / ".unused-home"))
    assert result.returncode == 0
    assert "--port" in result.stdout and "--host" in result.stdout


def test_a_taken_port_is_one_line_and_touches_nothing(tmp_path):
    home = tmp_path / "home"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result, _ = mbo("dev", "--port", str(port), env=clean_env(home, MBO_PG_PORT=str(free_port())))
    assert result.returncode == 1
    [line] = stderr_lines(result)
    assert f"port {port}" in line and "--port" in line
    assert not (home / "pgdata").exists()


def test_a_bad_port_is_a_usage_error(tmp_path):
    result, _ = mbo("dev", "--port", "http", env=clean_env(tmp_path / "home"))
    assert result.returncode == 2 and "--port" in result.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_dev_passes_port_and_host_from_its_command_line_only():
    def recipe(*args: str, **env: str) -> str:
        out = subprocess.run(["make", "-n", "-s", "-C", str(ROOT), "dev", *args], env={**os.environ, **env},
                             capture_output=True, text=True, timeout=60, check=True).stdout
        return next(line.strip() for line in out.splitlines() if "mbo dev" in line)

    assert recipe("PORT=3001", "HOST=127.0.0.2").endswith("mbo dev --port 3001 --host 127.0.0.2")
    assert recipe("PORT=3001").endswith("mbo dev --port 3001")
    # Exported by a shell (tcsh exports HOST, the machine's name): ignored.
    assert recipe(PORT="3001", HOST="buildbox").endswith("mbo dev")
