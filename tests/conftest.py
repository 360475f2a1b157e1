"""Shared fixtures: a migrated database per test (SQLite by default; PostgreSQL when
XINYIDAI_TEST_DATABASE_URL names one), the shipped catalogue, a fixed clock, and an app client."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import OperationalError

from xinyidai.catalog.schema import Catalog, load_catalog
from xinyidai.kit import clock, migrate
from xinyidai.kit.db import Database, make_engine
from xinyidai.models import metadata


def _own_database(url: str) -> str:
    """Under pytest-xdist each worker gets a database of its own beside the named one (created on first use):
    every test truncates all tables, so two workers sharing one would wipe each other's rows mid-test. Later
    readers of the variable (node processes started by tests, the backup test) see the worker's database."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not url or not worker:
        return url
    own = make_url(url).set(database=f"{make_url(url).database}_{worker}")
    engine = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": own.database}).first() is None:
            conn.execute(text(f'CREATE DATABASE "{own.database}"'))
    engine.dispose()
    os.environ["XINYIDAI_TEST_DATABASE_URL"] = own.render_as_string(hide_password=False)
    return os.environ["XINYIDAI_TEST_DATABASE_URL"]


PG_URL = _own_database(os.environ.get("XINYIDAI_TEST_DATABASE_URL", ""))
FIXED_NOW = datetime(2026, 11, 15, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostgreSQL pass runs what can differ by engine: tests that take a database (the `db` fixture, or
    `_pg_ready` for nodes of their own) and modules that name PostgreSQL themselves (`PG_URL`). The rest —
    codes, crypto vectors, readers, pure rules — ran identically in the SQLite pass; running them again only
    spends CI's budget."""
    if not PG_URL:
        return
    kept, dropped = [], []
    for item in items:
        module = getattr(item, "module", None)
        uses_db = {"db", "_pg_ready"} & set(getattr(item, "fixturenames", ()))
        (kept if uses_db or (module is not None and "PG_URL" in vars(module)) else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_report_header(config: pytest.Config) -> str:
    return f"database: {'PostgreSQL ' + PG_URL.rsplit('@', 1)[-1] if PG_URL else 'SQLite (per-test file)'}"


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db.engine)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def _pg_ready() -> bool:
    if not PG_URL:
        return False
    db = Database(PG_URL)
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(db.engine)
    db.dispose()
    return True


@pytest.fixture
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if PG_URL:
        request.getfixturevalue("_pg_ready")
        database = Database(PG_URL)
        tables = ", ".join(t.name for t in metadata.sorted_tables)
        for attempt in range(3):
            # A background thread of the previous test's app (a chore cancelled while its round still runs)
            # may still write; PostgreSQL then breaks the deadlock by failing one side, which a retry passes.
            try:
                with database.engine.begin() as conn:
                    conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
                break
            except OperationalError:
                if attempt == 2:
                    raise
                time.sleep(0.5)
    else:
        template = request.getfixturevalue("_sqlite_template")
        target = tmp_path / "test.db"
        shutil.copy(template, target)
        database = Database(f"sqlite:///{target}")
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(autouse=True)
def fixed_clock() -> Iterator[datetime]:
    clock.set_clock(lambda: FIXED_NOW)
    yield FIXED_NOW
    clock.set_clock(None)
