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
WORKERS = 2  # checking processes for a large file; the loading process itself writes to the database


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
    batch_rows: int = field(default_factory=lambda: BATCH_ROWS)  # read when the job is made, then pickled
    # PostgreSQL: workers send each batch as COPY text, so the loading process only streams bytes.
    copy_text: bool = False


def _batches(rows: Iterator, n: int) -> Iterator[list]:
    batch: list = []
    for r in rows:
        batch.append(r)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def _check(job: CheckJob, part: int = 0, parts: int = 1) -> Iterator[tuple[int, list[tuple], int]]:
    """Batches of the file; with parts > 1, this checker stages only every parts-th batch (from `part`) and
    yields the others as (size, None, 0): parsing is cheap and sequential, checking is what is shared."""
    with open_delivery(job.path, job.filename, sheet=job.sheet) as reader:
        validator = RowValidator(job.catalog.category(job.category), reader.headers)
        for i, batch in enumerate(_batches(reader.rows(), job.batch_rows)):
            if i % parts != part:
                continue
            staged, bad = validator.stage_batch(batch, job.entity_items, job.issues, MAX_STORED_ISSUES)
            yield len(batch), staged, bad


def _worker(out: BinaryIO, job: CheckJob, part: int, parts: int) -> None:
    def send(kind: str, payload: Any) -> None:
        pickle.dump((kind, payload), out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    try:
        for size, staged, bad in _check(job, part, parts):
            send("batch", (size, as_copy_text(staged) if job.copy_text else staged, bad))
        send("done", job.issues)
    except FileRejected as exc:
        send("rejected", (exc.code, exc.message, exc.row_no))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the delivery
        send("error", f"{type(exc).__name__}: {exc}")


def _copy_value(v: Any) -> str:
    if v is None:
        return "\\N"
    if not isinstance(v, str):
        return str(v)
    if "\\" in v or "\t" in v or "\n" in v or "\r" in v:  # rare: escape only when needed (it is the slow part)
        return v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return v


def as_copy_text(rows: list[tuple]) -> bytes:
    """Rows in PostgreSQL's COPY text format: tab-separated, \\N for NULL, backslash escapes."""
    return "".join("\t".join(map(_copy_value, r)) + "\n" for r in rows).encode("utf-8")


class CheckFailed(RuntimeError):
    """A worker process failed for a reason other than the file's content."""


def checked_batches(job: CheckJob) -> Iterator[tuple[int, list[tuple], int]]:
    """(rows in batch, staging tuples, rejected rows) per batch, in file order; row problems accumulate in
    job.issues. Raises FileRejected when the file turns out unreadable part-way."""
    if job.path.stat().st_size < WORKER_MIN_BYTES:
        yield from _check(job)
        return
    # Fresh interpreters (`python -m xinyidai.records.checking`), not fork: the caller may be a threaded web
    # server; and not multiprocessing's spawn, which re-imports the caller's main module. Each worker parses
    # the whole file and checks every WORKERS-th batch, so batch i comes from worker i % WORKERS.
    procs = [subprocess.Popen([sys.executable, "-m", "xinyidai.records.checking", str(k), str(WORKERS)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE) for k in range(WORKERS)]
    done = [False] * WORKERS
    try:
        for proc in procs:
            assert proc.stdin is not None
            pickle.dump(job, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            proc.stdin.close()
        turn = 0
        while not all(done):
            k = turn % WORKERS
            turn += 1
            if done[k]:
                continue
            proc = procs[k]
            try:
                kind, payload = pickle.load(proc.stdout)  # noqa: S301 - our own child process
            except EOFError:
                raise CheckFailed(f"校验进程意外退出（退出码 {proc.wait()}）") from None
            if kind == "batch":
                yield payload
            elif kind == "done":
                job.issues.extend(payload)
                done[k] = True
            elif kind == "rejected":
                code, message, row_no = payload
                raise FileRejected(message, code=code, row_no=row_no)
            else:
                raise CheckFailed(payload)
        job.issues.sort(key=lambda i: i.row_no or 0)
    finally:
        for proc, finished in zip(procs, done, strict=True):
            if proc.stdout:
                proc.stdout.close()
            if not finished and proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


if __name__ == "__main__":
    _worker(sys.stdout.buffer, pickle.load(sys.stdin.buffer), int(sys.argv[1]), int(sys.argv[2]))  # noqa: S301
