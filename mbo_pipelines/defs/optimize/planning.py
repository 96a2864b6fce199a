"""Turn the marts into a budget plan: fit curves, allocate, round to platform budgets, check.

Pure functions over DataFrames (no Dagster), so each step is testable; the
asset in ``assets.py`` reads the marts, calls ``build_plan`` and writes it.
The solver works in the reporting currency so campaigns in EUR, PLN and USD
compete on one scale; budgets are converted back to each campaign's currency.

A plan's id is a fingerprint of its inputs (``plan_id_for``): the history
window, the data read and the settings, the conversion source (platform or
de-duplicated values, ``MBO_CONVERSION_SOURCE``) among them. Planning again on unchanged inputs
gives the same id, so a re-run finds its plan already stored instead of
making (and pushing) another one.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone

import numpy as np
import pandas as pd

from mbo_pipelines.settings import CONVERSION_SOURCES, DEFAULT_MAX_BUDGET_CHANGE
from optimizer import FittedCurves, allocate, fit_response_curves, spend_for_marginal_roas

KEY = ["platform", "account_id", "campaign_id"]

#: How ``build_plan`` fits the response curves and states the uplift; part of every plan's identity.
CURVE_SETTINGS = {"carryover": True, "seasonality": True}
UPLIFT_LEVEL = 0.9
#: Bump when the planner would plan differently on the same inputs (a new fit or allocator), so the
#: first refresh after the upgrade makes a new plan instead of finding the old one.
#: 2: the conversion source is an input (plans of version 1 did not record theirs).
PLAN_IDENTITY_VERSION = 2
#: The conversion source of a plan made without naming one: the values as the platforms report them.
DEFAULT_CONVERSION_SOURCE = CONVERSION_SOURCES[0]
#: The columns of its inputs a plan depends on, hence hashes (``budget_24h_ago`` is optional: NaN when absent).
DAILY_INPUT_COLUMNS = ["date_day", *KEY, "spend_reporting", "conversion_value_reporting"]
CAMPAIGN_INPUT_COLUMNS = [*KEY, "campaign_name", "currency", "daily_budget", "daily_budget_reporting", "budget_24h_ago"]
_MONEY_INPUTS = {"spend_reporting", "conversion_value_reporting", "daily_budget", "daily_budget_reporting",
                 "budget_24h_ago"}
_OPTIONAL_INPUTS = {"budget_24h_ago"}
_MICROS = 1_000_000  # numbers are hashed in millionths: float noise below that never changes an id
_NA = "NA"  # a missing value in the canonical CSV
_CANONICAL_BLOCK_ROWS = 100_000


#: Why a campaign keeps its budget regardless of the others (``Plan.rows["held_reason"]``).
HELD_NO_SPEND = "no spend in the history window"
HELD_24H_LIMIT = "the budget in force now and the one 24 hours ago leave no room within the maximum change"


class PlanError(ValueError):
    """The inputs or the result of planning are not fit to act on."""


@dataclass
class Plan:
    """A budget plan: one row per active campaign, plus the solver's totals and certificate."""

    plan_id: str
    created_at: datetime
    reporting_currency: str
    history_start: date
    history_end: date
    total_daily_budget_reporting: float
    rows: pd.DataFrame
    solver_success: bool
    solver_message: str
    optimality_gap: float | None
    #: The budget's shadow price: value one more unit of total budget would earn.
    marginal_roas: float | None = None
    #: The solver's dual bound: no feasible allocation earns more expected value per day (reporting).
    upper_bound: float | None = None
    #: Central 90% interval ``(low, high)`` of the expected uplift (reporting), parameter uncertainty only.
    uplift_interval: tuple[float, float] | None = None
    #: The fitted response curves (reporting currency), in their own order; see ``curve_index``.
    curves: FittedCurves | None = None
    #: Position in ``curves`` of each row of ``rows``.
    curve_index: np.ndarray | None = None
    #: "How much should we spend at all?": the total daily budget (reporting) at which every campaign
    #: spends until its next unit returns ``target_marginal_roas`` (see ``budget_for_marginal_roas``).
    target_marginal_roas: float | None = None
    budget_at_target_marginal_roas: float | None = None
    #: The history the curves were fitted on: curve_index, spend, conversion_value (reporting).
    observed: pd.DataFrame | None = None
    #: Which conversion values ``conversion_value_reporting`` held: "platform" or "deduplicated".
    conversion_source: str = DEFAULT_CONVERSION_SOURCE

    @property
    def expected_value_current_reporting(self) -> float:
        return float(self.rows["expected_value_current_reporting"].sum())

    @property
    def expected_value_recommended_reporting(self) -> float:
        return float(self.rows["expected_value_recommended_reporting"].sum())


def new_plan_id(now: datetime) -> str:
    """A sortable, unique (random) plan id: ``plan-20261121T120000Z-1a2b3c``; for plans that are events,
    not functions of the marts (a rollback). Optimizer plans use ``plan_id_for``."""
    return f"plan-{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


def history_window(daily: pd.DataFrame) -> tuple[date | None, date | None]:
    """First and last day of ``daily`` (None, None when it has no rows)."""
    days = pd.to_datetime(daily["date_day"])
    if days.empty:
        return None, None
    return days.min().date(), days.max().date()


def ga4_unmatched_spend_share(daily: pd.DataFrame) -> float | None:
    """Share (0..1) of the history's spend on campaign days GA4 could not match (``is_ga4_matched`` false or
    missing): those keep their platform numbers in the de-duplicated measure. None without spend."""
    spend = daily["spend_reporting"].astype(float)
    total = float(spend.sum())
    if total <= 0:
        return None
    matched = daily["is_ga4_matched"].fillna(False).astype(bool) if "is_ga4_matched" in daily else False
    return float(spend[~matched].sum()) / total


def _check_conversion_source(conversion_source: str) -> None:
    if conversion_source not in CONVERSION_SOURCES:
        raise PlanError(f"conversion source must be one of {', '.join(CONVERSION_SOURCES)}, got {conversion_source!r}")


def _micros(value: float | None) -> int | None:
    return None if value is None else int(round(float(value) * _MICROS))


@dataclass(frozen=True)
class _CanonicalColumn:
    """One column of a canonical table: its sort keys (most significant first), the byte length of all its
    values as written, and ``cells(rows)``: the written values of those rows."""

    sort_keys: list[np.ndarray]
    byte_length: int
    cells: Callable[[np.ndarray], list[str]]


def _csv_cells(values) -> list[str]:
    """Each value (str) as ``DataFrame.to_csv`` writes it inside a row: quoted only where CSV needs it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    cells = []
    for value in values:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([value, ""])  # a second field: an empty value alone on its row would be quoted
        cells.append(buffer.getvalue()[:-2])
    return cells


_POWERS_OF_TEN = np.array([10**k for k in range(1, 20)], dtype=np.uint64)


def _money_column(values: pd.Series) -> _CanonicalColumn:
    """Whole millionths, missing and non-finite ones as NA (sorted last); formatted a block at a time."""
    numbers = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
    scaled = pd.array(np.where(np.isfinite(numbers), np.round(numbers * _MICROS), np.nan), dtype="Int64")
    missing = scaled.isna()
    whole = scaled.to_numpy(dtype=np.int64, na_value=0)
    magnitude = np.where(whole < 0, -(whole + 1), whole).astype(np.uint64) + (whole < 0)  # |n| without overflow
    digits = np.searchsorted(_POWERS_OF_TEN, magnitude, side="right") + 1
    sizes = np.where(missing, len(_NA), digits + (whole < 0))

    def cells(rows: np.ndarray) -> list[str]:
        return [_NA if gone else str(n) for n, gone in zip(whole[rows].tolist(), missing[rows].tolist())]

    return _CanonicalColumn([missing, whole], int(sizes.sum()), cells)


def _text_column(values: pd.Series, is_day: bool) -> _CanonicalColumn:
    """Text (days as ISO dates), each distinct value formatted once; missing ones as NA, sorted last."""
    codes, uniques = pd.factorize(values if is_day else values.astype(str), use_na_sentinel=True)
    text = pd.Series(uniques, dtype=object)
    if is_day:
        text = pd.to_datetime(text).dt.strftime("%Y-%m-%d").astype(object)
    present = text.notna().to_numpy()
    written = np.full(len(text) + 1, _NA, dtype=object)  # the last one for code -1, a missing value
    written[:-1][present] = _csv_cells(text[present])
    # Equal text ranks equal (a day given once as a date and once as text); missing values sort last.
    ranks = np.append(text.rank(method="dense", na_option="bottom").to_numpy(np.int64), len(text) + 1)
    sizes = np.fromiter((len(c.encode()) for c in written), dtype=np.int64, count=len(written))
    codes = np.where(codes < 0, len(text), codes)
    return _CanonicalColumn([ranks[codes]], int(sizes[codes].sum()), lambda rows: written.take(codes[rows]).tolist())


def _canonical_table(frame: pd.DataFrame, columns: list[str], name: str) -> tuple[int, Iterator[bytes]]:
    """``frame``'s ``columns`` as CSV in one canonical form: the same data gives the same bytes whatever its
    row order, column order, index or dtypes (text as str, days as ISO dates, numbers in whole millionths,
    non-finite ones as NA; rows sorted on every column). Returns the byte length and the bytes in blocks of
    rows: a long history is never held whole as text, and each distinct text or day is formatted once."""
    missing = [c for c in columns if c not in frame and c not in _OPTIONAL_INPUTS]
    if missing:
        raise PlanError(f"{name} lacks the column(s) {', '.join(missing)} that planning needs")
    parts = []
    for column in columns:
        values = frame[column].reset_index(drop=True) if column in frame else pd.Series(np.nan, index=range(len(frame)))
        parts.append(_money_column(values) if column in _MONEY_INPUTS else _text_column(values, column == "date_day"))
    keys = [key for part in parts for key in part.sort_keys]
    order = np.lexsort(keys[::-1]) if len(frame) else np.arange(0)  # lexsort: the last key sorts first
    header = (",".join(_csv_cells(columns)) + "\n").encode()
    # A comma after every value but the last of its row, which the newline ends.
    length = len(header) + len(frame) * len(columns) + sum(part.byte_length for part in parts)

    def blocks() -> Iterator[bytes]:
        yield header
        for start in range(0, len(order), _CANONICAL_BLOCK_ROWS):
            rows = order[start:start + _CANONICAL_BLOCK_ROWS]
            yield ("\n".join(map(",".join, zip(*(part.cells(rows) for part in parts)))) + "\n").encode()

    return length, blocks()


def plan_inputs_fingerprint(
    daily: pd.DataFrame,
    campaigns: pd.DataFrame,
    reporting_currency: str,
    max_change: float = DEFAULT_MAX_BUDGET_CHANGE,
    total_budget: float | None = None,
    target_marginal_roas: float | None = None,
    conversion_source: str = DEFAULT_CONVERSION_SOURCE,
    holds: Mapping[tuple[str, str, str], str] | None = None,
    low_confidence: Mapping[tuple[str, str, str], str] | None = None,
) -> str:
    """SHA-256 (hex) of everything ``build_plan`` plans on, given the same arguments: the history window, the
    daily fact rows and campaign rows (current budgets and ``budget_24h_ago`` included), and the settings
    (reporting currency, max change, total budget, target marginal ROAS, conversion source, curve and
    uplift settings) and the campaigns held by open alerts, or only marked low-confidence, with their reasons
    (``holds``, ``low_confidence``; none: the fingerprint plans had before alerts existed). The same numbers read as another conversion source make
    another plan.

    Stable across processes and machines: rows are hashed in a canonical order and number format
    (``_canonical_table``), settings as sorted JSON; no dict order, float repr noise or clock goes in.
    """
    _check_conversion_source(conversion_source)
    start, end = history_window(daily)
    settings = {
        "version": PLAN_IDENTITY_VERSION,
        "conversion_source": conversion_source,
        "history": [start and start.isoformat(), end and end.isoformat()],
        "reporting_currency": reporting_currency,
        "max_change": _micros(max_change),
        "total_budget": _micros(total_budget),  # None: the sum of the current budgets, which the data holds
        "target_marginal_roas": _micros(target_marginal_roas),
        "curves": CURVE_SETTINGS,
        "uplift_level": _micros(UPLIFT_LEVEL),
    }
    for name, marked in (("holds", holds), ("low_confidence", low_confidence)):
        if marked:
            settings[name] = sorted([*map(str, key), reason] for key, reason in marked.items())
    digest = hashlib.sha256()
    settings_text = json.dumps(settings, sort_keys=True).encode()
    parts = (
        (len(settings_text), iter([settings_text])),
        _canonical_table(daily, DAILY_INPUT_COLUMNS, "the daily history"),
        _canonical_table(campaigns, CAMPAIGN_INPUT_COLUMNS, "the campaigns"),
    )
    for length, blocks in parts:  # length-prefixed, so no part can run into the next
        digest.update(f"{length}:".encode())
        hashed = 0
        for block in blocks:
            digest.update(block)
            hashed += len(block)
        if hashed != length:  # a bug in the canonical form, never the data: an id must not be guessed
            raise PlanError(f"canonical form of the plan inputs is {hashed} bytes, announced {length}")
    return digest.hexdigest()


def plan_id_for(
    daily: pd.DataFrame,
    campaigns: pd.DataFrame,
    reporting_currency: str,
    max_change: float = DEFAULT_MAX_BUDGET_CHANGE,
    total_budget: float | None = None,
    target_marginal_roas: float | None = None,
    conversion_source: str = DEFAULT_CONVERSION_SOURCE,
    holds: Mapping[tuple[str, str, str], str] | None = None,
    low_confidence: Mapping[tuple[str, str, str], str] | None = None,
) -> str:
    """The id of the plan ``build_plan`` makes from these arguments: ``plan-20261120-3f9a0c1b2d4e``, the last
    history day, then 12 hex digits of ``plan_inputs_fingerprint``. Same inputs, same id; any change, a new one."""
    fingerprint = plan_inputs_fingerprint(daily, campaigns, reporting_currency, max_change, total_budget,
                                          target_marginal_roas, conversion_source, holds, low_confidence)
    return plan_id_from_fingerprint(fingerprint, history_window(daily)[1])


def plan_id_from_fingerprint(fingerprint: str, history_end: date | None) -> str:
    """``plan-<history end YYYYMMDD>-<first 12 hex digits of the fingerprint>`` (``nohistory`` without rows)."""
    day = history_end.strftime("%Y%m%d") if history_end is not None else "nohistory"
    return f"plan-{day}-{fingerprint[:12]}"


def _check_inputs(daily: pd.DataFrame, campaigns: pd.DataFrame) -> None:
    if campaigns.empty:
        raise PlanError("no active campaign with a daily budget in marts.dim_campaign: nothing to plan")
    numeric = campaigns[["daily_budget", "daily_budget_reporting"]]
    bad = campaigns[numeric.isna().any(axis=1) | (numeric <= 0).any(axis=1)]
    if not bad.empty:
        raise PlanError(
            "campaigns without a positive current daily budget (or reporting conversion): "
            + ", ".join("/".join(map(str, r)) for r in bad[KEY].itertuples(index=False))
        )
    for column in ("spend_reporting", "conversion_value_reporting"):
        values = daily[column]
        if values.isna().any() or (values < 0).any():
            raise PlanError(f"marts.opt_campaign_inputs: {column} has NaN or negative values: refusing to plan on bad data")


def budget_for_marginal_roas(plan: Plan, target: float, max_change: float) -> float:
    """How much should we spend at all? The total daily budget (reporting currency) at which every
    campaign spends until its next unit returns ``target``, each within ±``max_change`` of its
    current budget (held campaigns at theirs), on the plan's curves."""
    current = np.empty(len(plan.curves))
    current[plan.curve_index] = plan.rows["current_daily_budget_reporting"].to_numpy(float)
    held = np.zeros(len(plan.curves), dtype=bool)
    held[plan.curve_index] = plan.rows["held_reason"].notna().to_numpy()
    lower = np.where(held, current, current * (1 - max_change))
    upper = np.where(held, current, current * (1 + max_change))
    return float(np.sum(spend_for_marginal_roas(plan.curves, target, upper=upper, lower=lower)))


def _within_room(total: float, lower: np.ndarray, upper: np.ndarray, held: np.ndarray,
                 max_change: float) -> tuple[float, str]:
    """``total`` clipped to what the campaigns' bands allow (held ones at their budgets), and a note if it was."""
    fixed = float(lower[held].sum())
    low, high = float(lower.sum()), float(upper.sum())
    if low - 1e-9 <= total <= high + 1e-9:
        return total, ""
    clipped = min(max(total, low), high)
    return clipped, (
        f"Total {total:,.2f} clipped to {clipped:,.2f}: campaigns held at their budgets ({fixed:,.2f}) and the "
        f"others' ±{max_change:.0%} (of today's budget and of the budget 24 hours ago) leave {low:,.2f} to "
        f"{high:,.2f}."
    )


def budget_band(current: np.ndarray, day_ago: np.ndarray, max_change: float) -> tuple[np.ndarray, np.ndarray]:
    """Each campaign's allowed [low, high]: within ±``max_change`` of its budget now and, where MBO changed
    it in the last 24 hours (``day_ago`` not NaN), of the budget in force before, so re-runs cannot stack.

    A campaign whose two bands do not overlap (its budget was moved by hand far from the one a day ago)
    gets ``low > high``: the caller holds it.
    """
    base = np.where(np.isfinite(day_ago), day_ago, current)
    low = np.maximum(current * (1 - max_change), base * (1 - max_change))
    high = np.minimum(current * (1 + max_change), base * (1 + max_change))
    return low, high


def _with_unspent(fit_input: pd.DataFrame, campaigns: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """``fit_input`` plus a zero-spend day for each active campaign without rows in the window.

    No rows means no spend recorded, which is what such a row says: the fit then gives the
    campaign its platform's typical curve (method ``no_spend``) instead of none.
    """
    unseen = campaigns[~campaigns["curve_id"].isin(fit_input["campaign_id"])]
    if unseen.empty:
        return fit_input
    day = fit_input["date"].max() if len(fit_input) else pd.Timestamp(now.date())
    zero = pd.DataFrame(
        {"campaign_id": unseen["curve_id"], "platform": unseen["platform"], "date": day, "spend": 0.0, "conversion_value": 0.0}
    )
    return pd.concat([fit_input, zero], ignore_index=True)


def _round_inside(local: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Round to cents without leaving the campaigns' [low, high] bands."""
    low = np.ceil(low * 100 - 1e-6) / 100
    high = np.floor(high * 100 + 1e-6) / 100
    return np.clip(np.round(local, 2), low, high)


def build_plan(
    daily: pd.DataFrame,
    campaigns: pd.DataFrame,
    reporting_currency: str,
    max_change: float = DEFAULT_MAX_BUDGET_CHANGE,
    now: datetime | None = None,
    total_budget: float | None = None,
    target_marginal_roas: float | None = None,
    plan_id: str | None = None,
    conversion_source: str = DEFAULT_CONVERSION_SOURCE,
    holds: Mapping[tuple[str, str, str], str] | None = None,
    low_confidence: Mapping[tuple[str, str, str], str] | None = None,
) -> Plan:
    """Fit a response curve per campaign on ``daily`` and reallocate today's total budget across ``campaigns``.

    ``daily``: opt_campaign_inputs rows (date_day, platform, account_id,
    campaign_id, spend_reporting, conversion_value_reporting), the value being that of
    ``conversion_source`` ("platform" or "deduplicated"; recorded in the plan and its id).
    ``campaigns``: active dim_campaign rows (platform, account_id, campaign_id,
    campaign_name, currency, daily_budget, daily_budget_reporting).
    ``total_budget`` (reporting currency) is the daily total to allocate, e.g. the
    paced total of ``pacing.plan_total``; by default the sum of current budgets,
    so the plan moves money without adding any. ``target_marginal_roas``: also work out the
    budget at which the next unit of spend returns that much (``Plan.budget_at_target_marginal_roas``).
    ``plan_id``: ``plan_id_for`` these same arguments, when the caller has it already; computed otherwise.
    ``holds``: (platform, account_id, campaign_id) -> why that campaign keeps its budget whatever the curves
    say (an open alert on its input data); ``low_confidence``: the same, for campaigns whose recommendation is
    only marked (``low_confidence_reason``, so its push waits for approval); both part of the plan's identity.
    ``now`` is only the plan's ``created_at``: it does not change the plan or its id.
    """
    now = now or datetime.now(timezone.utc)
    _check_conversion_source(conversion_source)
    _check_inputs(daily, campaigns)
    if plan_id is None:
        plan_id = plan_id_for(daily, campaigns, reporting_currency, max_change, total_budget, target_marginal_roas,
                              conversion_source, holds, low_confidence)
    campaigns = campaigns.sort_values(KEY).reset_index(drop=True)
    campaigns["curve_id"] = campaigns[KEY].astype(str).agg("|".join, axis=1)
    history = daily.merge(campaigns[[*KEY, "curve_id"]], on=KEY, how="inner")
    fit_input = pd.DataFrame({
        "campaign_id": history["curve_id"],
        "platform": history["platform"],
        "date": pd.to_datetime(history["date_day"]),
        "spend": history["spend_reporting"].astype(float),
        "conversion_value": history["conversion_value_reporting"].astype(float),
    })
    curves = fit_response_curves(_with_unspent(fit_input, campaigns, now), **CURVE_SETTINGS)
    order = pd.Index(curves.campaign_ids).get_indexer(campaigns["curve_id"])
    if (order < 0).any():
        raise PlanError("the fit returned no curve for some campaigns")
    # No spend in the window (a new or re-activated campaign): its curve would be its platform's
    # typical one, no evidence to move its budget on, so it keeps it.
    held = curves.diagnostics["method"].to_numpy() == "no_spend"
    if held[order].all():
        raise PlanError("no active campaign has spend in the history window: nothing to fit a response curve on")

    current_rep = campaigns["daily_budget_reporting"].to_numpy(float)
    current_local = campaigns["daily_budget"].to_numpy(float)
    fx = current_rep / current_local  # reporting units per local unit
    total = float(current_rep.sum()) if total_budget is None else float(total_budget)
    day_ago = (campaigns["budget_24h_ago"].to_numpy(float) if "budget_24h_ago" in campaigns
               else np.full(len(campaigns), np.nan))
    low_local, high_local = budget_band(current_local, day_ago, max_change)
    # The 24-hour limit leaves no room (a budget moved by hand far from yesterday's): keep the budget.
    no_room = np.zeros(len(curves), dtype=bool)
    no_room[order] = low_local > high_local + 1e-9
    held |= no_room
    alert_reason = np.array([(holds or {}).get(key) for key in campaigns[KEY].astype(str).itertuples(index=False, name=None)],
                            dtype=object)
    by_alert = np.zeros(len(curves), dtype=bool)
    by_alert[order] = pd.notna(alert_reason)
    held |= by_alert
    fixed = no_room[order] | by_alert[order]
    low_local, high_local = np.where(fixed, current_local, low_local), np.where(fixed, current_local, high_local)

    def curve_order(values: np.ndarray) -> np.ndarray:
        out = np.empty(len(curves))
        out[order] = values
        return out

    current_in_curve_order = curve_order(current_rep)
    lower, upper = curve_order(low_local * fx), curve_order(high_local * fx)
    lower, upper = np.where(held, current_in_curve_order, lower), np.where(held, current_in_curve_order, upper)
    total, room_note = _within_room(total, lower, upper, held, max_change)
    result = allocate(curves, total, lower=lower, upper=upper, current=current_in_curve_order, max_change=max_change,
                      locked=held)
    if not result.success:
        raise PlanError(f"the allocator did not converge: {result.message}")
    spend_rep = np.asarray(result.spend)[order]
    value_cur = np.asarray(curves.value(current_in_curve_order))[order]
    value_rec = np.asarray(result.values)[order]
    marginal = np.asarray(result.marginal)[order]
    uplift_low, uplift_high = curves.uplift_interval(current_in_curve_order, np.asarray(result.spend), level=UPLIFT_LEVEL)

    recommended_local = _round_inside(spend_rep / fx, np.where(held[order], current_local, low_local),
                                      np.where(held[order], current_local, high_local))
    rows = campaigns[[*KEY, "campaign_name", "currency"]].copy()
    rows["current_daily_budget"] = np.round(current_local, 2)
    rows["recommended_daily_budget"] = recommended_local
    rows["expected_value_current"] = value_cur / fx
    rows["expected_value_recommended"] = value_rec / fx
    rows["marginal_roas"] = marginal
    rows["reporting_currency"] = reporting_currency
    rows["current_daily_budget_reporting"] = current_rep
    rows["recommended_daily_budget_reporting"] = spend_rep
    rows["expected_value_current_reporting"] = value_cur
    rows["expected_value_recommended_reporting"] = value_rec
    rows["low_confidence_reason"] = pd.Series([(low_confidence or {}).get(key) for key in rows[KEY].astype(str).itertuples(
        index=False, name=None)], index=rows.index, dtype=object)
    rows["held_reason"] = np.where(by_alert[order], alert_reason, np.where(
        no_room[order], HELD_24H_LIMIT, np.where(held[order], HELD_NO_SPEND, None)))

    history_start, history_end = history_window(daily)
    plan = Plan(
        plan_id=plan_id,
        created_at=now,
        reporting_currency=reporting_currency,
        history_start=history_start,
        history_end=history_end,
        total_daily_budget_reporting=total,
        rows=rows,
        solver_success=bool(result.success),
        solver_message=f"{room_note} {result.message}".strip(),
        optimality_gap=None if result.optimality_gap is None else float(result.optimality_gap),
        marginal_roas=None if result.lagrange_multiplier is None else float(result.lagrange_multiplier),
        upper_bound=None if result.upper_bound is None else float(result.upper_bound),
        uplift_interval=(uplift_low, uplift_high),
        curves=curves,
        curve_index=order,
        observed=pd.DataFrame({
            "curve_index": pd.Index(curves.campaign_ids).get_indexer(fit_input["campaign_id"]),
            "spend": fit_input["spend"].to_numpy(),
            "conversion_value": fit_input["conversion_value"].to_numpy(),
        }),
        conversion_source=conversion_source,
    )
    check_plan(plan, max_change)
    if target_marginal_roas is not None:
        plan.target_marginal_roas = float(target_marginal_roas)
        plan.budget_at_target_marginal_roas = budget_for_marginal_roas(plan, target_marginal_roas, max_change)
    return plan


def check_plan(plan: Plan, max_change: float) -> None:
    """Refuse a plan that breaks its own promises: NaNs, total not kept, bounds not kept."""
    numeric = plan.rows.select_dtypes("number")
    if not np.isfinite(numeric.to_numpy(float)).all():
        raise PlanError("the plan has NaN or infinite numbers; refusing to write it")
    drift = plan.rows["recommended_daily_budget_reporting"].sum() - plan.total_daily_budget_reporting
    if abs(drift) > 0.01:
        raise PlanError(f"recommended budgets sum to {drift:+.4f} off the plan total {plan.total_daily_budget_reporting:.2f}")
    ratio = plan.rows["recommended_daily_budget"] / plan.rows["current_daily_budget"]
    outside = plan.rows[(ratio < 1 - max_change - 1e-9) | (ratio > 1 + max_change + 1e-9)]
    if not outside.empty:
        raise PlanError(f"{len(outside)} recommendations leave the ±{max_change:.0%} band around the current budget")
    if (plan.rows["recommended_daily_budget"] <= 0).any():
        raise PlanError("a recommended budget is not positive")
    if not math.isfinite(plan.total_daily_budget_reporting):
        raise PlanError("the plan total is not finite")
