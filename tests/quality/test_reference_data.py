"""The FX rates seed's Great Expectations check: bad rates fail it with the expectations and samples in its
metadata and close the gates; the real seed passes, loaded by the real ``dbt seed`` through the Dagster asset."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from mbo_pipelines import settings
from mbo_pipelines.defs.quality import store
from mbo_pipelines.defs.quality.gates import QualityGateClosed, require_clean
from mbo_pipelines.defs.quality.reference_data import (
    CHECK_NAME,
    TABLE_NAME,
    check_rates,
    rates_relation,
    reference_data_checks,
)
from mbo_pipelines.defs.transform.assets import mbo_dbt_models
from mbo_pipelines.defs.transform.project import dbt_project, dbt_resource
from mbo_pipelines.resources import MboResource

SEED_FILE = Path(dbt_project.project_dir) / "seeds" / "currency_rates.csv"
SEED_KEY = dg.AssetKey(["reference", "currency_rates"])
CHECK_KEY = dg.AssetCheckKey(SEED_KEY, CHECK_NAME)
#: A rates file with a negative rate, an unknown code and a currency twice.
BAD_RATES = "currency,rate_to_usd\nUSD,1.0\nEUR,1.08\nPLN,-0.25\nXYZ,0.5\nGBP,1.27\nEUR,1.10\n"


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(text.splitlines()))


def _reasons(rows: list[dict], columns=("currency", "rate_to_usd")) -> dict[str, tuple[str, ...]]:
    return {f.reason: f.sample for f in check_rates(rows, list(columns), "reference.currency_rates").findings}


# --- the suite (no database) --------------------------------------------------------------------------------


def test_the_real_seed_file_passes():
    rows = _rows(SEED_FILE.read_text(encoding="utf-8"))
    assert len(rows) > 20 and check_rates(rows, ["currency", "rate_to_usd"], "reference.currency_rates").passed


@pytest.mark.parametrize(("text", "reason", "sample"), [
    pytest.param("USD,1\nPLN,-0.25", "rate_to_usd is not a finite number above 0", "PLN: -0.25", id="negative_rate"),
    pytest.param("USD,1\nPLN,0", "rate_to_usd is not a finite number above 0", "PLN: 0", id="zero_rate"),
    pytest.param("USD,1\nPLN,inf", "rate_to_usd is not a finite number above 0", "PLN: inf", id="infinite_rate"),
    pytest.param("USD,1\nPLN,2e9", "rate_to_usd is not a finite number above 0", "PLN: 2e+09", id="absurd_rate"),
    pytest.param("USD,1\nPLN,NaN", "rate_to_usd is missing or not a number", "PLN: nan", id="nan_rate"),
    pytest.param("USD,1\nPLN,abc", "rate_to_usd is missing or not a number", "PLN: nan", id="text_rate"),
    pytest.param("USD,1\nXYZ,0.5", "currency is not an ISO 4217 currency code", "XYZ: 0.5", id="unknown_code"),
    pytest.param("USD,1\nusd,1", "currency is not an ISO 4217 currency code", "usd: 1", id="lower_case_code"),
    pytest.param("USD,1\nEUR,1.08\nEUR,1.1", "currency has more than one rate", "EUR: 1.08", id="duplicate"),
    pytest.param("EUR,1.08", "USD or the reporting currency (USD, MBO_REPORTING_CURRENCY) has no rate",
                 "missing USD", id="usd_missing"),
    pytest.param("USD,1.02\nEUR,1.08", "USD's rate_to_usd is not exactly 1", "USD: 1.02", id="usd_not_one"),
])
def test_a_bad_rate_fails_naming_the_expectation_and_a_sample(text, reason, sample):
    reasons = _reasons(_rows("currency,rate_to_usd\n" + text))
    [(found, samples)] = [(r, s) for r, s in reasons.items() if r.startswith(reason)]
    assert sample in samples, reasons


def test_the_reporting_currency_must_have_a_rate(monkeypatch):
    monkeypatch.setenv("MBO_REPORTING_CURRENCY", "ISK")
    assert list(_reasons(_rows("currency,rate_to_usd\nUSD,1\nEUR,1.08"))) == [
        "USD or the reporting currency (ISK, MBO_REPORTING_CURRENCY) has no rate"]


def test_wrong_columns_and_an_empty_table_fail():
    assert _reasons([{"currency": "USD", "rate": 1}], ("currency", "rate")) == {
        "the columns differ from currency, rate_to_usd": ("missing rate_to_usd", "unexpected rate")}
    assert list(_reasons([])) == ["reference.currency_rates is empty"]


# --- the Dagster asset check, its record and the gates ------------------------------------------------------


def _load_rates(url: str, text: str) -> None:
    """The table ``dbt seed`` makes of a rates file (dbt_project.yml's column types), holding ``text``."""
    schema, table = rates_relation().split(".")
    with psycopg.connect(url) as conn:
        conn.execute(f"create schema if not exists {schema}")
        conn.execute(f"drop table if exists {schema}.{table}")
        conn.execute(f"create table {schema}.{table} (currency text, rate_to_usd numeric(20, 10))")
        with conn.cursor().copy(f"copy {schema}.{table} from stdin with (format csv, header true)") as copy:
            copy.write(text)


def _run_check(url: str) -> dg.AssetCheckEvaluation:
    """Run ``valid_rates`` alone (the seed already loaded), failures returned, not raised."""
    result = dg.materialize([mbo_dbt_models, *reference_data_checks()], selection=dg.AssetSelection.checks(CHECK_KEY),
                            resources={"dbt": dbt_resource(), "mbo": MboResource(database_url=url)},
                            raise_on_error=False)
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation


def _recorded(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("select day, passed, blocking, severity, summary, details from quality.check_results "
                            "where table_name = %s and check_name = %s order by id", (TABLE_NAME, CHECK_NAME)).fetchall()


def test_the_check_sits_on_the_seed_asset_and_blocks():
    [checks] = reference_data_checks()
    [spec] = checks.check_specs
    assert (spec.asset_key, spec.name, spec.blocking) == (SEED_KEY, CHECK_NAME, True)
    assert SEED_KEY in mbo_dbt_models.keys and rates_relation() == "reference.currency_rates"


def test_a_bad_rates_file_fails_the_check_and_closes_the_gate(new_database):
    url = new_database("rates_bad")
    _load_rates(url, BAD_RATES)

    evaluation = _run_check(url)

    # The check fails with each failing expectation, its count and samples, and says what to do.
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    table = evaluation.metadata["failing_expectations"].value
    assert "| expect_column_values_to_be_between | rate_to_usd | 1 | rate_to_usd is not a finite number above 0" in table
    assert "PLN: -0.25" in table
    assert "| expect_column_values_to_be_in_set | currency | 1 | currency is not an ISO 4217 currency code" in table
    assert "XYZ: 0.5" in table
    assert "| expect_column_values_to_be_unique | currency | 2 | currency has more than one rate" in table
    assert "EUR: 1.08, EUR: 1.1" in table
    assert "dbt_project/seeds/currency_rates.csv" in evaluation.metadata["what_to_do"].value
    assert evaluation.metadata["rows_checked"].value == 6
    # Recorded for the gates: blocking, no day.
    [(day, passed, blocking, severity, summary, details)] = _recorded(url)
    assert (day, passed, blocking, severity) == (None, False, True, "ERROR")
    assert "currency is not an ISO 4217 currency code (1)" in summary and len(details) == 3
    with psycopg.connect(url) as conn:
        [(table_name, failed_day, check, _)] = store.blocking_failures(conn, None, None)
        assert (table_name, failed_day, check) == (TABLE_NAME, None, CHECK_NAME)
        with pytest.raises(QualityGateClosed, match="refusing to plan: .*seed.currency_rates snapshot valid_rates"):
            require_clean(conn, None, None, "refusing to plan")
    # Fixed rates pass the next run, and the gate opens again.
    _load_rates(url, SEED_FILE.read_text(encoding="utf-8"))
    assert _run_check(url).passed
    with psycopg.connect(url) as conn:
        assert store.blocking_failures(conn, None, None) == []


def test_a_missing_table_fails_saying_how_to_load_it(new_database):
    evaluation = _run_check(new_database("rates_missing"))
    assert not evaluation.passed and "reference.currency_rates does not exist: run `dbt seed`" in evaluation.description


def test_the_real_seed_loaded_by_dbt_passes(new_database, monkeypatch):
    url = new_database("rates_seed")
    for name, value in settings.dbt_env(url).items():
        monkeypatch.setenv(name, value)
    # `dbt seed` alone: a `dbt build` of the seed would also run the relationships tests of models this
    # database does not have.
    dbt_resource().cli(["seed", "--select", "currency_rates"], manifest=dbt_project.manifest_path).wait()

    evaluation = _run_check(url)

    assert evaluation.passed, evaluation.description
    assert evaluation.metadata["rows_checked"].value == len(_rows(SEED_FILE.read_text(encoding="utf-8")))
    with psycopg.connect(url) as conn:
        rates = dict(conn.execute("select currency, rate_to_usd from reference.currency_rates").fetchall())
        assert math.isclose(rates["USD"], 1) and store.blocking_failures(conn, None, None) == []
    assert [r[:2] for r in _recorded(url)] == [(None, True)]
