"""The decision-quality benchmark: its Bayes ceiling (right when the prior is the truth) and its report section."""

import numpy as np

from bench.bayes_ceiling import bayes_plan
from bench.decision_quality import random_market, run_decision_quality
from bench.quality import _ceiling_line
from optimizer import allocate


def test_oracle_with_the_true_curves_as_its_prior_finds_the_true_optimum():
    market = random_market(np.random.default_rng(3))
    true = market.true
    by_base = {float(b): i for i, b in enumerate(market.base)}

    def point_mass(base, draws, rng):
        i = by_base[float(base)]
        return (np.full(draws, true.vmax[i]), np.full(draws, true.half_saturation[i]), np.full(draws, true.shape[i]))

    market.prior = point_mass
    plan = bayes_plan(market, draws=4)
    current = market.current
    best = allocate(true, current.sum(), current=current, max_change=0.3)
    v_current = true.value(current).sum()
    captured = (true.value(plan).sum() - v_current) / (best.expected_value - v_current)

    assert np.isclose(plan.sum(), current.sum())
    assert np.all(plan >= 0.7 * current * (1 - 1e-3)) and np.all(plan <= 1.3 * current * (1 + 1e-3))
    assert captured > 0.995  # only the grid (0.5 % steps) stands between it and the optimum


def test_decision_quality_rows_carry_the_ceiling_and_the_report_explains_it():
    rows = run_decision_quality(seed=0, markets=1, sandbox_seeds=(7,), ceiling_draws=2_000)

    assert [r["market"] for r in rows] == ["sandbox-7", "random-0"]
    for row in rows:
        assert 0 < row["bayes_ceiling_pct"] <= 100.5
    line = _ceiling_line(rows)
    assert "Bayes ceiling" in line
    assert f"{np.mean([r['bayes_ceiling_pct'] for r in rows]):.1f} %" in line


def test_quality_section_shows_seed_zero_beside_other_seeds():
    from bench.quality import _seed_summary, quality_section

    section = quality_section(markets=1, other_seeds=(1,), sandbox_seeds=(7,), ceiling_draws=500)

    assert [r["market"] for r in section.rows] == ["sandbox-7", "random-0"]
    assert "### Decision quality across seeds" in section.body
    seed_one = run_decision_quality(seed=1, markets=1, sandbox_seeds=(), ceiling_draws=0)
    for row in (_seed_summary(0, section.rows), _seed_summary(1, seed_one)):
        assert "| " + " | ".join(row) + " |" in section.body
    assert _seed_summary(0, section.rows)[1] == "1"  # only the random market counts
    assert "### Where the shortfall to the ceiling comes from" in section.body
    for row in section.rows:  # the shortfall columns are summarized, not added to the market table
        assert 0 < row["learned_prior_pct"] <= 100.5
    assert "learned_prior_pct" not in section.body
