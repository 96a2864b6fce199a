"""Section 2: ``fit_response_curves`` speed on synthetic daily history."""

from __future__ import annotations

import time

from bench.allocation import best_time
from bench.problems import daily_history
from bench.report import Section, Target, seconds, table
from optimizer import fit_response_curves

SIZES = ((100, 90), (1_000, 365))  # (campaigns, days)
QUICK_SIZES = ((100, 90),)
TARGET = (1_000, 365, 10.0)  # campaigns, days, seconds


def fitting_section(sizes=SIZES, repeat_budget: float = 1.5, progress=lambda line: None) -> Section:
    """Time the fit (best of k, k adaptive) for each (campaigns, days); the data's generation is not timed."""
    rows = []
    for campaigns, days in sizes:
        daily = daily_history(campaigns, days)

        def run(daily=daily):
            start = time.perf_counter()
            fitted = fit_response_curves(daily)
            return time.perf_counter() - start, fitted

        elapsed, runs, fitted = best_time(run, repeat_budget, max_repeats=5)
        diagnostics = fitted.diagnostics
        methods = diagnostics["method"].value_counts().to_dict() if "method" in diagnostics else {}
        rows.append(
            {
                "campaigns": campaigns,
                "days": days,
                "rows": len(daily),
                "fit_s": elapsed,
                "repeats": runs,
                "methods": methods,
                "median_r2": float(diagnostics["r2"].median()) if "r2" in diagnostics else float("nan"),
            }
        )
        progress(f"  fit {campaigns:,} × {days}: {seconds(elapsed)} (k={runs})")
    targets = []
    for r in rows:
        if (r["campaigns"], r["days"]) == TARGET[:2]:
            targets.append(
                Target(
                    f"fit {TARGET[0]:,} campaigns × {TARGET[1]} days in < {TARGET[2]:.0f} s",
                    r["fit_s"] < TARGET[2],
                    seconds(r["fit_s"]),
                )
            )
    body = (
        "`fit_response_curves(daily)` with its defaults on synthetic history: per campaign a known Hill "
        "curve (shape 0.5–2.5), daily spend log-normal (30 %) around a level, value = curve × 10 % "
        "log-normal noise, campaigns spread over three platforms. Best of k runs (k adaptive); "
        "generating the data is not timed. Median R² is a sanity check that the fits are real.\n\n"
        + table(
            ["campaigns × days", "rows", "fit (best of k)", "k", "per campaign", "methods", "median R²"],
            [
                [
                    f"{r['campaigns']:,} × {r['days']}",
                    f"{r['rows']:,}",
                    seconds(r["fit_s"]),
                    str(r["repeats"]),
                    seconds(r["fit_s"] / r["campaigns"]),
                    ", ".join(f"{k}: {v:,}" for k, v in r["methods"].items()) or "—",
                    f"{r['median_r2']:.3f}",
                ]
                for r in rows
            ],
        )
    )
    return Section("2. Fitting speed", body, rows, targets)
