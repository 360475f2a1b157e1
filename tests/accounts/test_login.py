"""Log-in limits under concurrency: many attempts at once, each in its own thread and transaction against
the real database, as parallel requests would make them."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import select

from xinyidai.accounts import users
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.db import Database
from xinyidai.kit.errors import DomainError

PASSWORD = "correct-horse-9"


@pytest.fixture
def user_db(db: Database) -> Database:
    with db.session() as s:
        users.create_user(s, username="alice", display_name="测试", role="operator", password=PASSWORD)
    return db


def _attempt(db: Database, password: str, **kw: object) -> str:
    """One log-in as the page makes it: what the refusal wrote is committed. Its error code, or "ok"."""
    with db.session() as s:
        try:
            users.authenticate(s, "alice", password, 30, **kw)
        except DomainError as exc:
            s.commit()
            return exc.code
    return "ok"


def _at_once(n: int, fn: Callable[[], str]) -> list[str]:
    """Run `fn` in `n` threads released together; their results."""
    gate = threading.Barrier(n)
    out: list[str] = []

    def run() -> None:
        gate.wait()
        out.append(fn())

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(out) == n
    return out


def _checked(db: Database) -> int:
    """How many passwords were actually compared (the audit log names each wrong one)."""
    with db.session() as s:
        return sum(1 for e in s.execute(select(AuditEvent).where(AuditEvent.action == "login.failed")).scalars()
                   if e.detail.get("reason") == "password")


def test_parallel_wrong_passwords_get_no_more_checks_than_the_limit(user_db: Database) -> None:
    """Twelve wrong passwords at once: five are compared, the others refused unchecked, and the right
    password then fails too, from the same client, until the lock ends."""
    codes = _at_once(12, lambda: _attempt(user_db, "wrong-password"))
    assert set(codes) == {"BAD_CREDENTIALS"}
    assert _checked(user_db) == users.MAX_FAILED
    assert _attempt(user_db, PASSWORD) == "BAD_CREDENTIALS"
    assert _checked(user_db) == users.MAX_FAILED


def test_a_success_clears_the_count_and_the_lock_ends(user_db: Database, fixed_clock) -> None:  # noqa: ANN001
    """Four slips and then the right password start again from zero; five lock this username from this
    address (an unknown username just the same) until fifteen minutes after the first of them."""
    here = {"address": "198.51.100.7"}
    assert [_attempt(user_db, "slip", **here) for _ in range(4)] + [_attempt(user_db, PASSWORD, **here)] == \
        ["BAD_CREDENTIALS"] * 4 + ["ok"]
    assert [_attempt(user_db, "wrong", **here) for _ in range(6)] == ["BAD_CREDENTIALS"] * 6
    assert _checked(user_db) == 9  # the sixth was not checked
    assert _attempt(user_db, PASSWORD, **here) == "BAD_CREDENTIALS"
    assert _attempt(user_db, PASSWORD, address="203.0.113.9") == "ok"
    clock.set_clock(lambda: fixed_clock + users.LOCK)
    assert _attempt(user_db, PASSWORD, **here) == "ok"


def test_unknown_usernames_lock_alike(db: Database) -> None:
    """The count is kept for the username as typed: a name that does not exist locks after five failures
    like one that does, so the lock does not tell them apart either."""
    def attempt() -> str:
        with db.session() as s:
            try:
                users.authenticate(s, "nobody", "guess-guess", 30, address="198.51.100.7")
            except DomainError as exc:
                s.commit()
                return exc.code
        return "ok"

    assert [attempt() for _ in range(6)] == ["BAD_CREDENTIALS"] * 6
    with db.session() as s:
        reasons = [e.detail["reason"] for e in s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()]
    assert reasons == ["unknown"] * 5 + ["locked"]
