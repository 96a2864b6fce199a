"""Find what broke: pure functions from the marts' recent history to open alerts (no Dagster, no database).

``detect(inputs, thresholds)`` examines the last ``scan_days`` days up to
``inputs.as_of``. Each campaign's day is compared with what its own history
predicts: the median and MAD of the same weekday over ``weeks`` weeks (and, for
spend, the recent level too, so a budget change is not a spike); a tracking
break is a conversion count far below what the day's clicks at the usual
conversion rate make all but impossible (a Poisson tail). Campaigns below the
minimum volume are not examined, so small campaigns do not cry wolf.

A problem is an episode: the run of consecutive flagged days that reaches the
latest day (for a missing day or a restatement, any flagged day still in the
window). Its first day fixes the alert's id, so tomorrow's refresh finds the
same alert with a later ``last_day``. A more specific alert silences the
generic ones it explains on the same campaign and day (a tracking break is also
a ROAS collapse; a missing day is also zero delivery everywhere).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd

from mbo_pipelines.defs.alerts import model
from mbo_pipelines.defs.alerts.baseline import Band, band_of, poisson_at_most, recent_band, weekday_band
from mbo_pipelines.defs.alerts.model import Alert
from mbo_pipelines.defs.alerts.thresholds import Thresholds

KEY = ["platform", "account_id", "campaign_id"]
#: Days before a tested window whose pooled conversion rate a tracking break is measured against.
RATE_HISTORY_DAYS = 28
#: Longest run of days a tracking break's evidence is pooled over (a small campaign needs two or three days).
TRACKING_WINDOWS = (1, 2, 3)
#: Kinds open whenever a flagged day is still in the window (the hole or the restated day stays in the data).
STICKY_KINDS = frozenset({model.MISSING_DAY, model.RESTATEMENT})
#: Metrics that are counts or ratios, not money.
UNITLESS_METRICS = frozenset({"rows", "conversions", "roas", "ga4_sessions_per_click", "ga4_key_events"})
#: Campaign kinds that explain away the generic spend and efficiency alerts on the same campaign and day.
_SPECIFIC = {model.TRACKING_BREAK: 3, model.ZERO_DELIVERY: 3, model.SPEND_SPIKE: 2, model.SPEND_DROP: 2,
             model.OVERSPEND: 1, model.EFFICIENCY_SHIFT: 0}


def _frame(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


@dataclass
class DetectorInput:
    """The recent history the detector reads, money in ``reporting_currency`` unless said otherwise.

    ``daily``: one row per campaign and day (date_day, platform, account_id, campaign_id, campaign_name,
    spend, clicks, conversions, conversion_value). ``campaigns``: every campaign's current status and daily
    budget (platform, account_id, campaign_id, campaign_name, status, daily_budget). ``platform_days``: what
    the raw tables hold per platform, account and day (spend in the account's currency), which still shows a
    day the marts could not be built for. ``reports``: per platform, account and day the spend first reported
    and the latest (account currency). ``pacing``: this month's account pacing (spend_mtd, target_spend_mtd,
    days_elapsed, month, currency). ``ga4``: per platform and day the clicks of GA4-matched campaigns and the
    sessions and key events GA4 counted for them (``key_events`` optional).
    """

    as_of: date
    reporting_currency: str
    daily: pd.DataFrame
    campaigns: pd.DataFrame = field(default_factory=lambda: _frame([*KEY, "campaign_name", "status", "daily_budget"]))
    platform_days: pd.DataFrame = field(default_factory=lambda: _frame(["platform", "account_id", "date_day", "spend"]))
    reports: pd.DataFrame = field(default_factory=lambda: _frame(
        ["platform", "account_id", "date_day", "currency", "first_spend", "latest_spend"]))
    pacing: pd.DataFrame = field(default_factory=lambda: _frame(
        ["platform", "account_id", "month", "currency", "spend_mtd", "target_spend_mtd", "days_elapsed"]))
    ga4: pd.DataFrame = field(default_factory=lambda: _frame(["platform", "date_day", "clicks", "sessions",
                                                              "key_events"]))


def history_days(thresholds: Thresholds) -> int:
    """Days of history (up to and including as_of) the detector needs."""
    return 7 * thresholds.weeks + thresholds.scan_days + max(0, RATE_HISTORY_DAYS + max(TRACKING_WINDOWS)
                                                                 - 7 * thresholds.weeks)


@dataclass(frozen=True)
class _Hit:
    """One flagged day of one scope and metric."""

    kind: str
    severity: str
    scope: tuple[str, str | None, str | None]
    metric: str
    day: date
    observed: float
    expected: float | None
    low: float | None
    high: float | None
    what: str  # how the message names the observation, e.g. "spend 612.40 USD"
    #: The money's currency when it is not the reporting currency (a restatement: the account's), or None.
    currency: str | None = None


@dataclass
class _Grid:
    """The daily history as campaigns x days matrices (NaN: unknown, 0: known to be nothing)."""

    start: date
    keys: pd.DataFrame  # KEY + campaign_name, status, daily_budget, per row
    spend: np.ndarray
    clicks: np.ndarray
    conversions: np.ndarray
    value: np.ndarray

    def day(self, column: int) -> date:
        return self.start + timedelta(days=column)


def _dated(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with ``date_day`` as ``datetime.date`` (inputs may carry strings or timestamps)."""
    return frame.assign(date_day=pd.to_datetime(frame["date_day"]).dt.date)


def _grid(inputs: DetectorInput, thresholds: Thresholds) -> _Grid:
    days = history_days(thresholds)
    start = inputs.as_of - timedelta(days=days - 1)
    daily = _dated(inputs.daily)
    daily = daily[(daily["date_day"] >= start) & (daily["date_day"] <= inputs.as_of)]
    for column in KEY:
        daily[column] = daily[column].astype(str)
    campaigns = inputs.campaigns.copy()
    for column in KEY:
        campaigns[column] = campaigns[column].astype(str)
    keys = pd.concat([daily[[*KEY, "campaign_name"]], campaigns[[*KEY, "campaign_name"]]])
    keys = keys.drop_duplicates(KEY, keep="last").sort_values(KEY).reset_index(drop=True)
    keys = keys.merge(campaigns[[*KEY, "status", "daily_budget"]], on=KEY, how="left")
    index = pd.MultiIndex.from_frame(keys[KEY])
    rows = index.get_indexer(pd.MultiIndex.from_frame(daily[KEY]))
    cols = np.array([(d - start).days for d in daily["date_day"]], dtype=int)
    shape = (len(keys), days)

    def matrix(column: str) -> np.ndarray:
        out = np.full(shape, np.nan)
        out[rows, cols] = pd.to_numeric(daily[column], errors="coerce").to_numpy(float)
        return out

    spend, clicks, conversions, value = (matrix(c) for c in ("spend", "clicks", "conversions", "conversion_value"))
    # A campaign without a row on a day its account reported is known to have delivered nothing (APIs omit
    # zero rows), from its first row on; a day its account sent nothing at all stays unknown (a missing day).
    accounts = pd.MultiIndex.from_frame(keys[["platform", "account_id"]])
    account_codes, account_index = pd.factorize(accounts)
    reported = np.zeros((len(account_index), days), dtype=bool)
    reported[account_codes[rows], cols] = True
    seen = np.isfinite(spend)
    started = np.cumsum(seen, axis=1) > 0
    nothing = ~seen & started & reported[account_codes]
    for m in (spend, clicks, conversions, value):
        m[nothing] = 0.0
    return _Grid(start, keys, spend, clicks, conversions, value)


def _scope(keys: pd.DataFrame, row: int) -> tuple[str, str, str]:
    r = keys.iloc[row]
    return (r["platform"], r["account_id"], r["campaign_id"])


def _band_edges(band: Band, rows: np.ndarray, ratio: float, z: float) -> tuple[np.ndarray, np.ndarray]:
    """The band's [low, high] for ``rows``: outside both the z-band and the ratio band is unusual."""
    median, sigma = band.median[rows], band.sigma[rows]
    high = np.maximum(median * ratio, median + z * sigma)
    low = np.maximum(np.minimum(median / ratio, median - z * sigma), 0.0)
    return low, high


def _spend_hits(grid: _Grid, column: int, t: Thresholds, currency: str) -> list[_Hit]:
    """Spend spikes, drops and zero delivery on one day, against the weekday band and the recent level."""
    hits: list[_Hit] = []
    spend = grid.spend[:, column]
    weekday, recent = weekday_band(grid.spend, column, t.weeks), recent_band(grid.spend, column)
    # Big enough to judge: the usual same-weekday spend. Spikes and drops need the recent level too (a campaign
    # just scaled down is not examined against its old size); zero delivery does not, or an outage would stop
    # being found once it had lasted long enough to pull the recent level down.
    enough = (weekday.count >= t.min_history) & (weekday.median >= t.min_spend)
    recent_enough = recent.median >= t.min_spend
    day = grid.day(column)
    rows = np.nonzero(enough & np.isfinite(spend))[0]
    low, high = _band_edges(weekday, rows, t.ratio, t.z)
    recent_low, recent_high = _band_edges(recent, rows, t.ratio, t.z)
    active = (grid.keys["status"].to_numpy(object) == "active")[rows]
    budget = pd.to_numeric(grid.keys["daily_budget"], errors="coerce").to_numpy(float)[rows]
    x = spend[rows]
    zero = (x == 0) & active & (budget > 0)
    spike = ~zero & recent_enough[rows] & (x > high) & (x > recent_high)
    drop = ~zero & recent_enough[rows] & (x > 0) & (x < low) & (x < recent_low)
    for n in np.nonzero(zero | spike | drop)[0]:  # only the flagged rows: a large market stays array work
        row, observed, expected = rows[n], float(x[n]), float(weekday.median[rows[n]])
        scope = _scope(grid.keys, row)
        if zero[n]:
            hits.append(_Hit(model.ZERO_DELIVERY, model.ERROR, scope, "spend", day, 0.0, expected, low[n], high[n],
                             f"no delivery (spend 0 {currency}) though active with a daily budget"))
        elif spike[n]:
            hits.append(_Hit(model.SPEND_SPIKE, model.ERROR, scope, "spend", day, observed, expected, low[n], high[n],
                             f"spend {observed:,.2f} {currency}"))
        else:
            hits.append(_Hit(model.SPEND_DROP, model.WARN, scope, "spend", day, observed, expected, low[n], high[n],
                             f"spend {observed:,.2f} {currency}"))
    return hits


def _overspend_hits(grid: _Grid, column: int, t: Thresholds, currency: str) -> list[_Hit]:
    """Spend above ``overspend_ratio`` x the daily budget in force now."""
    budget = pd.to_numeric(grid.keys["daily_budget"], errors="coerce").to_numpy(float)
    spend = grid.spend[:, column]
    over = np.nonzero((budget > 0) & (spend > t.overspend_ratio * budget) & (spend >= t.min_spend))[0]
    return [_Hit(model.OVERSPEND, model.ERROR, _scope(grid.keys, row), "spend_vs_daily_budget", grid.day(column),
                 float(spend[row]), float(budget[row]), 0.0, float(t.overspend_ratio * budget[row]),
                 f"spend {spend[row]:,.2f} {currency} against a daily budget of {budget[row]:,.2f}")
            for row in over]


def _tracking_hits(grid: _Grid, column: int, t: Thresholds, metric: str = "conversions",
                   names: tuple[str, str] = ("conversions", "clicks")) -> list[_Hit]:
    """Conversions that fell to zero or by ``tracking_factor`` while clicks continued, pooled over 1-3 days
    (``metric`` and ``names``: what the grid's conversions and clicks are, e.g. GA4's key events and sessions)."""
    hits: list[_Hit] = []
    flagged = np.zeros(grid.spend.shape[0], dtype=bool)
    clicks_band = weekday_band(grid.clicks, column, t.weeks)
    for width in TRACKING_WINDOWS:
        first = column - width + 1
        base = slice(max(first - RATE_HISTORY_DAYS, 0), first)
        if first < 1:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.nansum(grid.conversions[:, base], axis=1) / np.nansum(grid.clicks[:, base], axis=1)
        clicks = grid.clicks[:, first:column + 1]
        observed = grid.conversions[:, first:column + 1].sum(axis=1)  # NaN if a day is unknown
        expected = clicks.sum(axis=1) * rate
        # Clicks continue as usual: neither collapsed nor spiking (a spike of poor clicks is a spend spike).
        usual = clicks.mean(axis=1)
        continuing = ((clicks.min(axis=1) >= t.min_clicks) & (usual >= clicks_band.median / 2)
                      & (usual <= clicks_band.median * t.ratio))
        with np.errstate(invalid="ignore"):
            broken = (continuing & np.isfinite(observed) & np.isfinite(expected) & (expected > 0)
                      & (observed <= expected / t.tracking_factor)
                      & (poisson_at_most(observed, expected) < t.p_value) & ~flagged)
        for row in np.nonzero(broken)[0]:
            flagged[row] = True
            for day_column in range(first, column + 1):  # every day of the pooled window is part of the break
                day_expected = float(grid.clicks[row, day_column] * rate[row])
                hits.append(_Hit(model.TRACKING_BREAK, model.ERROR, _scope(grid.keys, row), metric,
                                 grid.day(day_column), float(grid.conversions[row, day_column]), day_expected,
                                 day_expected / t.tracking_factor, None,
                                 f"{grid.conversions[row, day_column]:,.2f} {names[0]} from "
                                 f"{grid.clicks[row, day_column]:,.0f} {names[1]}"))
    return hits


def _efficiency_hits(grid: _Grid, column: int, t: Thresholds, currency: str) -> list[_Hit]:
    """ROAS and CPA far outside their same-weekday range (campaigns with enough spend and conversions)."""
    hits: list[_Hit] = []
    with np.errstate(invalid="ignore", divide="ignore"):
        big = grid.spend >= t.min_spend
        roas = np.where(big, grid.value / grid.spend, np.nan)
        cpa = np.where(big & (grid.conversions >= 1), grid.spend / grid.conversions, np.nan)
    for metric, matrix, unit in (("roas", roas, ""), ("cpa", cpa, f" {currency}")):
        band = weekday_band(matrix, column, t.weeks)
        x = matrix[:, column]
        rows = np.nonzero((band.count >= t.min_history) & np.isfinite(x) & (band.median > 0))[0]
        low, high = _band_edges(band, rows, t.ratio, t.z)
        outside = (x[rows] < low) | (x[rows] > high)
        for n in np.nonzero(outside)[0]:
            row = rows[n]
            hits.append(_Hit(model.EFFICIENCY_SHIFT, model.WARN, _scope(grid.keys, row), metric, grid.day(column),
                             float(x[row]), float(band.median[row]), float(low[n]), float(high[n]),
                             f"{metric.upper()} {x[row]:,.2f}{unit}"))
    return hits


def _missing_day_hits(inputs: DetectorInput, t: Thresholds) -> list[_Hit]:
    """A day a platform (all its accounts) or an account sent nothing after spending in the week before."""
    if inputs.platform_days.empty:
        return []
    days = _dated(inputs.platform_days)
    days["account_id"] = days["account_id"].astype(str)
    spend = pd.to_numeric(days["spend"], errors="coerce").fillna(0.0)
    reported = set(zip(days["platform"], days["account_id"], days["date_day"]))
    spent = days[spend > 0]
    hits: list[_Hit] = []
    for offset in range(t.scan_days):
        day = inputs.as_of - timedelta(days=offset)
        week = spent[(spent["date_day"] < day) & (spent["date_day"] >= day - timedelta(days=7))]
        for platform, accounts in week.groupby("platform")["account_id"]:
            expected = sorted(set(accounts))
            gone = [a for a in expected if (platform, a, day) not in reported]
            if not gone:
                continue
            scopes = [(platform, None, None)] if len(gone) == len(expected) else [(platform, a, None) for a in gone]
            for scope in scopes:
                what = (f"no rows from {platform} for {day}" if scope[1] is None
                        else f"no rows from {platform} account {scope[1]} for {day}")
                hits.append(_Hit(model.MISSING_DAY, model.ERROR, scope, "rows", day, 0.0, None, None, None, what))
    return hits


def _restatement_hits(inputs: DetectorInput, t: Thresholds) -> list[_Hit]:
    """An account's day whose spend, re-read later, moved by more than ``restatement_ratio`` of the first report."""
    if inputs.reports.empty:
        return []
    reports = _dated(inputs.reports)
    window_start = inputs.as_of - timedelta(days=t.scan_days - 1)
    reports = reports[(reports["date_day"] >= window_start) & (reports["date_day"] <= inputs.as_of)]
    hits = []
    for r in reports.itertuples(index=False):
        first, latest = float(r.first_spend), float(r.latest_spend)
        if abs(latest - first) <= t.restatement_ratio * first or abs(latest - first) < t.min_spend:
            continue
        hits.append(_Hit(model.RESTATEMENT, model.ERROR, (r.platform, str(r.account_id), None), "spend", r.date_day,
                         latest, first, first * (1 - t.restatement_ratio), first * (1 + t.restatement_ratio),
                         f"spend for {r.date_day} restated from {first:,.2f} to {latest:,.2f} {r.currency}",
                         r.currency or None))
    return hits


def _ga4_hits(inputs: DetectorInput, t: Thresholds) -> list[_Hit]:
    """GA4 sessions per platform click far outside their same-weekday range (a broken GA4 tag or UTM)."""
    if inputs.ga4.empty:
        return []
    ga4 = _dated(inputs.ga4)
    hits = []
    for platform, rows in ga4.groupby("platform"):
        series = rows.set_index("date_day")
        clicks = pd.to_numeric(series["clicks"], errors="coerce")
        ratio = (pd.to_numeric(series["sessions"], errors="coerce") / clicks.where(clicks >= t.min_clicks))
        for offset in range(t.scan_days):
            day = inputs.as_of - timedelta(days=offset)
            if day not in ratio.index or not np.isfinite(ratio.get(day, np.nan)):
                continue
            past = np.array([[ratio.get(day - timedelta(days=7 * k), np.nan) for k in range(1, t.weeks + 1)]])
            band = band_of(past.astype(float))
            if band.count[0] < t.min_history or not band.median[0] > 0:
                continue
            low, high = _band_edges(band, np.array([0]), t.ratio, t.z)
            x = float(ratio[day])
            if not low[0] <= x <= high[0]:
                hits.append(_Hit(model.GA4_MISMATCH, model.WARN, (platform, None, None), "ga4_sessions_per_click", day,
                                 x, float(band.median[0]), float(low[0]), float(high[0]),
                                 f"GA4 counted {x:,.2f} sessions per {platform} click"))
    return hits


def _ga4_tracking_hits(inputs: DetectorInput, t: Thresholds) -> list[_Hit]:
    """GA4 key events of a platform's matched traffic that fell to zero or far below what its sessions at the
    usual rate predict: GA4's own conversion tag broke (what the de-duplicated values rest on)."""
    ga4 = inputs.ga4
    if ga4.empty or "key_events" not in ga4:
        return []
    days = history_days(t)
    start = inputs.as_of - timedelta(days=days - 1)
    frame = _dated(ga4)
    frame = frame[(frame["date_day"] >= start) & (frame["date_day"] <= inputs.as_of)]
    platforms = sorted(frame["platform"].unique())
    sessions, events = np.full((len(platforms), days), np.nan), np.full((len(platforms), days), np.nan)
    rows = np.array([platforms.index(p) for p in frame["platform"]], dtype=int)
    cols = np.array([(d - start).days for d in frame["date_day"]], dtype=int)
    sessions[rows, cols] = pd.to_numeric(frame["sessions"], errors="coerce").to_numpy(float)
    events[rows, cols] = pd.to_numeric(frame["key_events"], errors="coerce").to_numpy(float)
    keys = pd.DataFrame({"platform": platforms, "account_id": None, "campaign_id": None})
    grid = _Grid(start, keys, np.zeros_like(sessions), sessions, events, np.zeros_like(sessions))
    hits = []
    for column in range(days - t.scan_days, days):
        hits += _tracking_hits(grid, column, t, "ga4_key_events", ("GA4 key events", "GA4 sessions"))
    return hits


def _pacing_alerts(inputs: DetectorInput, t: Thresholds) -> list[Alert]:
    """Accounts whose month-to-date spend runs above ``pacing_ratio`` x an even pace's target."""
    alerts = []
    for r in inputs.pacing.itertuples(index=False):
        target, spent = float(r.target_spend_mtd), float(r.spend_mtd)
        if int(r.days_elapsed) < 3 or target <= 0 or spent <= t.pacing_ratio * target:
            continue
        month = pd.Timestamp(r.month).date()
        alerts.append(Alert(
            kind=model.OVERSPEND, severity=model.ERROR, platform=r.platform, account_id=str(r.account_id),
            campaign_id=None, metric="spend_mtd", observed=spent, expected=target, expected_low=0.0,
            expected_high=t.pacing_ratio * target, first_day=month, last_day=inputs.as_of, currency=r.currency,
            message=(f"Month-to-date spend {spent:,.2f} {r.currency} is above {t.pacing_ratio:g} x the even pace "
                     f"of {target:,.2f} for {month:%Y-%m}: the month's budget will run out early."),
        ))
    return alerts


def _silenced(hits: list[_Hit]) -> list[_Hit]:
    """Drop generic campaign hits a more specific one explains (same campaign and day), and campaign hits on a
    day whose platform or account is missing."""
    best: dict[tuple, int] = defaultdict(int)
    missing = {(h.scope, h.day) for h in hits if h.kind == model.MISSING_DAY}
    for h in hits:
        if h.kind in _SPECIFIC:
            best[(h.scope, h.day)] = max(best[(h.scope, h.day)], _SPECIFIC[h.kind])

    def keep(h: _Hit) -> bool:
        if h.kind not in _SPECIFIC:
            return True
        platform, account, _ = h.scope
        if ((platform, None, None), h.day) in missing or ((platform, account, None), h.day) in missing:
            return False
        rank = _SPECIFIC[h.kind]
        return rank >= best[(h.scope, h.day)] or rank == _SPECIFIC[model.TRACKING_BREAK]

    return [h for h in hits if keep(h)]


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """(first, last) of each run of consecutive days in ``days`` (sorted)."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _episodes(hits: list[_Hit], inputs: DetectorInput, names: dict, currency: str) -> list[Alert]:
    """One alert per kind, scope, metric and run of consecutive flagged days: for most kinds only the run that
    reaches ``as_of`` (a run that ended is a problem that stopped); for sticky kinds every run still in the
    window (each restated or missing day stays in the data until it is loaded again)."""
    grouped: dict[tuple, dict[date, _Hit]] = defaultdict(dict)
    for h in hits:
        grouped[(h.kind, h.scope, h.metric)].setdefault(h.day, h)
    alerts = []
    for (kind, scope, metric), by_day in grouped.items():
        runs = _runs(sorted(by_day))
        if kind not in STICKY_KINDS:
            runs = [run for run in runs if run[1] == inputs.as_of]  # a run that ended: the problem stopped
        for first, last in runs:
            alerts.append(_alert(by_day[last], first, last, names, currency))
    return alerts


def _alert(h: _Hit, first: date, last: date, names: dict, currency: str) -> Alert:
    """The alert of one episode, with the numbers of its last day."""
    platform, account, campaign = h.scope
    return Alert(
        kind=h.kind, severity=h.severity, platform=platform, account_id=account, campaign_id=campaign,
        metric=h.metric, observed=h.observed, expected=h.expected, expected_low=h.low, expected_high=h.high,
        first_day=first, last_day=last, campaign_name=names.get(h.scope),
        currency=h.currency or (None if h.metric in UNITLESS_METRICS else currency),
        message=_message(h, first, last),
    )


def _message(h: _Hit, first: date, last: date) -> str:
    """One plain sentence: what was observed on the last day, against what, since when."""
    what = f"{h.what[0].upper()}{h.what[1:]}"
    if h.expected is None:  # the observation names its day (a missing day)
        return f"{what}." if first == last else f"{what} (since {first})."
    days = f"on {last}" if first == last else f"on {last} (since {first})"
    band = "" if h.low is None else (f", band {h.low:,.2f} to {h.high:,.2f}" if h.high is not None
                                     else f", at least {h.low:,.2f}")
    return f"{what} {days}; expected {h.expected:,.2f}{band}."


def detect(inputs: DetectorInput, thresholds: Thresholds | None = None) -> list[Alert]:
    """The open alerts on ``inputs`` (see the module docstring), most severe first.

    Campaign and GA4 problems are judged as of the marts' latest day when the marts end before ``as_of`` (a
    refresh that stopped before rebuilding them): an alert of yesterday is not resolved for want of today's
    numbers. Missing and restated days are read from the raw side, up to ``as_of``.
    """
    t = thresholds or Thresholds()
    currency = inputs.reporting_currency
    marts_day = pd.to_datetime(inputs.daily["date_day"]).max() if len(inputs.daily) else None
    data = inputs
    if marts_day is not None and marts_day.date() < inputs.as_of:
        data = replace(inputs, as_of=marts_day.date())
    grid = _grid(data, t)
    hits: list[_Hit] = []
    last = grid.spend.shape[1] - 1
    for column in range(last - t.scan_days + 1, last + 1):
        hits += _spend_hits(grid, column, t, currency)
        hits += _overspend_hits(grid, column, t, currency)
        hits += _tracking_hits(grid, column, t)
        hits += _efficiency_hits(grid, column, t, currency)
    hits += _ga4_hits(data, t)
    hits += _ga4_tracking_hits(data, t)
    hits += _missing_day_hits(inputs, t)
    hits += _restatement_hits(inputs, t)
    names = {(r.platform, r.account_id, r.campaign_id): r.campaign_name if isinstance(r.campaign_name, str) else None
             for r in grid.keys.itertuples(index=False)}  # a missing name may come as None or NaN
    alerts = _episodes(_silenced(hits), data, names, currency) + _pacing_alerts(inputs, t)
    return sorted(alerts, key=lambda a: (a.severity != model.ERROR, a.kind, a.scope, a.metric))
