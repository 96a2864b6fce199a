"""Section 3: decision quality, from ``bench.decision_quality.run_decision_quality``.

That module scores plans made on fitted curves against the true curves of simulated
markets. Its rows are rendered as they come; the targets are checked on the columns
``captured_uplift_pct`` (mean >= 95) and ``vs_current_pct`` (worst >= -1).
"""

from __future__ import annotations

import math
import time
import traceback

import numpy as np

from bench.decision_quality import run_decision_quality
from bench.report import Section, Target, seconds, table
from bench.shortfall import SHORTFALL_COLUMNS, shortfall_lines

TITLE = "3. Decision quality"
MARKETS, QUICK_MARKETS = 20, 2
OTHER_SEEDS = (1, 2, 3)  # further draws of the random markets, to show how much seed 0 depends on its luck
CAPTURED_TARGET = 95.0  # mean captured uplift, %
VS_CURRENT_TARGET = -1.0  # worst plan vs current budgets, %


def _cell(value) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{value:,}"
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return "—"
        return f"{value:.3g}" if abs(value) < 1e-2 and value != 0 else f"{value:,.2f}"
    return str(value)


def _targets(rows: list[dict]) -> list[Target]:
    captured_label = f"decision quality: mean captured uplift ≥ {CAPTURED_TARGET:.0f} %"
    vs_label = f"decision quality: never below current by more than {-VS_CURRENT_TARGET:.0f} %"
    out = []
    captured = np.array([r.get("captured_uplift_pct", np.nan) for r in rows], dtype=float)
    if np.isfinite(captured).any():
        mean = float(np.nanmean(captured))
        detail = f"mean {mean:.1f} % (worst {np.nanmin(captured):.1f} %) over {np.isfinite(captured).sum()} markets"
        out.append(Target(captured_label, mean >= CAPTURED_TARGET, detail))
    else:
        out.append(Target(captured_label, None, "no captured_uplift_pct column"))
    vs = np.array([r.get("vs_current_pct", np.nan) for r in rows], dtype=float)
    if np.isfinite(vs).any():
        worst = float(np.nanmin(vs))
        out.append(Target(vs_label, worst >= VS_CURRENT_TARGET, f"worst {worst:+.2f} % vs current budgets"))
    else:
        out.append(Target(vs_label, None, "no vs_current_pct column"))
    return out


def _ceiling_line(rows: list[dict]) -> str:
    """What the Bayes ceiling says about the captured-uplift target (empty without the column)."""
    ceiling = np.array([r.get("bayes_ceiling_pct", np.nan) for r in rows], dtype=float)
    captured = np.array([r.get("captured_uplift_pct", np.nan) for r in rows], dtype=float)
    both = np.isfinite(ceiling) & np.isfinite(captured)
    if not both.any():
        return ""
    mean_ceiling, mean_captured = float(np.mean(ceiling[both])), float(np.mean(captured[both]))
    return (
        f"**Bayes ceiling** (`bayes_ceiling_pct`, `bench.bayes_ceiling`): an oracle that knows the distribution "
        f"the true curves were drawn from (around each campaign's base budget), every carryover rate, weekday "
        f"factor and noise level, and sees the same 90 days, captures on average **{mean_ceiling:.1f} %** on "
        f"these markets: no method fitted on this history can expect more. The fitted plans capture {mean_captured:.1f} %, "
        f"{100 * mean_captured / mean_ceiling:.1f} % of the ceiling; the {CAPTURED_TARGET:.0f} % target is "
        f"{100 * CAPTURED_TARGET / mean_ceiling:.1f} % of it."
    )


def _seed_summary(seed, rows: list[dict]) -> list:
    """One row of the across-seeds table: the random markets of ``rows`` summarized."""
    rows = [r for r in rows if str(r["market"]).startswith("random")]
    captured = np.array([r["captured_uplift_pct"] for r in rows], dtype=float)
    return [
        str(seed),
        f"{len(rows):,}",
        f"{np.nanmean(captured):.1f} %",
        f"{np.nanmedian(captured):.1f} %",
        f"{np.nanmin(captured):.1f} %",
        f"{min(r['vs_current_pct'] for r in rows):+.2f} %",
        f"{np.mean([r['interval_covers'] for r in rows]):.0%}",
    ]


def _across_seeds(rows: list[dict], seeds, markets: int, progress) -> list[str]:
    """Markdown lines: the random markets of seed 0 (``rows``) beside those of ``seeds`` (no ceiling)."""
    if not seeds:
        return []
    summary = [_seed_summary(0, rows)]
    for seed in seeds:
        start = time.perf_counter()
        other = run_decision_quality(seed=seed, markets=markets, sandbox_seeds=(), ceiling_draws=0)
        summary.append(_seed_summary(seed, other))
        progress(f"  decision quality, seed {seed}: {markets} random markets in {seconds(time.perf_counter() - start)}")
    columns = ["seed", "random markets", "mean captured", "median", "worst", "worst vs current", "interval covers"]
    return [
        "### Decision quality across seeds",
        "",
        f"The random markets drawn from other seeds (`run_decision_quality(seed=S, markets={markets}, "
        "sandbox_seeds=())`, without the ceiling): how much the figures above owe to seed 0's draw.",
        "",
        table(columns, summary),
        "",
    ]


def quality_section(markets: int = MARKETS, progress=lambda line: None, other_seeds=OTHER_SEEDS, **options) -> Section:
    """Run the decision-quality benchmark; a failure is reported in the section, not raised.

    ``options`` go to the seed-0 ``run_decision_quality`` (e.g. fewer ``sandbox_seeds`` or
    ``ceiling_draws`` for a quick look; ``shortfall`` defaults to on, adding the table of
    ``bench.shortfall``); ``other_seeds`` add the across-seeds table.
    """
    start = time.perf_counter()
    options.setdefault("shortfall", True)
    try:
        rows = run_decision_quality(seed=0, markets=markets, **options)
    except Exception:  # noqa: BLE001 - the report says what failed instead of losing the other sections
        last = traceback.format_exc().strip().splitlines()[-1]
        progress(f"  decision quality failed: {last}")
        failed = [Target(t.label, False, f"the benchmark failed: {last}") for t in _targets([])]
        return Section(TITLE, f"*Failed*: `run_decision_quality(seed=0, markets={markets})` raised `{last}`.", [], failed)
    elapsed = time.perf_counter() - start
    progress(f"  decision quality: {len(rows)} markets in {seconds(elapsed)}")
    # The main table keeps its columns; the shortfall ones are summarized in their own table.
    extra = set(SHORTFALL_COLUMNS) - {"captured_uplift_pct", "bayes_ceiling_pct"}
    columns = [key for key in dict.fromkeys(key for row in rows for key in row) if key not in extra]
    targets = _targets(rows)
    body = "\n".join(
        [
            f"`bench.decision_quality.run_decision_quality(seed=0, markets={markets})` "
            f"({len(rows)} markets in {seconds(elapsed)}; see that module for the markets and the columns). "
            "Plans are made on curves fitted to simulated history and scored on the true curves.",
            "",
            *(t.line() for t in targets),
            "",
            *([line, ""] if (line := _ceiling_line(rows)) else []),
            table(columns, [[_cell(row.get(c, "")) for c in columns] for row in rows]),
            "",
            *shortfall_lines(rows),
            *_across_seeds(rows, other_seeds, markets, progress),
        ]
    ).rstrip()
    return Section(TITLE, body, rows, targets)
