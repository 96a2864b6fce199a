"""The largest-moves table in the plan's metadata shows campaign names as written, whatever they contain."""

from dataclasses import replace

from optimize_helpers import synthetic_marts

from mbo_pipelines.defs.optimize.assets import _preview
from mbo_pipelines.defs.optimize.planning import build_plan

HOSTILE = "Save $5 | <script>alert(1)</script> *now* _x_"


def test_a_hostile_name_stays_in_its_cell_as_text():
    daily, campaigns = synthetic_marts(campaigns_per_account=1)
    plan = build_plan(daily, campaigns, "USD")
    plan = replace(plan, rows=plan.rows.assign(campaign_name=[HOSTILE] * len(plan.rows)))
    lines = _preview(plan).splitlines()
    header, rows = lines[0], [line for line in lines[2:] if line.startswith("|")]
    unescaped_bars = lambda line: line.replace("\\|", "").count("|")  # noqa: E731
    assert rows and all(unescaped_bars(row) == unescaped_bars(header) for row in rows)
    assert "<script>" not in _preview(plan)
    assert "Save $5 \\| &lt;script&gt;alert(1)&lt;/script&gt; \\*now\\* \\_x\\_" in rows[0]
