"""What a push says in the run's log: one line per platform and kind of outcome, not one per change.

Every line of a Dagster run's log is an event written to Dagster's database; at
thousands of changes a line per change cost more than the push itself (5 ms
each, 28 of a 5 000-change push's 31 s). The ledger keeps every change with its
outcome and reason (``mbo changes``); the log says what happened to how many,
with the first few as examples.
"""

from __future__ import annotations

import logging
from typing import Any

#: Changes named in full on each line; the rest are counted.
EXAMPLES = 5


class BatchLog:
    """Collects per-change lines by (level, kind) and writes each group as one line (``emit``)."""

    def __init__(self, log: Any, platform: str):
        self.log = log
        self.platform = platform
        self._lines: dict[tuple[int, str], list[str]] = {}

    def info(self, kind: str, line: str) -> None:
        """A change that went as planned (``kind``: applied, rehearsed, reconciled)."""
        self._add(logging.INFO, kind, line)

    def warning(self, kind: str, line: str) -> None:
        """A change held back or settled otherwise than sent (refused, skipped, reconciled after an error)."""
        self._add(logging.WARNING, kind, line)

    def error(self, kind: str, line: str) -> None:
        """A change whose write failed or whose outcome is unknown."""
        self._add(logging.ERROR, kind, line)

    def _add(self, level: int, kind: str, line: str) -> None:
        self._lines.setdefault((level, kind), []).append(line)

    def emit(self) -> None:
        """Write one line per (level, kind) collected since the last ``emit``, most severe first."""
        for (level, kind), lines in sorted(self._lines.items(), key=lambda item: -item[0][0]):
            shown = "; ".join(lines[:EXAMPLES])
            more = f"; and {len(lines) - EXAMPLES} more (each in the ledger: `mbo changes`)" if len(lines) > EXAMPLES else ""
            text = f"{self.platform}: {len(lines)} change(s) {kind}: {shown}{more}"
            {logging.ERROR: self.log.error, logging.WARNING: self.log.warning}.get(level, self.log.info)(text)
        self._lines.clear()
