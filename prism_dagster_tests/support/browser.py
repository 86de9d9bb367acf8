"""Headless Chromium from Debian's ``chromium`` package, driven by Playwright for Python.

Playwright's own browser download is not reachable here: ``make browser`` installs
``/usr/bin/chromium`` and Playwright launches that executable.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, ViewportSize, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
# CI runs as root, where Chromium's sandbox cannot start; /dev/shm may be small in containers.
ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
VIEWPORT: ViewportSize = {"width": 1600, "height": 1000}
# The Dagster UI is a heavy React app and the machine may have two cores: wait generously.
TIMEOUT_MS = 90_000


@contextmanager
def browser_page() -> Iterator[Page]:
    """A fresh page in headless Chromium, closed (with the browser) afterwards.

    Page actions and ``expect`` assertions wait up to ``TIMEOUT_MS`` (``expect``'s default is
    set for the whole process: only browser tests use it).
    """
    if not CHROMIUM.exists():
        raise AssertionError(f"{CHROMIUM} is missing; run `make browser` (Debian's chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def screenshot(page: Page, folder: Path, name: str) -> Path:
    """The whole page as ``folder/name.png``; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@contextmanager
def evidence(page: Page, folder: Path, name: str) -> Iterator[Path]:
    """Screenshot the page as ``folder/name.png`` when the block ends, passed or failed.

    Yields that path. On failure it is printed (pytest shows a failed test's captured output)
    and added as a note to the exception, so the failure report says where to look.
    """
    path = folder / f"{name}.png"
    try:
        yield path
    except BaseException as exc:
        screenshot(page, folder, name)
        print(f"screenshot of the failing page: {path}")
        exc.add_note(f"screenshot of the failing page: {path}")
        raise
    screenshot(page, folder, name)
