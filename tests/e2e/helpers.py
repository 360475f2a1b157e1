"""Helpers for the browser tests (import as ``from helpers import login`` inside tests/e2e)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import Browser, Page


def login(page: Page, base_url: str, username: str, password: str) -> None:
    """Sign in through the real login form and wait until the browser has left /login.

    Fails (Playwright timeout) when the credentials are refused and the form is shown again.
    """
    page.goto(base_url.rstrip("/") + "/login")
    form = page.locator("form:has(input[name='password'])").first
    form.locator("input[name='username']").fill(username)
    form.locator("input[name='password']").fill(password)
    form.locator("button[type='submit']").first.click()
    page.wait_for_url(lambda url: urlparse(url).path.rstrip("/") != "/login")


def desktop_page(browser: Browser, width: int = 1440) -> Page:
    """A page of its own (its own cookies, so one person per page) at a desktop width, in Chinese."""
    ctx = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
    ctx.set_default_timeout(30_000)
    return ctx.new_page()


def shooter(tmp_path: Path) -> Callable[[Page, str], None]:
    """`shot(page, name)`: a full-page screenshot into the test's tmp dir, its path printed to look at."""

    def shot(pg: Page, name: str) -> None:
        pg.evaluate("window.scrollTo(0, 0)")  # a page opened at an anchor would stitch the sticky header mid-page
        target = tmp_path / f"{name}.png"
        pg.screenshot(path=str(target), full_page=True)
        sys.stderr.write(f"截图：{target}\n")

    return shot
