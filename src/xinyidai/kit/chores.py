"""Background chores while the server runs: a piece of work repeated at an interval, in a worker thread (it
touches the database; the event loop must keep serving), a failed round logged and tried again next time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


async def every(seconds: float, work: Callable[[], Any], what: str) -> None:
    """Run `work()` every `seconds`, until the task is cancelled (at the server's shutdown)."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(work)
        except Exception:  # noqa: BLE001 - keep serving; the next round tries again
            log.exception("%s failed", what)
