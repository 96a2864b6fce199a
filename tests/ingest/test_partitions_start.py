"""The daily partitions start where MBO's data starts, not at a fixed epoch: MBO_START_DATE, else the first day a
demo or an extract loaded, else MBO_HISTORY_DAYS before today."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest

from mbo_pipelines import partition_start as partitions

TODAY = date(2026, 11, 30)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MBO_HOME", str(tmp_path))
    monkeypatch.delenv("MBO_START_DATE", raising=False)
    monkeypatch.delenv("MBO_HISTORY_DAYS", raising=False)
    return tmp_path


def test_nothing_loaded_yet_starts_history_days_before_today(home, monkeypatch):
    assert partitions.partitions_start(TODAY) == date(2026, 9, 1)  # 90 days
    monkeypatch.setenv("MBO_HISTORY_DAYS", "30")
    assert partitions.partitions_start(TODAY) == date(2026, 10, 31)


def test_an_earlier_first_load_is_remembered_and_a_later_one_changes_nothing(home):
    partitions.remember_first_day(date(2026, 11, 20))  # inside the default window: nothing to remember
    assert not (home / partitions.FIRST_DAY_FILE).exists()
    partitions.remember_first_day(date(2025, 6, 1))  # a backfill reaching further back
    assert partitions.partitions_start(TODAY) == date(2025, 6, 1)
    partitions.remember_first_day(date(2025, 9, 1))
    assert partitions.partitions_start(TODAY) == date(2025, 6, 1)


def test_the_setting_wins_and_a_bad_one_names_itself(home, monkeypatch):
    partitions.remember_first_day(date(2025, 6, 1))
    monkeypatch.setenv("MBO_START_DATE", "2024-01-01")
    assert partitions.partitions_start(TODAY) == date(2024, 1, 1)
    monkeypatch.setenv("MBO_START_DATE", "01/02/2024")
    with pytest.raises(ValueError, match=r"MBO_START_DATE must be a day as YYYY-MM-DD, got '01/02/2024'"):
        partitions.partitions_start(TODAY)


def test_the_code_location_loads_with_the_recorded_start(home):
    partitions.remember_first_day(date(2025, 3, 15))
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("MBO_START_DATE", "MBO_DATABASE_URL")}
    out = subprocess.run(
        [sys.executable, "-c", "from mbo_pipelines.definitions import defs; "
         "print(defs.resolve_job_def('daily_refresh').partitions_def.get_first_partition_key())"],
        env={**env, "MBO_HOME": str(home)}, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "2025-03-15", out.stderr[-2000:]
