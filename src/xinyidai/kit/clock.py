"""One clock for the whole node, so tests can move time (session expiry, future dates, periods)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone

CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    """Aware UTC time (whatever zone a moved clock was given in: digests over it must not depend on that)."""
    return _now().astimezone(UTC)


def today() -> date:
    """The calendar date in China (dates in deliveries are Beijing dates)."""
    return now().astimezone(CHINA_TZ).date()


def set_clock(fn: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests); None restores the system clock."""
    global _now
    _now = fn or (lambda: datetime.now(UTC))


@contextmanager
def frozen_at(moment: datetime) -> Iterator[None]:
    """Within the block, the node's clock reads `moment` (the demo makes a year of history with today's
    services); the clock before it is restored after."""
    global _now
    before = _now
    _now = lambda: moment  # noqa: E731
    try:
        yield
    finally:
        _now = before


def months_before(d: date, n: int) -> list[str]:
    """The `n` whole months before the month of `d`, newest first, as 'YYYY-MM' (monthly periods)."""
    y, m = d.year, d.month
    out = []
    for _ in range(n):
        m -= 1
        if m == 0:
            y, m = y - 1, 12
        out.append(f"{y:04d}-{m:02d}")
    return out
