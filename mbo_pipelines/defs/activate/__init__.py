"""Activation: push a budget plan's changes to the ad platforms, behind guardrails, with a ledger.

The Dagster job needs a resource under the key ``activation`` (an ``ActivationResource``).
"""

from mbo_pipelines.defs.activate.dagster_defs import (
    ActivationResource,
    decide_budget_changes_job,
    budget_recommendations_sensor,
    push_budget_changes,
    push_budget_changes_job,
    push_job_with,
    resume_interrupted_pushes_sensor,
)
from mbo_pipelines.defs.activate.push import PushSummary, push_plan

__all__ = [
    "ActivationResource",
    "decide_budget_changes_job",
    "PushSummary",
    "budget_recommendations_sensor",
    "push_budget_changes",
    "push_budget_changes_job",
    "push_job_with",
    "push_plan",
    "resume_interrupted_pushes_sensor",
]
