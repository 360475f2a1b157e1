"""Checking a delivery's rows in batches, ahead of the database writes.

Reading and checking are CPU work; staging is database work. For a large file they run in parallel:
worker processes read and check, and send batches of staging tuples through pipes while this process
writes the previous batch (the pipes' small buffers are the back-pressure, so memory stays flat whatever the
file's size). A small file is checked in this process, where starting a worker would cost more than it saves.

A plain CSV file (see `vector`) is checked column-wise in Polars, chunk by chunk; anything else — XLSX,
JSON Lines, quoted CSV, and a plain file from the first chunk that turns out not to be — goes row by row
through `readers` and `columns`. Either way the converters in `validation` decide every row they are asked
about, so the results do not depend on the path.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from xinyidai.catalog.schema import Catalog
from xinyidai.records.batches import Batch, Facts, as_copy_text, checked_batch
from xinyidai.records.columns import ColumnChecker
from xinyidai.records.readers import LINE_SLACK, FileRejected, open_delivery
from xinyidai.records.validation import Issue, RowValidator

if TYPE_CHECKING:
    from xinyidai.records import vector

BATCH_ROWS = 20_000
CHUNK_BYTES_PER_ROW = 160  # plain CSV is read in chunks of about BATCH_ROWS rows of this size
MAX_STORED_ISSUES = 100_000  # the report lists at most this many row problems; counts stay exact
WORKER_MIN_BYTES = 8 * 1024 * 1024
WORKERS = 2  # checking processes for a large file; the loading process itself writes to the database
EXTRA_COLUMNS = 100  # columns a file may carry beside its category's (序号, 备注 …: ignored with a warning)


def column_limit(catalog: Catalog) -> int:
    """The widest row a delivery may have: the widest category with its two subject columns, and room for
    columns the loader ignores. Anything wider is no delivery for this catalogue, and reading it only costs
    memory (a row of an XLSX file can hold millions of cells in a few kilobytes of zip)."""
    return max((len(c.items) for c in catalog.categories), default=0) + 2 + EXTRA_COLUMNS


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
    # How staging rows reach the database. "copy" (PostgreSQL): batches travel as COPY text, which the
    # loading process only streams. "sqlite": each worker writes its batches into its own scratch SQLite
    # file in `stage_dir` (table `stg`, columns `stage_cols`) and sends only counts; the loading process
    # copies the files in at the end (see `worker_stage_files`), which spares it unpickling and binding every
    # row while the workers check. "tuples": batches travel as tuples (and in-process checking always
    # yields tuples or COPY text).
    wire: str = "tuples"
    stage_dir: str | None = None
    stage_cols: tuple[str, ...] = ()
    # Direct loading (PostgreSQL, see loading.DIRECT_COLS): each staged row leaves out the entity name and
    # ends with these values (category, version, status, provider, delivery, time), so the same COPY text
    # can go straight into credit_records or, when it cannot, into the staging table.
    record_tail: tuple[str, ...] | None = None


def _batches(rows: Iterator, n: int) -> Iterator[list]:
    batch: list = []
    for r in rows:
        batch.append(r)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def _check(job: CheckJob, part: int = 0, parts: int = 1) -> Iterator[Batch]:
    """Batches of the file; with parts > 1, this checker stages only every parts-th batch (from `part`) and
    skips the others: reading is cheap and sequential, checking is what is shared. A plain CSV file goes
    through the vectorised checker chunk by chunk; from the first chunk that is not plain (or for any other
    file) rows come from the general reader and go through the column checker."""
    from xinyidai.records import vector  # Polars: imported by the processes that check, not by the loader

    with open_delivery(job.path, job.filename, sheet=job.sheet, max_columns=column_limit(job.catalog)) as reader:
        validator = RowValidator(job.catalog.category(job.category), reader.headers)
        by_rows = ColumnChecker(validator)
        start_row, first_batch = 0, 0
        if vector.plain_eligible(reader):
            fast = vector.VectorChecker(validator, reader.delimiter, reader.encoding or "", reader.max_field,
                                        job.entity_items, job.record_tail)
            max_line = reader.max_field * max(len(reader.headers), 1) + LINE_SLACK
            for piece in vector.plain_chunks(job.path, reader.header_row, job.batch_rows * CHUNK_BYTES_PER_ROW,
                                             max_line):
                if isinstance(piece, vector.NotPlain):
                    start_row, first_batch = piece.row_no, piece.index
                    break
                if piece.index % parts == part:
                    yield _fast_chunk(job, fast, piece)
            else:
                return
        rows = reader.rows()
        if start_row:
            rows = (r for r in rows if r.row_no >= start_row)
        for i, batch in enumerate(_batches(rows, job.batch_rows), first_batch):
            if i % parts != part:
                continue
            staged, bad = by_rows.stage_batch(batch, job.entity_items, job.issues, MAX_STORED_ISSUES)
            yield checked_batch(len(batch), staged, bad, job.record_tail)


def _fast_chunk(job: CheckJob, fast: vector.VectorChecker, chunk: vector.Chunk) -> Batch:
    from xinyidai.records import vector

    try:
        return fast.stage_chunk(chunk, job.wire, job.issues, MAX_STORED_ISSUES)
    except vector.SlowVerdict:
        pass
    # Undecodable bytes or a giant field: the general reader states the problem exactly (and where).
    with open_delivery(job.path, job.filename, sheet=job.sheet, max_columns=column_limit(job.catalog)) as again:
        for _ in again.rows():
            pass
    try:
        return fast.stage_chunk_by_rows(chunk, job.wire, job.issues, MAX_STORED_ISSUES)
    except UnicodeDecodeError:  # not reached: the general reader refuses such a file above
        raise FileRejected("文件含有无法解码的字符", code="FILE_ENCODING") from None


def _worker(out: BinaryIO, job: CheckJob, part: int, parts: int) -> None:
    def send(kind: str, payload: Any) -> None:
        pickle.dump((kind, payload), out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    try:
        sink = _ScratchStage(job, part) if job.wire == "sqlite" else None
        for batch in _check(job, part, parts):
            if sink is not None:
                sink.write(batch.staged)  # type: ignore[arg-type]
                batch = batch._replace(staged=[])
            elif job.wire == "copy" and not isinstance(batch.staged, bytes):
                batch = batch._replace(staged=as_copy_text(batch.staged))
            # plain tuples: run as __main__, this module's classes would not unpickle in the parent
            send("batch", (*batch[:3], None if batch.facts is None else tuple(batch.facts)))
        if sink is not None:
            sink.close()
        send("done", job.issues)
    except FileRejected as exc:
        send("rejected", (exc.code, exc.message, exc.row_no))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the delivery
        send("error", f"{type(exc).__name__}: {exc}")


def worker_stage_file(job: CheckJob, part: int) -> Path:
    assert job.stage_dir is not None
    return Path(job.stage_dir) / f"w{part}.db"


def worker_stage_files(job: CheckJob) -> list[Path]:
    """The scratch files the workers wrote (none when the file was checked in-process)."""
    if job.wire != "sqlite" or job.stage_dir is None:
        return []
    return [f for k in range(WORKERS) if (f := worker_stage_file(job, k)).exists()]


class _ScratchStage:
    """A worker's own staging table in a scratch SQLite file: nothing in it needs to survive a crash
    (the loading process discards it whatever happens), so it is written without journal or syncs."""

    def __init__(self, job: CheckJob, part: int) -> None:
        import sqlite3

        self.conn = sqlite3.connect(worker_stage_file(job, part))
        self.conn.execute("PRAGMA journal_mode=OFF")
        self.conn.execute("PRAGMA synchronous=OFF")
        # In key order, so that the loading process can store it as it is (loading._Stage.store_files).
        self.conn.execute(f"CREATE TABLE stg ({', '.join(job.stage_cols)}, "
                          f"PRIMARY KEY (entity_code, record_key, row_no)) WITHOUT ROWID")
        marks = ", ".join("?" * len(job.stage_cols))
        self.insert = f"INSERT INTO stg VALUES ({marks})"  # noqa: S608 - fixed column names

    def write(self, rows: list[tuple]) -> None:
        if rows:
            self.conn.executemany(self.insert, rows)
            self.conn.commit()

    def close(self) -> None:
        self.conn.close()


class CheckFailed(RuntimeError):
    """A worker process failed for a reason other than the file's content."""


def checked_batches(job: CheckJob) -> Iterator[Batch]:
    """The checked batches in file order; row problems accumulate in job.issues. Raises FileRejected when
    the file turns out unreadable part-way."""
    if job.path.stat().st_size < WORKER_MIN_BYTES:
        yield from _check(job)
        return
    # Fresh interpreters (`python -m xinyidai.records.checking`), not fork: the caller may be a threaded web
    # server; and not multiprocessing's spawn, which re-imports the caller's main module. Each worker parses
    # the whole file and checks every WORKERS-th batch, so batch i comes from worker i % WORKERS.
    # One Polars thread per worker: the workers are already the parallelism, and extra threads only contend.
    env = {**os.environ, "POLARS_MAX_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "xinyidai.records.checking", str(k), str(WORKERS)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env) for k in range(WORKERS)]
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
                size, staged, bad, facts = payload
                yield Batch(size, staged, bad, None if facts is None else Facts(*facts))
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
