"""The dbt project, loaded once; its manifest is parsed on first use when missing."""

from pathlib import Path

from dagster_dbt import DbtProject

from mbo_pipelines.settings import PROJECT_ROOT

DBT_PROJECT_DIR = Path(PROJECT_ROOT) / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def ensure_manifest(project: DbtProject = dbt_project) -> Path:
    """Parse the project (``dbt parse``, no database needed) unless a manifest exists; return its path.

    Under ``dagster dev`` the manifest is re-parsed on every load so model edits show up.
    """
    if project.preparer.using_dagster_dev() or not project.manifest_path.exists():
        project.preparer.prepare(project)
    return project.manifest_path
