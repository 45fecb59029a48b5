"""A page of headless Chromium for the review's test, launched as livestock_local.browser does."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from livestock_local import browser


@contextmanager
def chromium_page() -> Iterator[tuple[Any, list[str]]]:
    """A page of a fresh headless browser, and the URLs it requested (data: URLs aside)."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only the browser tests need it

    if not browser.available():
        raise RuntimeError("Debian's chromium is required (apt-get install -y chromium); .ci/run installs it")
    with sync_playwright() as playwright:
        chromium = browser.launch(playwright)
        try:
            page = chromium.new_page(viewport={"width": 1200, "height": 900})
            # The page must need nothing from anywhere: any request it makes fails the test.
            requested: list[str] = []
            page.on("request", lambda r: requested.append(r.url) if not r.url.startswith("data:") else None)
            yield page, requested
        finally:
            chromium.close()
