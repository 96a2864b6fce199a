"""The FX rates' Great Expectations suite (``valid_rates`` of ``raw/fx_rates``): good rates pass; each kind of bad
rate fails naming the expectation and a sample; a failed verdict, recorded, closes the gates and shows in
``mbo quality`` until a passing one follows."""

from __future__ import annotations

from datetime import date

import dagster as dg
import psycopg
import pytest

from mbo_pipelines.defs.ingest.raw_tables import FX_RATES
from mbo_pipelines.defs.quality import store
from mbo_pipelines.defs.quality.gates import QualityGateClosed, require_clean
from mbo_pipelines.defs.quality.reference_data import (
    CHECK_NAME,
    MAX_RATE,
    TABLE_NAME,
    check_rates,
    check_result,
    check_spec,
    record,
    unreadable,
)
from mbo_pipelines.defs.quality.report import quality_report
from mbo_pipelines.defs.quality.rules import rules_for
from mbo_pipelines.sandbox.fx import published_rates

TODAY = date(2025, 3, 14)
D1, D2 = date(2025, 3, 13), date(2025, 3, 14)


def _rows(*rates: tuple) -> list[dict]:
    """raw.fx_rates rows from (date, currency, rate_to_usd) triples."""
    return [{"date": d, "currency": c, "rate_to_usd": r, "source": "test"} for d, c, r in rates]


GOOD = ((D1, "USD", 1), (D1, "EUR", 1.08), (D1, "PLN", 0.25), (D2, "USD", 1), (D2, "EUR", 1.09))


def _reasons(rows: list[dict]) -> dict[str, tuple[str, ...]]:
    return {f.reason: f.sample for f in check_rates(rows, "test.csv", TODAY).findings}


def test_good_rates_and_the_sandboxs_pass():
    assert check_rates(_rows(*GOOD), "test.csv", TODAY).passed
    sandbox = published_rates(7, date(2024, 12, 2), TODAY)
    report = check_rates(sandbox, "sandbox", TODAY)
    assert report.passed and report.rows == len(sandbox) and report.summary == "passed"


@pytest.mark.parametrize(("bad", "reason", "sample"), [
    pytest.param((D1, "PLN", -0.25), "rate_to_usd is not a finite number above 0", "2025-03-13 PLN: -0.25",
                 id="negative_rate"),
    pytest.param((D1, "PLN", 0), "rate_to_usd is not a finite number above 0", "2025-03-13 PLN: 0", id="zero_rate"),
    pytest.param((D1, "PLN", float("inf")), "rate_to_usd is not a finite number above 0", "2025-03-13 PLN: inf",
                 id="infinite_rate"),
    pytest.param((D1, "PLN", MAX_RATE), "rate_to_usd is not a finite number above 0", "2025-03-13 PLN: 10000",
                 id="absurd_rate"),
    pytest.param((D1, "PLN", float("nan")), "rate_to_usd is missing or not a number", "2025-03-13 PLN: nan",
                 id="nan_rate"),
    pytest.param((D1, "PLN", "abc"), "rate_to_usd is missing or not a number", "2025-03-13 PLN: nan", id="text_rate"),
    pytest.param((D1, "XYZ", 0.5), "currency is not an ISO 4217 currency code", "2025-03-13 XYZ: 0.5",
                 id="unknown_code"),
    pytest.param((D1, "pln", 0.25), "currency is not an ISO 4217 currency code", "2025-03-13 pln: 0.25",
                 id="lower_case_code"),
    pytest.param((D1, "EUR", 1.1), "the date and currency have more than one rate", "2025-03-13 EUR: 1.08",
                 id="duplicate"),
    pytest.param((date(2025, 3, 12), "EUR", 1.07), "the date has no USD rate", "2025-03-12 EUR: 1.07",
                 id="date_without_usd"),
    pytest.param((date(2025, 3, 16), "USD", 1), "date is in the future (after 2025-03-15)", "2025-03-16 USD: 1",
                 id="future_date"),
    pytest.param(("2025-02-30", "EUR", 1.08), "date is missing or not a date", "None EUR: 1.08", id="bad_date"),
])
def test_a_bad_rate_fails_naming_the_expectation_and_a_sample(bad, reason, sample):
    reasons = _reasons(_rows(*GOOD, bad))
    [(found, samples)] = [(r, s) for r, s in reasons.items() if r.startswith(reason)]
    assert sample in samples, reasons


def test_usd_must_be_exactly_1_and_tomorrow_is_not_the_future():
    reasons = _reasons(_rows((D1, "USD", 1.02), (D1, "EUR", 1.08), (date(2025, 3, 15), "USD", 1)))
    assert reasons == {"USD's rate_to_usd is not exactly 1": ("2025-03-13 USD: 1.02",)}


def test_no_rates_fail():
    assert list(_reasons([])) == ["test.csv has no rates"]


def test_the_check_result_carries_the_findings_and_what_to_do():
    report = check_rates(_rows(*GOOD, (D1, "XYZ", 0.5)), "test.csv", TODAY)
    result = check_result(report)
    assert (result.check_name, result.passed, result.severity) == (CHECK_NAME, False, dg.AssetCheckSeverity.ERROR)
    assert ("| expect_column_values_to_be_in_set | currency | 1 | currency is not an ISO 4217 currency code | "
            "2025-03-13 XYZ: 0.5 |") in result.metadata["failing_expectations"].value
    assert "MBO_FX_RATES_CSV" in result.metadata["what_to_do"].value and result.metadata["rows_checked"].value == 6
    assert check_result(check_rates(_rows(*GOOD), "test.csv", TODAY)).passed
    spec = check_spec(dg.AssetKey(["raw", "fx_rates"]))
    assert (spec.name, spec.blocking) == (CHECK_NAME, True)


def test_the_rates_have_no_row_rules_they_are_judged_whole_here():
    with pytest.raises(KeyError, match="raw.fx_rates has no row rules: mbo_pipelines.defs.quality.reference_data"):
        rules_for(FX_RATES)


def test_a_recorded_failure_closes_the_gates_on_every_window_until_a_pass(new_database):
    url = new_database("fx_verdicts")
    with psycopg.connect(url) as conn:
        store.ensure_quality_tables(conn)
        record(conn, check_rates(_rows(*GOOD, (D2, "PLN", -1)), "test.csv", TODAY), "run-1")
        conn.commit()
        [(table, day, check, summary)] = store.blocking_failures(conn, date(2020, 1, 1), date(2030, 1, 1))
        assert (table, day, check) == (TABLE_NAME, None, CHECK_NAME)
        assert summary == "rate_to_usd is not a finite number above 0 (US dollars per unit, below 10000) (1)"
        with pytest.raises(QualityGateClosed, match="refusing to plan: .*raw.fx_rates snapshot valid_rates"):
            require_clean(conn, D1, D2, "refusing to plan")
    assert "FAILED    raw.fx_rates  snapshot    valid_rates  rate_to_usd is not a finite number" in quality_report(url)
    assert "raw.fx_rates" in quality_report(url, table="fx_rates")

    with psycopg.connect(url) as conn:
        record(conn, unreadable("/data/rates.csv", "cannot load the FX rates file /data/rates.csv: line 3, ..."), None)
        conn.commit()
        [(_, _, _, summary)] = store.blocking_failures(conn, None, None)
        assert summary.startswith("cannot load the FX rates file /data/rates.csv: line 3")
        record(conn, check_rates(_rows(*GOOD), "test.csv", TODAY), "run-3")
        conn.commit()
        assert store.blocking_failures(conn, None, None) == []
        require_clean(conn, D1, D2, "refusing to plan")
