"""The ECB CSV reader: both formats on small hand-written files, rates to USD computed by hand; and a corpus of bad
files, each refused whole with an error naming the file, the line and the field."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from mbo_pipelines.defs.ingest.fx_rates.ecb import MAX_LISTED_PROBLEMS, EcbRatesError, parse_ecb_csv, read_ecb_csv

#: eurofxref-hist.csv as the ECB writes it: newest day first, a trailing comma, N/A, a retired currency (CYP).
#: Per 1 EUR: USD 1.25, JPY 125, GBP 0.8, PLN 5 -> per USD: JPY 0.01, GBP 1.5625, PLN 0.25, EUR 1.25.
HISTORY = """Date,USD,JPY,CYP,GBP,PLN,
2025-01-03,1.25,125,N/A,0.8,5,
2025-01-02,1.2,150,N/A,N/A,4.8,
2024-12-31,N/A,160,N/A,0.83,4.27,
2004-05-03,1.2,130,0.58,,4.8,
"""
#: eurofxref.csv, the daily file: spaces after the commas, an English date.
DAILY = """Date, USD, JPY, PLN, CHF, 
29 November 2024, 1.0559, 158.42, 4.2968, 0.9306, 
"""
#: The ECB Data Portal's SDMX CSV: quoted fields, extra columns (one with commas), an empty observation, a day
#: without USD.
SDMX = """KEY,FREQ,CURRENCY,CURRENCY_DENOM,EXR_TYPE,EXR_SUFFIX,TIME_PERIOD,OBS_VALUE,OBS_STATUS,TITLE
EXR.D.USD.EUR.SP00.A,D,USD,EUR,SP00,A,2025-03-03,1.0501,A,US dollar/Euro
EXR.D.USD.EUR.SP00.A,D,USD,EUR,SP00,A,2025-02-28,1.04,A,US dollar/Euro
"EXR.D.GBP.EUR.SP00.A","D","GBP","EUR","SP00","A","2025-03-03","0.8262","A","UK pound sterling/Euro, ECB"
EXR.D.GBP.EUR.SP00.A,D,GBP,EUR,SP00,A,2025-02-28,0.832,A,"UK pound sterling/Euro, ECB"
EXR.D.HUF.EUR.SP00.A,D,HUF,EUR,SP00,A,2025-02-28,,A,Hungarian forint/Euro
EXR.D.HUF.EUR.SP00.A,D,HUF,EUR,SP00,A,2025-02-27,400.5,A,Hungarian forint/Euro
"""


def _rates(result) -> dict[tuple[date, str], Decimal]:
    return {(r["date"], r["currency"]): r["rate_to_usd"] for r in result.rows}


def test_the_history_file_becomes_dollar_rates_per_published_day():
    result = parse_ecb_csv(HISTORY, "eurofxref-hist.csv")

    d3, d2 = date(2025, 1, 3), date(2025, 1, 2)
    assert _rates(result) == {
        (d3, "USD"): 1, (d3, "EUR"): Decimal("1.25"), (d3, "JPY"): Decimal("0.01"), (d3, "GBP"): Decimal("1.5625"),
        (d3, "PLN"): Decimal("0.25"),
        # 2 Jan: GBP had no rate; JPY = 1.2 / 150 = 0.008, PLN = 1.2 / 4.8 = 0.25.
        (d2, "USD"): 1, (d2, "EUR"): Decimal("1.2"), (d2, "JPY"): Decimal("0.008"), (d2, "PLN"): Decimal("0.25"),
        # 3 May 2004: the retired CYP column is ignored, the empty GBP cell is no rate.
        (date(2004, 5, 3), "USD"): 1, (date(2004, 5, 3), "EUR"): Decimal("1.2"),
        (date(2004, 5, 3), "JPY"): Decimal("0.0092307692"), (date(2004, 5, 3), "PLN"): Decimal("0.25"),
    }
    assert result.days_skipped == (date(2024, 12, 31),)  # no USD rate: nothing of that day can be converted
    assert result.ignored_currencies == ("CYP",)
    assert result.format == "eurofxref" and result.rates_read == 4 + 3 + 3 + 3
    assert [r["date"] for r in result.rows] == sorted(r["date"] for r in result.rows)
    assert {r["source"] for r in result.rows} == {"ecb:eurofxref-hist.csv"}


def test_the_daily_file_with_spaces_and_an_english_date():
    rates = _rates(parse_ecb_csv(DAILY, "eurofxref.csv"))
    day = date(2024, 11, 29)
    assert set(rates) == {(day, c) for c in ("USD", "EUR", "JPY", "PLN", "CHF")}
    assert rates[day, "EUR"] == Decimal("1.0559") and rates[day, "USD"] == 1
    # 1.0559 / 158.42 = 0.00666519378..., 1.0559 / 4.2968 = 0.24573357..., 1.0559 / 0.9306 = 1.13464431...
    assert rates[day, "JPY"] == Decimal("0.0066651938")
    assert rates[day, "PLN"] == Decimal("0.2457410166")
    assert rates[day, "CHF"] == Decimal("1.1346443155")


def test_the_data_portals_sdmx_csv():
    result = parse_ecb_csv(SDMX, "EXR.csv")
    d1, d0 = date(2025, 3, 3), date(2025, 2, 28)
    # GBP: 1.0501 / 0.8262 = 1.27099975..., 1.04 / 0.832 = 1.25; HUF on 28 Feb had no observation.
    assert _rates(result) == {
        (d1, "USD"): 1, (d1, "EUR"): Decimal("1.0501"), (d1, "GBP"): Decimal("1.2709997579"),
        (d0, "USD"): 1, (d0, "EUR"): Decimal("1.04"), (d0, "GBP"): Decimal("1.25"),
    }
    assert result.days_skipped == (date(2025, 2, 27),)  # HUF alone, no USD
    assert result.format == "sdmx" and result.rates_read == 5


def test_a_byte_order_mark_is_fine_and_a_file_is_named_by_its_name(tmp_path):
    path = tmp_path / "eurofxref.csv"
    path.write_bytes(b"\xef\xbb\xbf" + HISTORY.encode())
    result = read_ecb_csv(path)
    assert _rates(result) == _rates(parse_ecb_csv(HISTORY, "eurofxref.csv"))
    assert result.rows[0]["source"] == "ecb:eurofxref.csv"


WIDE_HEAD = "Date,USD,PLN,\n"
SDMX_HEAD = "KEY,FREQ,CURRENCY,CURRENCY_DENOM,EXR_TYPE,EXR_SUFFIX,TIME_PERIOD,OBS_VALUE\n"
SDMX_USD = "EXR.D.USD.EUR.SP00.A,D,USD,EUR,SP00,A,2025-01-03,1.25\n"

BAD_FILES = [
    pytest.param("", "the file is empty", id="empty"),
    pytest.param("\ufeff\n \n", "the file is empty", id="bom_and_blank_lines"),
    pytest.param("foo,bar\n1,2\n", "line 1: neither the ECB eurofxref format", id="neither_format"),
    pytest.param("USD,PLN,\n1.25,5,\n", "line 1: no Date column", id="no_date_column"),
    pytest.param(WIDE_HEAD, "line 1: the file has a header but no rates", id="header_only"),
    pytest.param("Date,PLN,\n2025-01-03,5,\n", "line 1: no USD column", id="no_usd_column"),
    pytest.param("Date,USD,XYZ,\n2025-01-03,1.25,5,\n", "line 1, column 3: 'XYZ' is not an ISO 4217 currency code",
                 id="unknown_currency"),
    pytest.param("Date,USD,pln,\n2025-01-03,1.25,5,\n", "line 1, column 3: 'pln' is not an ISO 4217 currency code",
                 id="lower_case_currency"),
    pytest.param("Date,USD,EUR,\n2025-01-03,1.25,1,\n", "line 1, column 3: EUR cannot be quoted per 1 EUR",
                 id="eur_column"),
    pytest.param("Date,USD,PLN,USD,\n2025-01-03,1.25,5,1.25,\n", "line 1, column 4: USD is a column twice",
                 id="currency_twice"),
    pytest.param(WIDE_HEAD + "2025-01-03,1.25,4.3x,\n", "line 2, PLN: '4.3x' is not a number", id="bad_number"),
    pytest.param(WIDE_HEAD + '2025-01-03,1.25,"4,30",\n', "line 2, PLN: '4,30' is not a number", id="decimal_comma"),
    pytest.param(WIDE_HEAD + "2025-01-03,1.25,5,\n2025-01-02,1.2,\u20ac5,\n", "line 3, PLN: '\u20ac5' is not a number",
                 id="bad_number_second_line"),
    pytest.param(WIDE_HEAD + "2025-13-01,1.25,5,\n", "line 2, Date: '2025-13-01' is not a date", id="bad_date"),
    pytest.param(WIDE_HEAD + "3 Janvier 2025,1.25,5,\n", "line 2, Date: '3 Janvier 2025' is not a date",
                 id="french_date"),
    pytest.param(WIDE_HEAD + "2025-01-03,1.25,5,\n2025-01-03,1.26,5,\n", "line 3, Date: 2025-01-03 is already on line 2",
                 id="duplicate_date"),
    pytest.param(WIDE_HEAD + "2025-01-03,1.25,5,7,\n", "line 2, column 4: '7' is under no column of the header (which names 3)",
                 id="too_many_values"),
    pytest.param(WIDE_HEAD + "2025-01-03,N/A,5,\n", "no day has a USD rate", id="usd_never_quoted"),
    pytest.param("CURRENCY,TIME_PERIOD,OBS_VALUE\nUSD,2025-01-03,1.25\n", "missing CURRENCY_DENOM", id="sdmx_columns"),
    pytest.param(SDMX_HEAD + "EXR.D.USD.GBP.SP00.A,D,USD,GBP,SP00,A,2025-01-03,1.4\n",
                 "line 2, CURRENCY_DENOM: 'GBP' is not 'EUR'", id="sdmx_not_per_euro"),
    pytest.param(SDMX_HEAD + "EXR.M.USD.EUR.SP00.A,M,USD,EUR,SP00,A,2025-01-03,1.25\n", "line 2, FREQ: 'M' is not 'D'",
                 id="sdmx_monthly"),
    pytest.param("KEY,CURRENCY,CURRENCY_DENOM,TIME_PERIOD,OBS_VALUE\nEXR.D.USD.EUR.EN00.A,USD,EUR,2025-01-03,1.25\n",
                 "line 2, EXR_TYPE: 'EN00' is not 'SP00'", id="sdmx_not_spot_from_key"),
    pytest.param(SDMX_HEAD + "EXR.D.USD.EUR.SP00.A,D,USD,EUR,SP00,A,2025-01,1.25\n",
                 "line 2, TIME_PERIOD: '2025-01' is not a date", id="sdmx_month"),
    pytest.param(SDMX_HEAD + SDMX_USD + SDMX_USD, "line 3, TIME_PERIOD: USD on 2025-01-03 is already on line 2",
                 id="sdmx_duplicate"),
    pytest.param(SDMX_HEAD + "EXR.D.USD.EUR.SP00.A,D,USD,EUR,SP00,A,2025-01-03,abc\n",
                 "line 2, OBS_VALUE: 'abc' is not a number", id="sdmx_bad_number"),
    pytest.param(SDMX_HEAD + SDMX_USD + "EXR.D.ABC.EUR.SP00.A,D,ABC,EUR,SP00,A,2025-01-03,2\n",
                 "line 3, CURRENCY: 'ABC' is not an ISO 4217 currency code", id="sdmx_unknown_currency"),
]


@pytest.mark.parametrize(("text", "problem"), BAD_FILES)
def test_a_bad_file_is_refused_naming_the_file_line_and_field(text, problem):
    with pytest.raises(EcbRatesError) as caught:
        parse_ecb_csv(text, "/data/rates.csv")
    message = str(caught.value)
    assert message.startswith("cannot load the FX rates file /data/rates.csv: ")
    assert problem in message, message
    assert message.endswith("nothing was loaded.")


def test_every_problem_is_listed_up_to_a_limit():
    lines = "".join(f"2025-01-{d:02d},1.25,x{d},\n" for d in range(1, 31))
    with pytest.raises(EcbRatesError) as caught:
        parse_ecb_csv(WIDE_HEAD + lines, "rates.csv")
    assert len(caught.value.problems) == MAX_LISTED_PROBLEMS
    assert caught.value.problems[0] == "line 2, PLN: 'x1' is not a number (units per 1 EUR, with a decimal point)"
    assert f"and {30 - MAX_LISTED_PROBLEMS} more" in str(caught.value)


def test_an_unreadable_or_missing_file_is_refused_by_path(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"Date,USD,\n2025-01-03,1.25\xa0,\n")
    with pytest.raises(EcbRatesError, match=r"latin.csv: line 2: not UTF-8 text"):
        read_ecb_csv(latin)
    with pytest.raises(EcbRatesError, match=r"missing.csv: cannot be read \(No such file or directory\)"):
        read_ecb_csv(tmp_path / "missing.csv")
