"""dbt source freshness on the raw tables, as the asset check ``source_freshness`` on each extract asset.

One non-blocking multi-asset check runs ``dbt source freshness`` once for the
selected raw tables and reports dbt's verdict per table: passed, WARN past the
source's ``warn_after``, ERROR past its ``error_after`` or when dbt could not
read the table. The thresholds are dbt's own (``loaded_at_field`` and
``freshness`` in ``dbt_project/models/staging/_raw__sources.yml``).
"""

import contextlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_factories.utils import FRESH_UNTIL_METADATA_KEY
from dagster_dbt import DbtCliResource

from mbo_pipelines import settings
from mbo_pipelines.defs.transform.assets import translator
from mbo_pipelines.defs.transform.project import dbt_project, ensure_manifest
from mbo_pipelines.resources import MboResource

SOURCE_FRESHNESS_CHECK = "source_freshness"
RAW_SOURCE = "raw"
_PERIODS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


@dataclass(frozen=True)
class RawSource:
    """A ``raw`` dbt source with a freshness rule, and the asset key of the extract that loads it."""

    table: str
    key: dg.AssetKey
    warn_after: timedelta | None
    error_after: timedelta | None

    @property
    def name(self) -> str:
        return f"{RAW_SOURCE}.{self.table}"

    @property
    def selector(self) -> str:
        return f"source:{RAW_SOURCE}.{self.table}"


def _threshold(rule: Mapping | None) -> timedelta | None:
    if not rule or not rule.get("count") or rule.get("period") not in _PERIODS:
        return None
    return rule["count"] * _PERIODS[rule["period"]]


def _hours(delta: timedelta | None) -> str:
    return "never" if delta is None else f"{round(delta.total_seconds() / 3600, 1):g} hours"


def raw_sources_with_freshness() -> dict[dg.AssetKey, RawSource]:
    """The ``raw`` dbt sources that have a ``loaded_at_field`` and a threshold, by asset key (``raw/<table>``)."""
    manifest = json.loads(ensure_manifest().read_text())
    sources = {}
    for unique_id, props in manifest["sources"].items():
        freshness = props.get("freshness") or {}
        warn, error = _threshold(freshness.get("warn_after")), _threshold(freshness.get("error_after"))
        if props["source_name"] != RAW_SOURCE or not props.get("loaded_at_field") or not (warn or error):
            continue
        key = translator.get_asset_spec(manifest, unique_id, dbt_project).key
        sources[key] = RawSource(props["name"], key, warn, error)
    return sources


@contextlib.contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` set, restored afterwards (dbt's profile reads MBO_DB_*)."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_source_freshness(dbt: DbtCliResource, url: str, sources: Sequence[RawSource]) -> tuple[dict[str, dict], str]:
    """``dbt source freshness`` of ``sources`` in the database at ``url``: dbt's result per table, and its
    error output (empty when dbt ran cleanly; a stale table alone also makes dbt exit non-zero)."""
    # dbt takes several selectors as one space-separated --select value.
    args = ["source", "freshness", "--select", " ".join(s.selector for s in sources)]
    # Each invocation gets a target directory of its own, so dbt would parse the whole project again (~6 s):
    # start from the prepared parse instead (dbt re-parses what changed, or everything if the profile did).
    prepared = dbt_project.target_path / "partial_parse.msgpack"
    if prepared.exists():
        args += ["--partial-parse-file-path", str(prepared)]
    with _environ(settings.dbt_env(url)):
        invocation = dbt.cli(args, raise_on_error=False)
    invocation.wait()
    error = invocation.get_error()
    artifact = invocation.target_path / "sources.json"
    results = json.loads(artifact.read_text())["results"] if artifact.exists() else []
    by_table = {r["unique_id"].rsplit(".", 1)[-1]: r for r in results}
    # Each run leaves a few MB of artifacts; keep them (dbt.log) only when dbt left a table unreported.
    if all(s.table in by_table for s in sources):
        shutil.rmtree(invocation.target_path, ignore_errors=True)
    return by_table, str(error) if error else ""


def source_freshness_result(source: RawSource, result: dict | None, dbt_error: str = "") -> dg.AssetCheckResult:
    """The check result for one table from dbt's freshness ``result`` (None when dbt reported none)."""
    metadata: dict = {
        "table": dg.MetadataValue.text(source.name),
        "warn_after": dg.MetadataValue.text(_hours(source.warn_after)),
        "error_after": dg.MetadataValue.text(_hours(source.error_after)),
        "dbt_command": dg.MetadataValue.text(f"dbt source freshness --select {source.selector}"),
    }
    status = (result or {}).get("status")
    if status not in ("pass", "warn", "error"):
        reason = (result or {}).get("error") or (result or {}).get("message") or "no result"
        return dg.AssetCheckResult(
            asset_key=source.key, check_name=SOURCE_FRESHNESS_CHECK, passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=f"dbt source freshness could not read {source.name} ({reason}); see dbt_error.",
            metadata={**metadata, "dbt_status": dg.MetadataValue.text(status or "missing"),
                      "dbt_error": dg.MetadataValue.md(f"```\n{dbt_error or reason}\n```")},
        )
    metadata["dbt_status"] = dg.MetadataValue.text(status)
    loaded_at = datetime.fromisoformat(result["max_loaded_at"])
    severity = dg.AssetCheckSeverity.WARN if status == "warn" else dg.AssetCheckSeverity.ERROR
    if loaded_at.year == 1:  # dbt's max_loaded_at for a table without rows
        return dg.AssetCheckResult(
            asset_key=source.key, check_name=SOURCE_FRESHNESS_CHECK, passed=status == "pass", severity=severity,
            description=f"{source.name} has no rows: {source.key.to_user_string()} has never loaded it.",
            metadata={**metadata, "last_loaded_at": dg.MetadataValue.text("never")},
        )
    age = timedelta(seconds=result["max_loaded_at_time_ago_in_s"])
    metadata["last_loaded_at"] = dg.MetadataValue.timestamp(loaded_at)
    metadata["age_hours"] = dg.MetadataValue.float(round(age.total_seconds() / 3600, 1))
    # The freshness sensor re-runs a passing check once this moment is past.
    metadata[FRESH_UNTIL_METADATA_KEY] = dg.MetadataValue.timestamp(loaded_at + (source.warn_after or source.error_after))
    rule = f"dbt warns after {_hours(source.warn_after)} and errors after {_hours(source.error_after)}"
    if status == "pass":
        description = f"{source.name} was last loaded {_hours(age)} ago; {rule}."
    else:
        description = (f"{source.name} is stale: last loaded {_hours(age)} ago ({rule}). "
                       f"Look at the latest runs of {source.key.to_user_string()}, then materialize it again.")
    return dg.AssetCheckResult(
        asset_key=source.key, check_name=SOURCE_FRESHNESS_CHECK, passed=status == "pass", severity=severity,
        description=description, metadata=metadata,
    )


def build_source_freshness_check(raw_assets: Sequence[dg.AssetsDefinition]) -> dg.AssetChecksDefinition | None:
    """``source_freshness`` on every asset of ``raw_assets`` that loads a ``raw`` dbt source with a
    freshness rule (None when there is none); it runs dbt once for the checks selected."""
    sources = raw_sources_with_freshness()
    checked = sorted({k for asset in raw_assets for k in asset.keys if k in sources}, key=lambda k: k.path)
    if not checked:
        return None
    specs = [
        dg.AssetCheckSpec(
            SOURCE_FRESHNESS_CHECK, asset=key, blocking=False,
            description=(f"dbt source freshness of {sources[key].name} (_loaded_at): WARN after "
                         f"{_hours(sources[key].warn_after)}, ERROR after {_hours(sources[key].error_after)}."),
        )
        for key in checked
    ]

    @dg.multi_asset_check(specs=specs, can_subset=True, name="raw_source_freshness")
    def raw_source_freshness(context: dg.AssetCheckExecutionContext, dbt: DbtCliResource, mbo: MboResource):
        """``dbt source freshness`` once for the selected raw tables; one result per table."""
        selected = [sources[k.asset_key] for k in sorted(context.selected_asset_check_keys, key=lambda k: k.asset_key.path)]
        results, dbt_error = run_source_freshness(dbt, mbo.url(), selected)
        for source in selected:
            yield source_freshness_result(source, results.get(source.table), dbt_error)

    return raw_source_freshness
