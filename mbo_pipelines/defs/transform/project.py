"""The dbt project, loaded once; its manifest is parsed on first use when missing."""

import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from mbo_pipelines.settings import PROJECT_ROOT

DBT_PROJECT_DIR = Path(PROJECT_ROOT) / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_executable() -> str:
    """The ``dbt`` installed beside this Python (works without an activated venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def dbt_resource() -> DbtCliResource:
    """The dbt CLI resource for this project."""
    return DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())


def ensure_manifest(project: DbtProject = dbt_project) -> Path:
    """Parse the project (``dbt parse``, no database needed) unless a manifest exists; return its path.

    Under ``dagster dev`` the manifest is re-parsed on every load so model edits show up.
    """
    if project.preparer.using_dagster_dev() or not project.manifest_path.exists():
        dbt_resource().cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return project.manifest_path
