"""Helpers for the browser tests (import as ``from helpers import login`` inside tests/e2e)."""

from __future__ import annotations

from urllib.parse import urlparse

from playwright.sync_api import Page


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
