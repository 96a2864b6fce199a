"""The code has no undefined or unused names and no syntax errors (ruff's F and E9 rules, see pyproject.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_no_mistakes():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is not installed: `make test` installs it with the test extras"
    result = subprocess.run(
        [ruff, "check", "--no-cache", "mbo_pipelines", "optimizer", "bench", "tests"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
