"""Real-browser tests (``make test-ui``): headless Chromium driven by Playwright.

Playwright's own browser download needs the internet, so these tests drive the system's Chromium (Debian's
``chromium`` package; ``MBO_CHROMIUM`` names another binary). Without it, or without the ``playwright`` package,
they are skipped, saying how to get them. Every module here marks its tests ``ui`` (``pytestmark``): ``pytest -m ui``
runs exactly them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

NO_CHROMIUM = "no chromium: apt-get install chromium, or make test-ui"
NO_PLAYWRIGHT = "no playwright: pip install -e '.[test]', or make test-ui"


def pytest_configure(config):
    config.addinivalue_line("markers", "ui: drives a real browser (headless Chromium); `make test-ui` runs these")


def pytest_runtest_setup(item):
    """Skip before any fixture runs (the plan database, the webserver) when the browser cannot be driven."""
    if chromium_path() is None:
        pytest.skip(NO_CHROMIUM)
    if importlib.util.find_spec("playwright") is None:
        pytest.skip(NO_PLAYWRIGHT)


def chromium_path() -> str | None:
    """The Chromium binary to drive: ``MBO_CHROMIUM``, else ``chromium`` (or ``chromium-browser``) on the PATH."""
    named = os.environ.get("MBO_CHROMIUM", "").strip()
    return named or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def browser():
    """A headless Chromium for one test (``pytest_runtest_setup`` skips the test first if there is none). Request
    it after the fixtures that run Dagster: Playwright's sync API keeps an event loop of its own running while open."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path())  # headless, no sandbox (root in CI)
        yield browser
        browser.close()


class Console:
    """What a page said on its console and what it threw, collected from the moment it was opened."""

    def __init__(self, page):
        self.messages: list[tuple[str, str]] = []
        page.on("console", lambda message: self.messages.append((message.type, message.text)))
        page.on("pageerror", lambda error: self.messages.append(("pageerror", str(error))))

    def errors(self, benign: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        """Errors and uncaught exceptions, but those containing one of the ``benign`` texts."""
        return [(kind, text) for kind, text in self.messages
                if kind in ("error", "pageerror") and not any(b in text for b in benign)]


@pytest.fixture
def page(browser):
    """A fresh page (its own context) and its ``Console``: ``page, console = page``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    yield tab, Console(tab)
    context.close()
