"""dbt models as Dagster assets: staging → intermediate → marts, downstream of the raw extract assets.

dbt source ``raw.<table>`` maps to asset key ``raw/<table>``, the key of the
extract asset that loads it, so the graph stitches together. ``dbt build``
runs the models and their tests; the tests show up as asset checks.
"""

import functools
import json
import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

__all__ = ["mbo_dbt_models", "dbt_resource", "translator"]

from mbo_pipelines import settings, warehouse
from mbo_pipelines.defs.ingest.raw_tables import ensure_raw_tables
from mbo_pipelines.defs.transform.project import dbt_project, dbt_resource, ensure_manifest
from mbo_pipelines.resources import MboResource


class MboDbtTranslator(DagsterDbtTranslator):
    """Group dbt assets by their folder (staging, intermediate, marts); seeds go to ``reference``."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "reference"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "transform"


translator = MboDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(manifest=ensure_manifest(), dagster_dbt_translator=translator, project=dbt_project)
def mbo_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, mbo: MboResource):
    """``dbt build`` of the selected models against the MBO warehouse."""
    # profiles.yml reads MBO_DB_*; derive them from the one URL MBO is configured with.
    env = settings.dbt_env(mbo.url())
    os.environ.update(env)
    # Staging reads every raw table, a disabled platform's too: make sure they all exist (empty).
    with warehouse.connect(mbo.url()) as conn:
        ensure_raw_tables(conn)
    events = dbt.cli(["build"], context=context).stream()
    # Row counts of built tables go into the asset metadata (dagster/row_count). They are
    # queried by the relation names in the parsed manifest, which carry the database name
    # the manifest was parsed with: skip them when running against another database.
    if _manifest_database() == env["MBO_DB_NAME"]:
        events = events.fetch_row_counts()
    yield from events


@functools.cache
def _manifest_database() -> str | None:
    manifest = json.loads(dbt_project.manifest_path.read_text())
    return next((n["database"] for n in manifest["nodes"].values() if n.get("database")), None)
