"""The per-client throttle and the digest of repeated refusals (kit.throttle), on the test clock."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlalchemy import select

from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.db import Database
from xinyidai.kit.throttle import Guards, Refusal, RefusalDigest, RefusalGuard, SlidingWindow, client_key


def _at(t: datetime, seconds: float) -> None:
    clock.set_clock(lambda: t + timedelta(seconds=seconds))


def test_a_client_is_its_address_ipv6_by_its_64() -> None:
    assert client_key("198.51.100.7") == "198.51.100.7"
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:198.51.100.7") == "198.51.100.7"
    assert client_key(None) == "unknown" and client_key("testclient") == "testclient"


def test_sliding_window(fixed_clock: datetime) -> None:
    w = SlidingWindow(limit=3, seconds=60)
    assert [w.acquire("a") for _ in range(4)] == [0, 0, 0, 60]
    assert w.wait("b") == 0  # per key
    w.release("a")  # a success gives its attempt back
    assert w.acquire("a") == 0 and w.wait("a") == 60
    _at(fixed_clock, 59.5)
    assert w.wait("a") == 1
    _at(fixed_clock, 60)
    assert w.wait("a") == 0
    for _ in range(5):
        w.add("c")
    assert w.wait("c") == 60


def test_parallel_acquires_cannot_pass_the_limit() -> None:
    w = SlidingWindow(limit=5, seconds=60)
    gate = threading.Barrier(16)
    granted: list[bool] = []

    def go() -> None:
        gate.wait()
        granted.append(w.acquire("a") == 0)

    threads = [threading.Thread(target=go) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert granted.count(True) == 5


def _refusal(key: str = "k", individually: int = 1, variant: str = "x") -> Refusal:
    return Refusal((key,), "anonymous", "api.auth_refused", "api", {"code": "C"}, {"path": "/p"},
                   individually=individually, variant=("claimed_keys", variant))


def test_digest_records_the_first_then_counts(fixed_clock: datetime) -> None:
    d = RefusalDigest(60)
    assert d.note(_refusal()) == (True, None)
    assert [d.note(_refusal(variant=str(i % 3)))[0] for i in range(5)] == [False] * 5
    assert d.note(_refusal("other")) == (True, None)  # keys apart
    assert d.closed() == []  # the window is still open
    _at(fixed_clock, 60)
    write, previous = d.note(_refusal())  # the next one opens a new window and brings the old count
    assert write and previous is not None and (previous.count, len(previous.variants)) == (5, 3)
    assert d.closed() == []  # "other" had nothing counted; its window is gone


def test_digest_records_several_individually(fixed_clock: datetime) -> None:
    d = RefusalDigest(60)
    assert [d.note(_refusal(individually=3))[0] for _ in range(5)] == [True, True, True, False, False]
    _at(fixed_clock, 61)
    (repeats,) = d.closed()
    assert repeats.count == 2 and repeats.first_at == fixed_clock


def test_summaries_are_written_when_the_window_closes(db: Database, fixed_clock: datetime) -> None:
    gs = Guards()
    g = gs.get("api", lambda: RefusalGuard(limit=100, seconds=60, digest_seconds=60))
    assert gs.get("api", lambda: RefusalGuard(limit=1, seconds=1, digest_seconds=1)) is g
    with db.session() as s:
        for i in range(4):
            g.record(s, _refusal(variant=str(i)))
    assert gs.flush(db) == 0
    _at(fixed_clock, 30)
    with db.session() as s:
        g.record(s, _refusal("later"))
        g.record(s, _refusal("later"))
    assert gs.flush(db, everything=True) == 2  # at shutdown, open windows too
    _at(fixed_clock, 120)
    assert gs.flush(db) == 0  # each count is written once
    with db.session() as s:
        entries = [e.detail for e in s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()]
    assert entries[:2] == [{"code": "C", "path": "/p"}] * 2
    assert sorted((e["repeated"], e["claimed_keys"]) for e in entries[2:]) == [(1, 1), (3, 3)]
    assert entries[2]["first_at"] == fixed_clock.isoformat()
