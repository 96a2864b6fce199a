"""Section 6: the alerts detector on the sandbox with injected faults: recall, precision, false alerts.

Run: ``python -m bench --only alerts`` (``--quick``: fewer seeds and days). Not a test: a benchmark whose
ground truth is the faults it injects (``mbo_pipelines.sandbox.faults``).

For each seed, the default sandbox market gets five faults, one of each kind (``FAULT_KINDS``), each
starting on a random day (seeded) of the examined window but its last, on the target
``faults.choose_target`` picks. Every examined day D is then seen as the pipeline sees it the morning
after, with the sandbox's clock at D + 1, and ``detect`` runs with ``as_of = D`` on

- ``daily``: every campaign-day up to D as the platforms report it at that clock, money in USD at the
  day's sandbox rate (``fx.rate_to_usd``), as ``marts.fct_campaign_daily`` holds it;
- ``campaigns``: every campaign's status and the daily budget in force at the clock (USD at D's rate);
- ``platform_days``: each account's spend per day (account currency), a day without rows absent;
- ``reports``: per account-day of the last ``scan_days`` days, the spend of the first fetch that had rows
  for it (the morning after; later for a day the platform sent late) and of the clock's fetch (MBO re-reads
  the 7 lookback days every morning);
- ``ga4``: per platform and day, the clicks of the campaigns GA4 matches and GA4's sessions of the names
  matched, matched exactly as ``marts.fct_campaign_attribution`` does (lower(trim(name)) within the
  platform's paid source / mediums, ``(not set)`` never);
- no ``pacing``: month-pacing overspend is not measured here.

The platforms' reports come from one clean simulation per seed (``SandboxConnector.simulated``), cut at
each clock and passed through ``faults.apply_faults`` for that clock: what ``simulated(seen_by="platform")``
answers at that clock, because a day's numbers do not depend on the window asked for and only the faults
depend on the clock. A day older than the lookback window was last read eight mornings after it, when each
fault shows as it does at any later clock, so the clock's view of all days is what the raw tables hold.
GA4's faults do not depend on the clock: its report is fetched once per seed.

Scores, per fault: **found within a day** when an alert of a matching kind (``ACCEPTED``) on its scope
(a campaign fault: that campaign; ``missing_day``: the platform or one of its accounts; ``restatement``:
that account), covering one of its days, is open on a morning with ``as_of <= start + 1``; its delay is the
first such ``as_of`` minus the start. **Precision**: the distinct alerts of the faulty runs that match a
fault, over all of them, each alert counted once as ``marts.alerts`` keeps it (``fold``: an episode longer
than ``scan_days`` gets a new ``alert_id`` from the detector every morning, which ``store.sync`` folds); an
alert of another kind whose scope and days overlap a fault's is *explained by a fault* and reported apart,
the rest are false. **False-alert rate**: the distinct alerts of
the same seeds run without faults, per 1 000 campaign-days examined (active campaigns x examined days).
"""

from __future__ import annotations

import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd

from bench.alert_grades import grade_sets, graded_faults, graded_table
from bench.report import Section, Target, seconds, table
from mbo_pipelines.defs.alerts import model
from mbo_pipelines.defs.alerts.detect import RATE_HISTORY_DAYS, DetectorInput, detect, history_days
from mbo_pipelines.defs.alerts.model import Alert
from mbo_pipelines.defs.alerts.store import continues
from mbo_pipelines.defs.alerts.thresholds import Thresholds
from mbo_pipelines.sandbox.faults import CAMPAIGN_KINDS, FAULT_KINDS, Fault, apply_faults, choose_target
from mbo_pipelines.sandbox.fx import rate_to_usd
from mbo_pipelines.sandbox.ga4 import NOT_SET, PAID_SOURCE_MEDIUMS, SandboxGA4
from mbo_pipelines.sandbox.market import EPOCH, PLATFORMS, DailyOutcome, SandboxCampaign
from mbo_pipelines.sandbox.platforms import SandboxMarket

TITLE = "6. Alerts: precision and recall on injected faults"
SEEDS, QUICK_SEEDS = tuple(range(1, 21)), (1, 2)
#: Examined days (mornings) per seed.
DAYS, QUICK_DAYS = 14, 7
#: The last examined day: fixed, so every run examines the same days.
LAST_DAY = date(2026, 3, 1)
CURRENCY = "USD"
RECALL_TARGET = 0.9
#: A fault counts as found when an alert is open on a morning at most this many days after its start.
WITHIN_DAYS = 1
FALSE_RATE_TARGET = 1.0  # false alerts per 1 000 campaign-days on clean data, at most (exclusive)
#: Alert kinds that find each fault kind.
ACCEPTED = {
    "tracking_break": {model.TRACKING_BREAK},
    "spend_spike": {model.SPEND_SPIKE, model.OVERSPEND},
    "zero_delivery": {model.ZERO_DELIVERY},
    "missing_day": {model.MISSING_DAY},
    "restatement": {model.RESTATEMENT},
}
#: False alerts listed per run kind (the rest are counted).
LISTED = 40
_FAULT_DAYS = 61  # random stream tag of the fault days, apart from the sandbox's
Pairs = dict[str, list[tuple[SandboxCampaign, DailyOutcome]]]


# ---------------------------------------------------------------- the market, simulated once per seed


@dataclass
class Market:
    """One seed's sandbox market over [``start``, ``last_day``], simulated once: every morning is cut from it."""

    seed: int
    start: date
    last_day: date
    campaigns: list[SandboxCampaign]
    statuses: dict[tuple[str, str, str], str]
    #: Daily budget (account currency) of each (platform, campaign_id) on each day from EPOCH.
    budgets: dict[tuple[str, str], np.ndarray]
    clean: Pairs
    #: USD per unit of each account currency on each day from ``start``.
    rates: dict[str, np.ndarray]

    @property
    def days(self) -> int:
        """Days simulated."""
        return (self.last_day - self.start).days + 1

    def rate(self, currency: str, day: date) -> float:
        """USD per unit of ``currency`` on ``day`` (the sandbox's rate published then or last before)."""
        return float(self.rates[currency][(day - self.start).days])


def load_market(url: str, seed: int, start: date, last_day: date) -> Market:
    """The market of ``seed`` (its state in the database at ``url``) with its clock the day after ``last_day``."""
    market = SandboxMarket(url, seed, today=last_day + timedelta(days=1))
    campaigns = market.campaigns()
    budgets = {(p, cid): row for p in PLATFORMS for cid, row in market.daily_budgets(p, market.today).items()}
    clean = {p: market.connector(p).simulated(start, last_day) for p in PLATFORMS}
    days = [start + timedelta(days=n) for n in range((last_day - start).days + 1)]
    rates = {cur: np.array([rate_to_usd(seed, cur, d) for d in days]) for cur in {c.currency for c in campaigns}}
    return Market(seed, start, last_day, campaigns, market.statuses(), budgets, clean, rates)


def inject(seed: int, campaigns: list[SandboxCampaign], first_day: date, last_day: date) -> list[Fault]:
    """One fault of each kind on ``choose_target``'s target, each starting on a random day in
    [first_day, last_day - 1] (so the morning after its start is still examined)."""
    rng = np.random.default_rng([seed, _FAULT_DAYS])
    span = (last_day - first_day).days
    if span < 1:
        raise ValueError("the alerts benchmark needs at least two examined days")
    faults = []
    for kind in FAULT_KINDS:
        platform, account_id, campaign_id = choose_target(kind, campaigns, seed)
        start = first_day + timedelta(days=int(rng.integers(span)))
        faults.append(Fault(kind, platform, account_id, campaign_id, start))
    return faults


def _until(out: DailyOutcome, end: date) -> DailyOutcome:
    """``out`` without its days after ``end``."""
    n = 0 if not out.dates else max(0, min(len(out.dates), (end - out.dates[0]).days + 1))
    return DailyOutcome(**{f.name: getattr(out, f.name)[:n] for f in fields(DailyOutcome)})


def reported(clean: Pairs, faults: list[Fault], clock: date, seen_by: str = "platform") -> Pairs:
    """What ``seen_by`` reports with the market's clock at ``clock``: the complete days, with the faults
    that clock shows (``SandboxConnector.simulated(..., seen_by)`` at that clock)."""
    out = {}
    for platform, pairs in clean.items():
        cut = [(c, _until(o, clock - timedelta(days=1))) for c, o in pairs]
        out[platform] = apply_faults(cut, faults, clock, seen_by) if faults else cut
    return out


# ---------------------------------------------------------------- one morning's detector input


def daily_frame(view: Pairs, market: Market) -> pd.DataFrame:
    """``DetectorInput.daily`` of a view: one row per reported campaign-day, money in USD at the day's rate."""
    parts: dict[str, list] = defaultdict(list)
    for platform, pairs in view.items():
        for c, o in pairs:
            n = len(o.dates)
            if not n:
                continue
            offsets = np.array([(d - market.start).days for d in o.dates])
            rate = market.rates[c.currency][offsets]
            parts["date_day"].append(np.array(o.dates, dtype=object))
            for column, value in (("platform", platform), ("account_id", c.account_id),
                                  ("campaign_id", c.campaign_id), ("campaign_name", c.campaign_name)):
                parts[column].append(np.full(n, value, dtype=object))
            parts["spend"].append(o.spend * rate)
            parts["clicks"].append(o.clicks)
            parts["conversions"].append(o.conversions)
            parts["conversion_value"].append(o.conversion_value * rate)
    columns = ["date_day", "platform", "account_id", "campaign_id", "campaign_name", "spend", "clicks",
               "conversions", "conversion_value"]
    return pd.DataFrame({c: np.concatenate(parts[c]) if parts[c] else [] for c in columns})


def account_spend(view: Pairs, market: Market) -> dict[tuple[str, str], np.ndarray]:
    """Each account's reported spend (account currency) per day from ``market.start``, NaN on a day without rows."""
    totals: dict[tuple[str, str], np.ndarray] = {}
    for platform, pairs in view.items():
        for c, o in pairs:
            total = totals.setdefault((platform, c.account_id), np.full(market.days, np.nan))
            if o.dates:
                offsets = np.array([(d - market.start).days for d in o.dates])
                total[offsets] = np.nan_to_num(total[offsets]) + o.spend
    return totals


def campaigns_frame(market: Market, clock: date, as_of: date) -> pd.DataFrame:
    """``DetectorInput.campaigns`` at ``clock``: every campaign's status and budget in force (USD at as_of's rate)."""
    day = (clock - EPOCH).days
    rows = [(c.platform, c.account_id, c.campaign_id, c.campaign_name,
             market.statuses[(c.platform, c.account_id, c.campaign_id)],
             float(market.budgets[(c.platform, c.campaign_id)][day]) * market.rate(c.currency, as_of))
            for c in market.campaigns]
    return pd.DataFrame(rows, columns=["platform", "account_id", "campaign_id", "campaign_name", "status",
                                       "daily_budget"])


def platform_days_frame(spend: dict[tuple[str, str], np.ndarray], market: Market) -> pd.DataFrame:
    """``DetectorInput.platform_days``: the account-days with rows, their spend in account currency."""
    rows = [(platform, account, market.start + timedelta(days=int(n)), float(total[n]))
            for (platform, account), total in spend.items() for n in np.nonzero(np.isfinite(total))[0]]
    return pd.DataFrame(rows, columns=["platform", "account_id", "date_day", "spend"])


def reports_frame(spend_by_clock: dict[date, dict], market: Market, as_of: date, scan_days: int) -> pd.DataFrame:
    """``DetectorInput.reports`` on the morning after ``as_of``: per account-day of the scan window, the spend the
    first fetch with rows for it reported and the spend reported now."""
    currency = {(c.platform, c.account_id): c.currency for c in market.campaigns}
    latest = spend_by_clock[as_of + timedelta(days=1)]
    rows = []
    for offset in range(scan_days):
        day = as_of - timedelta(days=offset)
        n = (day - market.start).days
        for key, total in latest.items():
            if not np.isfinite(total[n]):
                continue
            clocks = (day + timedelta(days=k) for k in range(1, offset + 2))
            first = next(spend_by_clock[c][key][n] for c in clocks if np.isfinite(spend_by_clock[c][key][n]))
            rows.append((*key, day, currency[key], float(first), float(total[n])))
    return pd.DataFrame(rows, columns=["platform", "account_id", "date_day", "currency", "first_spend",
                                       "latest_spend"])


def ga4_sessions(rows: list[dict]) -> pd.DataFrame:
    """GA4's paid sessions per (platform, date_day, match name): names matched as lower(trim(name)), never
    ``(not set)`` or blank."""
    platform_of = {sm: p for p, mediums in PAID_SOURCE_MEDIUMS.items() for sm in mediums}
    out = [(platform_of[r["session_source_medium"]], r["date"], r["session_campaign_name"].strip().lower(),
            float(r["sessions"])) for r in rows if r["session_source_medium"] in platform_of]
    frame = pd.DataFrame(out, columns=["platform", "date_day", "match_name", "sessions"])
    frame = frame[~frame["match_name"].isin(["", NOT_SET])]
    return frame.groupby(["platform", "date_day", "match_name"], as_index=False)["sessions"].sum()


def ga4_frame(daily: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """``DetectorInput.ga4``: per platform and day the clicks of the GA4-matched campaigns and GA4's sessions."""
    campaigns = daily[["platform", "date_day", "campaign_name", "clicks"]].assign(
        match_name=daily["campaign_name"].str.strip().str.lower())
    matched = campaigns.merge(sessions, on=["platform", "date_day", "match_name"])
    clicks = matched.groupby(["platform", "date_day"])["clicks"].sum()
    # Campaigns sharing a matched name split its sessions: the name's sessions count once.
    names = matched.drop_duplicates(["platform", "date_day", "match_name"])
    total = names.groupby(["platform", "date_day"])["sessions"].sum()
    return pd.DataFrame({"clicks": clicks, "sessions": total}).reset_index()


# ---------------------------------------------------------------- the mornings of one run


def run_mornings(market: Market, faults: list[Fault], ga4_rows: list[dict], examined: list[date],
                 thresholds: Thresholds) -> list[tuple[date, Alert]]:
    """Every (as_of, open alert) of the examined mornings of ``market`` with ``faults``."""
    first_clock = examined[0] - timedelta(days=thresholds.scan_days - 2)  # the earliest first report read
    clocks = [first_clock + timedelta(days=n) for n in range((examined[-1] + timedelta(days=2) - first_clock).days)]
    views = {clock: reported(market.clean, faults, clock) for clock in clocks}
    spend_by_clock = {clock: account_spend(view, market) for clock, view in views.items()}
    sessions = ga4_sessions(ga4_rows)
    found = []
    for as_of in examined:
        clock = as_of + timedelta(days=1)
        daily = daily_frame(views[clock], market)
        inputs = DetectorInput(
            as_of=as_of, reporting_currency=CURRENCY, daily=daily,
            campaigns=campaigns_frame(market, clock, as_of),
            platform_days=platform_days_frame(spend_by_clock[clock], market),
            reports=reports_frame(spend_by_clock, market, as_of, thresholds.scan_days),
            ga4=ga4_frame(daily, sessions),
        )
        found += [(as_of, alert) for alert in detect(inputs, thresholds)]
    return found


@dataclass
class SeedRun:
    """One seed: its faults, the alerts of its faulty and clean mornings, and what was examined."""

    seed: int
    faults: list[Fault]
    faulty: list[tuple[date, Alert]]
    clean: list[tuple[date, Alert]]
    mornings: list[date]
    campaign_days: int
    facts: dict[Fault, str] = field(default_factory=dict)
    seconds: float = 0.0
    #: The graded runs (``bench.alert_grades``): per grade, each fault and its delay.
    graded: dict[str, list[tuple[Fault, int | None]]] = field(default_factory=dict)


def run_seed(url: str, seed: int, examined: list[date], thresholds: Thresholds) -> SeedRun:
    """Simulate ``seed``'s market once, inject its faults, and run the detector on every examined morning with
    them, without them, and with each grade of ``alert_grades`` (the graded kinds' faults only)."""
    started = time.perf_counter()
    history = history_days(thresholds) + thresholds.scan_days
    start = examined[0] - timedelta(days=history)
    market = load_market(url, seed, start, examined[-1])
    faults = inject(seed, market.campaigns, examined[0], examined[-1])
    today = examined[-1] + timedelta(days=1)
    variants = {"faulty": faults, "clean": [],
                **{grade: graded_faults(faults, factors) for grade, factors in grade_sets(thresholds).items()}}
    found = {}
    for name, variant in variants.items():
        ga4 = SandboxGA4(SandboxMarket(url, seed, today=today, faults=variant)).fetch_traffic_daily(start, examined[-1])
        found[name] = run_mornings(market, variant, ga4, examined, thresholds)
    faulty, clean = found.pop("faulty"), found.pop("clean")
    active = sum(status == "active" for status in market.statuses.values())
    graded = {grade: [(f, delay(f, found[grade])) for f in variants[grade]] for grade in found}
    return SeedRun(seed, faults, faulty, clean, examined, active * len(examined), {f: fault_facts(market, f) for f in faults},
                   time.perf_counter() - started, graded)


def fault_facts(market: Market, fault: Fault) -> str:
    """The fault's scope in numbers before it started (median day of the rate history), to judge a miss by."""
    before = [fault.start - timedelta(days=n) for n in range(1, RATE_HISTORY_DAYS + 1)]
    rows = daily_frame(reported(market.clean, [], fault.start), market)
    rows = rows[rows["date_day"].isin(before) & (rows["platform"] == fault.platform)]
    if fault.account_id is not None:
        rows = rows[rows["account_id"] == fault.account_id]
    if fault.campaign_id is not None:
        rows = rows[rows["campaign_id"] == fault.campaign_id]
    if rows.empty:
        return "no rows before the start"
    day = rows.groupby("date_day")[["spend", "clicks", "conversions"]].sum().median()
    return (f"median day before: spend {day['spend']:,.0f} {CURRENCY}, {day['clicks']:,.0f} clicks, "
            f"{day['conversions']:,.1f} conversions")


# ---------------------------------------------------------------- scoring


def in_scope(alert: Alert, fault: Fault) -> bool:
    """Whether ``alert`` is on the scope that finds ``fault``."""
    if alert.platform != fault.platform:
        return False
    if fault.kind in CAMPAIGN_KINDS:
        return (alert.account_id, alert.campaign_id) == (fault.account_id, fault.campaign_id)
    if fault.kind == "missing_day":
        return alert.campaign_id is None
    return alert.account_id == fault.account_id and alert.campaign_id is None


def _on_days(alert: Alert, fault: Fault) -> bool:
    return alert.last_day >= fault.start and (fault.last is None or alert.first_day <= fault.last)


def matches(alert: Alert, fault: Fault) -> bool:
    """An alert of an accepted kind on the fault's scope, covering one of its days."""
    return alert.kind in ACCEPTED[fault.kind] and in_scope(alert, fault) and _on_days(alert, fault)


def overlaps(alert: Alert, fault: Fault) -> bool:
    """Whether the alert's scope and days overlap the fault's (whatever its kind)."""
    return (alert.platform == fault.platform
            and (None in (alert.account_id, fault.account_id) or alert.account_id == fault.account_id)
            and (None in (alert.campaign_id, fault.campaign_id) or alert.campaign_id == fault.campaign_id)
            and _on_days(alert, fault))


def delay(fault: Fault, found: list[tuple[date, Alert]]) -> int | None:
    """Days from the fault's start to the first morning an alert that finds it is open (None: never)."""
    days = [(as_of - fault.start).days for as_of, alert in found if matches(alert, fault)]
    return min(days) if days else None


def fold(found: list[tuple[date, Alert]], mornings: list[date]) -> dict[str, tuple[date, Alert]]:
    """Each problem once, as ``marts.alerts`` keeps it (``store.sync``): an alert found again by its id, or
    continuing an alert open the morning before, extends it (keeping its id and first day); a morning that
    does not find an open alert resolves it. Each problem with the first morning it was open."""
    problems: dict[str, tuple[date, Alert]] = {}
    open_ids: list[str] = []
    for as_of in sorted(mornings):
        kept: list[str] = []
        for alert in (a for day, a in found if day == as_of):
            pid = alert.alert_id if alert.alert_id in problems else next(
                (p for p in open_ids if p not in kept and continues(problems[p][1], alert)), None)
            if pid is None:
                problems[alert.alert_id] = (as_of, alert)
                pid = alert.alert_id
            else:
                first, stored = problems[pid]
                problems[pid] = (first, replace(alert, alert_id=pid, first_day=min(stored.first_day, alert.first_day),
                                                last_day=max(stored.last_day, alert.last_day)))
            kept.append(pid)
        open_ids = kept
    return problems


def classify(alert: Alert, faults: list[Fault]) -> str:
    """``matched`` (finds a fault), ``explained`` (overlaps a fault's scope and days) or ``false``."""
    if any(matches(alert, f) for f in faults):
        return "matched"
    return "explained" if any(overlaps(alert, f) for f in faults) else "false"


@dataclass
class Scores:
    """The section's numbers."""

    delays: list[tuple[SeedRun, Fault, int | None]]
    faulty_alerts: list[tuple[SeedRun, date, Alert, str]]  # (run, first morning, alert, class)
    clean_alerts: list[tuple[SeedRun, date, Alert]]
    campaign_days: int
    #: Distinct ``alert_id``s the detector returned (before folding), on faulty and on clean seeds.
    detector_ids: tuple[int, int] = (0, 0)

    def recall(self, kind: str | None = None) -> float:
        """Share of the faults (of ``kind``, or all) found within ``WITHIN_DAYS``."""
        found = [d is not None and d <= WITHIN_DAYS for _, f, d in self.delays if kind in (None, f.kind)]
        return float(np.mean(found)) if found else float("nan")

    def count(self, cls: str) -> int:
        """Distinct alerts of the faulty seeds classified ``cls`` (``classify``)."""
        return sum(c == cls for *_, c in self.faulty_alerts)

    @property
    def precision(self) -> float:
        """Matching alerts over all alerts of the faulty seeds."""
        return self.count("matched") / len(self.faulty_alerts) if self.faulty_alerts else float("nan")

    @property
    def false_rate(self) -> float:
        """Alerts of the clean seeds per 1 000 campaign-days examined."""
        return 1000 * len(self.clean_alerts) / self.campaign_days if self.campaign_days else float("nan")


def score(runs: list[SeedRun]) -> Scores:
    """Recall per fault, every distinct alert classified, the clean runs' alerts."""
    delays = [(run, f, delay(f, run.faulty)) for run in runs for f in run.faults]
    faulty = [(run, as_of, a, classify(a, run.faults))
              for run in runs for as_of, a in fold(run.faulty, run.mornings).values()]
    clean = [(run, as_of, a) for run in runs for as_of, a in fold(run.clean, run.mornings).values()]
    ids = tuple(sum(len({a.alert_id for _, a in getattr(run, which)}) for run in runs) for which in ("faulty", "clean"))
    return Scores(delays, faulty, clean, sum(run.campaign_days for run in runs), ids)


# ---------------------------------------------------------------- the report


def targets(s: Scores) -> list[Target]:
    """The issue's two targets."""
    found = sum(d is not None and d <= WITHIN_DAYS for *_, d in s.delays)
    recall_label = f"alerts: recall ≥ {RECALL_TARGET:g} on injected faults within {WITHIN_DAYS} day of their start"
    rate_label = f"alerts: < {FALSE_RATE_TARGET:g} false alert per 1 000 campaign-days on clean data"
    if not s.delays:
        return [Target(recall_label, None, "no faults injected"), Target(rate_label, None, "nothing examined")]
    return [
        Target(recall_label, s.recall() >= RECALL_TARGET,
               f"{s.recall():.2f} ({found} of {len(s.delays)} faults; worst kind: "
               f"{min(FAULT_KINDS, key=lambda k: s.recall(k))} {min(s.recall(k) for k in FAULT_KINDS):.2f})"),
        Target(rate_label, s.false_rate < FALSE_RATE_TARGET,
               f"{s.false_rate:.2f} ({len(s.clean_alerts)} distinct alerts over {s.campaign_days:,} campaign-days)"),
    ]


def _scope(alert: Alert) -> str:
    return alert.scope + (f" ({alert.campaign_name})" if alert.campaign_name else "")


def _days(alert: Alert) -> str:
    return str(alert.first_day) if alert.days == 1 else f"{alert.first_day} – {alert.last_day}"


def _kind_table(s: Scores) -> str:
    rows = []
    for kind in FAULT_KINDS:
        delays = [d for _, f, d in s.delays if f.kind == kind]
        found = [d for d in delays if d is not None]
        within = sum(d <= WITHIN_DAYS for d in found)
        rows.append([kind, f"{len(delays)}", f"{within}", f"{s.recall(kind):.2f}",
                     f"{np.median(found):g}" if found else "—", f"{len(found) - within}",
                     f"{len(delays) - len(found)}"])
    return table(["fault kind", "injected", f"found within {WITHIN_DAYS} day", "recall", "median delay (days)",
                  "found later", "never found"], rows)


def _missed_lines(s: Scores) -> list[str]:
    missed = [(run, f, d) for run, f, d in s.delays if d is None or d > WITHIN_DAYS]
    if not missed:
        return ["Every injected fault was found within a day.", ""]
    rows = [[f"{run.seed}", f.kind, f.platform + "/".join(["", *(x for x in (f.account_id, f.campaign_id) if x)]),
             f"{f.start} ({f.start:%a})", "never" if d is None else f"after {d} days", run.facts.get(f, "")]
            for run, f, d in missed]
    return ["**Faults not found within a day** (the facts: the scope's median day in the "
            f"{RATE_HISTORY_DAYS} days before the fault, clean):", "",
            table(["seed", "kind", "scope", "start", "found", "facts"], rows, "rlllll"), ""]


def _alert_rows(items: list[tuple[SeedRun, date, Alert]]) -> list[list[str]]:
    return [[f"{run.seed}", str(as_of), a.kind, _scope(a), _days(a), a.message.replace("|", "/")]
            for run, as_of, a in items[:LISTED]]


def _alert_table(items: list[tuple[SeedRun, date, Alert]]) -> list[str]:
    if not items:
        return ["None.", ""]
    more = [f"({len(items) - LISTED} more not listed.)", ""] if len(items) > LISTED else []
    return [table(["seed", "first morning (as_of)", "kind", "scope", "days", "message"], _alert_rows(items),
                  "rrllll"), "", *more]


def _by_kind_table(s: Scores) -> str:
    counts: dict[str, list[int]] = {k: [0, 0, 0, 0] for k in model.KINDS}
    for *_, a, cls in s.faulty_alerts:
        counts[a.kind][("matched", "explained", "false").index(cls)] += 1
    for *_, a in s.clean_alerts:
        counts[a.kind][3] += 1
    rows = [[k, *(f"{n}" for n in c)] for k, c in counts.items() if any(c)]
    return table(["alert kind", "faulty seeds: matching a fault", "explained by a fault", "false",
                  "clean seeds: false"], rows)


def build_section(runs: list[SeedRun], examined: list[date], elapsed: float, thresholds: Thresholds) -> Section:
    """The section's Markdown, rows (one per fault) and targets."""
    s = score(runs)
    t = targets(s)
    false_faulty = [(run, as_of, a) for run, as_of, a, cls in s.faulty_alerts if cls == "false"]
    explained = s.count("explained")
    seeds = ", ".join(str(run.seed) for run in runs)
    body = [
        f"`bench.alerts` (see that module for how each morning is built): {len(runs)} sandbox seeds ({seeds}) of the "
        f"default market, {len(examined)} mornings each (as_of {examined[0]} to {examined[-1]}), the detector's "
        f"{'default ' if thresholds == Thresholds() else ''}thresholds (z {thresholds.z:g}, ratio "
        f"{thresholds.ratio:g}, p {thresholds.p_value:g}, scan {thresholds.scan_days} days, {thresholds.weeks} "
        f"weeks), {seconds(elapsed)} in all. Per seed, five faults (one of each kind) start on "
        "random days of the window but its last; the same seeds without faults give the clean false-alert rate.",
        "",
        *(x.line() for x in t),
        "",
        _kind_table(s),
        "",
        f"**Precision** (faulty seeds): {s.count('matched')} of {len(s.faulty_alerts)} distinct alerts match an "
        f"injected fault: **{s.precision:.2f}**. Another {explained} are explained by a fault (another kind on a "
        f"faulty scope and day, e.g. a ROAS shift on the spiked campaign); {len(false_faulty)} are false "
        f"(precision counting the explained ones as right: "
        f"{(s.count('matched') + explained) / max(len(s.faulty_alerts), 1):.2f}).",
        "",
        f"**Clean seeds**: {len(s.clean_alerts)} distinct alerts over {s.campaign_days:,} campaign-days "
        f"(active campaigns × mornings): **{s.false_rate:.2f} per 1 000**.",
        "",
        f"Alerts are counted as `marts.alerts` keeps them (`store.sync` folds an alert continuing one open the "
        f"morning before): the detector itself returned {s.detector_ids[0]} distinct `alert_id`s on the faulty "
        f"seeds and {s.detector_ids[1]} on the clean ones"
        + (", because an episode longer than its scan window (`scan_days`) gets a new first day, hence a new id, "
           "every morning." if s.detector_ids != (len(s.faulty_alerts), len(s.clean_alerts)) else "."),
        "",
        _by_kind_table(s),
        "",
        *_missed_lines(s),
        "### Graded faults: just past and just short of the thresholds",
        "",
        "The main faults are blunt, far past every threshold. The same seeds, targets and start days again, with "
        "partial faults of the kinds that have a size (`bench.alert_grades`): *past* should be found, *short* is "
        "inside the thresholds and not found by design. No target; they show where the thresholds cut.",
        "",
        graded_table([run.graded for run in runs], thresholds, WITHIN_DAYS),
        "",
        "### False alerts on clean seeds",
        "",
        *_alert_table(s.clean_alerts),
        "### False alerts on faulty seeds (not explained by a fault)",
        "",
        *_alert_table(false_faulty),
        f"Run time: {seconds(elapsed)} ({', '.join(f'seed {r.seed}: {seconds(r.seconds)}' for r in runs)}).",
    ]
    rows = [{"seed": run.seed, "kind": f.kind, "platform": f.platform, "account_id": f.account_id,
             "campaign_id": f.campaign_id, "start": f.start, "delay_days": d} for run, f, d in s.delays]
    return Section(TITLE, "\n".join(body), rows, t, {"scores": s})


@contextmanager
def _database(database_url: str | None) -> Iterator[str]:
    """``database_url``, or a scratch database on an embedded PostgreSQL of the benchmark's own."""
    if database_url is not None:
        yield database_url
        return
    from bench.pipeline import bench_server

    with bench_server() as (scratch_database, _), scratch_database("alerts") as url:
        yield url


def alerts_section(seeds=SEEDS, days: int = DAYS, progress: Callable[[str], None] = lambda line: None,
                   database_url: str | None = None, thresholds: Thresholds | None = None,
                   last_day: date = LAST_DAY) -> Section:
    """Run the detector on every seed's examined mornings and build the section; a failure is reported in the
    section, not raised. ``database_url``: where the sandbox keeps its state (default: an embedded server)."""
    thresholds = thresholds or Thresholds()
    examined = [last_day - timedelta(days=n) for n in range(days - 1, -1, -1)]
    started = time.perf_counter()
    runs: list[SeedRun] = []
    try:
        with _database(database_url) as url:
            for seed in seeds:
                runs.append(run_seed(url, seed, examined, thresholds))
                progress(f"  alerts, seed {seed}: {len(examined)} mornings in {seconds(runs[-1].seconds)}")
    except Exception:  # noqa: BLE001 - the report says what failed instead of losing the other sections
        last = traceback.format_exc().strip().splitlines()[-1]
        progress(f"  alerts failed: {last}")
        failed = [Target(x.label, False, f"the benchmark failed: {last}") for x in targets(score([]))]
        body = f"*Failed* after {len(runs)} seeds: `{last}`.\n\n" + "\n".join(x.line() for x in failed)
        return Section(TITLE, body, [], failed)
    return build_section(runs, examined, time.perf_counter() - started, thresholds)
