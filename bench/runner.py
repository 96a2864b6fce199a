"""Run the benchmark sections and assemble the Markdown report.

Sections: 1. allocate vs SLSQP (plus 1b, other allocation scenarios), 2. fitting speed,
3. decision quality, 4. peak memory of allocate, 5. the pipeline at scale (first load, one-day
refresh, push), 6. the alerts detector on injected faults. ``--only allocate`` runs 1, 1b and 4;
``--only pipeline`` runs 5; ``--only alerts`` runs 6.
The quick path (``--quick``) runs small sizes only: a smoke run, not a measurement.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench import alerts, allocation, fitting, pipeline, quality
from bench.report import Section, machine_facts, render

SECTIONS = ("allocate", "fit", "quality", "pipeline", "alerts")


@dataclass
class Report:
    markdown: str
    sections: list[Section]
    wall_seconds: float

    def section(self, prefix: str) -> Section:
        """The section whose title starts with ``prefix`` (e.g. ``"1."``)."""
        return next(s for s in self.sections if s.title.startswith(prefix))


def build_report(quick: bool = False, only: str | None = None, progress=lambda line: None, command: str = "`python -m bench`"):
    """Run the selected sections (all by default) and return the report."""
    if only is not None and only not in SECTIONS:
        raise ValueError(f"only must be one of {', '.join(SECTIONS)}, got {only!r}")
    wanted = SECTIONS if only is None else (only,)
    budget = 0.2 if quick else 1.5  # seconds of repeated runs per timed case
    facts = machine_facts()  # before the run, so the load average is other processes'
    started = time.perf_counter()
    sections: list[Section] = []
    if "allocate" in wanted:
        progress("1. allocate vs SLSQP")
        sizes, sweep_sizes, seeds = (
            (allocation.QUICK_SIZES, allocation.QUICK_SWEEP_SIZES, allocation.QUICK_SWEEP_SEEDS)
            if quick
            else (allocation.SIZES, allocation.SWEEP_SIZES, allocation.SWEEP_SEEDS)
        )
        sections.append(
            allocation.allocation_section(sizes, sweep_sizes, seeds, repeat_budget=budget, progress=progress)
        )
        progress("1b. other allocation scenarios")
        other = allocation.QUICK_OTHER_SIZES if quick else allocation.OTHER_SIZES
        sections.append(allocation.other_scenarios(other, budget, progress))
    if "fit" in wanted:
        progress("2. fitting")
        sizes = fitting.QUICK_SIZES if quick else fitting.SIZES
        sections.append(fitting.fitting_section(sizes, repeat_budget=budget, progress=progress))
    if "quality" in wanted:
        progress("3. decision quality")
        markets = quality.QUICK_MARKETS if quick else quality.MARKETS
        other_seeds = () if quick else quality.OTHER_SEEDS
        sections.append(quality.quality_section(markets, progress=progress, other_seeds=other_seeds))
    if "allocate" in wanted:
        progress("4. peak memory")
        n = allocation.QUICK_MEMORY_N if quick else allocation.MEMORY_N
        sections.append(allocation.memory_section(n, progress=progress))
    if "pipeline" in wanted:
        progress("5. pipeline at scale")
        sizes, timeout = (
            (pipeline.QUICK_SIZES, pipeline.QUICK_STAGE_TIMEOUT) if quick else (pipeline.SIZES, pipeline.STAGE_TIMEOUT)
        )
        sections.append(pipeline.pipeline_section(sizes, timeout=timeout, progress=progress))
    if "alerts" in wanted:
        progress("6. alerts")
        seeds, days = (alerts.QUICK_SEEDS, alerts.QUICK_DAYS) if quick else (alerts.SEEDS, alerts.DAYS)
        sections.append(alerts.alerts_section(seeds, days, progress=progress))
    wall = time.perf_counter() - started
    return Report(render(sections, facts, wall, command), sections, wall)
