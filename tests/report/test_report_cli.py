"""`mbo report`: the page of the latest plan where asked, or one line saying there is no plan yet."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.report.report_helpers import make_plan_database


def _mbo(*args: str, url: str, home) -> subprocess.CompletedProcess:
    env = {**os.environ, "MBO_DATABASE_URL": url, "MBO_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "mbo_pipelines.cli", "report", *args], env=env,
                          capture_output=True, text=True, timeout=180)


def test_mbo_report_writes_the_latest_plan_where_asked(new_database, tmp_path):
    planned = make_plan_database(new_database("report_cli"))
    out = tmp_path / "plan.html"
    result = _mbo("--output", str(out), url=planned.url, home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"report written to {out} (open {out.as_uri()} in a browser)"
    assert planned.plan_id in out.read_text()


def test_mbo_report_without_a_plan_says_so_in_one_line(new_database, tmp_path):
    result = _mbo(url=new_database("report_cli_empty"), home=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["mbo report: no plan yet: run `mbo demo` or `mbo refresh` first"]
    assert not (tmp_path / "report.html").exists()
