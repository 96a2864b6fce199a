"""The asset keys other modules refer to: the plan's two tables and the push's ledger (the loop's last assets)."""

import dagster as dg

#: ``marts.budget_plans``: one row per plan (totals, expected value, explanation).
PLANS = dg.AssetKey(["marts", "budget_plans"])
#: ``marts.budget_recommendations``: one row per campaign of a plan; its materialization carries the ``plan_id``
#: the push sensor acts on.
RECOMMENDATIONS = dg.AssetKey(["marts", "budget_recommendations"])
#: ``activation.budget_changes``: the ledger a push writes (what was applied, held, refused, failed).
BUDGET_CHANGES = dg.AssetKey(["activation", "budget_changes"])
#: ``marts.alerts``: one row per alert the detector found after a refresh (open or resolved).
ALERTS = dg.AssetKey(["marts", "alerts"])
