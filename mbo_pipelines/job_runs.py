"""Run a job of the MBO code location in this process, as a run the Dagster UI ties to its job.

``JobDefinition.execute_in_process`` records runs without a code-location origin: the UI's job pages do not list
them (``daily_refresh`` shows no last run) and cannot re-execute them. ``run_job`` creates the run with the origin
the UI's own launches have (location ``mbo`` of ``workspace.yaml``, the ``mbo_pipelines.definitions`` module), then
executes it here, step after step, like ``execute_in_process`` (so the Definitions may carry resources of the
caller's, as tests' do). The demo and the ``mbo`` commands use it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

import dagster as dg
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.execution.api import create_execution_plan, execute_run
from dagster._core.execution.execution_result import ExecutionResult
from dagster._core.remote_origin import (
    ManagedGrpcPythonEnvCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from mbo_pipelines.settings import PROJECT_ROOT

#: The code location's name in workspace.yaml, deploy/workspace.yaml and pyproject's [tool.dagster].
LOCATION_NAME = "mbo"
MODULE = "mbo_pipelines.definitions"
#: Every step in this process, one after the other (the demo's and the commands' output stays readable).
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}


def remote_origin(job_name: str, repository_name: str = "__repository__") -> RemoteJobOrigin:
    """The origin the webserver gives a run of ``job_name`` launched from the ``mbo`` location."""
    target = LoadableTargetOrigin(executable_path=sys.executable, module_name=MODULE,
                                  working_directory=str(PROJECT_ROOT))
    location = ManagedGrpcPythonEnvCodeLocationOrigin(loadable_target_origin=target, location_name=LOCATION_NAME)
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, repository_name), job_name)


def run_job(job: dg.JobDefinition, instance: dg.DagsterInstance, *, run_config: Mapping | None = None,
            tags: Mapping[str, str] | None = None, asset_selection: list[dg.AssetKey] | None = None,
            raise_on_error: bool = False) -> ExecutionResult:
    """Run ``job`` (a job of the code location's Definitions, as ``defs.resolve_job_def`` gives it) in this process,
    as a run of the ``mbo`` code location; the result has the events ``execute_in_process``'s has."""
    config = {**IN_PROCESS, **(run_config or {})}
    selection = frozenset(asset_selection) if asset_selection else None
    in_memory = InMemoryJob(job)
    planned = in_memory.get_subset(asset_selection=selection) if selection else in_memory
    run = instance.create_run_for_job(
        job_def=planned.get_definition(),
        execution_plan=create_execution_plan(planned, run_config=config),
        run_config=config,
        tags={**job.run_tags, **(tags or {})},
        asset_selection=selection,
        remote_job_origin=remote_origin(job.name),
        job_code_origin=ReconstructableRepository.for_module(
            MODULE, "defs", working_directory=str(PROJECT_ROOT)).get_reconstructable_job(job.name).get_python_origin(),
    )
    return execute_run(in_memory, run, instance, raise_on_error=raise_on_error)
