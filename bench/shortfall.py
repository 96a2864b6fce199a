"""Where the fitted plans' shortfall to the Bayes ceiling comes from: a summary of the decision-quality rows.

With ``shortfall=True`` every row of ``bench.decision_quality.run_decision_quality`` carries,
beside the fitted plan's ``captured_uplift_pct`` and the ceiling's ``bayes_ceiling_pct``:

- ``ceiling_fitted_evidence_pct``: the ceiling's oracle told the carryover, weekday factors and
  noise levels the fit estimated instead of the true ones (it still knows the curves'
  distribution). Its distance to the ceiling is what estimating those costs.
- ``ceiling_plugin_pct``: ``allocate`` on one Hill curve per campaign at the oracle's
  posterior-mean parameters. Its distance to the ceiling is what planning on point estimates
  instead of maximizing posterior expected value costs.
- ``learned_prior_pct``: a Bayes plan whose prior is learned from the market itself
  (``bench.learned_prior``), the way any method must: the oracle's method on the fit's
  estimates without the oracle's knowledge. Its distance to ``ceiling_fitted_evidence_pct``
  is what knowing the curves' distribution is worth.
"""

from __future__ import annotations

import numpy as np

from bench.report import table

SHORTFALL_COLUMNS = {
    "captured_uplift_pct": "fitted plans (`fit_response_curves` + `allocate`)",
    "bayes_ceiling_pct": "Bayes ceiling (the oracle)",
    "ceiling_fitted_evidence_pct": "oracle told the fit's carryover, weekday factors and noise",
    "ceiling_plugin_pct": "oracle's posterior-mean curves, planned by `allocate`",
    "learned_prior_pct": "Bayes plan with a prior learned from the market (NPMLE)",
}
_GROUPS = {"all markets": "", "sandbox": "sandbox", "random": "random"}


def shortfall_summary(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Mean of each shortfall column over all markets, the sandbox ones and the random ones."""
    out = {}
    for label, prefix in _GROUPS.items():
        chosen = [r for r in rows if str(r["market"]).startswith(prefix)]
        out[label] = {
            key: float(np.nanmean([r.get(key, np.nan) for r in chosen])) if chosen else np.nan for key in SHORTFALL_COLUMNS
        }
    return out


def shortfall_lines(rows: list[dict]) -> list[str]:
    """Markdown lines: the summary table with how to read it (empty when the rows lack the columns)."""
    if not rows or any(key not in rows[0] for key in SHORTFALL_COLUMNS):
        return []
    summary = shortfall_summary(rows)
    body = [
        [description, *(f"{summary[g][key]:.1f} %" for g in _GROUPS)] for key, description in SHORTFALL_COLUMNS.items()
    ]
    every = summary["all markets"]
    ceiling, fitted = every["bayes_ceiling_pct"], every["captured_uplift_pct"]
    return [
        "### Where the shortfall to the ceiling comes from",
        "",
        "Mean captured uplift on the same markets (`bench.shortfall`). Against the ceiling, over all markets: "
        f"the fitted plans are {fitted - ceiling:+.1f} points; the oracle told the fit's estimates of carryover, "
        f"weekday factors and noise instead of the truth, {every['ceiling_fitted_evidence_pct'] - ceiling:+.1f}; "
        f"the oracle planning on point estimates (its posterior-mean curves through `allocate`), "
        f"{every['ceiling_plugin_pct'] - ceiling:+.1f}; a Bayes plan whose prior is learned from the market "
        f"itself, as any method's must be, {every['learned_prior_pct'] - ceiling:+.1f}. That plan and the oracle "
        "told the fit's estimates are the same method on the same estimates and differ only in the prior: "
        "knowing the distribution the curves were drawn from is worth "
        f"{every['ceiling_fitted_evidence_pct'] - every['learned_prior_pct']:+.1f} points here.",
        "",
        table(["plan", *_GROUPS], body),
        "",
    ]
