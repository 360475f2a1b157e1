"""An app on the test database, with one user per role, and clients logged in as each."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from xinyidai.accounts.users import create_user
from xinyidai.app import create_app
from xinyidai.config import load_settings
from xinyidai.kit.db import Database

PASSWORD = "correct-horse-9"
ENTERPRISE_CODE = "91230100XY00000121"


@pytest.fixture
def app(db: Database, tmp_path: Path):  # noqa: ANN201
    settings = load_settings(env={}, var_dir=tmp_path / "var", database_url=db.url)
    with db.session() as s:
        for role in ("operator", "bank", "enterprise", "regulator", "security"):
            create_user(s, username=role, display_name=f"测试{role}", role=role, password=PASSWORD,
                        org_code=ENTERPRISE_CODE if role == "enterprise" else None)
    return create_app(settings, db)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no csrf token on the page"
    return m.group(1)


@pytest.fixture
def login(app) -> Iterator[Callable[[str], TestClient]]:  # noqa: ANN001
    clients: list[TestClient] = []

    def _login(username: str, password: str = PASSWORD) -> TestClient:
        c = TestClient(app, base_url="http://testserver")
        clients.append(c)
        page = c.get("/login")
        r = c.post("/login", data={"username": username, "password": password, "csrf_token": csrf_of(page.text),
                                   "next": "/"}, follow_redirects=False)
        assert r.status_code == 303, r.text
        # The token from a page every role opens as it is ("/" sends banks and enterprises to their homes).
        c.csrf = csrf_of(c.get("/catalog").text)  # type: ignore[attr-defined]
        return c

    yield _login
    for c in clients:
        c.close()
