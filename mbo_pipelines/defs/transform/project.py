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


def _manifest_is_stale(project: DbtProject) -> bool:
    if not project.manifest_path.exists():
        return True
    built = project.manifest_path.stat().st_mtime
    sources = (p for folder in ("models", "macros", "seeds", "tests") for p in (project.project_dir / folder).rglob("*"))
    newest = max((p.stat().st_mtime for p in sources if p.is_file()), default=0)
    return max(newest, (project.project_dir / "dbt_project.yml").stat().st_mtime) > built


def ensure_manifest(project: DbtProject = dbt_project) -> Path:
    """Parse the project (``dbt parse``, no database needed) when the manifest is missing or older
    than any model, macro, seed or test; return its path."""
    if _manifest_is_stale(project):
        # A full parse: a partial one can keep a changed singular test's old config (its Dagster `meta`).
        dbt_resource().cli(["parse", "--quiet", "--no-partial-parse"], target_path=project.target_path).wait()
    return project.manifest_path
