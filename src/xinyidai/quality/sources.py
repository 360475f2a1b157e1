"""Managing the sources the node pulls departments' data from, and pulling them.

A pull reads the rows above the stored watermark (connectors), writes them as a deterministic JSONL file with the
catalogue's Chinese headers and loads it as an ordinary delivery (records.loading.ingest_file: same checks, same
row report, same idempotence). The watermark moves only after the delivery is accepted, partial or a duplicate,
in the transaction that completes the SourcePull and writes its audit entry. So a crash stores nothing twice:
killed before the delivery committed, the delivery is left unfinished and the re-run loads the same rows; killed
after it committed but before the watermark moved, the re-run writes the same bytes and the loader answers
`duplicate`, and then the watermark moves. Two pullers racing on one source are harmless for the same reason.

Failures back off (5 min doubling, at most 6 h) and, after three in a row, alert once per failing streak."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from xinyidai.catalog.schema import Catalog, Category
from xinyidai.kit import audit, clock, metrics
from xinyidai.kit.db import Database
from xinyidai.kit.errors import Conflict, DomainError, InvalidInput, NotFound
from xinyidai.kit.notify import Notifier
from xinyidai.quality import connectors
from xinyidai.quality.connectors import mask_url
from xinyidai.quality.models import SOURCE_KINDS, Department, Source, SourcePull
from xinyidai.records.loading import ingest_file

log = logging.getLogger(__name__)

SUBJECT = {"entity_code": "统一社会信用代码", "entity_name": "主体名称"}
BACKOFF_FIRST = timedelta(minutes=5)
BACKOFF_MAX = timedelta(hours=6)
ALERT_AFTER = 3  # failures in a row
MAX_BATCHES = 50  # per call: a huge backlog is pulled over several rounds, never holding one round for hours
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# Tests set this to fail at a named step ("before_watermark") and prove the re-run; None in production.
fault_hook: Callable[[str], None] | None = None


def _fault(step: str) -> None:
    if fault_hook is not None:
        fault_hook(step)


@dataclass
class SourceSpec:
    name: str
    kind: str
    department: str
    category: str
    url: str
    target: str
    mapping: dict[str, str]
    watermark_column: str
    secret_ref: str | None = None
    every_minutes: int = 1440
    batch_rows: int = 50_000

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SourceSpec:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise InvalidInput(f"来源描述中有不认识的字段：{'、'.join(unknown)}", code="BAD_SOURCE_SPEC")
        missing = sorted(k for k in ("name", "kind", "department", "category", "url", "target", "mapping",
                                     "watermark_column") if not d.get(k))
        if missing:
            raise InvalidInput(f"来源描述缺少字段：{'、'.join(missing)}", code="BAD_SOURCE_SPEC")
        try:
            return cls(**{k: v for k, v in d.items() if v is not None})
        except TypeError:
            raise InvalidInput("来源描述格式不正确", code="BAD_SOURCE_SPEC") from None


def validate(s: Session, catalog: Catalog, spec: SourceSpec) -> Category:
    """Every check of a source's description; the category it feeds."""
    if not isinstance(spec.name, str) or not NAME_RE.match(spec.name):
        raise InvalidInput("来源名称只能由字母、数字、点、横线和下划线组成（不超过 100 个字符）", code="BAD_SOURCE_NAME")
    if spec.kind not in SOURCE_KINDS:
        raise InvalidInput("来源类型须为 database（前置库）或 rest（REST 接口）", code="BAD_SOURCE_KIND")
    if s.get(Department, spec.department) is None:
        raise InvalidInput(f"没有代码为「{spec.department}」的数据提供部门，请先登记部门", code="UNKNOWN_DEPARTMENT")
    try:
        cat = catalog.category(spec.category)
    except KeyError:
        raise InvalidInput(f"信息清单中没有类别「{spec.category}」", code="UNKNOWN_CATEGORY") from None
    connectors.check_url(spec.kind, spec.url)
    connectors.check_secret_ref(spec.secret_ref)
    if not isinstance(spec.target, str) or not spec.target.strip():
        raise InvalidInput("请填写表名、查询语句（前置库）或记录所在的 JSON 键（REST）", code="BAD_SOURCE_TARGET")
    if not isinstance(spec.mapping, dict) or not spec.mapping or not all(
            isinstance(k, str) and k and isinstance(v, str) for k, v in spec.mapping.items()):
        raise InvalidInput("字段映射须为 {来源列: 清单字段代码}", code="BAD_MAPPING")
    codes = {i.code for i in cat.items}
    unknown = [v for v in spec.mapping.values() if v not in codes and v not in SUBJECT]
    if unknown:
        raise InvalidInput(f"「{cat.name}」类别中没有字段：{'、'.join(unknown)}", code="UNKNOWN_ITEM")
    targets = list(spec.mapping.values())
    twice = sorted({v for v in targets if targets.count(v) > 1})
    if twice:
        raise InvalidInput(f"多个来源列映射到同一字段：{'、'.join(twice)}", code="BAD_MAPPING")
    needed = ["entity_code", *[i.code for i in cat.items if i.required], *cat.key]
    uncovered = [c for c in dict.fromkeys(needed) if c not in targets]
    if uncovered:
        names = "、".join(SUBJECT.get(c) or cat.item(c).name for c in uncovered)
        raise InvalidInput(f"字段映射未覆盖必填或主键字段：{names}", code="MAPPING_INCOMPLETE")
    if not isinstance(spec.watermark_column, str) or not spec.watermark_column.strip():
        raise InvalidInput("请填写水位列（按其递增拉取新数据）", code="BAD_WATERMARK_COLUMN")
    if not isinstance(spec.every_minutes, int) or not 1 <= spec.every_minutes <= 44_640:
        raise InvalidInput("拉取间隔须为 1 至 44640 分钟", code="BAD_SCHEDULE")
    if not isinstance(spec.batch_rows, int) or not 1 <= spec.batch_rows <= 1_000_000:
        raise InvalidInput("每批行数须为 1 至 1,000,000", code="BAD_BATCH_ROWS")
    return cat


def add_source(s: Session, catalog: Catalog, spec: SourceSpec, actor: str) -> Source:
    validate(s, catalog, spec)
    if s.execute(select(Source.id).where(Source.name == spec.name)).first() is not None:
        raise Conflict(f"已有名为「{spec.name}」的数据来源", code="SOURCE_EXISTS")
    now = clock.now()
    src = Source(name=spec.name, kind=spec.kind, department=spec.department, category=spec.category, url=spec.url,
                 secret_ref=spec.secret_ref or None, target=spec.target.strip(),
                 mapping=json.dumps(spec.mapping, ensure_ascii=False), watermark_column=spec.watermark_column.strip(),
                 every_minutes=spec.every_minutes, batch_rows=spec.batch_rows, state="new", failures=0,
                 next_attempt_at=now, created_by=actor, created_at=now)
    s.add(src)
    s.flush()
    audit.record(s, actor, "quality.source_added", f"source:{src.name}", kind=src.kind, department=src.department,
                 category=src.category, url=mask_url(src.url))
    return src


def edit_source(s: Session, catalog: Catalog, name: str, spec: SourceSpec, actor: str) -> Source:
    src = get(s, name)
    if spec.name != src.name:
        raise InvalidInput("来源名称不可修改", code="BAD_SOURCE_NAME")
    validate(s, catalog, spec)
    src.kind, src.department, src.category, src.url = spec.kind, spec.department, spec.category, spec.url
    src.secret_ref, src.target = spec.secret_ref or None, spec.target.strip()
    src.mapping = json.dumps(spec.mapping, ensure_ascii=False)
    src.watermark_column, src.every_minutes, src.batch_rows = spec.watermark_column.strip(), spec.every_minutes, \
        spec.batch_rows
    audit.record(s, actor, "quality.source_edited", f"source:{src.name}", url=mask_url(src.url))
    return src


def get(s: Session, name: str) -> Source:
    src = s.execute(select(Source).where(Source.name == name)).scalar_one_or_none()
    if src is None:
        raise NotFound(f"没有名为「{name}」的数据来源", code="SOURCE_NOT_FOUND")
    return src


def pause(s: Session, name: str, actor: str) -> Source:
    src = get(s, name)
    if src.state == "paused":
        raise Conflict("该来源已暂停", code="SOURCE_PAUSED")
    src.state = "paused"
    audit.record(s, actor, "quality.source_paused", f"source:{name}")
    return src


def resume(s: Session, name: str, actor: str) -> Source:
    src = get(s, name)
    if src.state != "paused":
        raise Conflict("该来源未暂停", code="SOURCE_NOT_PAUSED")
    src.state = "failing" if src.failures else ("ok" if src.last_success_at else "new")
    src.next_attempt_at = clock.now()
    audit.record(s, actor, "quality.source_resumed", f"source:{name}")
    return src


def reset_watermark(s: Session, name: str, value: str | None, reason: str, actor: str) -> Source:
    """The operator's explicit answer to WATERMARK_BACKWARDS (or a re-pull): set the watermark, with a reason."""
    src = get(s, name)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("重置水位须说明原因", code="REASON_REQUIRED")
    value = (value or "").strip() or None
    if value is not None and len(value) > 100:
        raise InvalidInput("水位值过长", code="BAD_WATERMARK")
    before = src.watermark
    src.watermark = value
    if src.state != "paused":
        src.next_attempt_at = clock.now()
    audit.record(s, actor, "quality.source_watermark_reset", f"source:{name}", before=before, after=value,
                 reason=reason[:500])
    return src


def mapping_of(src: Source) -> dict[str, str]:
    return dict(json.loads(src.mapping))


# ---- pulling ------------------------------------------------------------------------------------------------

@dataclass
class PullResult:
    pulls: list[SourcePull] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.pulls)

    @property
    def last(self) -> SourcePull | None:
        return self.pulls[-1] if self.pulls else None

    @property
    def ok(self) -> bool:
        return bool(self.pulls) and self.pulls[-1].status not in ("failed", "rejected")


def pull(db: Database, catalog: Catalog, var_dir: Path | str, name: str, actor: str, *,
         notifier: Notifier | None = None, max_batches: int = MAX_BATCHES) -> PullResult:
    """Pull a source until it has nothing newer (or `max_batches` deliveries): one SourcePull per batch.

    One pull of a source at a time in this process (the scheduler and a click on 立即拉取): a second is refused.
    Across processes (the CLI beside the server) two pulls are harmless — the second loads the same bytes and the
    loader answers duplicate — only the first one's pull row may read 'interrupted'."""
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(name, threading.Lock())
    if not lock.acquire(blocking=False):
        raise Conflict(f"数据来源「{name}」正在拉取中，请稍后查看结果", code="SOURCE_BUSY")
    try:
        result = PullResult()
        for _ in range(max_batches):
            p, more = _pull_once(db, catalog, Path(var_dir), name, actor, notifier)
            result.pulls.append(p)
            if not more or p.status in ("failed", "rejected", "nothing"):
                break
        return result
    finally:
        lock.release()


_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _pull_once(db: Database, catalog: Catalog, var_dir: Path, name: str, actor: str,
               notifier: Notifier | None) -> tuple[SourcePull, bool]:
    with db.session() as s:
        src = get(s, name)
        dept = s.get(Department, src.department)
        provider = dept.name if dept else src.department
        # A pull left 'running' was cut short (its process died); nothing of it counts.
        s.execute(update(SourcePull).where(SourcePull.source_id == src.id, SourcePull.status == "running").values(
            status="failed", error_code="PULL_INTERRUPTED", message="拉取被中断（进程退出），已由之后的拉取重做",
            finished_at=clock.now()))
        p = SourcePull(source_id=src.id, status="running", watermark_from=src.watermark, actor=actor,
                       started_at=clock.now())
        s.add(p)
        s.flush()
        pull_id = p.id
        src.last_attempt_at = clock.now()
        cfg = (src.id, src.name, src.kind, src.url, src.secret_ref, src.target, mapping_of(src),
               src.watermark_column, src.watermark, src.batch_rows, src.category)
    source_id, sname, kind, url, secret_ref, target, mapping, wm, after, limit, category = cfg
    try:
        cat = catalog.category(category)
        secret = connectors.read_secret(secret_ref)
        read = connectors.read_database if kind == "database" else connectors.read_rest
        batch = read(url, secret, target, list(mapping), wm, after, limit)
    except DomainError as exc:
        return _failed(db, pull_id, exc.code, exc.message, actor, notifier), False
    except Exception as exc:  # noqa: BLE001 - anything else reading a source is still the source failing
        log.warning("source %s: reading failed (%s)", sname, type(exc).__name__)
        return _failed(db, pull_id, "SOURCE_READ_FAILED", "读取数据来源时发生意外错误，稍后将自动重试",
                       actor, notifier), False
    if not batch.rows:
        return _finish(db, pull_id, "nothing", None, 0, after, actor), False
    wm_to = _text(batch.watermark_to)
    data = render_jsonl(cat, mapping, batch.rows, wm)
    folder = var_dir / "quality" / "pulls"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{source_id}-{hashlib.sha256(data).hexdigest()[:24]}.jsonl"
    path.write_bytes(data)
    try:
        d, outcome = ingest_file(db, catalog, path, provider=provider, category=category, submitted_by=actor,
                                 source="connector", filename=f"{sname}-{after or '起始'}-{wm_to}.jsonl")
        status = {"accepted": "loaded", "partial": "loaded", "duplicate": "duplicate"}.get(d.status)
        if status is None:
            code = d.error_code or "DELIVERY_NOT_ACCEPTED"
            msg = f"拉取的数据作为第 {d.id} 批交付未被接收：{d.message or ''}".rstrip("：")
            return _failed(db, pull_id, code, msg, actor, notifier, delivery_id=d.id, rows=len(batch.rows),
                           pull_status="rejected" if d.status == "rejected" else "failed"), False
        _fault("before_watermark")
        return _finish(db, pull_id, status, d.id, len(batch.rows), wm_to, actor), batch.more
    except DomainError as exc:
        return _failed(db, pull_id, exc.code, exc.message, actor, notifier), False
    except Exception as exc:  # noqa: BLE001 - the loader marked its delivery failed; the pull says so too
        log.warning("source %s: loading failed (%s)", sname, type(exc).__name__)
        return _failed(db, pull_id, "DELIVERY_FAILED", "拉取的数据入库时发生内部错误，本批未写入，稍后将自动重试",
                       actor, notifier), False
    finally:
        path.unlink(missing_ok=True)


def _text(v: Any) -> str:
    """A watermark value as stored (and bound back into the next query)."""
    if isinstance(v, datetime | date):
        return v.isoformat(sep=" ") if isinstance(v, datetime) else v.isoformat()
    return str(v)


def _cell(v: Any) -> Any:
    if v is None or isinstance(v, bool | str):
        return v
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal | int | float):
        return str(v)
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def render_jsonl(cat: Category, mapping: dict[str, str], rows: list[dict[str, Any]], wm: str) -> bytes:
    """The batch as a delivery file: one JSON object per row with the catalogue's Chinese headers, in watermark
    order and, within one watermark value, in the order of the lines' text — the same rows give the same bytes
    whatever order the source returned them in."""
    order = {"entity_code": -2, "entity_name": -1, **{i.code: n for n, i in enumerate(cat.items)}}
    cols = sorted(mapping.items(), key=lambda kv: order[kv[1]])
    heads = [(col, SUBJECT.get(code) or cat.item(code).name) for col, code in cols]
    keyed = []
    for r in rows:
        line = json.dumps({h: _cell(r[col]) for col, h in heads}, ensure_ascii=False, separators=(",", ":"))
        keyed.append((_text(r[wm]), r[wm], line))
    try:
        keyed.sort(key=lambda k: (k[1], k[2]))
    except TypeError:
        keyed.sort(key=lambda k: (k[0], k[2]))
    return "".join(line + "\n" for _, _, line in keyed).encode("utf-8")


def _finish(db: Database, pull_id: int, status: str, delivery_id: int | None, rows: int, wm_to: str | None,
            actor: str) -> SourcePull:
    """The pull done and the watermark moved, with the audit entry, in one transaction."""
    with db.session() as s:
        p = s.get(SourcePull, pull_id)
        assert p is not None
        src = s.get(Source, p.source_id)
        assert src is not None
        now = clock.now()
        p.status, p.delivery_id, p.rows, p.watermark_to, p.finished_at = status, delivery_id, rows, wm_to, now
        src.watermark = wm_to
        src.failures, src.alerted_at, src.last_error_code, src.last_error = 0, None, None, None
        src.last_success_at = now
        if src.state != "paused":
            src.state = "ok"
            src.next_attempt_at = now + timedelta(minutes=src.every_minutes)
        audit.record(s, actor, "quality.source_pulled", f"source:{src.name}", status=status, rows=rows,
                     delivery_id=delivery_id, watermark_from=p.watermark_from, watermark_to=wm_to)
        s.flush()
        s.expunge(p)
    return p


def backoff(failures: int) -> timedelta:
    return min(BACKOFF_FIRST * (2 ** max(failures - 1, 0)), BACKOFF_MAX)


def _failed(db: Database, pull_id: int, code: str, message: str, actor: str, notifier: Notifier | None, *,
            delivery_id: int | None = None, rows: int = 0, pull_status: str = "failed") -> SourcePull:
    send: tuple[str, str] | None = None
    with db.session() as s:
        p = s.get(SourcePull, pull_id)
        assert p is not None
        src = s.get(Source, p.source_id)
        assert src is not None
        now = clock.now()
        p.status, p.error_code, p.message, p.finished_at = pull_status, code, message, now
        p.delivery_id, p.rows = delivery_id, rows
        src.failures += 1
        src.last_error_code, src.last_error = code, message
        if src.state != "paused":
            src.state = "failing"
            src.next_attempt_at = now + backoff(src.failures)
        audit.record(s, actor, "quality.source_failed", f"source:{src.name}", code=code, failures=src.failures,
                     delivery_id=delivery_id)
        if src.failures >= ALERT_AFTER and src.alerted_at is None:
            src.alerted_at = now
            dept = s.get(Department, src.department)
            audit.record(s, actor, "quality.source_alert", f"source:{src.name}", code=code, failures=src.failures,
                         department=src.department)
            if dept is not None and dept.contact:
                send = (dept.contact, f"【数据来源告警】来源「{src.name}」已连续 {src.failures} 次拉取失败：{message}")
        s.flush()
        s.expunge(p)
    log.warning("source pull %s failed: %s", pull_id, code)
    if send is not None and notifier is not None:
        try:
            notifier.send(send[0], send[1], kind="quality.source_alert")
        except Exception:  # noqa: BLE001 - the alert is audited; a notifier down must not fail the pull's record
            log.exception("could not notify the department of source pull %s", pull_id)
    return p


def pull_due(db: Database, catalog: Catalog, var_dir: Path | str, actor: str = "scheduler",
             notifier: Notifier | None = None) -> int:
    """Pull every active source whose next attempt is due; how many were pulled."""
    now = clock.now()
    with db.session() as s:
        names = list(s.execute(select(Source.name).where(
            Source.state != "paused", (Source.next_attempt_at.is_(None)) | (Source.next_attempt_at <= now))
            .order_by(Source.next_attempt_at, Source.id)).scalars())
    for name in names:
        try:
            pull(db, catalog, var_dir, name, actor, notifier=notifier)
        except Conflict:  # an operator's pull of it is under way
            continue
        except Exception:  # noqa: BLE001 - one source's trouble must not stop the others
            log.exception("pulling source %s failed", name)
    return len(names)


def pulls_page(s: Session, source_id: int, page: int, size: int) -> tuple[list[SourcePull], int]:
    total = s.execute(select(func.count()).select_from(SourcePull).where(SourcePull.source_id == source_id)).scalar_one()
    rows = list(s.execute(select(SourcePull).where(SourcePull.source_id == source_id)
                          .order_by(SourcePull.id.desc()).offset((page - 1) * size).limit(size)).scalars())
    return rows, total


def source_gauges(s: Session) -> Iterator[Metric]:
    g = GaugeMetricFamily("xinyidai_quality_sources", "Data sources by state (failing ones are retrying)",
                          labels=["state"])
    for state, n in s.execute(select(Source.state, func.count()).group_by(Source.state)):
        g.add_metric([state], n)
    yield g


metrics.COLLECTORS["quality_sources"] = source_gauges
