"""The deployment files, piece by piece (no Docker engine here).

docker-compose.yml and the Dockerfile are read as data and checked against each
other; deploy/dagster.yaml goes through Dagster's own validation and is loaded
into a real DagsterInstance on PostgreSQL; both workspaces go through Dagster's
workspace loader; the Dockerfile's build-time steps (requirements from
pyproject.toml, ``dbt parse``) are run here as the image would run them.
"""

from __future__ import annotations

import importlib.util
import json
import os
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

CODE_SERVER_CMD = [
    "dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "mbo_pipelines.definitions",
]  # fmt: skip
DAGSTER_SERVICES = ("code_location", "webserver", "daemon")
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


# --- docker-compose.yml -----------------------------------------------------------------------


def test_compose_has_the_four_services(compose):
    assert set(compose["services"]) == {"postgres", *DAGSTER_SERVICES}


def test_postgres_service(compose):
    postgres = compose["services"]["postgres"]
    assert postgres["image"] == "postgres:16"
    assert postgres["environment"] == {"POSTGRES_USER": "mbo", "POSTGRES_PASSWORD": "mbo", "POSTGRES_DB": "mbo"}
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in postgres["volumes"])


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
    assert services["webserver"]["ports"] == ["3000:3000"]
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
    postgres_env = services["postgres"]["environment"]
    expected_url = (
        f"postgresql://{postgres_env['POSTGRES_USER']}:{postgres_env['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{postgres_env['POSTGRES_DB']}"
    )
    assert expected_url == "postgresql://mbo:mbo@postgres:5432/mbo"
    for name in DAGSTER_SERVICES:
        env = services[name]["environment"]
        assert env["MBO_DATABASE_URL"] == expected_url, name
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
    assert set(compose["volumes"]) == {"pgdata", "dagster_storage"}


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
