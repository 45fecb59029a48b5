"""Headless Chromium for the console's browser test and benchmark: Debian's `chromium` package
driven by playwright through `executable_path` (playwright's own browser download is not used)."""

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

CHROMIUM = Path(os.environ.get("LIVESTOCK_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # A hidden or background page must not have its timers and WebSocket handling slowed down.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
]


def available() -> bool:
    return CHROMIUM.exists()


def launch(playwright: "Playwright") -> "Browser":
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
