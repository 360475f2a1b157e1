"""Database engine, sessions and the declarative base: one model, SQLite or PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and always returned aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused; use xinyidai.kit.clock.now()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def savepoint(session: Session) -> Any:
    """A SAVEPOINT to try an insert that may collide, on PostgreSQL. Not on SQLite: the sqlite3 module does
    not see a transaction that a SAVEPOINT opens, so its RELEASE would commit everything before it; there
    writers are serialized anyway (one writer at a time, and `Database.write_lock`), so no collision can
    come from a concurrent writer between the check and the insert."""
    if session.get_bind().dialect.name == "sqlite":
        return contextlib.nullcontext()
    return session.begin_nested()


def write_lock(session: Session) -> Any:
    """The lock its database's writers queue on (see `Database.write_lock`), for a request's session."""
    db = session.info.get("database")
    return db.write_lock if db is not None else contextlib.nullcontext()


def make_engine(url: str) -> Engine:
    u = make_url(url)
    if u.drivername.startswith("sqlite"):
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA cache_size=-65536")
            cur.close()

        return engine
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return create_engine(u, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Database:
    """An engine with its session factory; one per node process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, info={"database": self})
        # SQLite has one writer at a time and makes the others sleep and retry with growing pauses. Request
        # paths that write (each access writes the audit chain) take this lock around their unit of work,
        # so threads of one process queue here, in order, instead of in SQLite's busy handler.
        self.write_lock: threading.Lock | contextlib.nullcontext = (
            threading.Lock() if is_sqlite(self.engine) else contextlib.nullcontext())

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back on any error."""
        s = self.sessions()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def dispose(self) -> None:
        self.engine.dispose()
