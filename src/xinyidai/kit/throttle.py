"""Per-client throttles, and a digest of repeated refusals for the audit log.

For requests refused before anyone is known to be on the other end — log-in, real-name registration, API
credentials — a stranger must not be able to make the node check guesses without end, nor write an entry
in the audit chain (and take its write lock) with every request. Two tools, each in this process only:

* `SlidingWindow` counts events per client over the last `seconds`; at `limit` the client waits until the
  oldest leaves the window. `acquire` counts an attempt before it is checked and `release` gives it back when
  it succeeded, so parallel requests cannot all pass a check of the count.
* `RefusalDigest` decides which refusals the audit log records one by one: per key (say client, code and
  credential), the first `individually` in a window; later ones are counted, and the count is written as one
  summary entry (`repeated`, first and last time, how many distinct `variant`s, e.g. invented key ids) at the
  key's next recorded refusal or, once the window has passed, by the periodic `Guards.flush`.

With N worker processes a client gets up to N times a limit here. That is enough for what these are for;
the limits that must hold across processes — wrong passwords per account and client, wrong codes per
registration — are counted in the database.

A client is its address (`client_key`): IPv4 whole, IPv6 by its /64, the block one subscriber gets, so that
hopping between addresses of one's own prefix does not reset a throttle. Behind a reverse proxy the address
is the proxy's unless the server trusts its `X-Forwarded-For` (`xinyidai serve` does for proxies listed in
`XINYIDAI_TRUSTED_PROXIES`, by default this host's 127.0.0.1): otherwise every client would share one
throttle.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from xinyidai.kit import audit, clock
from xinyidai.kit.db import Database

log = logging.getLogger(__name__)

MAX_KEYS = 100_000  # clients (or refusal keys) remembered at once; beyond it the oldest are forgotten
MAX_VARIANTS = 1_000  # distinct variants counted per summary


def client_key(host: str | None) -> str:
    """The client a throttle counts: an IPv4 address, an IPv6 /64, or the host as given (test clients)."""
    if not host:
        return "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d, an IPv4 client on a dual-stack socket
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _now() -> float:
    return clock.now().timestamp()


class SlidingWindow:
    """At most `limit` events per key in any `seconds`, in this process."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = max(1, limit)
        self.seconds = seconds
        self._events: dict[Hashable, deque[float]] = {}
        self._lock = threading.Lock()

    def _live(self, key: Hashable, now: float) -> deque[float]:
        """The key's events still in the window (a new, remembered deque for a new key)."""
        q = self._events.get(key)
        if q is None:
            if len(self._events) >= MAX_KEYS:
                self._forget(now)
            q = self._events[key] = deque()
        while q and q[0] <= now - self.seconds:
            q.popleft()
        return q

    def _left(self, q: deque[float], now: float) -> int:
        return 0 if len(q) < self.limit else max(1, int(q[0] + self.seconds - now + 0.999))

    def _forget(self, now: float) -> None:
        """Drop keys with nothing in the window; if that is not enough, the oldest half."""
        for k in [k for k, q in self._events.items() if not q or q[-1] <= now - self.seconds]:
            del self._events[k]
        if len(self._events) >= MAX_KEYS:
            for k in list(self._events)[: MAX_KEYS // 2]:
                del self._events[k]

    def wait(self, key: Hashable) -> int:
        """Whole seconds until `key` may act again; 0 when it may now."""
        now = _now()
        with self._lock:
            if key not in self._events:  # asked on every request: remember only keys that have events
                return 0
            return self._left(self._live(key, now), now)

    def add(self, key: Hashable) -> None:
        """Count an event that has happened (a refusal)."""
        now = _now()
        with self._lock:
            q = self._live(key, now)
            q.append(now)
            if len(q) > self.limit:
                q.popleft()  # only whether `limit` are in the window matters

    def acquire(self, key: Hashable) -> int:
        """Count an attempt before it is checked: 0 when it may go ahead (and is now counted), else the
        seconds to wait. Check and count are one step, so parallel attempts cannot all slip through."""
        now = _now()
        with self._lock:
            q = self._live(key, now)
            left = self._left(q, now)
            if not left:
                q.append(now)
            return left

    def release(self, key: Hashable) -> None:
        """Give back an attempt that succeeded: only failures count."""
        with self._lock:
            q = self._events.get(key)
            if q:
                q.pop()


@dataclass(frozen=True)
class Refusal:
    """A refused request as the audit log would record it."""

    key: tuple[str, ...]  # what counts as the same refusal repeated, e.g. (client, code, credential)
    actor: str
    action: str
    target: str
    common: dict[str, Any]  # shared by every refusal under the key (code, reason, client): kept in the summary
    specific: dict[str, Any] = field(default_factory=dict)  # this request's own details: individual entries only
    institution_code: str | None = None
    individually: int = 1  # recorded one by one per window; the rest are counted
    # (name, value): the summary counts the distinct values under that name, e.g. ("claimed_keys", key id)
    variant: tuple[str, str] | None = None

    def record(self, s: Session) -> None:
        audit.record(s, self.actor, self.action, self.target, institution_code=self.institution_code,
                     **self.common, **self.specific)


@dataclass
class Repeats:
    """Refusals under one key that were counted, not recorded, in one window: one summary entry."""

    first: Refusal
    count: int
    first_at: datetime
    last_at: datetime
    variants: set[str]

    def record(self, s: Session) -> None:
        f = self.first
        distinct = {f.variant[0]: len(self.variants)} if f.variant else {}
        audit.record(s, f.actor, f.action, f.target, institution_code=f.institution_code, **f.common,
                     repeated=self.count, first_at=self.first_at.isoformat(), last_at=self.last_at.isoformat(),
                     **distinct)


@dataclass
class _Window:
    opened: float
    recorded: int = 1
    repeats: Repeats | None = None


class RefusalDigest:
    """Which refusals to record one by one and which to count (see the module docstring)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._windows: dict[tuple[str, ...], _Window] = {}
        self._lock = threading.Lock()

    def note(self, refusal: Refusal) -> tuple[bool, Repeats | None]:
        """(record this refusal now?, the key's previous window's repeats, to be written first)."""
        now = clock.now()
        ts = now.timestamp()
        with self._lock:
            w = self._windows.get(refusal.key)
            if w is None or ts >= w.opened + self.seconds:
                if w is None and len(self._windows) >= MAX_KEYS:
                    self._evict()
                self._windows[refusal.key] = _Window(ts)
                return True, w.repeats if w else None
            if w.recorded < refusal.individually:
                w.recorded += 1
                return True, None
            if w.repeats is None:
                w.repeats = Repeats(refusal, 0, now, now, set())
            w.repeats.count += 1
            w.repeats.last_at = now
            if refusal.variant is not None and len(w.repeats.variants) < MAX_VARIANTS:
                w.repeats.variants.add(refusal.variant[1])
            return False, None

    def _evict(self) -> None:
        for k in list(self._windows)[: MAX_KEYS // 2]:
            w = self._windows[k]
            if w.repeats is None:
                del self._windows[k]

    def closed(self, everything: bool = False) -> list[Repeats]:
        """Repeats of windows that have passed (of all windows with `everything`, at shutdown), each once."""
        ts = _now()
        out: list[Repeats] = []
        with self._lock:
            for k, w in list(self._windows.items()):
                if everything or ts >= w.opened + self.seconds:
                    if w.repeats is not None:
                        out.append(w.repeats)
                    if everything:
                        w.repeats = None
                    else:
                        del self._windows[k]
        return out


class RefusalGuard:
    """A per-client throttle and a refusal digest for one kind of refusal (log-in, registration, API)."""

    def __init__(self, *, limit: int, seconds: float, digest_seconds: float) -> None:
        self.clients = SlidingWindow(limit, seconds)
        self.digest = RefusalDigest(digest_seconds)

    def record(self, s: Session, refusal: Refusal) -> None:
        """Write the refusal's audit entry, or count it (see `RefusalDigest`), in the caller's session."""
        write, previous = self.digest.note(refusal)
        if previous is not None:
            previous.record(s)
        if write:
            refusal.record(s)


class Guards:
    """The node's refusal guards by name, one set per application, created on first use."""

    def __init__(self) -> None:
        self._guards: dict[str, RefusalGuard] = {}
        self._lock = threading.Lock()

    def get(self, name: str, make: Callable[[], RefusalGuard]) -> RefusalGuard:
        with self._lock:
            g = self._guards.get(name)
            if g is None:
                g = self._guards[name] = make()
            return g

    def flush(self, db: Database, everything: bool = False) -> int:
        """Write the summaries of windows that have closed (of all, with `everything`: at shutdown), in one
        transaction. Returns how many."""
        with self._lock:
            repeats = [r for g in self._guards.values() for r in g.digest.closed(everything)]
        if not repeats:
            return 0
        try:
            with db.write_lock, db.session() as s:
                for r in repeats:
                    r.record(s)
        except Exception:
            log.exception("refusal summaries not written: %s", [(r.first.key, r.count) for r in repeats])
            return 0
        return len(repeats)


_attach = threading.Lock()


def guards(state: Any) -> Guards:
    """The application's guards (kept on its `state`)."""
    with _attach:
        g = getattr(state, "refusal_guards", None)
        if g is None:
            g = state.refusal_guards = Guards()
        return g


FLUSH_EVERY = 10.0


async def flush_periodically(state: Any, db: Database, every: float = FLUSH_EVERY) -> None:
    """The server's chore: write closed windows' summaries every few seconds (the application writes the
    rest with `flush(db, everything=True)` when it stops)."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(every)
        await loop.run_in_executor(None, guards(state).flush, db)
