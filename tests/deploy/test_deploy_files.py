"""The deployment files, piece by piece (no Docker engine here).

docker-compose.yml and the Dockerfile are read as data and checked against each
other; deploy/dagster.yaml goes through Dagster's own validation and is loaded
into a real DagsterInstance on PostgreSQL; both workspaces go through Dagster's
workspace loader; the Dockerfile's build-time steps (requirements from
pyproject.toml, ``dbt parse``) are run here as the image would run them.

Least privilege (issue #14): only the proxy may publish on a non-loopback address,
the webserver publishes nothing and the proxy's Caddyfile asks for basic auth
before it forwards to it, no password is written in the compose file, the Dagster
services log in as mbo_app, and .env.example lists every variable compose needs.
The init script that creates the roles runs on a real server in
test_postgres_init.py; Caddy and compose themselves, where installed, in
test_real_tools.py.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import psycopg
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DEPLOY = ROOT / "deploy"
CADDYFILE = DEPLOY / "Caddyfile"
ENV_EXAMPLE = ROOT / ".env.example"
INIT_SCRIPT = DEPLOY / "postgres-init" / "10-mbo-roles.sh"

CODE_SERVER_CMD = [
    "dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "mbo_pipelines.definitions",
]  # fmt: skip
DAGSTER_SERVICES = ("code_location", "webserver", "daemon")
PROXY = "proxy"
IMAGE_DEPLOY_DIR = "/opt/dagster/deploy"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    return instructions


def dockerfile_env() -> dict[str, str]:
    env = {}
    for keyword, args in dockerfile_instructions():
        if keyword == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(args))
    return env


def dockerfile_runs() -> list[str]:
    return [args for keyword, args in dockerfile_instructions() if keyword == "RUN"]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


# --- compose interpolation (${VAR}, ${VAR:-default}, ${VAR:?error}, ...), as compose does it -----

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class MissingVariable(Exception):
    """A ${VAR:?err} / ${VAR?err} whose variable has no value: compose refuses to start."""


def _references(text: str):
    """Yield (start, end, name, operator, argument) for each $NAME / ${NAME<op><arg>} in text ($$ skipped)."""
    i = 0
    while i < len(text):
        if text[i] != "$":
            i += 1
            continue
        if text.startswith("$$", i):
            i += 2
            continue
        if text.startswith("${", i):
            depth, j = 1, i + 2
            while depth:
                if j >= len(text):
                    raise ValueError(f"unclosed ${{ in {text!r}")
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            body = text[i + 2 : j - 1]
            name = _NAME.match(body)
            assert name, f"invalid interpolation {text[i:j]!r}"
            rest = body[name.end() :]
            operator = next((op for op in (":-", ":?", ":+", "-", "?", "+") if rest.startswith(op)), "")
            assert rest == "" or operator, f"invalid interpolation {text[i:j]!r}"
            yield i, j, name.group(), operator, rest[len(operator) :]
            i = j
            continue
        name = _NAME.match(text, i + 1)
        if name:
            yield i, name.end(), name.group(), "", ""
            i = name.end()
        else:
            i += 1  # a lone $ is kept as is


def interpolate(text: str, env: dict[str, str]) -> str:
    out, last = [], 0
    for start, end, name, operator, argument in _references(text):
        out.append(text[last:start].replace("$$", "$"))
        value = env.get(name)
        if operator in (":?", "?") and (value is None or (operator == ":?" and value == "")):
            raise MissingVariable(name)
        if operator == ":-":
            value = value if value else interpolate(argument, env)
        elif operator == "-":
            value = value if value is not None else interpolate(argument, env)
        elif operator == ":+":
            value = interpolate(argument, env) if value else ""
        elif operator == "+":
            value = interpolate(argument, env) if value is not None else ""
        out.append(value or "")
        last = end
    out.append(text[last:].replace("$$", "$"))
    return "".join(out)


def string_values(node, path=()):
    """(path, value) of every string in the loaded compose file, environment lists split as KEY=VALUE."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from string_values(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if path and path[-1] == "environment" and isinstance(value, str) and "=" in value:
                key, _, value = value.partition("=")
                yield (*path, key), value
            else:
                yield from string_values(value, (*path, str(index)))
    elif isinstance(node, str):
        yield path, node


def required_variables(compose: dict) -> set[str]:
    """The variables compose reads without a default: ${VAR}, $VAR, ${VAR:?err}, ${VAR?err}."""
    names = set()

    def visit(text: str) -> None:
        for _, _, name, operator, argument in _references(text):
            if operator in ("", ":?", "?"):
                names.add(name)
            else:
                visit(argument)  # a default can itself read a variable

    for _, value in string_values(compose):
        visit(value)
    return names


def published_ports(service: dict, env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(host address, host port) of each published port, interpolated with env (defaults when empty).

    Short syntax ``[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]`` (IPv6 hosts in brackets) and
    long syntax (``host_ip``, ``published``); no host address means every interface, 0.0.0.0.
    """
    env = env or {}
    result = []
    for spec in service.get("ports", []):
        if isinstance(spec, dict):
            host = interpolate(str(spec.get("host_ip", "")), env) or "0.0.0.0"
            result.append((host, interpolate(str(spec.get("published", "")), env)))
            continue
        text = interpolate(str(spec), env).split("/", 1)[0]
        host = ""
        if text.startswith("["):
            host, _, text = text[1:].partition("]")
            text = text.removeprefix(":")
        parts = text.split(":")
        assert len(parts) <= 3, f"unexpected port spec {spec!r}"
        if len(parts) == 3:
            host, parts = host or parts[0], parts[1:]
        published = parts[0] if len(parts) == 2 else ""
        result.append((host or "0.0.0.0", published))
    return result


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def test_interpolation_helper_follows_compose_rules():
    env = {"SET": "v", "EMPTY": ""}
    assert interpolate("${SET:-d} ${EMPTY:-d} ${UNSET:-d} ${EMPTY-d} ${UNSET-d}", env) == "v d d  d"
    assert interpolate("$SET-$$SET-${UNSET:-${SET}}", env) == "v-$SET-v"
    with pytest.raises(MissingVariable):
        interpolate("${EMPTY:?needed}", env)
    assert interpolate("${EMPTY?needed}", env) == ""
    assert required_variables({"a": "${A:-$B} ${C:?x} $D ${E:-e} $$F"}) == {"B", "C", "D"}
    service = {"ports": ["3000:3000", "9000", "127.0.0.1:5432:5432", "[::1]:80:80", "${BIND:-127.0.0.1}:${P:-1}:80/tcp",
                         {"target": 80, "published": "8080"}, {"target": 80, "host_ip": "127.0.0.1", "published": 81}]}
    assert published_ports(service) == [("0.0.0.0", "3000"), ("0.0.0.0", ""), ("127.0.0.1", "5432"), ("::1", "80"),
                                        ("127.0.0.1", "1"), ("0.0.0.0", "8080"), ("127.0.0.1", "81")]
    assert published_ports(service, {"BIND": "0.0.0.0"})[4] == ("0.0.0.0", "1")


# --- docker-compose.yml -----------------------------------------------------------------------


def test_compose_has_the_five_services(compose):
    assert set(compose["services"]) == {"postgres", *DAGSTER_SERVICES, PROXY}


def test_postgres_service(compose):
    postgres = compose["services"]["postgres"]
    env = postgres["environment"]
    assert postgres["image"] == "postgres:16"
    # The image's superuser is mbo_admin, its password from .env; the image creates no `mbo`
    # database itself: the init script does, owned by mbo_app.
    assert env["POSTGRES_USER"] == "mbo_admin"
    assert env["POSTGRES_PASSWORD"].startswith("${MBO_ADMIN_PASSWORD:?")
    assert env["POSTGRES_DB"] == "postgres"
    # The init script's inputs: what it reads from the environment, the compose file passes in.
    assert "./deploy/postgres-init:/docker-entrypoint-initdb.d:ro" in postgres["volumes"]
    assert INIT_SCRIPT.exists()
    script_reads = set(re.findall(r"\$\{(MBO_[A-Z_]+)", INIT_SCRIPT.read_text()))
    assert script_reads == {"MBO_APP_PASSWORD", "MBO_BI_PASSWORD", "MBO_BI_ROLE"}
    for name in script_reads:
        assert env[name].startswith(f"${{{name}:"), name
    assert env["MBO_BI_ROLE"] == compose["services"]["code_location"]["environment"]["MBO_BI_ROLE"]
    # pg_isready as the superuser, over TCP (the image's init-time server listens on the socket only).
    assert postgres["healthcheck"]["test"][1].split() == ["pg_isready", "-h", "127.0.0.1", "-U", "mbo_admin", "-d", "postgres"]
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in postgres["volumes"])
    # Published for BI tools, on the host's loopback only.
    assert postgres["ports"] == ["127.0.0.1:${MBO_PG_PUBLISH_PORT:-5432}:5432"]


def test_dagster_services_share_the_image_built_from_the_dockerfile(compose):
    services = compose["services"]
    for name in DAGSTER_SERVICES:
        assert services[name]["build"] == {"context": ".", "dockerfile": "Dockerfile"}, name
        assert services[name]["image"] == services["code_location"]["image"], name


def test_service_commands(compose):
    services = compose["services"]
    workspace = f"{IMAGE_DEPLOY_DIR}/workspace.yaml"
    assert services["code_location"]["command"] == CODE_SERVER_CMD
    assert services["webserver"]["command"] == [
        "dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", workspace,
    ]  # fmt: skip
    assert services["daemon"]["command"] == ["dagster-daemon", "run", "-w", workspace]


def test_dagster_services_wait_for_their_dependencies(compose):
    services = compose["services"]
    for name in DAGSTER_SERVICES:
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}, name
    for name in ("webserver", "daemon"):
        assert services[name]["depends_on"]["code_location"] == {"condition": "service_healthy"}, name
    assert services["code_location"]["healthcheck"]["test"] == [
        "CMD", "dagster", "api", "grpc-health-check", "-p", "4000",
    ]  # fmt: skip


def test_dagster_services_environment(compose):
    services = compose["services"]
    for name in DAGSTER_SERVICES:
        env = services[name]["environment"]
        assert env["MBO_DATABASE_URL"] == services["code_location"]["environment"]["MBO_DATABASE_URL"], name
        assert env["DAGSTER_HOME"] == dockerfile_env()["DAGSTER_HOME"], name
        # Compute logs: written where runs execute, read by the webserver.
        assert f"dagster_storage:{env['DAGSTER_HOME']}/storage" in services[name]["volumes"], name
    # CSV imports are read where runs execute, and only read.
    assert services["code_location"]["volumes"][1:] == ["./imports:/imports:ro", "./config:/config:ro"]
    # Only the container that executes runs gets the secrets, passed through (empty when unset).
    secrets = ["ANTHROPIC_API_KEY", "GOOGLE_ADS_DEVELOPER_TOKEN", "GOOGLE_ADS_CLIENT_SECRET", "GOOGLE_ADS_REFRESH_TOKEN",
               "META_ACCESS_TOKEN", "TIKTOK_ACCESS_TOKEN"]
    for secret in secrets:
        assert services["code_location"]["environment"][secret] == f"${{{secret}:-}}", secret
        assert secret not in services["webserver"]["environment"]
        assert secret not in services["daemon"]["environment"]
    # Live budget changes stay off unless the operator turns them on.
    assert services["code_location"]["environment"]["MBO_ALLOW_LIVE_BUDGET_CHANGES"] == "${MBO_ALLOW_LIVE_BUDGET_CHANGES:-}"
    # How pushes treat money is the operator's to set, from .env, where the runs execute.
    for name in ("MBO_ACTIVATION", "MBO_KILL_SWITCH", "MBO_ACCOUNTS_FILE", "MBO_APPROVAL_ABOVE_CHANGE",
                 "MBO_APPROVAL_ABOVE_AMOUNT"):
        assert services["code_location"]["environment"][name] == f"${{{name}:-}}", name
    assert "./config:/config:ro" in services["code_location"]["volumes"]
    # The marts' inputs and readers (#12): passed from .env with the documented defaults.
    assert services["code_location"]["environment"]["MBO_FX_RATES_CSV"] == "${MBO_FX_RATES_CSV:-}"
    for name, default in (("MBO_FX_MAX_FILL_DAYS", "7"), ("MBO_CONVERSION_SOURCE", "platform"),
                          ("MBO_BI_ROLE", "mbo_bi")):
        assert services["code_location"]["environment"][name] == f"${{{name}:-{default}}}", name
    assert set(compose["volumes"]) == {"pgdata", "dagster_storage", "caddy_data"}


def test_dagster_services_log_in_as_mbo_app_not_the_superuser(compose):
    """MBO_DATABASE_URL names mbo_app, with the password the init script gives it, on database mbo."""
    from psycopg.conninfo import conninfo_to_dict

    services = compose["services"]
    env = {"MBO_APP_PASSWORD": "app-secret", "MBO_ADMIN_PASSWORD": "admin-secret"}
    superuser = services["postgres"]["environment"]["POSTGRES_USER"]
    for name in DAGSTER_SERVICES:
        url = services[name]["environment"]["MBO_DATABASE_URL"]
        assert url.startswith("postgresql://mbo_app:${MBO_APP_PASSWORD:?"), name
        info = conninfo_to_dict(interpolate(url, env))
        assert info == {"user": "mbo_app", "password": "app-secret", "host": "postgres", "port": "5432", "dbname": "mbo"}
        assert info["user"] != superuser
    # The same names in the init script: the role it creates, and the database it gives that role.
    script = INIT_SCRIPT.read_text()
    assert "-v app_role=mbo_app -v app_password=\"$MBO_APP_PASSWORD\"" in script
    assert "-v db=mbo" in script
    assert 'CREATE DATABASE :"db" OWNER :"app_role";' in script


def test_only_the_proxy_publishes_beyond_loopback(compose):
    """With the defaults, nothing is published beyond 127.0.0.1; only the proxy may be, by MBO_UI_BIND."""
    services = compose["services"]
    for name, service in services.items():
        assert service.get("network_mode") != "host", name  # host networking would publish every port
        for host, port in published_ports(service):
            assert is_loopback(host), f"{name} publishes {host}:{port}"
    assert {name for name, service in services.items() if service.get("ports")} == {"postgres", PROXY}
    every_interface = {"MBO_UI_BIND": "0.0.0.0", "MBO_PG_PUBLISH_PORT": "5432", "MBO_UI_PORT": "3000"}
    for name, service in services.items():
        for host, port in published_ports(service, every_interface):
            assert is_loopback(host) or name == PROXY, f"{name} publishes {host}:{port} when MBO_UI_BIND is set"


def test_the_webserver_publishes_nothing_and_the_proxy_forwards_to_it(compose):
    services = compose["services"]
    webserver, proxy = services["webserver"], services[PROXY]
    command = webserver["command"]
    port = command[command.index("-p") + 1]
    assert "ports" not in webserver
    assert webserver.get("expose") == [port]
    assert proxy["image"] == "caddy:2"
    # The Caddyfile is mounted where the caddy image reads it, read-only.
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert proxy["depends_on"] == ["webserver"]
    [spec] = proxy["ports"]
    assert spec == "${MBO_UI_BIND:-127.0.0.1}:${MBO_UI_PORT:-3000}:80"
    # The Caddyfile's one site listens on the container port the proxy publishes ...
    site = caddyfile_site()
    assert site.tokens == [f":{spec.rsplit(':', 1)[1]}"]
    # ... and forwards, after basic auth, to the webserver's port on the compose network.
    assert [child.tokens for child in site.children] == [["basic_auth"], ["reverse_proxy", f"webserver:{port}"]]


def test_the_caddyfile_asks_every_request_for_the_ui_login(compose):
    site = caddyfile_site()
    [basic_auth] = [child for child in site.children if child.tokens[0] == "basic_auth"]
    # No matcher (so every path) and bcrypt, Caddy's default: one account, user and hash from the environment.
    assert basic_auth.tokens == ["basic_auth"]
    assert [account.tokens for account in basic_auth.children] == [["{$MBO_UI_USER}", "{$MBO_UI_PASSWORD_HASH}"]]
    proxy_env = compose["services"][PROXY]["environment"]
    for name in ("MBO_UI_USER", "MBO_UI_PASSWORD_HASH"):
        assert proxy_env[name].startswith(f"${{{name}:?"), name  # required: no login, no start
    # Nothing answers without the login: the site holds basic_auth and reverse_proxy only (no
    # handle / route / respond that could serve a path before auth).
    assert sorted(child.tokens[0] for child in site.children) == ["basic_auth", "reverse_proxy"]
    # The admin API is off.
    [global_options] = [block for block in parse_caddyfile(CADDYFILE.read_text()) if block.tokens == []]
    assert [child.tokens for child in global_options.children] == [["admin", "off"]]


_PLACEHOLDER = re.compile(r"<[A-Z_]+>")
_REQUIRED = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:?\?[^}]*)?\}")
_URL_PASSWORD = re.compile(r"://[^\s:/@]+:(\$\{[^}]*\}|[^\s@/]*)@")
_SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$|HASH")
# ${VAR}, ${VAR:?error}, ${VAR?error}, or an empty default (${VAR:-}, ${VAR-}): never a literal.
_SECRET_VALUE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:?\?[^}]*|:?-)?\}")


def test_no_password_is_written_in_the_compose_file(compose):
    """Every password, secret, token or key is a variable compose reads (no literal default), and
    every user:password@ in the file, comments included, has a required variable or a <PLACEHOLDER>."""
    checked = []
    for path, value in string_values(compose):
        where = ".".join(path)
        if _SECRET_KEY.search(path[-1]) and path[-2:-1] == ("environment",):
            assert _SECRET_VALUE.fullmatch(value), f"{where} is not a variable without a default: {value!r}"
            checked.append(path[-1])
        for match in re.finditer(r"\b\w*PASSWORD\w*=(\S+)", value):  # PGPASSWORD=... in a command
            assert _SECRET_VALUE.fullmatch(match.group(1)), f"{where}: {match.group()}"
    assert {"POSTGRES_PASSWORD", "MBO_APP_PASSWORD", "MBO_BI_PASSWORD", "MBO_UI_PASSWORD_HASH"} <= set(checked)
    urls = _URL_PASSWORD.findall(COMPOSE.read_text())
    assert urls  # MBO_DATABASE_URL and the BI URL in a comment
    for password in urls:
        assert _REQUIRED.fullmatch(password) or _PLACEHOLDER.fullmatch(password), f"password {password!r} in a URL"


def test_env_example_lists_every_variable_compose_requires(compose):
    """.env.example names each variable without a default, left empty, so a verbatim copy fails loudly."""
    assignments, documented = env_example()
    required = required_variables(compose)
    assert required >= {"MBO_ADMIN_PASSWORD", "MBO_APP_PASSWORD", "MBO_BI_PASSWORD", "MBO_UI_USER", "MBO_UI_PASSWORD_HASH"}
    assert required <= set(assignments), sorted(required - set(assignments))
    # No real-looking secret: nothing is filled in, and compose refuses a verbatim copy.
    assert all(value == "" for value in assignments.values()), assignments
    with pytest.raises(MissingVariable):
        for _, value in string_values(compose):
            interpolate(value, assignments)
    # The optional ones a user sets for this deployment are documented too (commented out, with their defaults).
    for name, default in (("MBO_UI_BIND", "127.0.0.1"), ("MBO_UI_PORT", "3000"), ("MBO_PG_PUBLISH_PORT", "5432")):
        assert documented.get(name) == default, name
        assert f"${{{name}:-{default}}}" in COMPOSE.read_text(), name
    text = ENV_EXAMPLE.read_text()
    assert "openssl rand -hex" in text  # URL-safe passwords
    assert "docker run --rm -it caddy:2 caddy hash-password" in text
    assert "MBO_UI_PASSWORD_HASH='$2a$14$" in text  # the single quotes a bcrypt hash needs
    assert "README" in text  # the platform variables are documented there


def env_example() -> tuple[dict[str, str], dict[str, str]]:
    """(NAME -> value of each assignment, NAME -> value of each commented-out `# NAME=value` line)."""
    assignments, documented = {}, {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if match := re.fullmatch(r"([A-Z_][A-Z0-9_]*)=(.*)", line):
            assignments[match[1]] = match[2]
        elif match := re.fullmatch(r"# ([A-Z_][A-Z0-9_]*)=(\S*)", line):
            documented[match[1]] = match[2]
    return assignments, documented


# --- deploy/Caddyfile ---------------------------------------------------------------------------


class CaddyBlock:
    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.children: list[CaddyBlock] = []

    def __repr__(self) -> str:
        return f"CaddyBlock({self.tokens}, {self.children})"


def parse_caddyfile(text: str) -> list[CaddyBlock]:
    """Top-level blocks of a Caddyfile (one line per directive, `{` ending a line opens its block;
    `#` starting a token starts a comment). Enough for this project's Caddyfile, not a general parser."""
    root = CaddyBlock([])
    stack = [root]
    for line in text.splitlines():
        tokens = []
        for token in line.split():
            if token.startswith("#"):
                break
            tokens.append(token)
        if not tokens:
            continue
        if tokens == ["}"]:
            stack.pop()
            assert stack, "unbalanced }"
            continue
        opens = tokens[-1] == "{"
        block = CaddyBlock(tokens[:-1] if opens else tokens)
        stack[-1].children.append(block)
        if opens:
            stack.append(block)
    assert stack == [root], "unclosed {"
    return root.children


def caddyfile_site() -> CaddyBlock:
    [site] = [block for block in parse_caddyfile(CADDYFILE.read_text()) if block.tokens]
    return site


# --- Dockerfile ---------------------------------------------------------------------------------


def test_dockerfile_base_image_and_default_command():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    [cmd] = [args for keyword, args in instructions if keyword == "CMD"]
    assert json.loads(cmd) == CODE_SERVER_CMD


def test_dockerfile_copies_the_project_sources_that_exist():
    copies = [shlex.split(args) for keyword, args in dockerfile_instructions() if keyword == "COPY"]
    sources = {source for *sources, _ in copies for source in sources}
    assert {"pyproject.toml", "mbo_pipelines", "optimizer", "dbt_project"} <= sources
    assert {"deploy/dagster.yaml", "deploy/workspace.yaml"} <= sources
    for source in sources:
        assert (ROOT / source).exists(), source
    deploy_copy = [args for *args, dest in copies if dest.rstrip("/") == IMAGE_DEPLOY_DIR]
    assert deploy_copy == [["deploy/dagster.yaml", "deploy/workspace.yaml"]]


def test_dockerfile_installs_from_pyproject_and_parses_dbt():
    runs = dockerfile_runs()
    assert any("pip install --no-deps -e ." in run for run in runs)
    assert any("dbt parse --project-dir . --profiles-dir ." in run for run in runs)
    assert any(f'cp {IMAGE_DEPLOY_DIR}/dagster.yaml "$DAGSTER_HOME/dagster.yaml"' in run for run in runs)


def test_default_command_module_exists():
    assert importlib.util.find_spec("mbo_pipelines.definitions") is not None


def test_dockerfile_requirements_step_lists_the_pyproject_dependencies():
    [run] = [run for run in dockerfile_runs() if "tomllib" in run]
    command = run.split(">", 1)[0].strip()  # the python -c ... part, before its redirect
    assert command.startswith("python -c ")
    argv = shlex.split(command)
    result = subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, capture_output=True, text=True, check=True)
    expected = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert result.stdout.splitlines() == expected


@pytest.mark.timeout(300)
def test_dbt_parse_build_step_needs_no_database(tmp_path):
    """The image's `dbt parse` step, on a clean copy of dbt_project/ with no MBO_DB_* variables."""
    project = tmp_path / "dbt_project"
    shutil.copytree(ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MBO_DB_", "DBT_"))}
    dbt = Path(sys.executable).parent / "dbt"
    result = subprocess.run(
        [str(dbt), "parse", "--project-dir", ".", "--profiles-dir", "."],
        cwd=project, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (project / "target" / "manifest.json").exists()


# --- deploy/dagster.yaml ------------------------------------------------------------------------


def test_dagster_yaml_passes_dagster_validation(tmp_path):
    from dagster._core.instance.config import dagster_instance_config

    shutil.copy(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    config, custom_class = dagster_instance_config(str(tmp_path))

    assert custom_class is None
    assert config["storage"] == {"postgres": {"postgres_url": {"env": "MBO_DATABASE_URL"}}}
    assert config["run_launcher"]["class"] == "DefaultRunLauncher"
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    # A run whose process died is marked failed, so the resume sensor can finish its plan.
    assert config["run_monitoring"]["enabled"] is True


def test_the_local_instance_monitors_runs_too(tmp_path):
    from dagster._core.instance.config import dagster_instance_config

    from mbo_pipelines.instance import DAGSTER_YAML

    (tmp_path / "dagster.yaml").write_text(DAGSTER_YAML)
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["run_monitoring"]["enabled"] is True


@pytest.fixture
def scratch_database(new_database) -> str:
    """A throwaway database on the test server, so Dagster's tables never touch the session database."""
    return new_database("deploy", template="template0")


def test_dagster_yaml_builds_a_postgres_instance(tmp_path, scratch_database, monkeypatch):
    from dagster import DagsterInstance
    from dagster._core.launcher import DefaultRunLauncher
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    shutil.copy(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("MBO_DATABASE_URL", scratch_database)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))

    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert isinstance(instance.run_launcher, DefaultRunLauncher)
        assert instance.get_runs() == []

    with psycopg.connect(scratch_database) as conn:
        tables = {row[0] for row in conn.execute("select table_name from information_schema.tables")}
    assert {"runs", "event_logs", "jobs", "job_ticks"} <= tables


# --- workspaces ---------------------------------------------------------------------------------


def test_dev_workspace_loads_the_definitions_module():
    from dagster._core.remote_origin import ManagedGrpcPythonEnvCodeLocationOrigin
    from dagster._core.workspace.load import location_origins_from_yaml_paths

    [origin] = location_origins_from_yaml_paths([str(ROOT / "workspace.yaml")])

    assert isinstance(origin, ManagedGrpcPythonEnvCodeLocationOrigin)
    assert origin.location_name == "mbo"
    target = origin.loadable_target_origin
    assert target.module_name == "mbo_pipelines.definitions"
    # Dagster does not rebase a python_module's working_directory on the yaml file: "." is the
    # directory `dagster dev` starts in (the repo root for `make dev`).
    assert target.working_directory == "."


def test_compose_workspace_points_at_the_code_location_container(compose):
    from dagster._core.remote_origin import GrpcServerCodeLocationOrigin
    from dagster._core.workspace.load import location_origins_from_yaml_paths

    [origin] = location_origins_from_yaml_paths([str(DEPLOY / "workspace.yaml")])

    assert isinstance(origin, GrpcServerCodeLocationOrigin)
    assert (origin.host, origin.port, origin.location_name) == ("code_location", 4000, "mbo")
    assert origin.host in compose["services"]
    assert f"{origin.port}" == CODE_SERVER_CMD[CODE_SERVER_CMD.index("-p") + 1]
