"""The GA4 reader, through the real google-analytics-data SDK (REST transport) against a fake Data API."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest

from mbo_pipelines.connectors import ConnectorError
from mbo_pipelines.defs.ingest.ga4.client import SCOPE, GA4Reader, build_client
from mbo_pipelines.defs.ingest.raw_tables import GA4_TRAFFIC_DAILY
from tests.fakes.ad_world import ODD_NAMES, FakeAccount, make_world
from tests.fakes.fake_ga4 import FakeGA4, GA4Row, ga4_rows_from_world

START, END = date(2025, 1, 1), date(2025, 1, 20)
SHOP, TOKYO = "123456", "654321"


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MBO_API_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("MBO_API_BACKOFF_SECONDS", "0.001")
    monkeypatch.setenv("MBO_API_MAX_BACKOFF_SECONDS", "0.01")


@pytest.fixture
def shop_rows() -> list[GA4Row]:
    world = make_world([FakeAccount("7001", "USD", "America/New_York")], START, END, seed=5)
    direct = [GA4Row(START + timedelta(days=i), "(direct) / (none)", "(direct)", 40 + i, 1.0, 55.5) for i in range(20)]
    return ga4_rows_from_world(world) + direct


@pytest.fixture
def tokyo_rows() -> list[GA4Row]:
    # A refund day: GA4 subtracts refunds from totalRevenue, so a day's total can be negative.
    return [GA4Row(START, "tiktok / paid", "キャンペーン 東京", 12, 0.0, -3000.0),
            GA4Row(END, "tiktok / paid", "キャンペーン 東京", 30, 2.0, 9000.0)]


@pytest.fixture
def fake(shop_rows, tokyo_rows):
    with FakeGA4({SHOP: shop_rows, TOKYO: tokyo_rows}, currency={SHOP: "USD", TOKYO: "JPY"},
                 time_zone={SHOP: "America/New_York", TOKYO: "Asia/Tokyo"}) as server:
        yield server


def reader(fake: FakeGA4, ids: str = SHOP, **kwargs) -> GA4Reader:
    return GA4Reader.from_env({"MBO_GA4_PROPERTY_IDS": ids, "MBO_GA4_ENDPOINT": fake.url}, **kwargs)


def expected(property_id: str, rows: list[GA4Row], currency: str, zone: str, start=START, end=END) -> list[dict]:
    return [{
        "date": r.day, "property_id": property_id, "session_source_medium": r.source_medium,
        "session_campaign_name": r.campaign_name, "currency_code": currency, "time_zone": zone,
        "sessions": r.sessions, "key_events": r.key_events, "total_revenue": r.total_revenue,
    } for r in rows if start <= r.day <= end]


def _key(row: dict) -> tuple:
    return row["property_id"], row["date"], row["session_source_medium"], row["session_campaign_name"]


def test_reads_every_row_across_offset_pages(fake: FakeGA4, shop_rows):
    rows = reader(fake, page_size=9).fetch_traffic_daily(START, END)

    assert sorted(rows, key=_key) == sorted(expected(SHOP, shop_rows, "USD", "America/New_York"), key=_key)
    assert all(list(r) == GA4_TRAFFIC_DAILY.column_names for r in rows)
    pages = -(-len(shop_rows) // 9)
    assert [(r.offset, r.limit) for r in fake.requests] == [(9 * i, 9) for i in range(pages)] and pages > 4
    assert set(ODD_NAMES) <= {r["session_campaign_name"] for r in rows}


def test_the_request_asks_for_the_day_source_medium_campaign_report(fake: FakeGA4):
    reader(fake).fetch_traffic_daily(START + timedelta(days=2), START + timedelta(days=4))
    (request,) = fake.requests

    assert request.property_id == SHOP
    assert request.body["dateRanges"] == [{"startDate": "2025-01-03", "endDate": "2025-01-05"}]
    assert [d["name"] for d in request.body["dimensions"]] == ["date", "sessionSourceMedium", "sessionCampaignName"]
    assert [m["name"] for m in request.body["metrics"]] == ["sessions", "keyEvents", "totalRevenue"]
    # A fixed order: offset paging must neither skip nor repeat rows.
    assert [o["dimension"]["dimensionName"] for o in request.body["orderBys"]] == [
        "date", "sessionSourceMedium", "sessionCampaignName"]


def test_only_the_requested_days_are_read(fake: FakeGA4, shop_rows):
    first, last = START + timedelta(days=5), START + timedelta(days=6)
    rows = reader(fake).fetch_traffic_daily(first, last)
    assert sorted(rows, key=_key) == sorted(expected(SHOP, shop_rows, "USD", "America/New_York", first, last), key=_key)
    assert {r["date"] for r in rows} == {first, last}


def test_currency_and_time_zone_come_from_each_propertys_metadata(fake: FakeGA4, tokyo_rows):
    rows = reader(fake, ids=f"{SHOP},{TOKYO}").fetch_traffic_daily(START, END)

    tokyo = [r for r in rows if r["property_id"] == TOKYO]
    assert tokyo == expected(TOKYO, tokyo_rows, "JPY", "Asia/Tokyo")
    assert tokyo[0]["total_revenue"] == -3000.0  # a refund day is kept, not refused
    assert {(r["currency_code"], r["time_zone"]) for r in rows if r["property_id"] == SHOP} == {("USD", "America/New_York")}


@pytest.mark.parametrize("status", [429, 500, 503])
def test_quota_and_server_errors_are_retried(fake: FakeGA4, shop_rows, status: int):
    fake.fail_next(status=status, times=2)
    lines: list[str] = []
    rows = reader(fake, log=lines.append).fetch_traffic_daily(START, END)

    assert len(rows) == len(shop_rows) and len(fake.requests) == 3
    assert any("try 1 of 3" in line and str(status) in line for line in lines)


def test_a_persistent_error_fails_after_max_attempts_naming_the_property(fake: FakeGA4):
    fake.fail_next(status=503, times=10)
    with pytest.raises(ConnectorError, match=rf"GA4 property {SHOP}: .*after 3 tries"):
        reader(fake).fetch_traffic_daily(START, END)
    assert len(fake.requests) == 3


def test_a_property_without_access_fails_at_once_saying_what_to_do(fake: FakeGA4):
    with pytest.raises(ConnectorError, match="GA4 property 999.*Viewer access"):
        reader(fake, ids="999").fetch_traffic_daily(START, END)
    assert len(fake.requests) == 1


def test_a_truncated_response_fails_naming_the_property(fake: FakeGA4):
    fake.truncate_next()
    with pytest.raises(ConnectorError, match=rf"GA4 property {SHOP}: .*not valid JSON"):
        reader(fake).fetch_traffic_daily(START, END)


@pytest.mark.parametrize(("row", "column", "passed"), [
    (GA4Row(START, "google / cpc", "x", "lots", 1.0, 2.0), "sessions", "lots"),
    (GA4Row(START, "google / cpc", "x", -4, 1.0, 2.0), "sessions", -4),
    (GA4Row(START, "google / cpc", "x", 2.5, 1.0, 2.0), "sessions", Decimal("2.5")),
    (GA4Row(START, "google / cpc", "x", 4, "NaN", 2.0), "key_events", float("nan")),
    (GA4Row(START, "google / cpc", "x", 4, 1.0, "Infinity"), "total_revenue", float("inf")),
    (GA4Row("2025-01-03", "google / cpc", "x", 4, 1.0, 2.0), "date", "2025-01-03"),
    (GA4Row(START, "google / cpc", "x\x00\x1b[31m", 4, 1.0, 2.0), "session_campaign_name", "x\x00\x1b[31m"),
])
def test_malformed_values_are_passed_on_for_the_quality_checks(shop_rows, row: GA4Row, column: str, passed):
    with FakeGA4({SHOP: [row]}) as fake:
        [got] = reader(fake).fetch_traffic_daily(START, END)
    # Not refused: rules.py decides (tests/quality/test_corpus_platforms.py shows such rows quarantined).
    assert list(got) == GA4_TRAFFIC_DAILY.column_names and type(got[column]) is type(passed)
    assert got[column] != got[column] if passed != passed else got[column] == passed


def test_a_date_outside_the_requested_range_is_passed_on(shop_rows):
    def earlier(report):
        report["rows"][0]["dimensionValues"][0]["value"] = "20241223"
        return report

    with FakeGA4({SHOP: shop_rows[:1]}) as fake:
        fake.edit_report(earlier)
        [got] = reader(fake).fetch_traffic_daily(START, END)
    assert got["date"] == date(2024, 12, 23)


@pytest.mark.parametrize(("edit", "words"), [
    (lambda report: {**report, "rows": [{**report["rows"][0], "metricValues": report["rows"][0]["metricValues"][:2]},
                                        *report["rows"][1:]]}, "has 3 dimension and 2 metric values"),
    (lambda report: {**report, "metricHeaders": report["metricHeaders"][::-1]}, "are not the requested"),
])
def test_a_report_of_the_wrong_shape_fails_naming_the_property(fake: FakeGA4, edit, words: str):
    fake.edit_report(edit)
    with pytest.raises(ConnectorError, match=rf"GA4 property {SHOP}: .*{words}"):
        reader(fake).fetch_traffic_daily(START, END)


@pytest.mark.parametrize("body", ['{"rows": 5, "rowCount": 1}', "<html>502 Bad Gateway</html>"])
def test_a_body_that_is_not_a_report_fails_naming_the_property(fake: FakeGA4, body: str):
    fake.serve_body_next(body)
    with pytest.raises(ConnectorError, match=rf"GA4 property {SHOP}: .*not valid JSON"):
        reader(fake).fetch_traffic_daily(START, END)


def test_fields_the_reader_does_not_know_are_ignored(fake: FakeGA4, shop_rows):
    fake.edit_report(lambda report: {**report, "propertyQuota": {"tokensPerDay": {"consumed": 1}},
                                     "rows": [{**r, "extra": "x"} for r in report.get("rows", [])]})
    rows = reader(fake).fetch_traffic_daily(START, END)
    assert sorted(rows, key=_key) == sorted(expected(SHOP, shop_rows, "USD", "America/New_York"), key=_key)


def test_a_row_served_twice_fails_the_read(shop_rows):
    with FakeGA4({SHOP: [*shop_rows, shop_rows[0]]}) as fake, pytest.raises(ConnectorError, match=f"{SHOP}.*twice"):
        reader(fake).fetch_traffic_daily(START, END)


def test_configuration_errors_name_the_variable():
    with pytest.raises(ValueError, match="MBO_GA4_PROPERTY_IDS"):
        GA4Reader.from_env({"MBO_GA4_PROPERTY_IDS": "properties/1", "MBO_GA4_ENDPOINT": "http://127.0.0.1:1"})
    with pytest.raises(ConnectorError, match="MBO_GA4_PROPERTY_IDS"):
        GA4Reader.from_env({"MBO_GA4_ENDPOINT": "http://127.0.0.1:1"})
    with pytest.raises(ConnectorError, match="MBO_GA4_ENDPOINT.*loopback"):
        GA4Reader.from_env({"MBO_GA4_PROPERTY_IDS": "1", "MBO_GA4_ENDPOINT": "http://analytics.example.com"})


def test_without_an_endpoint_the_client_uses_application_default_credentials_read_only(tmp_path, monkeypatch):
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    key_file = tmp_path / "service-account.json"
    key_file.write_text(json.dumps({
        "type": "service_account", "project_id": "p", "private_key_id": "k", "private_key": pem,
        "client_email": "mbo@p.iam.gserviceaccount.com", "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token",
    }))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    client = build_client("")

    assert client.api_endpoint == "analyticsdata.googleapis.com"
    assert client.transport._credentials.scopes == [SCOPE]  # no public accessor for the transport's credentials
    assert client.transport._credentials.service_account_email == "mbo@p.iam.gserviceaccount.com"


def test_missing_credentials_say_what_to_set(tmp_path, monkeypatch):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "none.json"))
    with pytest.raises(ConnectorError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        GA4Reader.from_env({"MBO_GA4_PROPERTY_IDS": "1"})
