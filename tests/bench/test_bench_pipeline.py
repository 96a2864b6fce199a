"""The pipeline benchmark (``python -m bench --only pipeline``): its report, and a quick run on the tiniest size.

Not a benchmark: no timing is asserted, only that every stage ran and was measured and reported.
"""

import os

import pytest

from bench.pipeline import (
    FIRST_LOAD,
    PER_STAGE_COLUMNS,
    QUICK_SIZES,
    QUICK_STAGE_TIMEOUT,
    REFRESH,
    STAGE_TITLES,
    STAGES,
    StageResult,
    build_section,
    pipeline_section,
)

GiB = 2**30


def _results(campaigns: int, days: int, refresh_dbt: float, push: float, plan_peak: float) -> list[StageResult]:
    """A made-up measurement of one size: every stage took 2 s over 20 000 rows (a push: one change per campaign),
    except the given ones."""
    out = []
    for run in (FIRST_LOAD, REFRESH):
        for stage in STAGES:
            took = {("dbt", REFRESH): refresh_dbt, ("push", FIRST_LOAD): push}.get((stage, run), 2.0)
            peak = plan_peak if (stage, run) == ("plan", FIRST_LOAD) else 0.4 * GiB
            out.append(StageResult(campaigns, days, run, stage, ok=True, seconds=took, process_seconds=took + 5,
                                   peak_rss=int(peak), rows=campaigns if stage == "push" else 20_000))
    return out


def test_report_shows_every_stage_with_its_cost_per_row_and_whether_it_meets_the_targets():
    results = _results(1_000, 90, refresh_dbt=25.0, push=10.0, plan_peak=0.5 * GiB)
    results += _results(20_000, 365, refresh_dbt=15.0, push=40.0, plan_peak=2 * GiB)
    section = build_section(results, {(1_000, 90): {}, (20_000, 365): {}})

    detail = section.body.split("| " + " | ".join(PER_STAGE_COLUMNS) + " |")[1]
    lines = [line for line in detail.strip().splitlines()[1:] if line.startswith("|")][:4 * len(STAGES)]
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in lines]
    assert [(c[0], c[1], c[2]) for c in cells] == [
        (size, run, STAGE_TITLES[stage]) for size in ("1,000 × 90", "20,000 × 365")
        for run in (FIRST_LOAD, REFRESH) for stage in STAGES]
    assert {c[5] for c in cells} == {"100.0", "1,250.0", "750.0", "10,000.0", "2,000.0"}  # µs per row = s / rows
    marks = {(c[0], c[1], c[2]): c[8] for c in cells}
    assert marks["1,000 × 90", REFRESH, "dbt build"] == "❌ miss"  # 25 s > 20 s
    assert marks["20,000 × 365", REFRESH, "dbt build"] == "✅ pass"
    # The push is held to 30 s per 20 000 changes: 1.5 s for 1 000.
    assert marks["1,000 × 90", FIRST_LOAD, "push through the sandbox"] == "❌ miss"  # 10 s
    assert marks["1,000 × 90", REFRESH, "push through the sandbox"] == "❌ miss"  # 2 s
    assert marks["20,000 × 365", REFRESH, "push through the sandbox"] == "✅ pass"  # 2 s
    assert marks["20,000 × 365", FIRST_LOAD, "push through the sandbox"] == "❌ miss"  # 40 s
    assert marks["20,000 × 365", FIRST_LOAD, "planning"] == "❌ miss"  # 2 GB > 1.5 GB
    assert marks["1,000 × 90", REFRESH, "planning"] == "✅ pass"  # refresh 2 + 25 + 2 + 2 s < 60 s
    assert "refresh 31 s < 60 s" in section.body  # the alerts stage counts in the refresh

    assert "| 1,000 × 90 | 2 s | 2 s | 2 s | 2 s (512.0 MB) | 10 s |" in section.body  # the table
    assert [t.passed for t in section.targets] == [True, False, True, False]


def test_a_stage_that_fails_is_reported_and_the_rest_of_its_size_is_not_run():
    results = [StageResult(1_000, 90, FIRST_LOAD, "extract", ok=True, seconds=3.0, peak_rss=2**28, rows=1_000),
               StageResult(1_000, 90, FIRST_LOAD, "dbt", ok=False, error="mbo_dbt_models: dbt build failed")]
    results += [StageResult(1_000, 90, run, stage, ok=False, error="not run: first load dbt build failed")
                for run in (FIRST_LOAD, REFRESH) for stage in STAGES][2:]
    section = build_section(results, {(1_000, 90): {}})

    assert "| 1,000 × 90 | 3 s | failed | failed | failed | failed |" in section.body
    assert "mbo_dbt_models: dbt build failed" in section.body
    assert [t.passed for t in section.targets] == [None] * 4


#: The real run takes minutes (two dbt builds, eight processes): `.ci/run` runs it after `make test`.
RUN_REAL = os.environ.get("MBO_BENCH_PIPELINE_TEST", "").strip() == "1"


@pytest.mark.skipif(not RUN_REAL, reason="set MBO_BENCH_PIPELINE_TEST=1 (as .ci/run does): a 4-minute real run")
@pytest.mark.timeout(900)
def test_quick_run_on_the_tiniest_size_measures_every_stage(new_database):
    """The real loop (about 3 minutes): each stage in a process of its own, on a database of the test server."""
    campaigns, days = QUICK_SIZES[0]
    section = pipeline_section(QUICK_SIZES[:1], timeout=QUICK_STAGE_TIMEOUT, new_database=new_database)

    assert [(r["run"], r["stage"]) for r in section.rows] == [(run, s) for run in (FIRST_LOAD, REFRESH) for s in STAGES]
    for row in section.rows:
        assert row["ok"], (row["run"], row["stage"], row["error"])
        assert row["rows"] > 0 and row["us_per_row"] > 0, row
        assert 0 < row["seconds"] < row["process_seconds"], row
        assert row["peak_rss"] > 50 * 2**20, row  # a Python process with Dagster loaded
    plan = next(r for r in section.rows if r["stage"] == "plan")
    push = next(r for r in section.rows if r["stage"] == "push")
    assert push["rows"] == plan["detail"]["campaigns"]  # every campaign of the plan went through the ledger
    assert f"| {campaigns:,} × {days} |" in section.body
    assert all(title in section.body for title in STAGE_TITLES.values())
    assert section.extra["sizes"][(campaigns, days)]["database_bytes"] > 0
