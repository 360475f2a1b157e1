"""Bulk writes past the ORM: COPY on PostgreSQL, the driver's executemany on SQLite.

SQLAlchemy's insert of a million dicts spends most of its time building parameters; the drivers take
tuples directly. Values must already be in the form the column stores (see `sqlite_value`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection


def sqlite_value(v: Any) -> Any:
    """A Python value as SQLAlchemy itself stores it in SQLite (dates and times as ISO text, times in UTC)."""
    if isinstance(v, datetime):
        return (v.astimezone(UTC) if v.tzinfo else v).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, date):
        return v.isoformat()
    return v


def constant(conn: Connection, v: Any) -> Any:
    """A value repeated on every row (a run's date or time), converted once for the connection's engine."""
    return v if conn.dialect.name == "postgresql" else sqlite_value(v)


def insert_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Append `rows` to `table` inside the connection's current transaction. Datetimes must be aware (a
    naive one would be read in the PostgreSQL session's zone) and, on SQLite, already converted (see
    `constant`)."""
    raw = conn.connection.driver_connection
    cols = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)
    else:
        marks = ", ".join("?" * len(columns))
        raw.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)  # noqa: S608 - names are ours
