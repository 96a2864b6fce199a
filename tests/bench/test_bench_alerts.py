"""The alerts benchmark (``python -m bench --only alerts``) on one seed and a week of mornings, and the one
assumption it rests on: cutting one clean simulation at a clock and applying the faults is what the sandbox
reports at that clock.

Not a benchmark: no timing and no rate is asserted, only that the section runs, states its targets and finds
the tracking break it injects (so it fails if the detector or the fault injection breaks).
"""

from datetime import date, timedelta

import numpy as np

from bench.alerts import (
    QUICK_DAYS,
    TITLE,
    WITHIN_DAYS,
    alerts_section,
    fold,
    inject,
    load_market,
    reported,
)
from mbo_pipelines.defs.alerts import model
from mbo_pipelines.defs.alerts.model import Alert
from mbo_pipelines.sandbox.market import PLATFORMS
from mbo_pipelines.sandbox.platforms import SandboxMarket

SEED = 1
LAST = date(2026, 3, 1)


def test_quick_section_states_both_targets_and_finds_the_injected_tracking_break(new_database):
    section = alerts_section(seeds=(SEED,), days=QUICK_DAYS, database_url=new_database("bench_alerts"),
                             last_day=LAST)

    assert section.title == TITLE
    assert [t.label.split(":")[0] for t in section.targets] == ["alerts", "alerts"]
    assert "recall ≥ 0.9" in section.targets[0].label
    assert "< 1 false alert per 1 000 campaign-days" in section.targets[1].label
    assert all(t.passed is not None for t in section.targets), section.body
    assert all(t.line() in section.body for t in section.targets)
    assert "| fault kind | injected |" in section.body
    assert {r["kind"] for r in section.rows} == {"tracking_break", "spend_spike", "zero_delivery", "missing_day",
                                                 "restatement"}, section.body
    (broken,) = [r for r in section.rows if r["kind"] == "tracking_break"]
    assert broken["delay_days"] is not None and 0 <= broken["delay_days"] <= WITHIN_DAYS, section.body
    # The graded runs: the same faults, partial, past and short of the thresholds; a spike short of them unseen.
    assert "### Graded faults" in section.body
    for grade, kind, factor in (("past", "tracking_break", "x0.2"), ("short", "spend_spike", "x1.8")):
        assert f"| {grade} | {kind} | {factor} |" in section.body, section.body
    assert "| short | restatement | x1.1 | a day's spend restated by more than 20% | 1 | 0 | 0 | 1 | 0.00 |" in (
        section.body)


def test_a_morning_cut_from_one_simulation_is_what_the_sandbox_reports_at_that_clock(new_database):
    url = new_database("bench_alerts_view")
    examined = [LAST - timedelta(days=n) for n in range(QUICK_DAYS - 1, -1, -1)]
    market = load_market(url, SEED, examined[0] - timedelta(days=14), LAST)
    faults = inject(SEED, market.campaigns, examined[0], LAST)
    by_kind = {f.kind: f for f in faults}
    # The morning after the missing day (still missing), and two after the restated day (restated).
    for clock in (by_kind["missing_day"].start + timedelta(days=1), by_kind["restatement"].start + timedelta(days=2)):
        view = reported(market.clean, faults, clock)
        sandbox = SandboxMarket(url, SEED, today=clock, faults=faults)
        for platform in PLATFORMS:
            expected = sandbox.connector(platform).simulated(market.start, LAST, seen_by="platform")
            assert [c for c, _ in view[platform]] == [c for c, _ in expected]
            for (c, mine), (_, theirs) in zip(view[platform], expected, strict=True):
                assert mine.dates == theirs.dates, (clock, c.campaign_id)
                for name in ("spend", "impressions", "clicks", "conversions", "conversion_value"):
                    assert np.array_equal(getattr(mine, name), getattr(theirs, name)), (clock, c.campaign_id, name)


def _alert(first: date, last: date) -> Alert:
    return Alert(kind=model.TRACKING_BREAK, severity=model.ERROR, platform="google_ads", account_id="1",
                 campaign_id="2", metric="conversions", observed=0.0, expected=5.0, expected_low=1.25,
                 expected_high=None, first_day=first, last_day=last, message="broken")


def test_an_episode_whose_first_day_slides_is_one_alert_until_a_morning_misses_it():
    day = date(2026, 3, 1)
    mornings = [day + timedelta(days=n) for n in range(12)]
    # Open on 10 mornings, its first day held to the 7-day scan window; none on the 11th; back on the 12th.
    found = [(mornings[n], _alert(day + timedelta(days=max(n - 6, 0)), mornings[n])) for n in range(10)]
    found.append((mornings[11], _alert(mornings[10], mornings[11])))

    problems = fold(found, mornings)

    assert len({a.alert_id for _, a in found}) == 5
    assert [(first, a.first_day, a.last_day) for first, a in problems.values()] == [
        (day, day, mornings[9]), (mornings[11], mornings[10], mornings[11])]
    assert list(problems) == [found[0][1].alert_id, found[-1][1].alert_id]
