"""The sandbox's daily FX rates: deterministic, business days only, independent of the window asked for, a
bounded mean-reverting walk around the old seed's rates, USD at 1."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest

from mbo_pipelines.sandbox.fx import ANCHOR_RATES_TO_USD, ORIGIN, published_rates, rate_to_usd

START, END = date(2024, 12, 2), date(2026, 1, 9)


def _by_key(rows: list[dict]) -> dict[tuple[date, str], float]:
    return {(r["date"], r["currency"]): r["rate_to_usd"] for r in rows}


def test_the_anchors_are_the_old_seeds_25_rates():
    assert len(ANCHOR_RATES_TO_USD) == 25
    assert {c: ANCHOR_RATES_TO_USD[c] for c in ("USD", "EUR", "PLN", "GBP", "JPY", "HUF", "KRW", "AED")} == {
        "USD": 1.0, "EUR": 1.08, "PLN": 0.25, "GBP": 1.27, "JPY": 0.0067, "HUF": 0.0027, "KRW": 0.00074,
        "AED": 0.2723}


def test_the_same_seed_gives_the_same_rates_and_another_seed_others():
    first = published_rates(7, START, END)
    assert first == published_rates(7, START, END)
    other = _by_key(published_rates(8, START, END))
    differing = [k for k, v in _by_key(first).items() if k[1] != "USD" and v != other[k]]
    assert len(differing) == len(first) - len(first) // 25  # every rate but USD's moves with the seed
    assert {r["source"] for r in first} == {"sandbox"}


def test_rates_are_published_on_weekdays_except_new_year_and_christmas():
    days = sorted({r["date"] for r in published_rates(7, START, END)})
    expected = [START + timedelta(days=i) for i in range((END - START).days + 1)]
    expected = [d for d in expected if d.weekday() < 5 and (d.month, d.day) not in ((1, 1), (12, 25), (12, 26))]
    assert days == expected
    # Spot checks by hand: Christmas Eve and New Year's Eve are published, the holidays and weekends are not.
    assert {date(2025, 12, 24), date(2025, 12, 31), date(2026, 1, 2)} <= set(days)
    assert not {date(2025, 1, 1), date(2025, 12, 25), date(2025, 12, 26), date(2025, 12, 27), date(2026, 1, 1)} & set(days)


def test_every_published_day_has_all_25_currencies_and_usd_at_exactly_1():
    rows = published_rates(7, START, END)
    per_day: dict[date, dict[str, float]] = {}
    for r in rows:
        per_day.setdefault(r["date"], {})[r["currency"]] = r["rate_to_usd"]
    assert all(set(rates) == set(ANCHOR_RATES_TO_USD) for rates in per_day.values())
    assert {rates["USD"] for rates in per_day.values()} == {1.0}


def test_a_days_rate_does_not_depend_on_the_window_asked_for():
    wide = _by_key(published_rates(7, date(2024, 1, 1), date(2026, 12, 31)))
    narrow = _by_key(published_rates(7, date(2025, 6, 3), date(2025, 6, 6)))
    assert narrow and all(wide[k] == v for k, v in narrow.items())
    across_year_end = _by_key(published_rates(7, date(2025, 12, 30), date(2026, 1, 6)))
    assert all(wide[k] == v for k, v in across_year_end.items())
    for (day, currency), value in list(narrow.items())[:10]:
        assert rate_to_usd(7, currency, day) == value


def test_rate_to_usd_on_a_day_without_rates_is_the_last_published_one():
    assert rate_to_usd(7, "EUR", date(2025, 3, 8)) == rate_to_usd(7, "EUR", date(2025, 3, 7))  # Saturday -> Friday
    assert rate_to_usd(7, "EUR", date(2025, 3, 9)) == rate_to_usd(7, "EUR", date(2025, 3, 7))  # Sunday -> Friday
    assert rate_to_usd(7, "PLN", date(2025, 12, 26)) == rate_to_usd(7, "PLN", date(2025, 12, 24))
    assert rate_to_usd(7, "PLN", date(2026, 1, 1)) == rate_to_usd(7, "PLN", date(2025, 12, 31))
    assert rate_to_usd(7, "EUR", date(2025, 3, 10)) != rate_to_usd(7, "EUR", date(2025, 3, 7))  # Monday moves
    assert rate_to_usd(7, "USD", date(2025, 3, 8)) == 1.0


def test_unknown_currencies_and_days_before_the_origin_are_refused():
    with pytest.raises(ValueError, match="no FX rate for currency 'XYZ'"):
        rate_to_usd(7, "XYZ", date(2025, 3, 3))
    with pytest.raises(ValueError, match="no FX rates before 2020-01-01"):
        rate_to_usd(7, "EUR", ORIGIN - timedelta(days=1))
    assert published_rates(7, date(2019, 12, 1), date(2019, 12, 31)) == []


def test_the_walk_moves_about_0_4_percent_a_day_and_stays_near_its_anchor():
    touching = total = 0
    for seed in range(6):
        rows = published_rates(seed, ORIGIN, date(2030, 12, 31))
        for currency, anchor in ANCHOR_RATES_TO_USD.items():
            if currency == "USD":
                continue
            ratios = np.array([r["rate_to_usd"] for r in rows if r["currency"] == currency]) / anchor
            assert ratios.min() >= 0.9 - 1e-6 and ratios.max() <= 1.1 + 1e-6, (seed, currency)
            moves = np.diff(np.log(ratios))
            assert 0.0035 < moves.std() < 0.0045, (seed, currency, moves.std())
            touching += int(np.sum((ratios < 0.905) | (ratios > 1.095)))
            total += len(ratios)
    # Mean reversion: the walk spends almost no time at its ±10 % bounds (a plain random walk would sit there).
    assert touching / total < 0.005, touching / total
    assert math.isclose(rate_to_usd(0, "EUR", ORIGIN + timedelta(days=1)), 1.08, rel_tol=0.02)
