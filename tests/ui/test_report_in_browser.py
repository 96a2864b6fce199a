"""``mbo report``'s page in a real browser: opened from a file, as a person would, with no server and no network.

The charts are decoded and laid out, the table of changes is there, a click on a header sorts it (again:
the other way), hostile campaign names stay text, and the console stays clean (the page's Content-Security-Policy
would log any script or request it blocked).
"""

from __future__ import annotations

import pytest

from mbo_pipelines.report import write_report
from tests.report.report_helpers import HOSTILE_NAME, make_plan_database

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def report_url(new_database, tmp_path_factory) -> str:
    planned = make_plan_database(new_database("ui_report"))
    return write_report(planned.url, tmp_path_factory.mktemp("ui-report") / "report.html").as_uri()


def _column(page, index: int, attribute: str = "data-sort") -> list[str]:
    return page.eval_on_selector_all(
        "#changes-table tbody tr", f"rows => rows.map(r => r.cells[{index}].getAttribute('{attribute}'))")


def _header(page, name: str):
    return page.locator("#changes-table thead th", has_text=name).first


def test_the_report_renders_its_charts_and_table_and_sorts_on_a_click(report_url, page):
    page, console = page
    page.goto(report_url)
    page.wait_for_load_state("load")

    charts = page.locator("img.chart")
    assert charts.count() == 2
    for i in range(2):
        chart = charts.nth(i)
        chart.scroll_into_view_if_needed()
        natural = chart.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]")
        assert natural[0] and natural[1] > 200 and natural[2] > 150, natural
        box = chart.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 150, box

    rows = page.locator("#changes-table tbody tr")
    assert rows.count() == 12 and rows.first.is_visible()
    assert page.locator("#ledger-counts tbody tr").count() == 3
    assert page.locator("#total-recommended").is_visible()

    current = 4  # the "current" budget column
    _header(page, "current").click()
    assert _header(page, "current").get_attribute("aria-sort") == "ascending"
    ascending = [float(v) for v in _column(page, current)]
    assert ascending == sorted(ascending) and len(set(ascending)) > 1
    _header(page, "current").click()
    assert _header(page, "current").get_attribute("aria-sort") == "descending"
    assert [float(v) for v in _column(page, current)] == sorted(ascending, reverse=True)

    _header(page, "campaign").click()
    names = [name.lower() for name in _column(page, 2)]
    assert names == sorted(names)
    assert _header(page, "current").get_attribute("aria-sort") is None

    # The hostile name is shown as the text it is; its markup neither rendered nor ran.
    assert HOSTILE_NAME in page.locator("#waiting").inner_text()
    assert page.evaluate("() => window.pwned") is None
    assert page.locator("#changes img, #waiting img, #changes script").count() == 0
    assert console.errors() == []
