"""Where the daily partitions start: the first day MBO loads (no Dagster here, so a command can record an earlier
first day before the definitions, and with them the partitions, are loaded).

Partitions start at ``MBO_START_DATE`` when set; otherwise at the first day a demo or an extract loaded (recorded
in ``$MBO_HOME/first_day`` by ``remember_first_day``), or ``MBO_HISTORY_DAYS`` before today when nothing was loaded
yet. So the Dagster UI shows the days MBO has, not hundreds of "missing" partitions back to an arbitrary epoch.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from mbo_pipelines import settings

FIRST_DAY_FILE = "first_day"


def _first_day_file() -> Path:
    return settings.mbo_home() / FIRST_DAY_FILE


def _start_date_setting() -> date | None:
    raw = os.environ.get("MBO_START_DATE", "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"MBO_START_DATE must be a day as YYYY-MM-DD, got {raw!r}: set it to the first day to "
                         "load, e.g. 2025-01-01, or unset it") from None


def _recorded_first_day() -> date | None:
    path = _first_day_file()
    try:
        return date.fromisoformat(path.read_text().strip()) if path.exists() else None
    except ValueError:
        return None  # a damaged record: fall back to the rolling default rather than fail every load


def partitions_start(today: date | None = None) -> date:
    """The first daily partition: ``MBO_START_DATE``, else the earlier of the recorded first day and
    ``MBO_HISTORY_DAYS`` before ``today`` (UTC)."""
    configured = _start_date_setting()
    if configured is not None:
        return configured
    today = today or datetime.now(timezone.utc).date()
    rolling = today - timedelta(days=settings.history_days())
    recorded = _recorded_first_day()
    return min(recorded, rolling) if recorded else rolling


def remember_first_day(day: date) -> None:
    """Record ``day`` as the first day loaded when it is earlier than the partitions' start (and ``MBO_START_DATE``
    does not fix it), before the definitions are loaded: the partitions then reach back to it, in this process and
    in the Dagster UI started later."""
    if _start_date_setting() is None and day < partitions_start():
        path = _first_day_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(day.isoformat() + "\n")
