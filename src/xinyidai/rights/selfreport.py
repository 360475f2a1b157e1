"""Self-reported information (企业自报信息, notice point 十一): what an enterprise's administrator states about
itself — products, main customers and orders, financing plans, contacts, certificates.

Each entry is a credit record of a catalogue category of the group 企业自报信息 with the provider 企业自报, and it
goes in through the loader as a one-row JSONL delivery (source "self"), so the catalogue's types, the versions
(an edit is a new version of the same key) and the row report apply exactly as for a department's file; a value
that breaks the types is refused with the row report's words and nothing is stored. The first entry needs a
live self-report commitment (自报信息真实性承诺书, signed at /my/commitments).

Shown apart from departments' data; shared with a bank only under an authorization whose scope covers the
category (the categories are 授权查询, so access.sharing already does that); never read by the public evaluation
or the public report. A certificate is 已经部门核实 when a department's current record has the same number and
agrees; a contradiction is a quality finding (quality.checks.self_report_conflict).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.accounts.colleagues import administrator
from xinyidai.catalog.schema import Catalog, Category
from xinyidai.entities.models import MarketEntity
from xinyidai.kit import audit, clock
from xinyidai.kit.db import Database
from xinyidai.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kit.principal import Principal
from xinyidai.quality.checks import CERTIFICATE_SOURCES, SELF_CERTIFICATES
from xinyidai.quality.rules import SELF_REPORTED
from xinyidai.records import service as records
from xinyidai.records.loading import ingest_file
from xinyidai.records.models import CreditRecord, Delivery, DeliveryIssue
from xinyidai.rights.models import Commitment

PROVIDER = "企业自报"
SOURCE = "self"
SECTION_TITLE = "企业自报信息（未经部门核实）"
CONFIRMED, CONTRADICTED, UNCONFIRMED = "已经部门核实", "与部门记录不一致", "未经部门核实"
_RETRIES = 20  # the same bytes again (re-adding a withdrawn entry) are given a leading blank line to be new


def categories(catalog: Catalog) -> list[Category]:
    return [c for c in catalog.categories if c.group == SELF_REPORTED]


def category(catalog: Catalog, code: str) -> Category:
    cat = next((c for c in categories(catalog) if c.code == code), None)
    if cat is None:
        raise NotFound(f"企业自报信息中没有类别「{code}」", code="UNKNOWN_CATEGORY")
    return cat


def own_entity(s: Session, p: Principal) -> str:
    """The enterprise's code when `p` is its verified administrator: only the administrator reports."""
    if p.role != "enterprise" or not p.org_code:
        raise Forbidden("只有企业用户可以填报本企业的自报信息", code="ROLE_FORBIDDEN")
    try:
        administrator(s, p)
    except Forbidden:
        raise Forbidden("只有本企业的管理员可以填报、修改或撤回自报信息", code="ORG_ADMIN_ONLY") from None
    return p.org_code


def commitment(s: Session, entity_code: str) -> Commitment | None:
    """The enterprise's live self-report commitment, if any."""
    today = clock.today()
    return s.execute(select(Commitment).where(
        Commitment.entity_code == entity_code, Commitment.kind == "self_report", Commitment.broken_at.is_(None),
        (Commitment.valid_until.is_(None)) | (Commitment.valid_until >= today))
        .order_by(Commitment.confirmed_at.desc()).limit(1)).scalar_one_or_none()


def _require_commitment(s: Session, entity_code: str) -> None:
    if commitment(s, entity_code) is None:
        raise Conflict("填报自报信息前，请先签署《自报信息真实性承诺书》（我的信用承诺）", code="COMMITMENT_REQUIRED",
                       detail={"link": "/my/commitments"})


def _own_record(s: Session, catalog: Catalog, entity_code: str, record_id: int) -> CreditRecord:
    r = s.get(CreditRecord, record_id)
    codes = {c.code for c in categories(catalog)}
    if r is None or r.entity_code != entity_code or r.category not in codes or r.provider != PROVIDER:
        raise NotFound("未找到本企业的这条自报信息", code="SELF_REPORT_NOT_FOUND")
    if r.status != "current":
        raise Conflict("只能修改或撤回现行版本", code="NOT_CURRENT")
    return r


@dataclass
class Refusal:
    field: str | None
    message: str


def _line(cat: Category, entity: MarketEntity, values: Mapping[str, str]) -> dict[str, str]:
    row = {"统一社会信用代码": entity.code, "主体名称": entity.name}
    for item in cat.items:
        raw = (values.get(item.code) or "").strip()
        if raw:
            row[item.name] = raw
    return row


def submit(db: Database, catalog: Catalog, p: Principal, category_code: str, values: Mapping[str, str], *,
           record_id: int | None = None) -> CreditRecord:
    """Add an entry (`record_id` None) or edit one (a new version of the same key). Refused with the row
    report's message (SELF_REPORT_INVALID, every problem in `detail`) when a value breaks the catalogue's types;
    nothing is stored then. Returns the current version as stored."""
    cat = category(catalog, category_code)
    with db.session() as s:
        entity_code = own_entity(s, p)
        _require_commitment(s, entity_code)
        entity = s.get(MarketEntity, entity_code)
        if entity is None:
            raise NotFound("本企业尚未在市场主体名录中登记", code="ENTITY_NOT_FOUND")
        old_key = None
        if record_id is not None:
            old = _own_record(s, catalog, entity_code, record_id)
            if old.category != cat.code:
                raise NotFound("未找到本企业的这条自报信息", code="SELF_REPORT_NOT_FOUND")
            old_key, content = old.record_key, json.loads(old.content)
            changed = [cat.item(k).name for k in cat.key
                       if (values.get(k) or "").strip() and str(content.get(k, "")) != (values.get(k) or "").strip()]
            if changed:
                raise InvalidInput(f"{'、'.join(changed)}是这条信息的标识，不能修改；如有误请撤回后重新填报",
                                   code="KEY_UNCHANGEABLE")
            values = {**{k: str(content[k]) for k in cat.key if k in content}, **values}
        missing = [i for i in cat.items if i.required and not (values.get(i.code) or "").strip()]
        if missing:  # the loader would refuse the whole file for a missing column; say it per field instead
            raise InvalidInput(f"填报内容未通过校验：{'；'.join(f'{i.name}：必填项不能为空' for i in missing)}",
                               code="SELF_REPORT_INVALID",
                               detail=[{"field": i.name, "message": "必填项不能为空"} for i in missing])
        line = _line(cat, entity, values)
        name = entity.name
    delivery_id, status = _load(db, catalog, cat, p, line)
    with db.session() as s:
        if status == "rejected":
            issues = list(s.execute(select(DeliveryIssue).where(DeliveryIssue.delivery_id == delivery_id,
                                                                 DeliveryIssue.severity == "error")
                                    .order_by(DeliveryIssue.id)).scalars())
            d = s.get(Delivery, delivery_id)
            problems = [Refusal(i.field, i.message) for i in issues] or [Refusal(None, d.message or "")]
            words = "；".join(f"{x.field}：{x.message}" if x.field else x.message for x in problems)
            raise InvalidInput(f"填报内容未通过校验：{words or '请检查填写的内容'}", code="SELF_REPORT_INVALID",
                               detail=[{"field": x.field, "message": x.message} for x in problems])
        if status not in ("accepted", "partial", "duplicate"):
            raise InvalidInput("填报未能保存，请稍后重试", code="SELF_REPORT_FAILED")
        r = s.execute(select(CreditRecord).where(CreditRecord.delivery_id == delivery_id,
                                                 CreditRecord.entity_code == line["统一社会信用代码"])
                      ).scalar_one_or_none()
        if r is None:  # accepted, yet the same content as the current version: nothing new
            raise Conflict("填报内容与现有信息相同，未作变更", code="NO_CHANGE")
        if old_key is not None and r.record_key != old_key:  # cannot happen: the key items were kept
            raise Conflict("修改改变了信息的标识", code="KEY_UNCHANGEABLE")
        action = "rights.selfreport.edited" if record_id is not None else "rights.selfreport.added"
        audit.record(s, p.username, action, f"record:{r.id}", entity_code=r.entity_code, category=cat.code,
                     key=r.record_key, version=r.version, delivery=delivery_id, entity_name=name)
        s.expunge(r)
        return r


def _load(db: Database, catalog: Catalog, cat: Category, p: Principal, line: dict[str, str]) -> tuple[int, str]:
    """One row through the loader (threshold 0: the row is the delivery). A file identical to one accepted
    before is a duplicate; unless a current version holds it, the entry is being added again after a
    withdrawal, so the bytes are made new with a leading blank line (which the reader skips)."""
    text = json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"
    folder = Path(tempfile.mkdtemp(prefix="xinyidai-self-"))
    try:
        for n in range(_RETRIES):
            path = folder / f"self-{n}.jsonl"
            path.write_text("\n" * n + text, encoding="utf-8")
            d, _ = ingest_file(db, catalog, path, provider=PROVIDER, category=cat.code, submitted_by=p.username,
                               source=SOURCE, filename=f"企业自报-{cat.name}.jsonl", threshold=0.0)
            if d.status != "duplicate":
                return d.id, d.status
            with db.session() as s:
                same = s.execute(select(CreditRecord.id).where(
                    CreditRecord.delivery_id == d.duplicate_of, CreditRecord.status == "current")).first()
            if same is not None:
                raise Conflict("填报内容与现有信息相同，未作变更", code="NO_CHANGE")
        raise Conflict("同一内容反复填报次数过多", code="TOO_MANY_REPEATS")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def withdraw(s: Session, catalog: Catalog, p: Principal, record_id: int, reason: str) -> CreditRecord:
    entity_code = own_entity(s, p)
    _own_record(s, catalog, entity_code, record_id)
    r = records.withdraw_record(s, record_id, actor=p.username, reason=reason or "")
    audit.record(s, p.username, "rights.selfreport.withdrawn", f"record:{r.id}", entity_code=entity_code,
                 category=r.category, key=r.record_key, reason=(reason or "").strip()[:500])
    return r


@dataclass
class Entry:
    record: CreditRecord
    content: dict[str, Any]
    confirmation: str  # 已经部门核实 / 与部门记录不一致 / 未经部门核实
    confirmed_by: str | None = None  # the department's provider that confirms or contradicts it


def entries(s: Session, catalog: Catalog, entity_code: str, *, history: bool = False) -> dict[str, list[Entry]]:
    """The enterprise's self-reported entries by category (current ones, or every version), with each
    certificate's confirmation against the departments' records."""
    codes = [c.code for c in categories(catalog)]
    stmt = select(CreditRecord).where(CreditRecord.entity_code == entity_code, CreditRecord.category.in_(codes),
                                      CreditRecord.provider == PROVIDER)
    if not history:
        stmt = stmt.where(CreditRecord.status == "current")
    rows = list(s.execute(stmt.order_by(CreditRecord.category, CreditRecord.record_key,
                                        CreditRecord.version.desc())).scalars())
    proofs = _department_certificates(s, catalog, entity_code) if any(
        r.category == SELF_CERTIFICATES for r in rows) else {}
    out: dict[str, list[Entry]] = {c: [] for c in codes}
    for r in rows:
        content = json.loads(r.content)
        state, by = UNCONFIRMED, None
        if r.category == SELF_CERTIFICATES:
            state, by = confirmation(content, proofs.get(str(content.get("certificate_no", ""))))
        out[r.category].append(Entry(r, content, state, by))
    return out


def _department_certificates(s: Session, catalog: Catalog, entity_code: str
                             ) -> dict[str, tuple[str, dict[str, Any], str | None]]:
    """number → (provider, content, name item) of the entity's current department records carrying one."""
    out: dict[str, tuple[str, dict[str, Any], str | None]] = {}
    sources = {c: v for c, v in CERTIFICATE_SOURCES.items() if c in catalog.codes}
    for r in s.execute(select(CreditRecord).where(CreditRecord.entity_code == entity_code,
                                                  CreditRecord.status == "current",
                                                  CreditRecord.category.in_(list(sources)))).scalars():
        no_item, name_item = sources[r.category]
        content = json.loads(r.content)
        if content.get(no_item):
            out[str(content[no_item])] = (r.provider, content, name_item)
    return out


def confirmation(mine: Mapping[str, Any], theirs: tuple[str, dict[str, Any], str | None] | None
                 ) -> tuple[str, str | None]:
    """A self-reported certificate against the department's record with its number (the same comparison as
    the quality check: validity, and the name where the department's record has one)."""
    if theirs is None:
        return UNCONFIRMED, None
    provider, content, name_item = theirs
    pairs = [(mine.get("valid_to"), content.get("valid_to"))]
    if name_item:
        pairs.append((mine.get("certificate_name"), content.get(name_item)))
    if any(a is not None and b is not None and str(a) != str(b) for a, b in pairs):
        return CONTRADICTED, provider
    return CONFIRMED, provider
