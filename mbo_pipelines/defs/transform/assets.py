"""dbt models as Dagster assets: staging → intermediate → marts, downstream of the raw extract assets.

dbt source ``raw.<table>`` maps to asset key ``raw/<table>``, the key of the
extract asset that loads it, so the graph stitches together. ``dbt build``
runs the models and their tests; the tests show up as asset checks.

A run over a partition range (the daily schedule, ``mbo refresh``) rebuilds
only the days it loaded: the fact marts are incremental over the dbt vars
``mbo_start_date`` (the range's first day minus the extracts' lookback days)
and ``mbo_end_date`` (its last day). A run without a range (the dbt asset
materialized alone) builds every mart from all history, and a run tagged
``mbo/dbt_full_refresh=true`` (``mbo refresh --full``) runs ``dbt build
--full-refresh`` without a window.
"""

import functools
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, timedelta
from typing import Any

import dagster as dg
import psycopg
from psycopg import sql
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG, PARTITION_NAME_TAG
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

__all__ = ["FULL_REFRESH_TAG", "dbt_build_args", "mbo_dbt_models", "dbt_resource", "translator"]

from mbo_pipelines import settings, warehouse
from mbo_pipelines.defs.ingest.assets import lookback_days
from mbo_pipelines.defs.ingest.raw_tables import ensure_raw_tables
from mbo_pipelines.defs.transform.check_descriptions import describe_test
from mbo_pipelines.defs.transform.project import dbt_project, dbt_resource, ensure_manifest
from mbo_pipelines.resources import MboResource


class MboDbtTranslator(DagsterDbtTranslator):
    """Group dbt assets by their folder (staging, intermediate, marts); seeds go to ``reference``. Every dbt test's
    asset check says what it checks (``check_descriptions``)."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "reference"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "transform"

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project):
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return spec._replace(description=describe_test(manifest["nodes"].get(unique_id, {})))


translator = MboDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

#: Run tag: "true" makes the dbt step rebuild every mart from all history (``dbt build --full-refresh``).
FULL_REFRESH_TAG = "mbo/dbt_full_refresh"


def dbt_build_args(tags: Mapping[str, str]) -> list[str]:
    """The ``dbt build`` arguments for a run with these tags.

    A partition range (or a single partition) gives the window of days the run (re)loaded: its first day
    minus ``lookback_days()`` (the extracts read those again) to its last day, as the vars
    ``mbo_start_date`` / ``mbo_end_date``. No range: a build over all history. The full-refresh tag:
    ``--full-refresh`` and no window.
    """
    if tags.get(FULL_REFRESH_TAG, "").strip().lower() == "true":
        return ["build", "--full-refresh"]
    start = tags.get(ASSET_PARTITION_RANGE_START_TAG) or tags.get(PARTITION_NAME_TAG)
    end = tags.get(ASSET_PARTITION_RANGE_END_TAG) or tags.get(PARTITION_NAME_TAG)
    if not (start and end):
        return ["build"]
    first = date.fromisoformat(start) - timedelta(days=lookback_days())
    window = {"mbo_start_date": first.isoformat(), "mbo_end_date": date.fromisoformat(end).isoformat()}
    return ["build", "--vars", json.dumps(window)]


@dbt_assets(manifest=ensure_manifest(), dagster_dbt_translator=translator, project=dbt_project)
def mbo_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, mbo: MboResource):
    """``dbt build`` of the selected models against the MBO warehouse, over the run's window (``dbt_build_args``)."""
    # profiles.yml reads MBO_DB_*; derive them from the one URL MBO is configured with.
    env = settings.dbt_env(mbo.url())
    os.environ.update(env)
    # Staging reads every raw table, a disabled platform's too: make sure they all exist (empty).
    with warehouse.connect(mbo.url()) as conn:
        ensure_raw_tables(conn)
    args = dbt_build_args(context.run.tags)
    context.log.info(f"dbt {' '.join(args)}")
    events = dbt.cli(args, context=context).stream()
    # Row counts of built tables go into the asset metadata (dagster/row_count), counted here as each model's
    # event arrives: dagster-dbt's fetch_row_counts polls its worker threads in a busy loop that took a core
    # from dbt for the whole build.
    yield from with_row_counts(events, mbo.url())


def with_row_counts(events: Iterable[Any], url: str) -> Iterator[Any]:
    """``events`` with ``dagster/row_count`` added to each table or incremental model's
    materialization: an exact ``count(*)`` of the relation, by schema and name (any database). Views are not
    counted (that would run their query); a count that fails leaves the event as it was."""
    nodes = _manifest_nodes()
    # Autocommit: no transaction (and no lock on a counted table) stays open while dbt builds the next models.
    with warehouse.connect(url, autocommit=True) as conn:
        for event in events:
            node = nodes.get(_unique_id(event)) if isinstance(event, (dg.Output, dg.AssetMaterialization)) else None
            if node is not None and node.get("config", {}).get("materialized") in ("table", "incremental"):
                try:
                    count = conn.execute(sql.SQL("select count(*) from {}.{}").format(
                        sql.Identifier(node["schema"]), sql.Identifier(node.get("alias") or node["name"]))).fetchone()[0]
                except psycopg.Error:
                    pass
                else:
                    event = event.with_metadata({**event.metadata, "dagster/row_count": dg.MetadataValue.int(count)})
            yield event


def _unique_id(event: Any) -> str | None:
    value = event.metadata.get("unique_id")
    return getattr(value, "text", value)


@functools.cache
def _manifest_nodes() -> dict[str, dict]:
    return json.loads(dbt_project.manifest_path.read_text())["nodes"]
