"""Section 6, graded faults: recall on partial faults just past and just short of the detector's thresholds.

The section's main faults are blunt (conversions to 0, spend x3, a day x2), far past every threshold, so their
recall says little about a real account, where a tag loses half its conversions or a spend spike is 1.8x. Here
the same seeds, targets and start days get graded faults (``Fault.factor``) of the kinds that have a size:

- **past**: a little beyond the threshold that should fire (conversions at 0.8 of the tracking factor's
  bound, spend at 1.12 x the spike ratio, a restatement 1.5 x the restatement ratio): they should be found,
  though noise may hide some;
- **short**: clearly inside the thresholds (half the conversions lost with the default factor 4, spend at
  0.72 x the ratio, a restatement of half the ratio): not found by design, and the table shows it.

A graded fault is found as the main ones are (``bench.alerts.delay``): an alert of a matching kind on its scope
and days, open on a morning at most ``WITHIN_DAYS`` after its start. Informational: no target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from bench.report import table
from mbo_pipelines.defs.alerts.thresholds import Thresholds
from mbo_pipelines.sandbox.faults import Fault

GRADED_KINDS = ("tracking_break", "spend_spike", "restatement")
PAST, SHORT = "past", "short"
#: One seed's graded runs: per grade, each fault and its delay in days (None: never found).
Graded = Mapping[str, Sequence[tuple[Fault, int | None]]]


def grade_sets(t: Thresholds) -> dict[str, dict[str, float]]:
    """Per grade, the factor of each graded kind, from the thresholds ``t`` (see the module docstring)."""
    return {
        PAST: {"tracking_break": round(0.8 / t.tracking_factor, 3), "spend_spike": round(1.12 * t.ratio, 2),
               "restatement": round(1 + 1.5 * t.restatement_ratio, 2)},
        SHORT: {"tracking_break": min(round(2 / t.tracking_factor, 3), 0.9),
                "spend_spike": max(round(0.72 * t.ratio, 2), 1.1),
                "restatement": round(1 + 0.5 * t.restatement_ratio, 2)},
    }  # fmt: skip


def graded_faults(faults: Sequence[Fault], factors: Mapping[str, float]) -> list[Fault]:
    """The faults of the kinds in ``factors``, each with its kind's factor (same target and days)."""
    return [replace(f, factor=factors[f.kind]) for f in faults if f.kind in factors]


def _threshold(kind: str, t: Thresholds) -> str:
    return {
        "tracking_break": f"conversions below expected / {t.tracking_factor:g} (p < {t.p_value:g})",
        "spend_spike": f"spend above {t.ratio:g} x usual and z > {t.z:g}",
        "restatement": f"a day's spend restated by more than {t.restatement_ratio:.0%}",
    }[kind]


def graded_table(runs: Sequence[Graded], t: Thresholds, within: int) -> str:
    """Per grade and kind: the factor, the threshold it is measured against, and how many faults were found."""
    rows = []
    factors = grade_sets(t)
    for grade in (PAST, SHORT):
        for kind in GRADED_KINDS:
            delays = [d for run in runs for f, d in run.get(grade, ()) if f.kind == kind]
            if not delays:
                continue
            found = [d for d in delays if d is not None]
            soon = sum(d <= within for d in found)
            rows.append([grade, kind, f"x{factors[grade][kind]:g}", _threshold(kind, t), f"{len(delays)}", f"{soon}",
                         f"{len(found) - soon}", f"{len(delays) - len(found)}", f"{soon / len(delays):.2f}",
                         f"{np.median(found):g}" if found else "—"])
    return table(["grade", "fault kind", "factor", "threshold", "injected", f"found within {within} day",
                  "found later", "never found", "recall", "median delay (days)"], rows, "llllrrrrrr")
