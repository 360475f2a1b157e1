"""Deliveries while the server runs: the loading jobs this process holds, and the chore that finds
deliveries left 'processing' by a job that died without saying so.

A web upload is loaded by a job in the node's executor (a thread). The job fails its delivery itself
whatever ends it — a bad file is rejected, anything else (a missing file, memory exhausted) marks it failed
and is logged — and `run_delivery` catches what even that could not record. What no job can record, because
its process is gone, the chore finds: `StallWatch` marks failed the deliveries that make no progress and
that no job of this process holds (`held`)."""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Executor, Future
from datetime import timedelta
from pathlib import Path
from typing import Any

from xinyidai.catalog.schema import Catalog
from xinyidai.kit.db import Database
from xinyidai.records.loading import STALLED_AFTER, LoadOutcome, StallWatch, fail_delivery, process_delivery

log = logging.getLogger(__name__)

_held: set[int] = set()  # deliveries queued or running in this process's executor
_held_lock = threading.Lock()


def held() -> frozenset[int]:
    with _held_lock:
        return frozenset(_held)


def start_delivery(executor: Executor, db: Database, catalog: Catalog, delivery_id: int, path: Path
                   ) -> Future[LoadOutcome]:
    """Queue a registered delivery's loading; it is held from now until its job ends."""
    with _held_lock:
        _held.add(delivery_id)
    try:
        return executor.submit(run_delivery, db, catalog, delivery_id, path)
    except BaseException:
        _release(delivery_id)
        raise


def run_delivery(db: Database, catalog: Catalog, delivery_id: int, path: Path) -> LoadOutcome:
    """A loading job. Whatever ends it, the delivery does not stay 'processing': `process_delivery` marks it
    failed and logs why; should that itself fail (the database gone, memory still short), this tries again,
    and else the delivery, no longer held, is left to the stalled-delivery watch."""
    try:
        return process_delivery(db, catalog, delivery_id, path)
    except BaseException as exc:
        try:
            if fail_delivery(db, delivery_id, exc):
                log.error("delivery %s: job ended by %s before it could record a failure; marked failed",
                          delivery_id, type(exc).__name__, exc_info=exc)
        except Exception:  # noqa: BLE001 - the watch will find it: it is no longer held
            log.exception("delivery %s: job ended by %s and could not be marked failed", delivery_id,
                          type(exc).__name__)
        raise
    finally:
        _release(delivery_id)


def _release(delivery_id: int) -> None:
    with _held_lock:
        _held.discard(delivery_id)


def stalled_after(app: Any) -> timedelta:
    minutes = getattr(app.state.node.settings, "delivery_stall_minutes", None)
    return timedelta(minutes=minutes) if minutes else STALLED_AFTER


async def watch_deliveries(app: Any, every_seconds: float = 60, quiet_for: timedelta | None = None) -> None:
    """The chore: look for stalled deliveries every minute while the server runs."""
    watch = StallWatch(quiet_for if quiet_for is not None else stalled_after(app))
    db = app.state.node.db
    while True:
        await asyncio.sleep(every_seconds)
        try:
            await asyncio.to_thread(watch.sweep, db, held())
        except Exception:  # noqa: BLE001 - a failed round (the database busy, say) is logged and tried again
            log.exception("stalled-delivery watch failed")
