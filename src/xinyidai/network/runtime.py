"""The network side of a running node: its context (code, role, identity) and the relay worker that runs
beside the web server — collecting what to send, pushing the outbox, and polling the parent in pull mode.

The worker is two plain threads (collecting, pushing) with their own database sessions, committing after
each step, so neither holds a lock across a network call and a crash loses nothing that was acknowledged.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from xinyidai.kit import clock
from xinyidai.kit.chores import every
from xinyidai.kit.node_key import node_identity
from xinyidai.kit.notify import make_notifier
from xinyidai.network import checkpoints, daily, deadlines, exchange, keys, relay

log = logging.getLogger(__name__)


def context(app: Any) -> relay.NodeContext:
    """This node's context, made afresh when its key was rotated (by this or another process)."""
    st = app.state
    settings = st.node.settings
    ctx = getattr(st, "network_ctx", None)
    if ctx is None or ctx.identity is not node_identity(settings.var_dir, settings.crypto_suite):
        st.network_ctx = ctx = keys.node_context(settings)
    return ctx


class ChangeWatch:
    """Whether anything was committed to the database since a mark. On SQLite its data_version, read on a
    connection of this object's own (which never writes), moves with every commit made on any other
    connection, of this process or another; on other engines it cannot tell, and always says so."""

    def __init__(self, engine: Engine) -> None:
        path = engine.url.database if engine.dialect.name == "sqlite" else None
        self._conn = sqlite3.connect(path) if path and path != ":memory:" else None
        self._seen: int | None = None
        self._marked: int | None = None

    def changed(self) -> bool:
        """Whether anything was committed since the moment `mark` remembers (always true before it)."""
        self._seen = None if self._conn is None else self._conn.execute("PRAGMA data_version").fetchall()[0][0]
        return self._seen is None or self._seen != self._marked

    @property
    def tells(self) -> bool:
        """Whether it can tell at all (SQLite); elsewhere every round collects."""
        return self._conn is not None

    def mark(self) -> None:
        """Remember the moment of the last `changed` call."""
        self._marked = self._seen

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


# Collectors of what layers above the network send to neighbours in their own envelope kinds, run in each
# relay round: name → (session, context) → how many items it queued. The market registers its own.
COLLECTORS: dict[str, Callable[[Session, relay.NodeContext], int]] = {}


def collect_once(app: Any, client: httpx.Client, watch: ChangeWatch | None = None) -> dict[str, int]:
    """One round of what a node owes and is owed, except pushing: records to queue for the neighbours, the
    periodic chores, and the parent's envelopes in pull mode. Returns what it did (for logs).

    What to queue depends on nothing but the database, so with a `watch` a round that finds nothing
    committed since the start of the last complete round (which therefore queued nothing) skips the
    collecting: an idle node's round then costs one pragma rather than a dozen queries."""
    n = app.state.node
    ctx = context(app)
    done = {"queued_up": 0, "queued_down": 0, "pulled": 0}
    collect = watch is None or watch.changed()
    waiting = False
    if collect:
        with n.db.session() as s:
            done["queued_up"] = relay.collect_uploads(s, ctx)
        with n.db.session() as s:
            done["queued_down"] = relay.collect_downloads(s, ctx)
            # A withdrawal too recent to pass yet (see horizon.settled_moment) must be collected by a later
            # round, though nothing more may be committed by then: the watch is not marked meanwhile.
            waiting = watch is not None and watch.tells and relay.withdrawals_unsettled(s)
        with n.db.session() as s:
            done["checkpoints_forwarded"] = checkpoints.forward(s, ctx)
        with n.db.session() as s:
            done["feedback_closed"] = exchange.collect_closures(s, ctx)
        for name, collector in COLLECTORS.items():  # what layers above send up (the market's loans …)
            with n.db.session() as s:
                done[name] = collector(s, ctx)
    # legacy link, needs, hourly 对账
    done.update(exchange.periodic(n.db, ctx, time.monotonic(), collect=collect))
    if watch is not None and not waiting:
        watch.mark()
    if n.settings.parent_mode == "pull":
        from xinyidai.network import pull

        done["pulled"] = pull.pull_from_parent(n.db, ctx, client)
    return done


def send_once(app: Any, client: httpx.Client) -> dict[str, int]:
    """Push the oldest due envelope of the outbox (one at a time, so the collector hears of each)."""
    with app.state.node.db.session() as s:
        sent, failed = relay.send_due(s, context(app), client, limit=1)
    return {"sent": sent, "failed": failed}


class RelayWorker(threading.Thread):
    """The relay beside the web server, in two threads: this one collects (`collect_once`) and a second
    pushes the outbox (`send_once`), so the next envelopes are read, sealed and signed while the peer
    applies the last. Each goes again at once after a step that moved something; otherwise it waits
    `interval` seconds or until the other one wakes it (new envelopes queued, room made in the outbox)."""

    def __init__(self, app: Any, interval: float) -> None:
        super().__init__(name="relay", daemon=True)
        self.app, self.interval = app, interval
        self.stopping = threading.Event()
        self.queued, self.sent = threading.Event(), threading.Event()

    def run(self) -> None:
        context(self.app)  # made once, before two threads could race to make it
        sender = threading.Thread(target=self._loop, name="relay-send", daemon=True,
                                  args=(send_once, self.queued, self.sent, ("sent",)))
        sender.start()
        self.watch = ChangeWatch(self.app.state.node.db.engine)
        try:
            self._loop(self._collect, self.sent, self.queued,
                       ("queued_up", "queued_down", "queued_legacy", "needs_forwarded", "pulled"))
        finally:
            self.watch.close()
        sender.join()

    def _collect(self, app: Any, client: httpx.Client) -> dict[str, int]:
        return collect_once(app, client, self.watch)

    def _loop(self, step: Callable[[Any, httpx.Client], dict[str, int]], wake: threading.Event,
              tell: threading.Event, moved: tuple[str, ...]) -> None:
        """Run `step` until stopped; when it moved something (`moved` counts), `tell` the other thread."""
        with httpx.Client(timeout=httpx.Timeout(30.0, connect=3.0)) as client:
            while not self.stopping.is_set():
                wake.clear()  # before the step: a wake-up during it makes the wait below return at once
                try:
                    done = step(self.app, client)
                except Exception:  # noqa: BLE001 - the next step retries; the outbox keeps what is owed
                    log.exception("relay step %s failed", step.__name__)
                    done = {}
                if any(done.values()):
                    log.info("relay: %s", done)
                if any(done.get(k) for k in moved):
                    tell.set()
                else:
                    wake.wait(self.interval)

    def stop(self) -> None:
        self.stopping.set()
        self.queued.set()
        self.sent.set()


# ── the daily deadline job (point 10): reminders and, past a deadline, a suspension proposal ─────────────

def deadlines_once(app: Any, state: dict[str, Any]) -> dict[str, int]:
    """Run the daily connection checks once per Beijing day (the clock from kit, so tests move it)."""
    today = clock.today()
    if state.get("ran_on") == today:
        return {}
    n = app.state.node
    if "notifier" not in state:
        state["notifier"] = make_notifier(n.settings.notifier, n.settings.var_dir)
    with n.db.write_lock, n.db.session() as s:
        done = daily.run(s, today, state["notifier"], deadlines.envelope_sender(context(app)),
                         n.settings.assessment_valid_days)
    state["ran_on"] = today
    if any(done.values()):
        log.info("deadlines: %s", done)
    return done


async def deadline_chores(app: Any, every_seconds: int = 600) -> None:
    state: dict[str, Any] = {}
    await every(every_seconds, lambda: deadlines_once(app, state), "connection deadlines")
