"""An ECB reference-rates file for the live tests: ``eurofxref-hist.csv``'s layout, written locally.

The ECB publishes, per business day, units of each currency per 1 EUR, newest day first, with a trailing
comma on every line. The rates are the sandbox's (``mbo_pipelines.sandbox.fx``) restated per euro, so the
tests know every rate the file implies.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from mbo_pipelines.sandbox import fx


def write_ecb_history(path: Path, start: date, end: date, seed: int = 7) -> Path:
    """Write the ECB history file of [start, end] (business days only) to ``path``; return it."""
    by_day: dict[date, dict[str, float]] = {}
    for row in fx.published_rates(seed, start, end):
        by_day.setdefault(row["date"], {})[row["currency"]] = float(row["rate_to_usd"])
    currencies = ["USD", *sorted(c for c in fx.ANCHOR_RATES_TO_USD if c not in ("USD", "EUR"))]
    lines = ["Date," + ",".join(currencies) + ","]
    for day in sorted(by_day, reverse=True):
        to_usd = by_day[day]
        per_euro = (to_usd["EUR"] / to_usd[c] for c in currencies)
        lines.append(f"{day.isoformat()}," + ",".join(f"{rate:.6f}" for rate in per_euro) + ",")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
