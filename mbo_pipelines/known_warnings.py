"""Warnings MBO knows about and has decided on, silenced once in every process that loads the code location.

Each is named exactly (by message), so a new warning still shows. Dagster prints these in every run worker and
step process, which buried the run logs in identical lines.
"""

import warnings

import dagster as dg

#: (category, message regex, why it is fine).
KNOWN = (
    (dg.BetaWarning, r"Parameter `backfill_policy` of function `asset`",
     "the extract assets load a range of days in one run (BackfillPolicy.single_run), a beta parameter we rely on"),
    (dg.BetaWarning, r"Parameter `owners` of initializer `SensorDefinition.__init__`",
     "raised by Dagster's own freshness-check sensor factory, not by an owner MBO sets"),
    (DeprecationWarning, r"Parameter `partitions_def` of function `define_asset_job` is deprecated",
     "daily_refresh states its partitions so that it stays partitioned with no extract asset enabled"),
    (DeprecationWarning, r"sqlglotrs is deprecated",
     "imported by dbt's dependencies, not by MBO"),
)


def silence_known() -> None:
    """Ignore each of ``KNOWN`` (and nothing else)."""
    for category, message, _why in KNOWN:
        warnings.filterwarnings("ignore", message=message, category=category)
