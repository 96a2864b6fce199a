"""Decision quality: how much of the achievable uplift the fitted curves' plan captures.

Run: ``python -m bench.decision_quality [--seed 0] [--markets 20] [--no-ceiling]`` (``--fit-speed``:
time the fit of 1000 campaigns x 365 days instead). Not a test: a benchmark on
simulated markets whose TRUE response curves are known, so every plan can be scored.

Markets:
  (a) the sandbox market (``mbo_pipelines.sandbox.market``) for a few seeds: the advertiser's
      own budget schedule, 90 days of simulated history (adstock, weekday seasonality,
      log-normal noise, pacing), all amounts in USD at the sandbox's anchor FX rates;
  (b) random markets of 30-100 campaigns with mixed concave and S-shaped Hill curves,
      geometric adstock, weekday seasonality and noise, whose budgets moved within +-30 %
      over 90 days of history (step changes every 1-3 weeks plus pacing jitter).

For each market: fit the curves on the history, allocate today's total budget with
``max_change=0.3`` around today's budgets, and score with the true curves:

  captured_uplift_pct = (true(plan) - true(current)) / (true(optimum) - true(current))
  vs_current_pct      = true(plan) / true(current) - 1

where the optimum is ``allocate`` on the true curves under the same constraints (certified
by its dual bound, ``optimum_gap``). Targets: mean captured >= 95 %, worst vs_current >= -1 %.

  bayes_ceiling_pct   = the captured uplift of the Bayes ceiling (``bench.bayes_ceiling``): the
                        plan of an oracle that knows the distribution the true curves were drawn
                        from, every carryover rate, weekday factor and noise level, and sees the
                        same 90 days. No method fitted on this history can expect to do better,
                        so it tells how much of a shortfall the data leave no way around.

With ``--shortfall`` (and in ``make bench``) three more columns locate the fitted plans'
shortfall to the ceiling: see ``bench.shortfall``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from bench.bayes_ceiling import CEILING_DRAWS, bayes_plan, fitted_evidence, grid_allocation, plugin_plan, posterior
from bench.learned_prior import learned_prior_plan
from bench.shortfall import shortfall_lines
from mbo_pipelines.sandbox.fx import ANCHOR_RATES_TO_USD
from mbo_pipelines.sandbox.market import (
    EPOCH,
    HALF_SATURATION_RANGE,
    ROAS_RANGE,
    SHAPE_RANGE,
    VALUE_NOISE,
    generate_campaigns,
    simulate,
    synthetic_budget_schedule,
    vmax_for_roas,
)
from optimizer import HillCurve, allocate, fit_response_curves

HISTORY_DAYS = 90
MAX_CHANGE = 0.3
SANDBOX_SEEDS = (7, 1, 2, 3, 4)
SANDBOX_END_DAY = 240  # days after the sandbox EPOCH: the last day of history ("yesterday")
# The random markets' true curves, around each campaign's base budget: a share S_SHAPED_SHARE
# is S-shaped; half-saturation = base x U(range), ROAS at the base budget ~ U(ROAS_RANGE).
S_SHAPED_SHARE = 0.35
S_SHAPE_RANGE, CONCAVE_SHAPE_RANGE = (1.3, 2.5), (0.6, 1.1)
S_HALF_RANGE, CONCAVE_HALF_RANGE = (0.6, 1.6), (0.5, 3.0)
RANDOM_ROAS_RANGE = (0.8, 5.0)


@dataclass
class Market:
    """A simulated market and everything its simulation knows (what the Bayes ceiling's oracle uses).

    ``effective`` is the adstocked spend of each history day and ``season`` its true weekday
    factor, both ``(campaigns, HISTORY_DAYS)`` in ``daily``'s campaign order; ``noise`` the
    standard deviation of each campaign's daily log-normal value noise; ``base`` the budget
    each true curve was drawn around; ``prior(base, draws, rng)`` draws ``(vmax, half, shape)``
    arrays from the distribution the true curves were drawn from.
    """

    name: str
    daily: pd.DataFrame
    true: HillCurve
    current: np.ndarray
    adstock: np.ndarray
    effective: np.ndarray
    season: np.ndarray
    noise: np.ndarray
    base: np.ndarray
    prior: Callable[[float, int, np.random.Generator], tuple[np.ndarray, np.ndarray, np.ndarray]]


def usd_rates() -> dict[str, float]:
    """US dollars per unit of each currency: the anchors the sandbox's daily FX rates move around."""
    return dict(ANCHOR_RATES_TO_USD)


def sandbox_prior(base: float, draws: int, rng: np.random.Generator):
    """Draws of ``(vmax, half, shape)`` from the sandbox's curve distribution around ``base``."""
    half = base * rng.uniform(*HALF_SATURATION_RANGE, draws)
    shape = rng.uniform(*SHAPE_RANGE, draws)
    return vmax_for_roas(rng.uniform(*ROAS_RANGE, draws), base, half, shape), half, shape


def random_prior(base: float, draws: int, rng: np.random.Generator):
    """Draws of ``(vmax, half, shape)`` from the random markets' curve distribution around ``base``."""
    s_shaped = rng.random(draws) < S_SHAPED_SHARE
    shape = np.where(s_shaped, rng.uniform(*S_SHAPE_RANGE, draws), rng.uniform(*CONCAVE_SHAPE_RANGE, draws))
    half = base * np.where(s_shaped, rng.uniform(*S_HALF_RANGE, draws), rng.uniform(*CONCAVE_HALF_RANGE, draws))
    return vmax_for_roas(rng.uniform(*RANDOM_ROAS_RANGE, draws), base, half, shape), half, shape


def carry(spend: np.ndarray, theta) -> np.ndarray:
    """Geometric adstock along the last axis, starting in steady state at the first day."""
    out = np.empty_like(spend)
    level = spend[..., 0]
    for t in range(spend.shape[-1]):
        level = (1 - theta) * spend[..., t] + theta * level
        out[..., t] = level
    return out


def sandbox_market(seed: int) -> Market:
    """The sandbox market of ``seed``, in USD."""
    rates = usd_rates()
    end = EPOCH + timedelta(days=SANDBOX_END_DAY)
    start = end - timedelta(days=HISTORY_DAYS - 1)
    frames, curve, current, theta, effective, season, base = [], [], [], [], [], [], []
    campaigns = generate_campaigns(seed)
    assert [c.campaign_id for c in campaigns] == sorted(c.campaign_id for c in campaigns)  # market order is id order
    for c in campaigns:
        rate = rates[c.currency]
        budgets = synthetic_budget_schedule(c, seed, end + timedelta(days=1))
        out = simulate(c, seed, budgets, start, end)
        frames.append(
            pd.DataFrame(
                {
                    "campaign_id": c.campaign_id,
                    "platform": c.platform,
                    "date": pd.to_datetime(out.dates),
                    "spend": out.spend * rate,
                    "conversion_value": out.conversion_value * rate,
                }
            )
        )
        effective.append(out.effective_spend * rate)
        weekday = np.array([d.weekday() for d in out.dates])
        season.append(1 + c.seasonality_amplitude * np.sin(2 * np.pi * (weekday + c.seasonality_phase) / 7))
        curve.append((c.vmax * rate, c.half_saturation * rate, c.shape))
        current.append(budgets[(end - EPOCH).days + 1] * rate)  # today's budget
        theta.append(c.adstock)
        base.append(c.base_budget * rate)
    vmax, half, shape = map(np.array, zip(*curve))
    return Market(
        name=f"sandbox-{seed}",
        daily=pd.concat(frames, ignore_index=True),
        true=HillCurve(vmax, half, shape),
        current=np.array(current),
        adstock=np.array(theta),
        effective=np.array(effective),
        season=np.array(season),
        noise=np.full(len(campaigns), VALUE_NOISE),
        base=np.array(base),
        prior=sandbox_prior,
    )


def random_market(rng: np.random.Generator, name: str = "random") -> Market:
    """A random market of 30-100 campaigns (see the module docstring)."""
    n = int(rng.integers(30, 101))
    platforms = np.array(["google_ads", "meta_ads", "tiktok_ads"])[rng.integers(0, 3, n)]
    base = np.exp(rng.uniform(np.log(20), np.log(2000), n))
    s_shaped = rng.random(n) < S_SHAPED_SHARE
    shape = np.where(s_shaped, rng.uniform(*S_SHAPE_RANGE, n), rng.uniform(*CONCAVE_SHAPE_RANGE, n))
    half = base * np.where(s_shaped, rng.uniform(*S_HALF_RANGE, n), rng.uniform(*CONCAVE_HALF_RANGE, n))
    vmax = vmax_for_roas(rng.uniform(*RANDOM_ROAS_RANGE, n), base, half, shape)
    platform_theta = {p: rng.uniform(0.0, 0.5) for p in np.unique(platforms)}
    theta = np.clip([platform_theta[p] + rng.normal(0, 0.1) for p in platforms], 0.0, 0.7)
    noise = rng.uniform(0.08, 0.2, n)
    amplitude, phase = rng.uniform(0.0, 0.15, n), rng.uniform(0, 7, n)

    warmup = 30
    days = warmup + HISTORY_DAYS
    level = np.empty((n, days + 1))  # budget multiplier: steps every 7-21 days within +-30 %
    for i in range(n):
        t = 0
        while t <= days:
            run = int(rng.integers(7, 22))
            level[i, t : t + run] = 1.0 + rng.uniform(-0.3, 0.3)
            t += run
    budgets = base[:, None] * level
    spend = budgets[:, :days] * rng.uniform(0.93, 0.99, (n, days))
    x = carry(spend, theta)
    weekday = (np.arange(days) % 7)[None, :]
    season = 1 + amplitude[:, None] * np.sin(2 * np.pi * (weekday + phase[:, None]) / 7)
    curves = HillCurve(vmax, half, shape)
    value = curves.value(x.T).T * season * np.exp(noise[:, None] * rng.standard_normal((n, days)) - noise[:, None] ** 2 / 2)
    dates = pd.date_range("2026-01-01", periods=HISTORY_DAYS, freq="D")
    ids = [f"c{i:03d}" for i in range(n)]
    daily = pd.DataFrame(
        {
            "campaign_id": np.repeat(ids, HISTORY_DAYS),
            "platform": np.repeat(platforms, HISTORY_DAYS),
            "date": np.tile(dates, n),
            "spend": spend[:, warmup:].ravel(),
            "conversion_value": value[:, warmup:].ravel(),
        }
    )
    return Market(
        name=name,
        daily=daily,
        true=curves,
        current=budgets[:, days],
        adstock=theta,
        effective=x[:, warmup:],
        season=season[:, warmup:],
        noise=noise,
        base=base,
        prior=random_prior,
    )


def score(market: Market, ceiling_draws: int = CEILING_DRAWS, shortfall: bool = False, **fit_options) -> dict:
    """Fit, plan and score one market; one result row.

    ``shortfall`` (with a ceiling) adds the captured uplift of the weaker oracles and of
    the learned-prior plan (the columns ``bench.shortfall`` summarizes).
    """
    true, current = market.true, market.current
    started = time.perf_counter()
    fitted = fit_response_curves(market.daily, **fit_options)
    fit_seconds = time.perf_counter() - started
    assert list(fitted.campaign_ids) == sorted(fitted.campaign_ids)
    total = float(current.sum())
    plan = allocate(fitted, total, current=current, max_change=MAX_CHANGE)
    best = allocate(true, total, current=current, max_change=MAX_CHANGE)
    v_current = float(true.value(current).sum())
    v_plan = float(true.value(plan.spend).sum())
    v_best = float(best.expected_value)
    possible = v_best - v_current
    low, high = fitted.uplift_interval(current, plan.spend)
    true_uplift = v_plan - v_current

    def captured(v: float) -> float:
        return 100 * (v - v_current) / possible if possible > 1e-9 * v_current else np.nan

    row = {
        "market": market.name,
        "campaigns": len(current),
        "s_shaped": int(np.sum(true.shape > 1)),
        "possible_uplift_pct": 100 * possible / v_current,
        "captured_uplift_pct": captured(v_plan),
        "vs_current_pct": 100 * (v_plan / v_current - 1),
        "predicted_uplift_pct": 100 * (plan.expected_value - float(fitted.value(current).sum())) / v_current,
        "interval_covers": bool(low <= true_uplift <= high),
        "adstock_mae": float(np.mean(np.abs(fitted.diagnostics["adstock"].to_numpy() - market.adstock))),
        "optimum_gap": float(best.optimality_gap),
        "fit_seconds": fit_seconds,
    }
    if ceiling_draws:
        post = posterior(market, ceiling_draws)
        row["bayes_ceiling_pct"] = captured(float(true.value(grid_allocation(post.spends, post.expected, total)).sum()))
        if shortfall:
            evidence = fitted_evidence(market, fitted)
            plans = {
                "ceiling_fitted_evidence_pct": bayes_plan(market, ceiling_draws, evidence=evidence),
                "ceiling_plugin_pct": plugin_plan(market, post),
                "learned_prior_pct": learned_prior_plan(market, evidence),
            }
            row.update({key: captured(float(true.value(plan).sum())) for key, plan in plans.items()})
    return row


def run_decision_quality(
    seed: int = 0,
    markets: int = 20,
    sandbox_seeds=SANDBOX_SEEDS,
    ceiling_draws: int = CEILING_DRAWS,
    shortfall: bool = False,
    **fit_options,
) -> list[dict]:
    """Score the sandbox market for each of ``sandbox_seeds`` and ``markets`` random markets; one row each.

    ``ceiling_draws``: prior draws per campaign of the Bayes ceiling (0: no ceiling column);
    ``shortfall``: add the shortfall columns (see ``score``).
    """
    rows = [score(sandbox_market(s), ceiling_draws, shortfall, **fit_options) for s in sandbox_seeds]
    rng = np.random.default_rng(seed)
    for k in range(markets):
        rows.append(score(random_market(rng, f"random-{k}"), ceiling_draws, shortfall, **fit_options))
    return rows


def print_table(rows: list[dict]) -> None:
    """The rows as a fixed-width table, with the summary against the targets."""
    columns = [
        ("market", "{:<11}"),
        ("campaigns", "{:>9}"),
        ("s_shaped", "{:>8}"),
        ("possible_uplift_pct", "{:>8.2f}"),
        ("captured_uplift_pct", "{:>8.1f}"),
        ("vs_current_pct", "{:>8.2f}"),
        ("predicted_uplift_pct", "{:>9.2f}"),
        ("interval_covers", "{!s:>7}"),
        ("adstock_mae", "{:>7.3f}"),
        ("fit_seconds", "{:>6.2f}"),
        ("bayes_ceiling_pct", "{:>8.1f}"),
    ]
    header = ["market", "campaigns", "s_shaped", "possible%", "captured%", "vs_cur%", "predicted%", "covers", "θ MAE",
              "fit s", "ceiling%"]
    widths = [11, 9, 8, 9, 9, 8, 10, 7, 7, 6, 9]
    print(" ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(header, widths))))
    for row in rows:
        cells = [fmt.format(row.get(key, np.nan)) for key, fmt in columns]
        print(" ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))))
    captured = np.array([r["captured_uplift_pct"] for r in rows], dtype=float)
    worst = min(r["vs_current_pct"] for r in rows)
    covers = np.mean([r["interval_covers"] for r in rows])
    ceiling = np.array([r.get("bayes_ceiling_pct", np.nan) for r in rows], dtype=float)
    if np.isfinite(ceiling).any():
        print(f"\nBayes ceiling: mean {np.nanmean(ceiling):.1f} % (what an oracle knowing the markets' priors captures)")
    print(
        f"\nmean captured uplift {np.nanmean(captured):.1f} % (target >= 95 %), "
        f"median {np.nanmedian(captured):.1f} %, worst {np.nanmin(captured):.1f} %; "
        f"worst vs current {worst:+.2f} % (target >= -1 %); 90 % uplift interval covers the truth in {covers:.0%}"
    )


def fit_speed(campaigns: int = 1_000, days: int = 365, seed: int = 0) -> float:
    """Seconds ``fit_response_curves`` takes on ``campaigns`` x ``days`` of random-market history."""
    rng = np.random.default_rng(seed)
    frames, count = [], 0
    while count < campaigns:
        daily = random_market(rng).daily
        ids = daily["campaign_id"].unique()[: campaigns - count]
        daily = daily[daily["campaign_id"].isin(ids)]
        frames.append(daily.assign(campaign_id=daily["campaign_id"] + f"-{len(frames)}"))
        count += ids.size
    history = pd.concat(frames, ignore_index=True)
    repeats = -(-days // HISTORY_DAYS)  # whole copies of the history, shifted in time
    history = pd.concat(
        [history.assign(date=history["date"] + pd.Timedelta(days=HISTORY_DAYS * k)) for k in range(repeats)],
        ignore_index=True,
    )
    history = history[history["date"] < history["date"].min() + pd.Timedelta(days=days)]
    started = time.perf_counter()
    fit_response_curves(history)
    return time.perf_counter() - started


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markets", type=int, default=20)
    parser.add_argument("--no-carryover", action="store_true", help="fit without adstock (for comparison)")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the Bayes ceiling (faster)")
    parser.add_argument("--shortfall", action="store_true", help="add the columns locating the shortfall to the ceiling")
    parser.add_argument("--fit-speed", action="store_true", help="only time the fit of 1000 campaigns x 365 days")
    args = parser.parse_args()
    if args.fit_speed:
        print(f"fit_response_curves, 1000 campaigns x 365 days: {fit_speed(seed=args.seed):.2f} s")
        return
    options = {"carryover": False} if args.no_carryover else {}
    draws = 0 if args.no_ceiling else CEILING_DRAWS
    rows = run_decision_quality(args.seed, args.markets, ceiling_draws=draws, shortfall=args.shortfall, **options)
    print_table(rows)
    for line in shortfall_lines(rows):
        print(line)


if __name__ == "__main__":
    main()
