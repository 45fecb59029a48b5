"""Headless Chromium (Debian's /usr/bin/chromium) driven by playwright: playwright never downloads
a browser here, it launches the system one."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def chromium_page() -> Iterator[tuple[Any, list[str]]]:
    """A page of a fresh headless browser, and the URLs it requested (data: URLs aside)."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only the browser tests need it

    if not CHROMIUM.exists():
        raise RuntimeError("Debian's chromium is required (apt-get install -y chromium); .ci/run installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            # The page must need nothing from anywhere: any request it makes fails the test.
            requested: list[str] = []
            page.on("request", lambda r: requested.append(r.url) if not r.url.startswith("data:") else None)
            yield page, requested
        finally:
            browser.close()
