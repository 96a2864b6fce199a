"""Validation of the daily performance table the curves are fitted on.

One row per campaign and day: ``campaign_id``, ``date``, ``spend``, ``conversion_value`` and,
optionally, ``platform`` (campaigns of a platform are pooled when fitting). Every problem
raises ``ValueError`` naming the column and the offending campaigns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("campaign_id", "date", "spend", "conversion_value")
GROUP_COLUMN = "platform"
_MAX_LISTED = 5


def _campaigns(frame: pd.DataFrame, mask) -> str:
    """``"campaign(s) 'a', 'b'"`` for the campaigns of the rows in ``mask``."""
    ids = pd.unique(frame.loc[mask, "campaign_id"])
    listed = ", ".join(repr(i.item() if hasattr(i, "item") else i) for i in ids[:_MAX_LISTED])
    more = f", ... ({len(ids)} in all)" if len(ids) > _MAX_LISTED else ""
    return f"campaign(s) {listed}{more}"


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    """``frame[column]`` as floats; ValueError naming campaigns with non-numbers, NaN, inf or negatives."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").astype(float)
    problems = (
        ("non-numeric", values.isna() & raw.notna()),
        ("NaN", raw.isna()),
        ("infinite", np.isinf(values)),
        ("negative", values < 0),
    )
    for what, mask in problems:
        if mask.any():
            raise ValueError(f"daily has {what} {column} for {_campaigns(frame, mask)}")
    return values


def validate_daily(daily: pd.DataFrame) -> pd.DataFrame:
    """A clean copy of ``daily``, sorted by campaign and date, with a ``group`` column.

    Checks: required columns present, at least one row, no missing campaign_id or platform,
    parseable dates, numeric non-negative finite spend and conversion_value, no duplicate
    (campaign_id, date) rows, one platform per campaign. ``group`` is the platform, or one
    common group when there is no platform column.
    """
    if not isinstance(daily, pd.DataFrame):
        raise ValueError(f"daily must be a pandas DataFrame, got {type(daily).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in daily.columns]
    if missing:
        raise ValueError(f"daily is missing required column(s): {', '.join(missing)}")
    if daily.empty:
        raise ValueError("daily has no rows")
    if daily["campaign_id"].isna().any():
        raise ValueError(f"daily has {int(daily['campaign_id'].isna().sum())} row(s) with a missing campaign_id")

    frame = daily.reset_index(drop=True)
    clean = pd.DataFrame({"campaign_id": frame["campaign_id"]})
    dates = pd.to_datetime(frame["date"], errors="coerce")
    if dates.isna().any():
        raise ValueError(f"daily has a missing or unparseable date for {_campaigns(frame, dates.isna())}")
    clean["date"] = dates
    clean["spend"] = _numeric(frame, "spend")
    clean["conversion_value"] = _numeric(frame, "conversion_value")

    duplicated = clean.duplicated(["campaign_id", "date"], keep=False)
    if duplicated.any():
        first = clean.loc[duplicated, "date"].iloc[0].date()
        raise ValueError(
            f"daily has duplicate (campaign_id, date) rows for {_campaigns(frame, duplicated)} (e.g. on {first})"
        )

    if GROUP_COLUMN in frame.columns:
        if frame[GROUP_COLUMN].isna().any():
            raise ValueError(f"daily has a missing platform for {_campaigns(frame, frame[GROUP_COLUMN].isna())}")
        clean["group"] = frame[GROUP_COLUMN].astype(str)
        several = clean.groupby("campaign_id")["group"].transform("nunique") > 1
        if several.any():
            raise ValueError(f"daily has several platforms for {_campaigns(frame, several)}")
    else:
        clean["group"] = "all"
    return clean.sort_values(["campaign_id", "date"], kind="stable").reset_index(drop=True)
