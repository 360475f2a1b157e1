"""How far the relay's id cursors may move on PostgreSQL without passing a record not yet committed.

The collectors read credit_records in id order and move a cursor past what they judged. On SQLite one
writer at a time means ids become visible in order. On PostgreSQL they do not: an id comes from the
sequence when a row is inserted, and the row is visible only when its transaction commits, so a long
transaction (a delivery stored straight into the table, see records.loading._Direct) can commit ids below
ones that another transaction committed meanwhile. A cursor moved past them would never send them, and
downloads have no reconciliation to send them later.

A cursor may therefore move past an id only when it is settled: committed or rolled back before the
window was read. Two tests, either enough:
- the ids in (cursor, end] are all visible: nothing hidden lies between (`contiguous`);
- they are at most a sampled horizon (`Horizon.settled`): the sequence's last value L, read at a moment
  T before any transaction still writing to credit_records began. Every id up to L was handed out before
  T, so its transaction is not among those writing, and it has ended.
The horizon is sampled on every call and kept for a while, so that a long writer still leaves the ids
before it to the relay.

Withdrawals have the same problem in time instead of ids: a withdrawal changes a row (status, and
`superseded_at` from the writer's clock), and the relay follows them by that time. A writer can take its
time and commit after another that took a later one; a cursor already past would never send it. So a
withdrawal cursor moves only up to `settled_moment`: on PostgreSQL, before every transaction still open
(any of them may yet withdraw, at a time after it began), less a second for the clocks of the node's
processes; on SQLite, where a writer may wait for another process's write lock after taking its time,
five seconds back. A withdrawal therefore travels a second (or five) after it is made, never not at all.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from xinyidai.kit import clock

_KEEP = timedelta(hours=6)  # samples older than this are dropped; a writer longer than this waits for its end
_MAX_SAMPLES = 4096

# The last id handed out. Read before the moment it is paired with, so that it holds nothing handed out
# after that moment.
_LAST_ID = text("SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM credit_records_id_seq")
_NOW = text("SELECT clock_timestamp()")
# When the oldest transaction now writing credit_records (other than this one) began: a writer holds
# RowExclusiveLock on the table from its first write to its end, and its ids come after its start.
_OLDEST_WRITER = text(
    "SELECT min(a.xact_start) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'relation' AND l.relation = 'credit_records'::regclass "
    "AND l.mode = 'RowExclusiveLock' AND l.pid <> pg_backend_pid()")


class Horizon:
    """Samples of (moment, last id handed out) of one node's database, taken by this process."""

    def __init__(self) -> None:
        self._samples: deque[tuple[datetime, int]] = deque(maxlen=_MAX_SAMPLES)
        self._lock = threading.Lock()

    def settled(self, s: Session) -> int:
        """The highest id known settled now (0 when none is yet). Call it before reading a window: a
        transaction that ended after this call may hold ids the window reads."""
        c = s.connection()
        last = c.execute(_LAST_ID).scalar_one()
        at = c.execute(_NOW).scalar_one()
        oldest = c.execute(_OLDEST_WRITER).scalar_one()
        with self._lock:
            self._samples.append((at, last))
            while self._samples and self._samples[0][0] < at - _KEEP:
                self._samples.popleft()
            return max((n for t, n in self._samples if oldest is None or t < oldest), default=0)

    def forget(self) -> None:
        """Drop every sample: the database is another one now (restored from a backup; a test's)."""
        with self._lock:
            self._samples.clear()


SETTLE = {"postgresql": timedelta(seconds=1), "sqlite": timedelta(seconds=5)}
# The database's clock, and when the oldest client transaction still open on it (other than this one)
# began (autovacuum and other server processes withdraw nothing, and may run for minutes).
_OLDEST_OPEN = text(
    "SELECT clock_timestamp(), (SELECT min(xact_start) FROM pg_stat_activity WHERE datname = current_database() "
    "AND backend_type = 'client backend' AND pid <> pg_backend_pid())")


def settled_moment(s: Session) -> datetime:
    """The latest withdrawal time a relay cursor may pass now: no transaction still open can yet commit a
    withdrawal made at or before it (see the module's docstring)."""
    dialect = s.get_bind().dialect.name
    if dialect != "postgresql":
        return clock.now() - SETTLE["sqlite"]
    now, oldest = s.connection().execute(_OLDEST_OPEN).one()
    return min(now, oldest or now) - SETTLE["postgresql"]


def contiguous(last: int, end: int, count: int) -> bool:
    """Whether the `count` ids visible in (last, end] are all the ids there: no gap a hidden row could fill."""
    return end - last == count


HORIZON = Horizon()
