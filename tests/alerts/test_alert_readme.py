"""The README documents every alert kind, and the demo's fault, as the code names them."""

from pathlib import Path

from mbo_pipelines.defs.alerts import model
from mbo_pipelines.demo import DEMO_FAULTS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_alert_kind_has_a_row_in_the_readmes_alerts_table():
    section = README.split("\n## Alerts\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    documented = {kind.strip("` ") for row in rows for kind in row.split("|")[1].split("/")}
    assert documented == set(model.KINDS)


def test_the_readme_names_the_demos_fault():
    assert f"`{DEMO_FAULTS}`" in README
