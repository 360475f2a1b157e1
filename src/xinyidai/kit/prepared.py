"""Core statements of the hottest request paths, compiled once per dialect and run on the session's own
driver connection.

An authorized query runs nine small statements. SQLAlchemy spends 60–130 µs on each building an execution
context and a result around a statement the driver runs in 20–30 µs: about a tenth of the request. A
`Prepared` keeps what matters of SQLAlchemy — its compiler and each type's own bind and result processing,
obtained once per dialect — and skips the per-call machinery. It runs in the session's transaction (it asks
the session for its connection, which begins one as any statement would), and driver errors come out as
SQLAlchemy's exceptions, so callers handle them as before.

Expanding IN lists (`bindparam(..., expanding=True)`) are expanded here, one compiled form per list length.
Rows are named tuples: read by attribute or position, as Core rows are read on these paths.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

_TOKEN = "__[POSTCOMPILE_{}]"  # how SQLAlchemy's compiler leaves an expanding parameter for execution time

Processor = Callable[[Any], Any] | None
# What a Prepared returns: a named tuple of the statement's columns (typed loosely: its class is made per statement).
PreparedRow = Any


@dataclass(frozen=True)
class _Slot:
    """One parameter of the compiled SQL: a caller's value (`name`, or element `index` of the list `name`),
    or a constant the statement carries; `process` is its type's bind processor."""

    name: str
    index: int | None
    process: Processor
    constant: Any = None
    fixed: bool = False


@dataclass
class _Plan:
    sql: str
    slots: tuple[_Slot, ...]
    named: bool  # pyformat (psycopg): a dict of `key → value`; qmark (sqlite3): a sequence in order
    keys: tuple[str, ...]  # the names in the SQL, when named
    row: type | None  # None: the statement returns no rows
    columns: tuple[Any, ...]
    # Result processors may depend on the type the driver reports (a PostgreSQL numeric), so they are taken at
    # the first execution, from its cursor description, as SQLAlchemy does.
    results: tuple[Processor, ...] | None = None

    def parameters(self, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        values = []
        for slot in self.slots:
            if slot.fixed:
                values.append(slot.constant)
                continue
            v = params[slot.name]
            if slot.index is not None:
                v = v[slot.index]
            values.append(slot.process(v) if slot.process is not None and v is not None else v)
        return dict(zip(self.keys, values, strict=True)) if self.named else values


class Prepared:
    """A Core statement (SELECT, or DML with RETURNING or none) ready to run many times."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._plans: dict[tuple[str, tuple[int, ...]], _Plan] = {}
        self._expanding: dict[str, tuple[str, ...]] = {}  # dialect name → names of its expanding parameters

    def all(self, s: Session | Connection, params: Mapping[str, Any] | None = None) -> list[PreparedRow]:
        params = params or {}
        conn = s.connection() if isinstance(s, Session) else s
        plan = self._plan(conn.dialect, params)
        args = plan.parameters(params)
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            try:
                cursor.execute(plan.sql, args)
                rows = cursor.fetchall() if plan.row is not None else []
                if plan.results is None and plan.row is not None:
                    plan.results = tuple(c.type.dialect_impl(conn.dialect).result_processor(conn.dialect, d[1])
                                         for c, d in zip(plan.columns, cursor.description, strict=True))
            except conn.dialect.loaded_dbapi.Error as e:
                raise exc.DBAPIError.instance(plan.sql, args, e, conn.dialect.loaded_dbapi.Error) from e
        finally:
            cursor.close()
        if plan.row is None or plan.results is None:
            return []
        make, procs = plan.row._make, plan.results
        if not any(procs):
            return [make(r) for r in rows]
        return [make([v if p is None or v is None else p(v) for p, v in zip(procs, r, strict=True)])
                for r in rows]

    def first(self, s: Session | Connection, params: Mapping[str, Any] | None = None) -> PreparedRow | None:
        rows = self.all(s, params)
        return rows[0] if rows else None

    def run(self, s: Session | Connection, params: Mapping[str, Any] | None = None) -> None:
        self.all(s, params)

    def _plan(self, dialect: Dialect, params: Mapping[str, Any]) -> _Plan:
        names = self._expanding.get(dialect.name)
        if names is None:
            compiled = self.statement.compile(dialect=dialect)
            names = self._expanding[dialect.name] = tuple(n for n, b in compiled.binds.items() if b.expanding)
        key = (dialect.name, tuple(len(params[n]) for n in names))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._compile(dialect, dict(zip(names, key[1], strict=True)))
        return plan

    def _compile(self, dialect: Dialect, lengths: dict[str, int]) -> _Plan:
        compiled = self.statement.compile(dialect=dialect)
        sql = compiled.string
        named = compiled.positiontup is None
        order = list(compiled.positiontup) if not named else list(dict.fromkeys(_named_order(sql, compiled.binds)))
        slots: list[_Slot] = []
        keys: list[str] = []
        for name in order:
            bind = compiled.binds[name]
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if name in lengths:
                n = lengths[name]
                if n == 0:
                    raise ValueError(f"empty list for {name}: pass a sentinel, as SQL has no empty IN list")
                marks = [f"%({name}__{i})s" if named else "?" for i in range(n)]
                sql = sql.replace(_TOKEN.format(name), ", ".join(marks), 1)
                for i in range(n):
                    slots.append(_Slot(name, i, process))
                    keys.append(f"{name}__{i}")  # SQLAlchemy names its own binds name_1, name_2 …
                continue
            if bind.callable is None and bind.value is not None and not bind.required:
                value = bind.value
                slots.append(_Slot(name, None, None, process(value) if process else value, fixed=True))
            else:
                slots.append(_Slot(name, None, process))
            keys.append(name)
        columns = list(getattr(self.statement, "exported_columns", []) or [])
        row = namedtuple("Row", [c.key for c in columns], rename=True) if columns else None  # type: ignore[misc]
        return _Plan(sql, tuple(slots), named, tuple(keys), row, tuple(columns))


def _named_order(sql: str, binds: Mapping[str, Any]) -> list[str]:
    """The bind names of a pyformat statement, by first appearance (each name appears once in the dict)."""
    found: list[tuple[int, str]] = []
    for name in binds:
        at = sql.find(f"%({name})s")
        if at < 0:
            at = sql.find(_TOKEN.format(name))
        if at >= 0:
            found.append((at, name))
    return [n for _, n in sorted(found)]
