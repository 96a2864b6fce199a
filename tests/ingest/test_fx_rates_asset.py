"""The ``raw/fx_rates`` asset against a real PostgreSQL: the sandbox's rates load; an ECB file loads (in live mode
too) and a corrected file replaces only what it corrects; a bad file loads nothing, keeps the earlier rates and
closes the gates until a good file reopens them; live mode without a file fails saying what to set."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from mbo_pipelines.defs.ingest.fx_rates import fx_rates
from mbo_pipelines.defs.ingest.fx_rates.asset import KEY
from mbo_pipelines.defs.quality import store
from mbo_pipelines.defs.quality.gates import QualityGateClosed, require_clean
from mbo_pipelines.defs.quality.reference_data import CHECK_NAME, TABLE_NAME
from mbo_pipelines.defs.quality.report import quality_report
from mbo_pipelines.resources import MboResource
from mbo_pipelines.sandbox.fx import published_rates
from mbo_pipelines.sandbox.market import EPOCH

#: Per 1 EUR. Per USD: 3 Jan EUR 1.25, PLN 0.25, JPY 0.01; 2 Jan EUR 1.2, PLN 0.25, JPY 0.008.
FIRST_FILE = """Date,USD,JPY,PLN,
2025-01-03,1.25,125,5,
2025-01-02,1.2,150,4.8,
"""
#: 3 Jan again with PLN corrected (1.25 / 4 = 0.3125); 2 Jan not in it.
CORRECTED_FILE = """Date,USD,JPY,PLN,
2025-01-03,1.25,125,4,
"""
#: Readable, but a zero PLN rate (infinite dollars per zloty) and a day far in the future.
INVALID_FILE = """Date,USD,JPY,PLN,
2099-01-02,1.3,125,5,
2025-01-06,1.25,125,0,
"""
UNREADABLE_FILE = """Date,USD,JPY,PLN,
2025-01-06,1.25,125,5,
2025-01-07,1.25,12S,5,
"""
CHECK_KEY = dg.AssetCheckKey(KEY, CHECK_NAME)


def _materialize(url: str, **resource) -> dg.ExecuteInProcessResult:
    return dg.materialize([fx_rates], resources={"mbo": MboResource(database_url=url, **resource)},
                          raise_on_error=False)


def _table(url: str) -> dict[tuple[date, str], tuple[Decimal, str]]:
    with psycopg.connect(url) as conn:
        return {(d, c): (r, s) for d, c, r, s in conn.execute("select date, currency, rate_to_usd, source from raw.fx_rates")}


def _metadata(result: dg.ExecuteInProcessResult) -> dict:
    [materialization] = result.asset_materializations_for_node("raw__fx_rates")
    return {k: v.value for k, v in materialization.metadata.items()}


def _check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.asset_check_key == CHECK_KEY
    return evaluation


def _failures(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return store.blocking_failures(conn, date(2025, 1, 1), date(2025, 1, 31))


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_the_asset_is_unpartitioned_in_ingest_with_its_blocking_check():
    [spec] = fx_rates.check_specs
    assert (spec.asset_key, spec.name, spec.blocking) == (KEY, CHECK_NAME, True)
    assert fx_rates.partitions_def is None and fx_rates.group_names_by_key[KEY] == "ingest"
    assert set(fx_rates.specs_by_key[KEY].kinds) == {"python", "postgres"}


def test_the_code_location_has_the_asset_and_no_check_on_the_old_seed(monkeypatch):
    from mbo_pipelines.definitions import build_definitions

    monkeypatch.setenv("MBO_SOURCE", "live")  # the asset is there in live mode too
    graph = build_definitions().resolve_asset_graph()
    assert KEY in graph.get_all_asset_keys()
    assert {key.name for key in graph.asset_check_keys if key.asset_key == KEY} == {CHECK_NAME}
    assert not [key for key in graph.asset_check_keys if key.name == CHECK_NAME and key.asset_key != KEY]


def test_sandbox_mode_loads_the_sandbox_rates_up_to_the_markets_today(new_database, monkeypatch):
    monkeypatch.delenv("MBO_FX_RATES_CSV", raising=False)
    url = new_database("fx_sandbox")
    today = date(2025, 2, 14)

    result = _materialize(url, sandbox_today=today.isoformat(), sandbox_seed=3)

    assert result.success and _check(result).passed
    expected = published_rates(3, EPOCH - timedelta(days=30), today)
    table = _table(url)
    assert len(table) == len(expected) and {s for _, s in table.values()} == {"sandbox"}
    assert all(table[r["date"], r["currency"]][0] == Decimal(str(r["rate_to_usd"])) for r in expected)
    assert min(d for d, _ in table) == date(2024, 12, 2) and max(d for d, _ in table) == today
    metadata = _metadata(result)
    assert (metadata["rows_read"], metadata["rows_upserted"], metadata["source"]) == (len(expected), len(expected),
                                                                                      "sandbox")
    assert (metadata["first_date"], metadata["last_date"]) == ("2024-12-02", "2025-02-14")
    assert metadata["currencies"].startswith("AED, AUD, BRL") and metadata["days_skipped"] == 0
    # Again: the same rates, nothing changes.
    again = _materialize(url, sandbox_today=today.isoformat(), sandbox_seed=3)
    assert _metadata(again)["rows_upserted"] == 0 and _table(url) == table
    assert _failures(url) == []


def test_files_upsert_and_a_bad_file_loads_nothing_and_closes_the_gates(new_database, tmp_path, monkeypatch):
    url = new_database("fx_file")
    d3, d2 = date(2025, 1, 3), date(2025, 1, 2)

    # A file loads in live mode too.
    first = _write(tmp_path, "first.csv", FIRST_FILE)
    monkeypatch.setenv("MBO_FX_RATES_CSV", first)
    result = _materialize(url, source="live")
    assert result.success and _check(result).passed
    assert _table(url) == {
        (d3, "USD"): (1, "ecb:first.csv"), (d3, "EUR"): (Decimal("1.25"), "ecb:first.csv"),
        (d3, "JPY"): (Decimal("0.01"), "ecb:first.csv"), (d3, "PLN"): (Decimal("0.25"), "ecb:first.csv"),
        (d2, "USD"): (1, "ecb:first.csv"), (d2, "EUR"): (Decimal("1.2"), "ecb:first.csv"),
        (d2, "JPY"): (Decimal("0.008"), "ecb:first.csv"), (d2, "PLN"): (Decimal("0.25"), "ecb:first.csv"),
    }
    assert _metadata(result)["source"] == first and _metadata(result)["source_rates_read"] == 6

    # A corrected file replaces the day it holds; the other day stays.
    monkeypatch.setenv("MBO_FX_RATES_CSV", _write(tmp_path, "corrected.csv", CORRECTED_FILE))
    result = _materialize(url)
    assert result.success and _check(result).passed and _metadata(result)["rows_upserted"] == 4
    table = _table(url)
    assert table[d3, "PLN"] == (Decimal("0.3125"), "ecb:corrected.csv")
    assert table[d2, "PLN"] == (Decimal("0.25"), "ecb:first.csv") and len(table) == 8
    assert _failures(url) == []

    # Invalid rates: the check fails naming them, nothing loads, the gates close.
    invalid = _write(tmp_path, "invalid.csv", INVALID_FILE)
    monkeypatch.setenv("MBO_FX_RATES_CSV", invalid)
    result = _materialize(url)
    evaluation = _check(result)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    findings = evaluation.metadata["failing_expectations"].value
    assert "rate_to_usd is not a finite number above 0" in findings and "2025-01-06 PLN: inf" in findings
    assert "date is in the future" in findings and "2099-01-02 USD: 1" in findings
    assert "MBO_FX_RATES_CSV" in evaluation.metadata["what_to_do"].value
    assert _metadata(result)["rows_upserted"] == 0 and _table(url) == table
    [(name, day, check, summary)] = _failures(url)
    assert (name, day, check) == (TABLE_NAME, None, CHECK_NAME) and "future" in summary
    with psycopg.connect(url) as conn, pytest.raises(QualityGateClosed, match="raw.fx_rates snapshot valid_rates"):
        require_clean(conn, d2, d3, "refusing to plan")
    assert f"FAILED    {TABLE_NAME}  snapshot    {CHECK_NAME}" in quality_report(url)

    # An unreadable file fails the run naming the file, line and field; nothing loads; the gates stay closed.
    unreadable = _write(tmp_path, "unreadable.csv", UNREADABLE_FILE)
    monkeypatch.setenv("MBO_FX_RATES_CSV", unreadable)
    result = _materialize(url)
    assert not result.success
    message = result.failure_data_for_node("raw__fx_rates").user_failure_data.description
    assert f"cannot load the FX rates file {unreadable}: line 3, JPY: '12S' is not a number" in message
    assert _table(url) == table
    [(_, _, _, summary)] = _failures(url)
    assert "line 3, JPY" in summary

    # A good file reopens them.
    monkeypatch.setenv("MBO_FX_RATES_CSV", first)
    assert _check(_materialize(url)).passed
    assert _failures(url) == [] and _table(url)[d3, "PLN"] == (Decimal("0.25"), "ecb:first.csv")
    assert "ok        raw.fx_rates  snapshot    valid_rates  passed" in quality_report(url)


def test_live_mode_without_a_file_fails_saying_to_set_the_variable(new_database, monkeypatch):
    monkeypatch.delenv("MBO_FX_RATES_CSV", raising=False)
    url = new_database("fx_live")

    result = _materialize(url, source="live")

    assert not result.success
    message = result.failure_data_for_node("raw__fx_rates").user_failure_data.description
    assert "set MBO_FX_RATES_CSV to the path of an ECB reference rates CSV file" in message
    assert "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist.zip" in message
    assert _failures(url) == []
