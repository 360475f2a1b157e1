"""Loading a delivery: read → check → stage → merge, idempotent and all-or-nothing.

Phase 1 streams the file through the row validator into a connection-local staging table (SQLite: a TEMP
table filled by executemany; PostgreSQL: a TEMP table filled by COPY), reporting progress as it goes; memory
stays flat because nothing but one batch is held. Phase 2 is one transaction that rejects what only the
database can judge (unknown entities, the same record twice in one file), applies the threshold, and merges
set-based: unchanged rows (same fingerprint as the current version) change nothing, changed rows supersede
the current version, new rows become version 1. A failure anywhere rolls phase 2 back whole.

New records skip the staging table when they can, because writing every row twice cost more than the rest
of the load: PostgreSQL COPYs batches straight into credit_records inside the delivery's transaction while
the workers check (`_Direct`), until a batch cannot go in whole; SQLite inserts the checking workers' scratch
files straight into credit_records when all of them can (`_Stage.store_files`). The unique indexes decide
what is new, so the result is what the staging way gives.

The engines differ only in how the work is cheapest: SQLite finds repeated records through an index on
the staging table and discards the staging table with its connection; PostgreSQL hashes (with more
`work_mem` for the load's transaction) and analyses only the join columns.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, select, text, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xinyidai.catalog.schema import Catalog, Category
from xinyidai.kit import audit, clock
from xinyidai.kit.db import Database, UTCDateTime
from xinyidai.kit.digest import sm3_stream
from xinyidai.kit.errors import InvalidInput, NotFound
from xinyidai.records.batches import Batch, earliest, latest
from xinyidai.records.checking import (
    MAX_STORED_ISSUES,
    CheckJob,
    checked_batches,
    column_limit,
    worker_stage_files,
)
from xinyidai.records.models import Delivery, DeliveryIssue
from xinyidai.records.readers import FileRejected, open_delivery
from xinyidai.records.validation import Issue, RowValidator

log = logging.getLogger(__name__)

REGISTRATION = "registration"

# Registration items that also maintain the register of market entities (entities table columns).
ENTITY_COLUMNS = {
    "entity_type": "kind",
    "legal_representative": "legal_rep",
    "legal_rep_id_no": "legal_rep_id",
    "registered_capital": "registered_capital",
    "established_on": "registered_on",
    "address": "address",
    "region": "region_code",
    "industry": "industry_code",
    "status": "status",
}


class DuplicateDelivery(Exception):
    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery


@dataclass
class LoadOutcome:
    delivery_id: int
    status: str
    rows_total: int = 0
    rows_rejected: int = 0
    rows_new: int = 0
    rows_changed: int = 0
    rows_unchanged: int = 0
    issues: list[Issue] = field(default_factory=list)


def sanitize_filename(name: str) -> str:
    """A display name: no directories, no undecodable bytes (a GBK name on a UTF-8 system), no controls."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = base.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if _has_surrogates(base) else base
    base = "".join(ch if ch.isprintable() else "?" for ch in base).strip() or "未命名文件"
    return base[:255]


def _has_surrogates(s: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in s)


def file_digest(path: Path) -> tuple[str, int]:
    h = sm3_stream()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


# ---- registering a delivery ---------------------------------------------------------------------------

def register_delivery(db: Database, catalog: Catalog, path: Path, *, provider: str, category: str,
                      submitted_by: str, source: str = "cli", filename: str | None = None,
                      threshold: float = 0.2) -> Delivery:
    """Record that a file arrived. Refuses unknown categories; a file already accepted for the same
    provider and category is logged as a duplicate (DuplicateDelivery) and changes nothing else."""
    provider = (provider or "").strip()
    if not provider:
        raise InvalidInput("请填写数据提供部门", code="PROVIDER_REQUIRED")
    try:
        cat = catalog.category(category)
    except KeyError:
        raise InvalidInput(f"信息清单中没有类别「{category}」", code="UNKNOWN_CATEGORY",
                           detail={"categories": catalog.codes}) from None
    if not 0.0 <= threshold <= 1.0:
        raise InvalidInput("拒收阈值必须在 0 与 1 之间", code="BAD_THRESHOLD")
    digest, size = file_digest(path)
    display = sanitize_filename(filename if filename is not None else str(path))
    with db.session() as s:
        now = clock.now()
        d = Delivery(provider=provider, category=cat.code, filename=display, file_digest=digest,
                     size_bytes=size, format=_guess_format(display), source=source, submitted_by=submitted_by,
                     status="processing", phase="reading", threshold=threshold, received_at=now)
        original = _accepted_twin(s, provider, cat.code, digest)
        if original is not None:
            d.status, d.phase, d.duplicate_of, d.finished_at = "duplicate", "done", original.id, now
            d.error_code = "DUPLICATE_DELIVERY"
            d.message = (f"该文件已于 {original.received_at.astimezone(clock.CHINA_TZ):%Y-%m-%d %H:%M} 作为第 "
                         f"{original.id} 批接收，本次未作任何变更")
        s.add(d)
        s.flush()
        audit.record(s, submitted_by, "delivery.received", f"delivery:{d.id}", provider=provider,
                     category=cat.code, filename=display, digest=digest, size=size, status=d.status)
    if d.status == "duplicate":
        raise DuplicateDelivery(d)
    return d


def _guess_format(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return {"xlsx": "xlsx", "xlsm": "xlsx", "jsonl": "jsonl", "ndjson": "jsonl", "json": "jsonl"}.get(ext, "csv")


def _accepted_twin(s: Session, provider: str, category: str, digest: str) -> Delivery | None:
    return s.execute(
        select(Delivery).where(Delivery.provider == provider, Delivery.category == category,
                               Delivery.file_digest == digest, Delivery.status.in_(("accepted", "partial")))
        .order_by(Delivery.id).limit(1)).scalar_one_or_none()


# ---- staging ------------------------------------------------------------------------------------------

_STAGE_COLS = ("row_no", "entity_code", "entity_name", "record_key", "content", "fingerprint",
               "period_start", "period_end")
# Direct loading (PostgreSQL, every category but registration): a staged row's columns are all credit_records
# columns, so the same COPY text goes straight into credit_records, or into the staging table when it cannot.
DIRECT_COLS = ("row_no", "entity_code", "record_key", "content", "fingerprint", "period_start", "period_end",
               "category", "version", "status", "provider", "delivery_id", "received_at")


class _Stage:
    """A connection-local staging table; the engine decides how rows get in."""

    def __init__(self, conn: Connection, entity_items: list[str], direct: bool = False) -> None:
        self.conn = conn
        self.name = f"stg_{uuid.uuid4().hex[:12]}"
        self.pg = conn.dialect.name == "postgresql"
        self.direct = direct
        self.entity_items = entity_items
        self.cols = DIRECT_COLS if direct else _STAGE_COLS + tuple(f"e_{c}" for c in entity_items)
        dt = "DATE" if self.pg else "TEXT"
        c = ' COLLATE "C"' if self.pg else ""  # as the stored codes (kit.types.Code), so joins use the indexes
        name = "" if direct else "entity_name TEXT, "
        tail = (", category TEXT, version INTEGER, status TEXT, provider TEXT, delivery_id BIGINT, "
                "received_at TIMESTAMPTZ") if direct else ""
        extra = "".join(f", e_{col} TEXT" for col in entity_items)
        self.attached: list[str] = []  # SQLite: scratch files attached for direct storing
        conn.execute(text(
            f"CREATE TEMP TABLE {self.name} (row_no INTEGER NOT NULL, entity_code VARCHAR(18){c} NOT NULL, "
            f"{name}record_key TEXT{c} NOT NULL, content TEXT NOT NULL, fingerprint VARCHAR(64) NOT NULL, "
            f"period_start {dt}, period_end {dt}{tail}, action VARCHAR(12), prev_version INTEGER{extra})"))
        self.rows = 0

    def write(self, rows: list[tuple] | bytes) -> None:
        """Tuples, or (PostgreSQL) a batch already in COPY text format from a checking worker."""
        if not rows:
            return
        if self.pg:
            self.rows += _copy_in(self.conn, self.name, self.cols, rows)
        else:
            raw = self.conn.connection.driver_connection
            marks = ", ".join("?" * len(self.cols))
            raw.executemany(f"INSERT INTO {self.name} ({', '.join(self.cols)}) VALUES ({marks})", rows)
            self.rows += len(rows)

    def absorb(self, files: list[Path]) -> None:
        """Copy in the scratch staging files of SQLite checking workers (see checking.CheckJob.wire); row
        order does not matter (the staging table has no key, and phase 2 orders by row number)."""
        if not files:
            return
        self.conn.commit()  # ATTACH is refused inside a transaction
        raw = self.conn.connection.driver_connection
        collist = ", ".join(self.cols)
        names = _attach(raw, files)
        try:
            for n in names:
                self.rows += raw.execute(f"INSERT INTO {self.name} ({collist}) SELECT {collist} FROM {n}.stg").rowcount
                raw.commit()
        finally:
            _detach(raw, names)

    def store_files(self, files: list[Path], cat: Category, delivery_id: int, provider: str, nowp: Any
                    ) -> _Direct | None:
        """SQLite: store the workers' scratch files straight into credit_records as first versions, when
        every row is a new record of a registered entity; else None, with nothing changed. The scratch
        tables are kept in key order (see checking._ScratchStage), so the indexes grow in order, as from the
        staging index; and the staging table, its index and the judging queries are spared. The unique
        indexes decide what is new: any record already stored, or twice in the file, refuses the insert,
        and the delivery goes the staging way (which reports it) as if this had not been tried."""
        c = self.conn
        c.commit()  # ATTACH is refused inside a transaction
        raw = c.connection.driver_connection
        names = _attach(raw, files)
        try:
            # The write lock first, as phase 2 takes it (a stale read snapshot is never upgraded).
            c.execute(update(Delivery).where(Delivery.id == delivery_id).values(phase="writing"))
            if any(c.execute(text(f"SELECT 1 FROM {n}.stg s WHERE NOT EXISTS (SELECT 1 FROM entities e "
                                  f"WHERE e.code = s.entity_code) LIMIT 1")).first() for n in names):
                c.rollback()
                return None
            done = _Direct(c)
            savepoint = c.begin_nested()
            try:
                for n in names:
                    done.rows += c.execute(text(
                        f"INSERT INTO credit_records (entity_code, category, record_key, version, status, content, "
                        f"fingerprint, period_start, period_end, provider, delivery_id, row_no, received_at) "
                        f"SELECT entity_code, :cat, record_key, 1, 'current', content, fingerprint, period_start, "
                        f"period_end, :provider, :did, row_no, :now FROM {n}.stg").bindparams(nowp),
                        {"cat": cat.code, "provider": provider, "did": delivery_id}).rowcount
                    _fault("stored")
            except IntegrityError:
                savepoint.rollback()
                c.rollback()
                return None
            savepoint.commit()
            for n in names:
                done.widen(*c.execute(text(f"SELECT min(period_start), max(period_end) FROM {n}.stg")).one())
            done.open = False
            self.attached = names  # detached once the delivery's transaction has ended (see drop)
            return done
        except BaseException:
            c.rollback()
            raise
        finally:
            if not self.attached:
                _detach(raw, names)

    def drop(self) -> None:
        if self.attached:  # the delivery's transaction has ended: committed or rolled back
            _detach(self.conn.connection.driver_connection, self.attached)
            self.attached = []
        if not self.pg and self.conn.engine.url.database not in (None, "", ":memory:"):
            # Closing the connection discards SQLite's temp database whole, where DROP TABLE would free a
            # large staging table page by page (seconds for a million rows); the pool opens a fresh one.
            self.conn.invalidate()
            return
        try:
            self.conn.execute(text(f"DROP TABLE IF EXISTS {self.name}"))
            self.conn.commit()
        except Exception:  # noqa: BLE001 - the connection may already be broken; temp tables die with it
            log.debug("staging table %s not dropped", self.name, exc_info=True)


def _attach(raw: Any, files: list[Path]) -> list[str]:
    """Attach SQLite scratch files as w0, w1, … (outside any transaction: ATTACH is refused inside one)."""
    names: list[str] = []
    try:
        for k, path in enumerate(files):
            raw.execute("ATTACH DATABASE ? AS ?", (str(path), f"w{k}"))
            names.append(f"w{k}")
    except BaseException:
        _detach(raw, names)
        raise
    return names


def _detach(raw: Any, names: list[str]) -> None:
    for n in names:
        raw.execute("DETACH DATABASE ?", (n,))


def _copy_in(conn: Connection, table: str, cols: tuple[str, ...], rows: list[tuple] | bytes) -> int:
    """PostgreSQL COPY of tuples or COPY text into `table`; returns the rows it took."""
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:
        with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
            if isinstance(rows, bytes):
                cp.write(rows)
            else:
                for r in rows:
                    cp.write_row(r)
        return cur.rowcount


class _Direct:
    """PostgreSQL: batches stored straight into credit_records as first versions, inside the transaction
    that will commit the delivery, while the workers check the batches after them. COPY into the table is
    the database's fast path; staging every row and copying it over with INSERT … SELECT cost about three
    times as much. It holds while every record is new (a first delivery, a new period): an entity not in
    the register, or a record already stored (the unique indexes refuse a second version 1 or a second current
    version, so a correction, a repeat in the file or another writer's record all count), ends it. That batch
    and every later one go to the staging table and the whole-file merge, which also refuses a staged row
    repeating one stored here. Batches come in file order, so a stored row always comes first."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.open = True
        self.rows = 0
        self.first: str | None = None
        self.last: str | None = None

    def store(self, batch: Batch) -> bool:
        """Store the batch if it can be (True); once a batch cannot, none is stored again."""
        if not self.open:
            return False
        facts = batch.facts
        assert facts is not None  # a direct job's batches carry their facts
        if facts.codes and not _all_registered(self.conn, facts.codes):
            self.open = False
            return False
        savepoint = self.conn.begin_nested()
        try:
            n = _copy_in(self.conn, "credit_records", DIRECT_COLS, batch.staged) if batch.staged else 0
        except Exception as exc:
            savepoint.rollback()
            if getattr(exc, "sqlstate", None) != _UNIQUE_VIOLATION:
                raise
            self.open = False
            return False
        savepoint.commit()
        self.rows += n
        self.widen(facts.first, facts.last)
        _fault("stored")
        return True

    def widen(self, first: str | None, last: str | None) -> None:
        """Take in the span of periods of rows just stored."""
        self.first, self.last = earliest(self.first, first), latest(self.last, last)


_UNIQUE_VIOLATION = "23505"


def _all_registered(c: Connection, codes: list[str]) -> bool:
    found = c.execute(text("SELECT count(*) FROM entities WHERE code = ANY(:codes)"), {"codes": codes}).scalar_one()
    return found == len(codes)


# ---- processing ---------------------------------------------------------------------------------------

ProgressHook = Callable[[int], None]
# Tests set this to fail at a named step of phase 2 and prove the rollback.
fault_hook: Callable[[str], None] | None = None


def _fault(step: str) -> None:
    if fault_hook is not None:
        fault_hook(step)


def process_delivery(db: Database, catalog: Catalog, delivery_id: int, path: Path, *,
                     sheet: str | None = None, progress: ProgressHook | None = None) -> LoadOutcome:
    """Load a registered delivery's file. Never raises for bad content: the delivery's status and
    report say what happened. Raises only for programming or infrastructure errors (after marking the
    delivery failed)."""
    with db.session() as s:
        d = s.get(Delivery, delivery_id)
        if d is None:
            raise NotFound(f"交付批次 {delivery_id} 不存在")
        cat = catalog.category(d.category)
        threshold, actor, provider = d.threshold, d.submitted_by, d.provider
    outcome = LoadOutcome(delivery_id, "processing")
    try:
        _fault("opening")
        reader = open_delivery(path, d.filename, sheet=sheet, max_columns=column_limit(catalog))
    except FileRejected as exc:
        return _finish_rejected(db, outcome, exc.code, exc.message, actor)
    except BaseException as exc:  # a file gone, memory exhausted …: the delivery must not stay 'processing'
        log.exception("delivery %s failed", delivery_id)
        _finish_failed(db, outcome, exc, actor)
        raise
    conn = db.engine.connect()
    stage: _Stage | None = None
    scratch: str | None = None  # SQLite: the checking workers' staging files
    started = time.perf_counter()
    try:
        with reader:
            warnings = [Issue(None, None, None, w.code, w.message, "warning") for w in reader.warnings]
            validator = RowValidator(cat, reader.headers)
            m = validator.mapping
            _set(db, delivery_id, encoding=reader.encoding, format=reader.format)
            if validator.subject_idx is None:
                return _finish_rejected(db, outcome, "NO_SUBJECT_COLUMN",
                                        "文件缺少「统一社会信用代码」列，无法确定数据所属主体", actor, warnings)
            if len(m.columns) <= 1:
                return _finish_rejected(
                    db, outcome, "HEADER_MISMATCH",
                    f"表头与「{cat.name}」类别的信息清单均不匹配，请确认报送类别是否选对。"
                    f"文件表头：{'、'.join(reader.headers[:12])}", actor, warnings)
            if m.missing_required:
                names = "、".join(i.name for i in m.missing_required)
                return _finish_rejected(db, outcome, "MISSING_REQUIRED_COLUMN",
                                        f"文件缺少必填字段对应的列：{names}", actor, warnings)
            for h in m.unknown:
                warnings.append(Issue(None, h, None, "UNKNOWN_HEADER",
                                      f"表头「{h}」未对应「{cat.name}」清单中的任何字段，该列已忽略", "warning"))
            entity_items = [c for c in ENTITY_COLUMNS if c in m.columns] if cat.code == REGISTRATION else []
        # The header is judged; the rows are checked (in a worker process for a large file) and staged.
        now = clock.now()  # every version this delivery stores is received at this moment
        pg = conn.dialect.name == "postgresql"
        stage = _Stage(conn, entity_items, direct=pg and cat.code != REGISTRATION)
        job = CheckJob(path, d.filename, sheet, catalog, cat.code, entity_items, wire="copy" if stage.pg else "sqlite")
        direct: _Direct | None = None
        if stage.direct:
            direct = _Direct(conn)
            job.record_tail = (cat.code, "1", "current", provider, str(delivery_id), now.isoformat())
            _lock(conn, cat)  # the delivery's transaction begins here: what is stored directly is part of it
        if not stage.pg:
            scratch = tempfile.mkdtemp(prefix="xinyidai-stage-")
            job.stage_dir, job.stage_cols = scratch, stage.cols
        total = rejected = 0
        for batch in checked_batches(job):
            total += batch.size
            rejected += batch.rejected
            if direct is None or not direct.store(batch):
                stage.write(batch.staged)
            if direct is None:
                conn.commit()  # temp rows only; the main database is untouched until phase 2
            _set(db, delivery_id, rows_processed=total)
            if progress:
                progress(total)
        files = worker_stage_files(job)  # SQLite, a large file: what the workers staged
        if files and cat.code != REGISTRATION and rejected <= threshold * total:
            direct = stage.store_files(files, cat, delivery_id, provider, _at(now))
        if direct is None:
            stage.absorb(files)
        issues = job.issues
        outcome.rows_total = total
        log.info("delivery %s: %d rows read, checked and staged in %.2fs%s", delivery_id, total,
                 time.perf_counter() - started, f" ({direct.rows} stored directly)" if direct else "")
        return _merge(db, conn, stage, cat, delivery_id, actor, threshold, total, rejected, issues,
                      warnings, outcome, now, direct)
    except FileRejected as exc:
        conn.rollback()
        return _finish_rejected(db, outcome, exc.code, exc.message, actor)
    except BaseException as exc:  # any way out but the above, MemoryError included, fails the delivery
        log.exception("delivery %s failed", delivery_id)
        with contextlib.suppress(Exception):  # a broken connection must not keep the delivery 'processing'
            conn.rollback()
        _finish_failed(db, outcome, exc, actor)
        raise
    finally:
        if stage is not None:
            stage.drop()
        conn.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _lock(c: Connection, cat: Category) -> None:
    """PostgreSQL: one writer per category at a time, so versions are computed against settled data; and
    hash aggregates and joins over the staged rows in memory rather than spilled to disk."""
    c.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"records:{cat.code}"})
    c.execute(text("SET LOCAL work_mem = '256MB'"))
    _fault("locked")


def _at(now: datetime) -> Any:
    return bindparam("now", now, type_=UTCDateTime())


def _merge(db: Database, conn: Connection, stage: _Stage, cat: Category, delivery_id: int, actor: str,
           threshold: float, total: int, rejected: int, issues: list[Issue], warnings: list[Issue],
           outcome: LoadOutcome, now: datetime, direct: _Direct | None) -> LoadOutcome:
    t = stage.name
    merge_started = time.perf_counter()
    nowp = _at(now)
    c = conn
    # Taking the write lock first: SQLite then never has to upgrade a stale read snapshot.
    c.execute(update(Delivery).where(Delivery.id == delivery_id).values(phase="writing"))
    if stage.pg and direct is None:
        _lock(c, cat)
    stored = direct.rows if direct else 0
    staged = stage.rows > 0
    if staged:
        rejected += _merge_staged(c, stage, cat, delivery_id, issues, stored)
    outcome.rows_rejected = rejected
    issues.sort(key=lambda i: (i.row_no or 0))

    if total == 0:
        c.rollback()
        return _finish_rejected(db, outcome, "NO_ROWS", "文件只有表头，没有数据行", actor, warnings)
    share = rejected / total
    if share > threshold:
        c.rollback()
        msg = (f"{total:,} 行中有 {rejected:,} 行未通过校验（{share:.1%}），超过拒收阈值 {threshold:.0%}，"
               f"整批拒收，未写入任何数据。请按问题清单修正后重新报送。")
        return _finish_rejected(db, outcome, "THRESHOLD_EXCEEDED", msg, actor, warnings, issues)
    if staged:
        _store_staged(c, stage, cat, delivery_id, nowp)
    if cat.code == REGISTRATION:
        _upsert_entities(c, stage, delivery_id, nowp)
    # Counts and the period covered, in one pass over the staging table.
    by_action = c.execute(text(f"SELECT COALESCE(action, 'new'), count(*), min(period_start), max(period_end) "
                               f"FROM {t} GROUP BY action")).all() if staged else []
    counts = {action: n for action, n, _, _ in by_action}
    outcome.rows_new = counts.get("new", 0) + stored
    outcome.rows_changed = counts.get("changed", 0)
    outcome.rows_unchanged = counts.get("unchanged", 0)
    starts = [_as_date(lo) for action, _, lo, _ in by_action if action != "rejected" and lo is not None]
    ends = [_as_date(hi) for action, _, _, hi in by_action if action != "rejected" and hi is not None]
    if direct is not None and direct.rows:
        starts += [_as_date(direct.first)] if direct.first else []
        ends += [_as_date(direct.last)] if direct.last else []
    span = (min(starts, default=None), max(ends, default=None))
    status = "partial" if rejected else "accepted"
    msg = (f"共 {total:,} 行：新增 {outcome.rows_new:,}，更正 {outcome.rows_changed:,}，"
           f"未变 {outcome.rows_unchanged:,}，拒收 {rejected:,}")
    c.execute(update(Delivery).where(Delivery.id == delivery_id).values(
        status=status, phase="done", rows_total=total, rows_processed=total, rows_rejected=rejected,
        rows_new=outcome.rows_new, rows_changed=outcome.rows_changed, rows_unchanged=outcome.rows_unchanged,
        period_start=_as_date(span[0]), period_end=_as_date(span[1]), message=msg, finished_at=clock.now()))
    _store_issues(c, delivery_id, warnings + issues)
    with Session(bind=c) as s:
        audit.record(s, actor, "delivery.loaded", f"delivery:{delivery_id}", status=status, total=total,
                     new=outcome.rows_new, changed=outcome.rows_changed, unchanged=outcome.rows_unchanged,
                     rejected=rejected)
        s.flush()
    _fault("before_commit")
    c.commit()
    log.info("delivery %s merged in %.2fs", delivery_id, time.perf_counter() - merge_started)
    outcome.status = status
    outcome.issues = warnings + issues
    return outcome


def _merge_staged(c: Connection, stage: _Stage, cat: Category, delivery_id: int, issues: list[Issue],
                  stored: int) -> int:
    """Judge in the staging table what only the database can: the same record twice in the file (and, after
    direct loading, a staged row repeating a stored one), and entities not in the register. Returns how
    many rows it rejected."""
    t = stage.name
    # The same record twice in one file: keep the first row, reject the later ones.
    if stage.pg:
        # Temp tables are never auto-analysed; without statistics the joins below plan badly. The join
        # columns suffice (the full ANALYZE also samples the wide content column).
        c.execute(text(f"ANALYZE {t} (entity_code, record_key)"))
    else:
        # SQLite groups and orders through this index (PostgreSQL hashes, which is cheaper than building it).
        c.execute(text(f"CREATE INDEX ix_{t}_key ON {t} (entity_code, record_key, row_no)"))
    # Most files repeat nothing: ask whether any record repeats (one aggregate) before listing the repeats.
    repeats = c.execute(text(f"SELECT 1 FROM {t} GROUP BY entity_code, record_key HAVING count(*) > 1 "
                             f"LIMIT 1")).first()
    dup_rows = c.execute(text(
        f"SELECT s.row_no, s.record_key, f.first_row FROM {t} s JOIN (SELECT entity_code, record_key, "
        f"min(row_no) AS first_row FROM {t} GROUP BY entity_code, record_key HAVING count(*) > 1) f "
        f"ON s.entity_code = f.entity_code AND s.record_key = f.record_key WHERE s.row_no > f.first_row "
        f"ORDER BY s.row_no")).all() if repeats else []
    if dup_rows:
        c.execute(text(f"UPDATE {t} SET action = 'rejected' WHERE EXISTS (SELECT 1 FROM {t} p "
                       f"WHERE p.entity_code = {t}.entity_code AND p.record_key = {t}.record_key "
                       f"AND p.row_no < {t}.row_no)"))
    if stored:  # rows before these were stored directly: a staged repeat of one of them is refused the same way
        mine = "r.delivery_id = :did AND r.category = :cat AND r.entity_code = s.entity_code " \
               "AND r.record_key = s.record_key"
        params = {"did": delivery_id, "cat": cat.code}
        repeated = c.execute(text(f"SELECT s.row_no, s.record_key, r.row_no FROM {t} s JOIN credit_records r "
                                  f"ON {mine} WHERE s.action IS NULL"), params).all()
        if repeated:
            c.execute(text(f"UPDATE {t} s SET action = 'rejected' WHERE action IS NULL AND EXISTS "
                           f"(SELECT 1 FROM credit_records r WHERE {mine})"), params)
            dup_rows = sorted([*dup_rows, *repeated])
    for row_no, key, first in dup_rows:
        issues.append(Issue(row_no, "、".join(cat.item(k).name for k in cat.key), key, "DUPLICATE_IN_FILE",
                            f"与第 {first} 行是同一条记录（同一主体、同一记录标识），以第 {first} 行为准"))
    rejected = len(dup_rows)
    if cat.code != REGISTRATION:
        # Each distinct code is looked up once rather than once per row (a file holds many rows per entity).
        unknown_entity = (f"entity_code IN (SELECT d.entity_code FROM (SELECT DISTINCT entity_code FROM {t}) d "
                          f"WHERE NOT EXISTS (SELECT 1 FROM entities e WHERE e.code = d.entity_code))")
        unknown = c.execute(text(
            f"SELECT row_no, entity_code FROM {t} WHERE action IS NULL AND {unknown_entity} ORDER BY row_no")).all()
        for row_no, code in unknown:
            issues.append(Issue(row_no, "统一社会信用代码", code, "ENTITY_UNKNOWN",
                                "该主体不在市场主体名录中，请先报送其登记注册信息"))
        if unknown:
            c.execute(text(f"UPDATE {t} SET action = 'rejected' WHERE action IS NULL AND {unknown_entity}"))
        rejected += len(unknown)
    return rejected


def _store_staged(c: Connection, stage: _Stage, cat: Category, delivery_id: int, nowp: Any) -> None:
    """Classify the staged rows against the stored versions and store what is new or changed."""
    t = stage.name
    # Classify against the latest stored version of each record, as a join: rows with no stored version keep
    # action NULL ('new') and are not rewritten; a current version with the same fingerprint → 'unchanged';
    # anything else (changed content, or a withdrawn record delivered again) → 'changed'.
    classified = c.execute(text(
        f"UPDATE {t} SET prev_version = r.version, action = CASE WHEN r.status = 'current' "
        f"AND r.fingerprint = {t}.fingerprint THEN 'unchanged' ELSE 'changed' END FROM credit_records r "
        f"WHERE r.category = :cat AND r.entity_code = {t}.entity_code AND r.record_key = {t}.record_key "
        f"AND {t}.action IS NULL AND NOT EXISTS (SELECT 1 FROM credit_records n WHERE n.category = r.category "
        f"AND n.entity_code = r.entity_code AND n.record_key = r.record_key AND n.version > r.version)"),
        {"cat": cat.code})
    _fault("classified")
    if classified.rowcount:  # nothing to supersede when every record is new (a first load): skip the scan
        c.execute(text(
            f"UPDATE credit_records SET status = 'superseded', superseded_at = :now WHERE category = :cat "
            f"AND status = 'current' AND (entity_code, record_key) IN "
            f"(SELECT entity_code, record_key FROM {t} WHERE action = 'changed')").bindparams(nowp),
            {"cat": cat.code})
    _fault("superseded")
    provider = c.execute(select(Delivery.provider).where(Delivery.id == delivery_id)).scalar_one()
    # SQLite reads the rows in key order from the staging index (B-tree inserts stay local). PostgreSQL has
    # no such index (see above), and sorting a million wide rows spills to disk and costs more than it saves:
    # it inserts in file order, which for most deliveries is by entity anyway.
    order = "" if stage.pg else " ORDER BY entity_code, record_key"
    c.execute(text(
        f"INSERT INTO credit_records (entity_code, category, record_key, version, status, content, fingerprint, "
        f"period_start, period_end, provider, delivery_id, row_no, received_at) "
        f"SELECT entity_code, :cat, record_key, COALESCE(prev_version, 0) + 1, 'current', content, fingerprint, "
        f"period_start, period_end, :provider, :did, row_no, :now FROM {t} "
        f"WHERE action IS NULL OR action = 'changed'{order}").bindparams(nowp),
        {"cat": cat.code, "provider": provider, "did": delivery_id})
    _fault("inserted")


def _as_date(v: Any) -> Any:
    return date.fromisoformat(v[:10]) if isinstance(v, str) else v


# The register's three kinds (GB 32100: 9-1 enterprises and 9-3 cooperatives count as 企业, 9-2 as 个体工商户).
_KIND_FROM_CODE = ("CASE substr(entity_code, 1, 2) WHEN '91' THEN '企业' WHEN '93' THEN '企业' "
                   "WHEN '92' THEN '个体工商户' ELSE '其他组织' END")


def _upsert_entities(c: Connection, stage: _Stage, delivery_id: int, nowp: Any) -> None:
    t = stage.name
    cols = ["name"] + [ENTITY_COLUMNS[i] for i in stage.entity_items]
    src = ["COALESCE(entity_name, entity_code)"]
    for i in stage.entity_items:
        col = ENTITY_COLUMNS[i]
        if col == "registered_on":
            src.append(f"CAST(e_{i} AS DATE)" if stage.pg else f"e_{i}")
        elif col == "registered_capital":
            src.append(f"CAST(e_{i} AS DOUBLE PRECISION)" if stage.pg else f"CAST(e_{i} AS REAL)")
        elif col == "kind":  # finer registration types (农民专业合作社 …) fall back to the code's kind
            src.append(f"CASE WHEN e_{i} IN ('企业', '个体工商户', '其他组织') THEN e_{i} ELSE {_KIND_FROM_CODE} END")
        else:
            src.append(f"e_{i}")
    if "region_code" not in cols:  # the code itself carries the division (characters 3–8)
        cols.append("region_code")
        src.append("substr(entity_code, 3, 6)")
    if "kind" not in cols:
        cols.append("kind")
        src.append(_KIND_FROM_CODE)
    # A file without a name column must not replace a known name with the bare code.
    sets = ", ".join("name = CASE WHEN excluded.name = excluded.code THEN entities.name ELSE excluded.name END"
                     if col == "name" else f"{col} = excluded.{col}" for col in cols)
    sets += ", updated_at = excluded.updated_at, source_delivery_id = excluded.source_delivery_id"
    c.execute(text(
        f"INSERT INTO entities (code, {', '.join(cols)}, updated_at, source_delivery_id) "
        f"SELECT entity_code, {', '.join(src)}, :now, :did FROM {t} WHERE action IS NULL OR action = 'changed' "
        f"ON CONFLICT (code) DO UPDATE SET {sets}").bindparams(nowp), {"did": delivery_id})


def _store_issues(c: Connection, delivery_id: int, issues: list[Issue]) -> None:
    if not issues:
        return
    rows = [{"delivery_id": delivery_id, "row_no": i.row_no, "field": (i.field or None) and i.field[:100],
             "value": i.value[:200] if i.value else None, "severity": i.severity, "code": i.code,
             "message": i.message} for i in issues[:MAX_STORED_ISSUES]]
    c.execute(DeliveryIssue.__table__.insert(), rows)


def _set(db: Database, delivery_id: int, **values: Any) -> None:
    with db.session() as s:
        s.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values))


def _finish_rejected(db: Database, outcome: LoadOutcome, code: str, message: str, actor: str,
                     warnings: list[Issue] | None = None, issues: list[Issue] | None = None) -> LoadOutcome:
    everything = (warnings or []) + (issues or [])
    with db.session() as s:
        s.execute(update(Delivery).where(Delivery.id == outcome.delivery_id).values(
            status="rejected", phase="done", error_code=code, message=message, rows_total=outcome.rows_total,
            rows_processed=outcome.rows_total, rows_rejected=outcome.rows_rejected, finished_at=clock.now()))
        _store_issues(s.connection(), outcome.delivery_id, everything)
        audit.record(s, actor, "delivery.rejected", f"delivery:{outcome.delivery_id}", code=code)
    outcome.status = "rejected"
    outcome.issues = everything
    return outcome


def _finish_failed(db: Database, outcome: LoadOutcome, exc: BaseException, actor: str) -> None:
    try:
        with db.session() as s:
            s.execute(update(Delivery).where(Delivery.id == outcome.delivery_id).values(
                status="failed", phase="done", error_code="INTERNAL_ERROR", message=failure_message(exc),
                finished_at=clock.now()))
            audit.record(s, actor, "delivery.failed", f"delivery:{outcome.delivery_id}", error=type(exc).__name__)
    except Exception:  # noqa: BLE001 - logged; the stalled-delivery watch finds it later (see StallWatch)
        log.exception("could not mark delivery %s failed", outcome.delivery_id)
    outcome.status = "failed"


def failure_message(exc: BaseException) -> str:
    """Why a delivery failed, for the people who submitted it: the kind of failure, never its details."""
    if isinstance(exc, MemoryError):
        reason = "服务器内存不足"
    elif isinstance(exc, OSError):
        reason = "读写文件或连接数据库出错"
    else:
        reason = "程序内部错误"
    return f"处理过程中发生内部错误（{reason}），本批数据未写入，已有数据未受影响。请联系平台运维人员。"


def fail_delivery(db: Database, delivery_id: int, exc: BaseException) -> bool:
    """Mark a delivery failed if it is still 'processing' (its job died before it could say so itself);
    True when it was."""
    return bool(_fail_processing(db, Delivery.id == delivery_id, "INTERNAL_ERROR", failure_message(exc),
                                 error=type(exc).__name__))


def _fail_processing(db: Database, where: Any, code: str, message: str, **detail: Any) -> list[int]:
    """Mark the deliveries still 'processing' that `where` selects failed, with an audit entry each; their
    ids. The status is checked in the same statement, so a delivery finished meanwhile stays as it is."""
    now = clock.now()
    with db.session() as s:
        ids = list(s.execute(update(Delivery).where(Delivery.status == "processing", where)
                             .values(status="failed", phase="done", error_code=code, message=message, finished_at=now)
                             .returning(Delivery.id)).scalars())
        for did in ids:
            audit.record(s, "system", "delivery.failed", f"delivery:{did}", code=code, **detail)
    return ids


def ingest_file(db: Database, catalog: Catalog, path: Path, *, provider: str, category: str,
                submitted_by: str, source: str = "cli", filename: str | None = None, threshold: float = 0.2,
                sheet: str | None = None, progress: ProgressHook | None = None) -> tuple[Delivery, LoadOutcome]:
    """Register and load a file in one call (CLI, API). A duplicate returns the duplicate's log entry."""
    try:
        d = register_delivery(db, catalog, path, provider=provider, category=category,
                              submitted_by=submitted_by, source=source, filename=filename, threshold=threshold)
    except DuplicateDelivery as dup:
        return dup.delivery, LoadOutcome(dup.delivery.id, "duplicate")
    outcome = process_delivery(db, catalog, d.id, path, sheet=sheet, progress=progress)
    with db.session() as s:
        return s.get(Delivery, d.id), outcome


def mark_interrupted(db: Database, older_than: datetime | None = None) -> int:
    """Deliveries left 'processing' by a stopped process are marked failed at start-up (nothing of them
    was committed: phase 2 is one transaction). While the server runs, `StallWatch` finds them."""
    where = Delivery.received_at < older_than if older_than is not None else true()
    return len(_fail_processing(db, where, "INTERRUPTED", "处理被中断（服务重启），本批数据未写入，请重新报送"))


STALLED_AFTER = timedelta(minutes=30)


class StallWatch:
    """Finds deliveries left 'processing' by a job that died without saying so (its process killed, or the
    failure itself failing to be recorded) and marks them failed. A job reports its progress as it goes: the
    rows checked after each batch, and the phase (reading, writing). A delivery whose progress has not changed
    for `quiet_for`, from one sweep to the next, is taken for dead, except:

    * the deliveries this process holds (queued or running in its executor, see records.runtime): a live job
      in this process fails its delivery itself, whatever ends it;
    * a delivery in the single transaction that stores it (phase 2, possibly long) in another process: that
      transaction holds the delivery's row (PostgreSQL) or the database (SQLite), so the update here waits for
      it and then finds the delivery finished. The update also requires the progress seen, so a job that moves
      on meanwhile is left alone."""

    def __init__(self, quiet_for: timedelta = STALLED_AFTER) -> None:
        self.quiet_for = quiet_for
        self._seen: dict[int, tuple[tuple[int, str | None], datetime]] = {}  # id → (progress, unchanged since)

    def sweep(self, db: Database, held: Collection[int] = ()) -> list[int]:
        """One look: the ids of the deliveries it marked failed."""
        now = clock.now()
        with db.session() as s:
            found = s.execute(select(Delivery.id, Delivery.rows_processed, Delivery.phase)
                              .where(Delivery.status == "processing")).all()
        seen: dict[int, tuple[tuple[int, str | None], datetime]] = {}
        quiet: list[tuple[int, tuple[int, str | None]]] = []
        for did, processed, phase in found:
            if did in held:
                continue
            progress = (processed, phase)
            before = self._seen.get(did)
            since = before[1] if before is not None and before[0] == progress else now
            seen[did] = (progress, since)
            if now - since >= self.quiet_for:
                quiet.append((did, progress))
        self._seen = seen
        minutes = max(1, round(self.quiet_for.total_seconds() / 60))
        message = f"处理已中断（超过 {minutes} 分钟没有进展），本批数据未写入，已有数据未受影响，请重新报送"
        stalled: list[int] = []
        for did, (processed, phase) in quiet:
            unchanged = (Delivery.id == did) & (Delivery.rows_processed == processed) & (Delivery.phase == phase)
            if _fail_processing(db, unchanged, "STALLED", message, rows_processed=processed, phase=phase):
                log.warning("delivery %s made no progress for %s (%s rows, phase %s): marked failed", did,
                            self.quiet_for, processed, phase)
                stalled.append(did)
                self._seen.pop(did, None)
        return stalled


__all__ = ["STALLED_AFTER", "DuplicateDelivery", "LoadOutcome", "StallWatch", "fail_delivery", "failure_message",
           "ingest_file", "mark_interrupted", "process_delivery", "register_delivery", "sanitize_filename"]
