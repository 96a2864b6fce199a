"""Smoke test of the benchmark runner's quick path (``python -m bench --quick``): it runs and builds its tables.

Not a benchmark: no timing is asserted.
"""

from bench.allocation import COLUMNS, QUICK_SIZES
from bench.problems import VARIANTS
from bench.runner import build_report


def test_quick_allocation_report_has_every_row_and_beats_slsqp_on_10_campaigns():
    report = build_report(quick=True, only="allocate")

    section = report.section("1.")
    assert [(r["variant"], r["campaigns"]) for r in section.rows] == [(v, n) for v in VARIANTS for n in QUICK_SIZES]
    header = "| " + " | ".join(COLUMNS) + " |"
    assert section.body.count(header) == len(VARIANTS)
    for variant in VARIANTS:
        lines = section.body.split(header)[1 + list(VARIANTS).index(variant)].strip().splitlines()
        cells = [line.split("|")[1].strip() for line in lines[1 : 1 + len(QUICK_SIZES)]]
        assert cells == [f"{n:,}" for n in QUICK_SIZES]
    for row in section.rows:
        assert row["success"] and row["slsqp_status"] == "ok"
        if row["campaigns"] == 10:
            assert row["allocate_value"] >= row["slsqp_value"] - 1e-9 * abs(row["slsqp_value"])

    assert [s.title[:2] for s in report.sections] == ["1.", "1b", "4."]
    assert report.markdown.startswith("# MBO benchmarks")
    assert "numpy / scipy / pandas" in report.markdown
    assert all(s.title in report.markdown for s in report.sections)
