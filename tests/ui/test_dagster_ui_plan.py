"""The plan in the Dagster UI: the real ``dagster-webserver`` on the project's workspace, its instance holding a
real materialization of the plan's recommendations, opened in headless Chromium at the asset's page.

The plan is materialized with the real optimize asset on small synthetic marts (no extract, no dbt run), into a
throwaway ``DAGSTER_HOME`` with SQLite storage; the webserver loads the code location from workspace.yaml as
``make dev`` does, so the page shows the asset as defined and its latest materialization's metadata.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from mbo_pipelines import settings
from mbo_pipelines.embedded_db import free_port
from tests.report.report_helpers import make_plan_database

pytestmark = pytest.mark.ui

WEBSERVER = Path(sys.executable).parent / "dagster-webserver"
READY_SECONDS = 90
#: Console errors of the Dagster UI that say nothing about the page under test. None so far: add one only with
#: the reason it is harmless.
BENIGN: tuple[str, ...] = ()


LOCATIONS = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def _locations(url: str) -> list[dict] | None:
    """The webserver's code locations (name, loadStatus, locationOrLoadError), or None while it does not answer."""
    request = urllib.request.Request(f"{url}/graphql", data=json.dumps({"query": LOCATIONS}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.load(answer)["data"]["workspaceOrError"]["locationEntries"]
    except (OSError, KeyError, TypeError, ValueError):
        return None


def _wait_until_loaded(process: subprocess.Popen, url: str, log: Path) -> None:
    """Until the webserver serves the code location ``mbo``; fails with its load error or log otherwise."""
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        entries = {entry["name"]: entry for entry in _locations(url) or []}
        if "mbo" in entries and entries["mbo"]["loadStatus"] == "LOADED":
            loaded = entries["mbo"]["locationOrLoadError"]
            if loaded["__typename"] == "PythonError":
                pytest.fail(f"the code location mbo did not load: {loaded['message']}")
            return
        time.sleep(0.5)
    pytest.fail(f"dagster-webserver did not load the code location within {READY_SECONDS} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def dagster_ui(new_database, tmp_path_factory):
    """The webserver's base URL and the plan it shows; the server is stopped afterwards."""
    home = tmp_path_factory.mktemp("dagster-ui-home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # Dagster's "Join the community" prompt covers the page on an instance's first visit: mark it seen, as one
    # dismissal does (dagster._core.nux).
    (home / ".nux").mkdir()
    (home / ".nux" / "nux.yaml").write_text("seen: 1\n")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        planned = make_plan_database(new_database("dagster_ui"), instance=instance)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = home / "webserver.log"
    env = {**os.environ, "DAGSTER_HOME": str(home), "MBO_DATABASE_URL": planned.url}
    with open(log, "w") as out:
        # A session of its own: the webserver and the code server it starts are stopped together, by group id.
        process = subprocess.Popen(
            [str(WEBSERVER), "-h", "127.0.0.1", "-p", str(port), "-w", str(settings.PROJECT_ROOT / "workspace.yaml")],
            cwd=settings.PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        _wait_until_loaded(process, url, log)
        yield url, planned, log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _image_of(page, key: str):
    """The picture of metadata entry ``key``: shown in its row of the metadata table (a small inline chart), or
    behind its ``[Show Markdown]`` link (then the dialog is opened; ``_close`` closes it). (image, dialog or None)"""
    row = page.locator("tr", has=page.locator("td", has_text=key)).first
    link = row.get_by_text("[Show Markdown]")
    row.locator("img").first.or_(link).wait_for()  # either has rendered: deciding on count() alone races the render
    if row.locator("img").count():
        return row.locator("img").first, None
    return _open(page, link, key)


def _open(page, link, key: str):
    """Click ``[Show Markdown]`` of entry ``key`` and wait for its dialog. (the dialog's first image, the dialog)"""
    link.click()
    dialog = page.get_by_role("dialog").filter(has_text=key)
    dialog.wait_for()
    return dialog.locator("img").first, dialog


def _close(dialog):
    dialog.get_by_role("button", name="Close").click()
    dialog.wait_for(state="detached")


def test_the_plans_asset_page_shows_its_metadata_and_charts(dagster_ui, page):
    from playwright.sync_api import expect  # here: the conftest skips this module's tests when playwright is absent

    url, planned, _ = dagster_ui
    page, console = page
    page.goto(f"{url}/assets/{'/'.join(planned.asset_key.path)}")
    plan_row = page.locator("tr", has=page.locator("td", has_text="plan_id"))
    plan_row.get_by_text(planned.plan_id).wait_for()
    # expect(...) waits for what renders after the metadata (is_visible() would look once, as count() did).
    expect(page.get_by_text("Latest materialization")).to_be_visible()
    expect(page.get_by_text("Code location")).to_be_visible()  # the asset as the loaded code location defines it

    for key in ("allocation_by_platform", "response_curves"):
        image, dialog = _image_of(page, key)
        image.wait_for()
        page.wait_for_function("img => img.complete", arg=image.element_handle())
        natural = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
        box = image.bounding_box()
        assert natural[0] >= 100 and natural[1] >= 30, (key, natural)  # decoded: a broken image is 0 × 0
        assert box and box["width"] >= 100 and box["height"] >= 30, (key, box)  # and laid out on the page
        assert dialog is None, f"{key} is behind [Show Markdown], not shown on the page itself"

    moves, dialog = page.locator("tr", has=page.locator("td", has_text="largest_moves")).first, None
    link = moves.get_by_text("[Show Markdown]")
    moves.locator("table").first.or_(link).wait_for()
    if not moves.locator("table").count():  # too long to show in place: behind its link
        _, dialog = _open(page, link, "largest_moves")
        moves = dialog
    expect(moves.locator("table tr")).to_have_count(1 + 12)  # the header and every campaign of this small plan
    assert moves.locator("table img, table script").count() == 0  # the hostile campaign name rendered no markup
    if dialog is not None:
        _close(dialog)
    assert page.evaluate("() => window.pwned") is None
    assert console.errors(BENIGN) == []
