"""The mutant list stays applicable: every mutant's text is in the tree exactly once, and it covers each area."""

from pathlib import Path

from tests.mutation.mutants import MUTANTS

ROOT = Path(__file__).resolve().parents[2]


def test_every_mutant_applies_to_the_current_code_exactly_once():
    assert len(MUTANTS) >= 20 and len({m.id for m in MUTANTS}) == len(MUTANTS)
    for mutant in MUTANTS:
        assert (ROOT / mutant.path).read_text().count(mutant.old) == 1, mutant.id
        assert mutant.new != mutant.old and mutant.why.strip(), mutant.id
        assert mutant.tests and all((ROOT / t).exists() for t in mutant.tests), mutant.id


def test_the_list_covers_every_stage_of_the_data_path():
    paths = {m.path for m in MUTANTS}
    for area in ("mbo_pipelines/defs/ingest/", "dbt_project/models/staging/", "dbt_project/models/marts/",
                 "dbt_project/models/intermediate/int_fx_rates", "mbo_pipelines/defs/optimize/planning.py",
                 "mbo_pipelines/defs/activate/guardrails.py", "mbo_pipelines/defs/activate/ledger.py",
                 "mbo_pipelines/defs/activate/push.py"):
        assert any(p.startswith(area) for p in paths), area
