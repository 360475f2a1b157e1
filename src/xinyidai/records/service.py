"""Reading and maintaining credit records and deliveries: lists, reports, history, corrections."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from xinyidai.catalog.schema import Catalog
from xinyidai.entities import service as entities_service
from xinyidai.kit import audit, clock
from xinyidai.kit.errors import Conflict, InvalidInput, NotFound
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.records.canonical import canonical_json, fingerprint, record_key
from xinyidai.records.models import DELIVERY_STATUSES, CreditRecord, Delivery, DeliveryIssue
from xinyidai.records.validation import Bad, make_converter, period_bounds

DELIVERY_SORTABLE = {
    "id": Delivery.id, "received_at": Delivery.received_at, "provider": Delivery.provider,
    "category": Delivery.category, "status": Delivery.status, "rows_total": Delivery.rows_total,
    "rows_rejected": Delivery.rows_rejected, "filename": Delivery.filename,
}
ISSUE_SORTABLE = {"row_no": DeliveryIssue.row_no, "field": DeliveryIssue.field, "code": DeliveryIssue.code,
                  "id": DeliveryIssue.id}


def list_deliveries(s: Session, req: PageRequest, *, status: str | None = None, category: str | None = None,
                    provider: str | None = None, catalog: Catalog | None = None) -> Page:
    """With `catalog`, sorting by category follows the information list's order, as a person reading the
    category names expects; without it (programs), the category codes' order."""
    stmt = select(Delivery)
    if status:
        stmt = stmt.where(Delivery.status == status)
    if category:
        stmt = stmt.where(Delivery.category == category)
    if provider:
        stmt = stmt.where(Delivery.provider == provider)
    sortable = DELIVERY_SORTABLE
    if catalog is not None:
        sortable = {**sortable, "category": case(catalog.positions, value=Delivery.category,
                                                 else_=len(catalog.categories))}
    return paginate(s, stmt, req, sortable, "id")


def get_delivery(s: Session, delivery_id: int) -> Delivery:
    d = s.get(Delivery, delivery_id)
    if d is None:
        raise NotFound(f"交付批次 {delivery_id} 不存在", code="DELIVERY_NOT_FOUND")
    return d


def delivery_dict(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id, "provider": d.provider, "category": d.category, "filename": d.filename,
        "format": d.format, "encoding": d.encoding, "size_bytes": d.size_bytes, "source": d.source,
        "submitted_by": d.submitted_by, "status": d.status, "status_label": d.status_label, "phase": d.phase,
        "error_code": d.error_code, "message": d.message, "threshold": d.threshold,
        "duplicate_of": d.duplicate_of, "rows_total": d.rows_total, "rows_processed": d.rows_processed,
        "rows_accepted": d.rows_accepted, "rows_rejected": d.rows_rejected, "rows_new": d.rows_new,
        "rows_changed": d.rows_changed, "rows_unchanged": d.rows_unchanged,
        "period_start": d.period_start.isoformat() if d.period_start else None,
        "period_end": d.period_end.isoformat() if d.period_end else None,
        "received_at": d.received_at.isoformat(), "finished_at": d.finished_at.isoformat() if d.finished_at else None,
        "file_digest_sm3": d.file_digest,
    }


def delivery_issues(s: Session, delivery_id: int, req: PageRequest, severity: str | None = None) -> Page:
    stmt = select(DeliveryIssue).where(DeliveryIssue.delivery_id == delivery_id)
    if severity:
        stmt = stmt.where(DeliveryIssue.severity == severity)
    return paginate(s, stmt, req, ISSUE_SORTABLE, "row_no")


def issue_dict(i: DeliveryIssue) -> dict[str, Any]:
    return {"row_no": i.row_no, "field": i.field, "value": i.value, "severity": i.severity, "code": i.code,
            "message": i.message}


def _cell(v: Any) -> str:
    """Neutralise spreadsheet formulas when exporting values that came from outside (OWASP CSV injection)."""
    text = "" if v is None else str(v)
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


def issues_csv(s: Session, delivery_id: int) -> Iterator[str]:
    """The report as CSV for Excel: UTF-8 with BOM, one line per problem."""
    d = get_delivery(s, delivery_id)
    buf = io.StringIO()
    w = csv.writer(buf)
    buf.write("\ufeff")
    w.writerow(["交付批次", "文件", "行号", "字段", "值", "级别", "问题代码", "说明"])
    q = (select(DeliveryIssue).where(DeliveryIssue.delivery_id == delivery_id)
         .order_by(DeliveryIssue.row_no.is_(None).desc(), DeliveryIssue.row_no, DeliveryIssue.id))
    for i in s.execute(q.execution_options(yield_per=2000)).scalars():
        w.writerow([d.id, _cell(d.filename), i.row_no or "", _cell(i.field), _cell(i.value),
                    "错误" if i.severity == "error" else "提示", i.code, _cell(i.message)])
        if buf.tell() > 64_000:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


# ---- records ------------------------------------------------------------------------------------------

def record_dict(r: CreditRecord, catalog: Catalog | None = None) -> dict[str, Any]:
    content = json.loads(r.content)
    out: dict[str, Any] = {
        "id": r.id, "entity_code": r.entity_code, "category": r.category, "record_key": r.record_key,
        "version": r.version, "status": r.status, "content": content, "fingerprint_sm3": r.fingerprint,
        "period_start": r.period_start.isoformat() if r.period_start else None,
        "period_end": r.period_end.isoformat() if r.period_end else None, "provider": r.provider,
        "delivery_id": r.delivery_id, "row_no": r.row_no, "received_at": r.received_at.isoformat(),
        "superseded_at": r.superseded_at.isoformat() if r.superseded_at else None, "note": r.note,
    }
    return out


def entity_records(s: Session, entity_code: str, category: str | None = None, *,
                   include_history: bool = False, limit: int = 500) -> list[CreditRecord]:
    stmt = select(CreditRecord).where(CreditRecord.entity_code == entity_code)
    if category:
        stmt = stmt.where(CreditRecord.category == category)
    if not include_history:
        stmt = stmt.where(CreditRecord.status == "current")
    stmt = stmt.order_by(CreditRecord.category, CreditRecord.period_start.desc().nulls_last(),
                         CreditRecord.record_key, CreditRecord.version.desc()).limit(limit)
    return list(s.execute(stmt).scalars())


def entity_category_counts(s: Session, entity_code: str) -> dict[str, int]:
    rows = s.execute(select(CreditRecord.category, func.count())
                     .where(CreditRecord.entity_code == entity_code, CreditRecord.status == "current")
                     .group_by(CreditRecord.category)).all()
    return dict(rows)


def record_history(s: Session, record_id: int) -> list[CreditRecord]:
    r = s.get(CreditRecord, record_id)
    if r is None:
        raise NotFound(f"记录 {record_id} 不存在", code="RECORD_NOT_FOUND")
    return list(s.execute(select(CreditRecord).where(
        CreditRecord.category == r.category, CreditRecord.entity_code == r.entity_code,
        CreditRecord.record_key == r.record_key).order_by(CreditRecord.version.desc())).scalars())


def _current_for_change(s: Session, record_id: int, reason: str, verb: str) -> tuple[CreditRecord, str]:
    """The record a withdrawal or correction acts on: it must exist, be current, and the change have a reason."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(f"{verb}记录须说明原因", code="REASON_REQUIRED")
    r = s.get(CreditRecord, record_id)
    if r is None:
        raise NotFound(f"记录 {record_id} 不存在", code="RECORD_NOT_FOUND")
    if r.status != "current":
        raise Conflict(f"只能{verb}现行版本的记录", code="NOT_CURRENT")
    return r, reason


def withdraw_record(s: Session, record_id: int, *, actor: str, reason: str) -> CreditRecord:
    """Withdraw the current version (e.g. a penalty revoked by review); history keeps it."""
    r, reason = _current_for_change(s, record_id, reason, "撤回")
    s.execute(update(CreditRecord).where(CreditRecord.id == r.id, CreditRecord.status == "current")
              .values(status="withdrawn", superseded_at=clock.now(), note=reason[:2000]))
    s.refresh(r)
    audit.record(s, actor, "record.withdrawn", f"record:{r.id}", entity=r.entity_code, category=r.category,
                 key=r.record_key, reason=reason)
    return r


def correct_record(s: Session, catalog: Catalog, record_id: int, changes: dict[str, str], *, actor: str,
                   reason: str) -> CreditRecord:
    """A correction makes a new version with the changed items checked like a delivery's; the old stays."""
    old, reason = _current_for_change(s, record_id, reason, "更正")
    cat = catalog.category(old.category)
    content = json.loads(old.content)
    problems = []
    for code, raw in changes.items():
        try:
            item = cat.item(code)
        except KeyError:
            problems.append({"field": code, "message": f"「{cat.name}」没有字段 {code}"})
            continue
        if code in cat.key:
            problems.append({"field": item.name, "message": "记录标识字段不能更正；如标识有误，请撤回后重新报送"})
            continue
        raw = (raw or "").strip()
        if not raw:
            if item.required:
                problems.append({"field": item.name, "message": "必填项不能为空"})
            content.pop(code, None)
            continue
        try:
            content[code] = make_converter(item)(raw)
        except Bad as b:
            problems.append({"field": item.name, "code": b.code, "message": b.message})
    if problems:
        raise InvalidInput("更正内容未通过校验", code="CORRECTION_INVALID", detail=problems)
    cj = canonical_json(content)
    fp = fingerprint(cj)
    if fp == old.fingerprint:
        raise Conflict("更正后的内容与现行版本相同", code="NO_CHANGE")
    now = clock.now()
    old.status, old.superseded_at = "superseded", now
    s.flush()
    start, end = period_bounds(cat.item(cat.period) if cat.period else None, content.get(cat.period or ""))
    new = CreditRecord(entity_code=old.entity_code, category=old.category,
                       record_key=record_key(cat.key, content), version=old.version + 1, status="current",
                       content=cj, fingerprint=fp, period_start=start, period_end=end, provider=old.provider,
                       delivery_id=None, row_no=None, received_at=now, note=f"更正：{reason}"[:2000])
    s.add(new)
    s.flush()
    audit.record(s, actor, "record.corrected", f"record:{new.id}", previous=old.id, entity=old.entity_code,
                 category=old.category, fields=sorted(changes), reason=reason)
    return new


# ---- statistics ---------------------------------------------------------------------------------------

def counts_by_category(s: Session) -> dict[str, int]:
    return dict(s.execute(select(CreditRecord.category, func.count())
                          .where(CreditRecord.status == "current").group_by(CreditRecord.category)).all())


def counts_by_provider(s: Session, limit: int = 20) -> list[tuple[str, int]]:
    rows = s.execute(select(CreditRecord.provider, func.count().label("n"))
                     .where(CreditRecord.status == "current").group_by(CreditRecord.provider)
                     .order_by(func.count().desc()).limit(limit)).all()
    return [(p, n) for p, n in rows]


def deliveries_by_status(s: Session) -> dict[str, int]:
    return dict(s.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())


SELF_REPORTED_GROUP = "企业自报信息"


def overview_stats(s: Session, catalog: Catalog) -> dict[str, Any]:
    """The node at a glance: entities by prefecture and kind, records by category and provider, deliveries
    by state."""
    by_region = entities_service.counts_by_region(s)
    by_cat = counts_by_category(s)
    by_status = deliveries_by_status(s)
    return {
        "entities": sum(n for _, _, n in by_region),
        "records": sum(by_cat.values()),
        "deliveries": sum(by_status.values()),
        "by_region": [{"code": c, "name": name, "count": n} for c, name, n in by_region],
        # What departments deliver: the enterprises' own statements (企业自报信息) are not collection.
        "by_category": [{"code": c.code, "name": c.name, "count": by_cat.get(c.code, 0)}
                        for c in catalog.categories if c.group != SELF_REPORTED_GROUP],
        "by_provider": [{"name": p, "count": n} for p, n in counts_by_provider(s, 10)],
        "by_kind": [{"name": k, "count": n} for k, n in entities_service.counts_by_kind(s)],
        "deliveries_by_status": [{"status": k, "name": DELIVERY_STATUSES.get(k, k), "count": n}
                                 for k, n in sorted(by_status.items())],
    }
