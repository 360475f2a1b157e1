"""Signing in to the application under test, as the oversight page tests do: the real login form with its CSRF
token, one TestClient (its own cookies) per person."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

PASSWORD = "correct-horse-9"


def token_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def login(app: Any, username: str, password: str = PASSWORD) -> TestClient:
    c = TestClient(app, base_url="http://testserver")
    r = c.post("/login", data={"username": username, "password": password, "csrf_token": token_of(c.get("/login").text),
                               "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return c
