"""Checking a delivery's rows in batches, ahead of the database writes.

Reading and checking are Python work; staging is database work. For a large file they run in parallel:
a worker process reads and checks, and sends batches of staging tuples through a pipe while this process
writes the previous batch (the pipe's small buffer is the back-pressure, so memory stays flat whatever the
file's size). A small file is checked in this process, where starting a worker would cost more than it saves.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from xinyidai.catalog.schema import Catalog
from xinyidai.records.readers import FileRejected, open_delivery
from xinyidai.records.validation import Issue, RowValidator

BATCH_ROWS = 20_000
MAX_STORED_ISSUES = 100_000  # the report lists at most this many row problems; counts stay exact
WORKER_MIN_BYTES = 8 * 1024 * 1024


@dataclass
class CheckJob:
    """What a worker needs to check a file on its own (all of it picklable)."""

    path: Path
    filename: str
    sheet: str | None
    catalog: Catalog
    category: str
    entity_items: list[str]
    issues: list[Issue] = field(default_factory=list)


def _batches(rows: Iterator, n: int) -> Iterator[list]:
    batch: list = []
    for r in rows:
        batch.append(r)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def _check(job: CheckJob) -> Iterator[tuple[int, list[tuple], int]]:
    with open_delivery(job.path, job.filename, sheet=job.sheet) as reader:
        validator = RowValidator(job.catalog.category(job.category), reader.headers)
        for batch in _batches(reader.rows(), BATCH_ROWS):
            staged, bad = validator.stage_batch(batch, job.entity_items, job.issues, MAX_STORED_ISSUES)
            yield len(batch), staged, bad


def _worker(out: BinaryIO, job: CheckJob) -> None:
    def send(kind: str, payload: Any) -> None:
        pickle.dump((kind, payload), out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    try:
        for item in _check(job):
            send("batch", item)
        send("done", job.issues)
    except FileRejected as exc:
        send("rejected", (exc.code, exc.message, exc.row_no))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the delivery
        send("error", f"{type(exc).__name__}: {exc}")


class CheckFailed(RuntimeError):
    """The worker process failed for a reason other than the file's content."""


def checked_batches(job: CheckJob) -> Iterator[tuple[int, list[tuple], int]]:
    """(rows in batch, staging tuples, rejected rows) per batch; row problems accumulate in job.issues.
    Raises FileRejected when the file turns out unreadable part-way."""
    if job.path.stat().st_size < WORKER_MIN_BYTES:
        yield from _check(job)
        return
    # A fresh interpreter (`python -m xinyidai.records.checking`), not fork: the caller may be a threaded
    # web server, and not multiprocessing's spawn, which re-imports the caller's main module.
    proc = subprocess.Popen([sys.executable, "-m", "xinyidai.records.checking"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    finished = False
    try:
        pickle.dump(job, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        proc.stdin.close()
        while True:
            try:
                kind, payload = pickle.load(proc.stdout)  # noqa: S301 - our own child process
            except EOFError:
                raise CheckFailed(f"校验进程意外退出（退出码 {proc.wait()}）") from None
            if kind == "batch":
                yield payload
            elif kind == "done":
                job.issues.extend(payload)
                finished = True
                return
            elif kind == "rejected":
                code, message, row_no = payload
                raise FileRejected(message, code=code, row_no=row_no)
            else:
                raise CheckFailed(payload)
    finally:
        proc.stdout.close()
        if not finished and proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


if __name__ == "__main__":
    _worker(sys.stdout.buffer, pickle.load(sys.stdin.buffer))  # noqa: S301 - sent by our own parent
