"""Freshness in the Dagster UI: the marts and the plan must be recent, and the raw tables pass dbt source freshness.

A mart (every table of ``MART_MODELS``) last
materialized more than ``MBO_MARTS_MAX_AGE_HOURS`` ago, or a plan
(``marts/budget_recommendations``) more than ``MBO_PLAN_MAX_AGE_HOURS`` ago, fails
its ``freshness_check`` with severity WARN; each enabled raw table has a
``source_freshness`` check that runs dbt source freshness (see
``source_freshness.py``). None of them blocks anything. The sensor ``freshness_checks_sensor`` runs each check again once it
could have turned stale, so a loop that stopped shows up without anyone running it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from datetime import timedelta

import dagster as dg
from dagster_dbt import get_asset_key_for_model

from mbo_pipelines import asset_keys, settings
from mbo_pipelines.defs.activate.guardrails import DEFAULT_PLAN_MAX_AGE_HOURS
from mbo_pipelines.defs.quality.source_freshness import build_source_freshness_check
from mbo_pipelines.defs.transform.assets import mbo_dbt_models

MART_MODELS = ("fct_campaign_daily", "dim_campaign", "account_pacing", "fct_campaign_attribution", "fct_platform_daily",
               "fct_budget_pacing", "opt_campaign_inputs")
#: Yesterday's loop runs at 06:00; 30 hours leave it six hours of delay before a mart counts as stale.
DEFAULT_MAX_AGE_HOURS = 30.0
FRESHNESS_SENSOR = "freshness_checks_sensor"
SENSOR_INTERVAL_SECONDS = 15 * 60


def marts_max_age() -> timedelta:
    """How old a mart may be before its freshness check fails (``MBO_MARTS_MAX_AGE_HOURS``, default 30)."""
    return settings.env_hours("MBO_MARTS_MAX_AGE_HOURS", DEFAULT_MAX_AGE_HOURS)


def plan_max_age() -> timedelta:
    """How old the plan may be before its freshness check fails: ``MBO_PLAN_MAX_AGE_HOURS`` (default 36), the age
    past which the push refuses it, so the check turns the moment the plan can no longer be pushed."""
    return settings.env_hours("MBO_PLAN_MAX_AGE_HOURS", DEFAULT_PLAN_MAX_AGE_HOURS)


def mart_keys() -> list[dg.AssetKey]:
    """The asset keys of the marts, as the dbt translator names them."""
    return [get_asset_key_for_model([mbo_dbt_models], model) for model in MART_MODELS]


def _quietly(build, **kwargs):
    # Dagster marks these factories "superseded" by FreshnessPolicy, which only the freshness daemon
    # evaluates and which is no asset check: we want checks, with history, that the tests can run.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        return build(**kwargs)


def last_update_freshness_checks() -> list[dg.AssetChecksDefinition]:
    """``freshness_check`` on each mart and on the plan: failed (WARN) when not materialized within its max age."""
    return [
        *_quietly(dg.build_last_update_freshness_checks, assets=mart_keys(), lower_bound_delta=marts_max_age()),
        *_quietly(dg.build_last_update_freshness_checks, assets=[asset_keys.RECOMMENDATIONS],
                  lower_bound_delta=plan_max_age()),
    ]


def freshness_sensor(checks: Sequence[dg.AssetChecksDefinition]) -> dg.SensorDefinition:
    """Runs a check that never ran, or whose last pass may have gone stale since; a failed one waits for its asset.

    Running by default: a stale input must show without anyone remembering to look, and the sensor
    only launches check runs (it never materializes or pushes anything).
    """
    return _quietly(
        dg.build_sensor_for_freshness_checks,
        freshness_checks=checks,
        name=FRESHNESS_SENSOR,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )


def freshness_definitions(
    raw_assets: Sequence[dg.AssetsDefinition],
) -> tuple[list[dg.AssetChecksDefinition], list[dg.SensorDefinition]]:
    """The freshness checks (marts, plan, and ``source_freshness`` on the ``raw_assets`` that dbt reads as
    sources) and the sensor that evaluates them, for ``build_definitions``."""
    checks = last_update_freshness_checks()
    source_check = build_source_freshness_check(raw_assets)
    if source_check is not None:
        checks.append(source_check)
    return checks, [freshness_sensor(checks)]
