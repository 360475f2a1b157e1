"""Credit repair (信用修复): ending a penalty's publication early, after its minimum period.

Eligibility is read from the catalogue's publication window of the record's current version
(catalog.publication): only the enterprise's own record, of a category with a window, still public, and on or
after the earliest repair date; one open application per record. An application carries the grounds, at
least one evidence file (rights.evidence) and a repair commitment signed in the same form (rights.commitments,
the text's SM3 digest), all stored in one transaction or none.

The operator approves or refuses with a reason. Approval makes a new version of the record through the normal
correction path (records.service.correct_record) with credit_repaired = 是 and publicity_until = the repair
date: from that day the record leaves the public tier and the public evaluation, while history and
evaluations as of an earlier day keep the old version (their as_of filters read the version current then).
The corrected version is a new version entered at this node, so the relay passes it up to the parent and
down to the child nodes of the entity's region — including the node the record first came from (a version
that kept the relayed record's origin would not go back down to it). The providing department is told
through the node's Notifier. Every step is a CaseStep (case_kind "repair") and an audit entry with the
entity's code."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from xinyidai.catalog import publication
from xinyidai.catalog.schema import Catalog, Category
from xinyidai.kit import audit, clock
from xinyidai.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kit.notify import Notifier
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import Principal
from xinyidai.quality import departments
from xinyidai.records import service as records_service
from xinyidai.records.models import CreditRecord
from xinyidai.rights import commitments, evidence
from xinyidai.rights.commitments import CommitmentRequest
from xinyidai.rights.models import CaseStep, Commitment, RepairApplication

CASE = "repair"
OPEN = ("submitted",)
READERS = ("operator", "regulator")
STEP_LABELS = {"submitted": "提交申请", "approved": "审核通过，信用修复", "refused": "审核未通过", "withdrawn": "企业撤回",
               "notified": "通知提供部门"}


# ── a record's window and whether it may be repaired ────────────────────────────────────────────────────

@dataclass(frozen=True)
class Eligible:
    """A record the enterprise may apply to repair today: its current version, category and window."""

    record: CreditRecord
    category: Category
    window: publication.Window


def _too_early(w: publication.Window) -> InvalidInput:
    return InvalidInput(f"最短公示期至 {w.earliest_repair.isoformat()} 届满，届满后方可申请", code="REPAIR_TOO_EARLY",
                        detail={"earliest_repair": w.earliest_repair.isoformat(), "min_months": w.min_months,
                                "basis": w.basis})


def current_version(s: Session, entity_code: str, record_id: int) -> CreditRecord:
    """The current version of the record `record_id` names (any of its versions), if it is the entity's own;
    another entity's record, or one withdrawn, is simply not found."""
    r = s.get(CreditRecord, record_id)
    if r is None or r.entity_code != entity_code:
        raise NotFound("未找到本企业的这条记录", code="REPAIR_RECORD_NOT_FOUND")
    if r.status == "current":
        return r
    cur = s.execute(select(CreditRecord).where(
        CreditRecord.entity_code == r.entity_code, CreditRecord.category == r.category,
        CreditRecord.record_key == r.record_key, CreditRecord.status == "current")).scalar_one_or_none()
    if cur is None:
        raise NotFound("该记录已撤回，无需申请信用修复", code="REPAIR_RECORD_NOT_FOUND")
    return cur


def open_application(s: Session, r: CreditRecord) -> RepairApplication | None:
    return s.execute(select(RepairApplication).where(
        RepairApplication.entity_code == r.entity_code, RepairApplication.category == r.category,
        RepairApplication.record_key == r.record_key, RepairApplication.state.in_(OPEN))).scalars().first()


def eligibility(s: Session, catalog: Catalog, entity_code: str, record_id: int, today: date) -> Eligible:
    """The record as it may be repaired today, or the refusal that says why not (with the date when early)."""
    r = current_version(s, entity_code, record_id)
    try:
        cat = catalog.category(r.category)
    except KeyError:
        raise InvalidInput("该类别的信息不适用信用修复", code="REPAIR_NOT_APPLICABLE") from None
    w = publication.window(cat, json.loads(r.content)) if cat.publication else None
    if w is None:
        raise InvalidInput(f"“{cat.name}”信息没有公示期，不适用信用修复", code="REPAIR_NOT_APPLICABLE")
    state = w.state(today)
    if state == "repaired":
        raise Conflict("该记录已信用修复，停止公示", code="REPAIR_ALREADY_REPAIRED")
    if state == "ended":
        raise Conflict(f"该记录的公示期已于 {w.ends.isoformat()} 届满，已停止公示，无需申请信用修复",
                       code="REPAIR_NOT_NEEDED")
    if today < w.earliest_repair:
        raise _too_early(w)
    app = open_application(s, r)
    if app is not None:
        raise Conflict(f"该记录已有办理中的信用修复申请 {app.number}", code="REPAIR_ALREADY_OPEN",
                       detail={"number": app.number})
    return Eligible(r, cat, w)


def record_subject(cat: Category, r: CreditRecord) -> str:
    """The record as the repair commitment names it."""
    facts = json.loads(r.content)
    parts = [str(facts[k]) for k in ("authority", "decision_no") if facts.get(k)]
    when = f"（{facts['decided_on']}）" if facts.get(cat.publication.date_item if cat.publication else "") else ""
    return f"{cat.name} {' '.join(parts) or r.record_key}{when}"


def commitment_request(e: Eligible) -> CommitmentRequest:
    return CommitmentRequest(kind="repair", scope=(e.category.code,), subject=record_subject(e.category, e.record))


def preview_commitment(s: Session, catalog: Catalog, p: Principal, record_id: int) -> tuple[Eligible, str, str]:
    """For the application form: the record as it may be repaired, and the commitment text with its digest."""
    code = commitments.own_administrator(s, p)
    e = eligibility(s, catalog, code, record_id, clock.today())
    text, digest = commitments.preview(s, catalog, p, commitment_request(e))
    return e, text, digest


def penalty_records(s: Session, catalog: Catalog, entity_code: str, today: date) -> list[dict[str, Any]]:
    """The entity's current records of categories with a publication window, each with its window, its state
    today and the latest application about it (the enterprise's "my repairs" page)."""
    cats = {c.code: c for c in catalog.categories if c.publication is not None}
    if not cats:
        return []
    recs = list(s.execute(select(CreditRecord).where(
        CreditRecord.entity_code == entity_code, CreditRecord.category.in_(sorted(cats)),
        CreditRecord.status == "current").order_by(CreditRecord.period_start.desc().nulls_last(),
                                                   CreditRecord.id.desc()).limit(500)).scalars())
    apps: dict[tuple[str, str], RepairApplication] = {}
    for a in s.execute(select(RepairApplication).where(RepairApplication.entity_code == entity_code)
                       .order_by(RepairApplication.id)).scalars():
        apps[(a.category, a.record_key)] = a  # the latest per record
    out = []
    for r in recs:
        cat = cats[r.category]
        content = json.loads(r.content)
        w = publication.window(cat, content)
        app = apps.get((r.category, r.record_key))
        out.append({"record": r, "category": cat, "content": content, "window": w,
                    "state": w.state(today) if w else None,
                    "may_apply": bool(w and w.may_repair_on(today) and not (app and app.state in OPEN)),
                    "application": app})
    return out


# ── applying ────────────────────────────────────────────────────────────────────────────────────────────

def _step(s: Session, a: RepairApplication, actor: str, action: str, note: str | None = None, **detail: Any
          ) -> CaseStep:
    st = CaseStep(case_kind=CASE, case_id=a.id, at=clock.now(), actor=actor, action=action, note=note)
    s.add(st)
    audit.record(s, actor, f"rights.repair.{action}", f"repair:{a.number}", entity_code=a.entity_code,
                 category=a.category, record_id=a.record_id, state=a.state, **detail)
    return st


def apply(s: Session, catalog: Catalog, p: Principal, record_id: int, *, grounds: str,
          files: list[evidence.Upload], commitment_digest: str) -> RepairApplication:
    """The administrator's application: grounds, at least one evidence file and the repair commitment
    confirmed by the digest of the text shown. Any refusal leaves nothing stored (the caller rolls back)."""
    code = commitments.own_administrator(s, p)
    today = clock.today()
    e = eligibility(s, catalog, code, record_id, today)
    grounds = (grounds or "").strip()
    if len(grounds) < 4:
        raise InvalidInput("请说明申请信用修复的理由（如已缴纳罚款、已完成整改）", code="REPAIR_GROUNDS_REQUIRED")
    if not [f for f in files if f.data]:
        raise InvalidInput("请至少上传一份证明材料（如罚款缴纳凭证、整改报告）", code="REPAIR_EVIDENCE_REQUIRED")
    if not (commitment_digest or "").strip():
        raise InvalidInput("申请信用修复须签署信用修复承诺书：请阅读承诺书全文并确认", code="REPAIR_COMMITMENT_REQUIRED")
    c = commitments.confirm(s, catalog, p, commitment_request(e), commitment_digest)
    now = clock.now()
    a = RepairApplication(number=f"tmp-{secrets.token_hex(8)}", entity_code=code, category=e.record.category,
                          record_key=e.record.record_key, record_id=e.record.id, grounds=grounds[:4000],
                          commitment_id=c.id, state="submitted", applied_by=p.username, applied_at=now)
    s.add(a)
    s.flush()
    a.number = f"XF{today:%Y%m%d}{a.id:04d}"
    evidence.add(s, entity_code=code, case_kind=CASE, case_id=a.id, files=files, actor=p.username)
    _step(s, a, p.username, "submitted", grounds[:2000], commitment=c.number,
          earliest_repair=e.window.earliest_repair.isoformat())
    return a


# ── reading: authorization inside the query ─────────────────────────────────────────────────────────────

def readable(p: Principal) -> Select[Any]:
    """An enterprise's own applications; all for the platform's operators and regulators; none for others."""
    stmt = select(RepairApplication)
    if p.role == "enterprise" and p.org_code:
        return stmt.where(RepairApplication.entity_code == p.org_code)
    if p.role in READERS:
        return stmt
    raise Forbidden(f"当前角色（{p.role_label}）无权查看信用修复申请", code="ROLE_FORBIDDEN")


def get(s: Session, p: Principal, number: str) -> RepairApplication:
    a = s.execute(readable(p).where(RepairApplication.number == (number or "").strip()[:30])).scalar_one_or_none()
    if a is None:
        raise NotFound("未找到该信用修复申请", code="REPAIR_NOT_FOUND")
    return a


def listing(s: Session, p: Principal, req: PageRequest, *, state: str | None = None) -> Page:
    stmt = readable(p)
    if state:
        stmt = stmt.where(RepairApplication.state == state)
    sortable = {"number": RepairApplication.id, "applied_at": RepairApplication.applied_at,
                "state": RepairApplication.state, "entity_code": RepairApplication.entity_code,
                "decided_at": RepairApplication.decided_at}
    return paginate(s, stmt, req, sortable, "applied_at")


def steps(s: Session, a: RepairApplication) -> list[CaseStep]:
    return list(s.execute(select(CaseStep).where(CaseStep.case_kind == CASE, CaseStep.case_id == a.id)
                          .order_by(CaseStep.id)).scalars())


def commitment_of(s: Session, a: RepairApplication) -> Commitment | None:
    return s.get(Commitment, a.commitment_id) if a.commitment_id else None


# ── deciding ────────────────────────────────────────────────────────────────────────────────────────────

def _deciding(s: Session, p: Principal, number: str, note: str, verb: str) -> tuple[RepairApplication, str]:
    if p.role != "operator":
        raise Forbidden(f"当前角色（{p.role_label}）不能审核信用修复申请", code="ROLE_FORBIDDEN")
    a = get(s, p, number)
    if a.state not in OPEN:
        raise Conflict("该申请已办结，不能再审核", code="REPAIR_NOT_OPEN")
    note = (note or "").strip()
    if len(note) < 2:
        raise InvalidInput(f"请填写{verb}的理由", code="REASON_REQUIRED")
    return a, note[:4000]


def approve(s: Session, catalog: Catalog, p: Principal, number: str, note: str,
            notifier: Notifier | None = None) -> RepairApplication:
    """Approve: a new version of the record says 已信用修复 and ends its publication today."""
    a, note = _deciding(s, p, number, note, "通过")
    today = clock.today()
    r = current_version(s, a.entity_code, a.record_id)
    cat = catalog.category(r.category)
    w = publication.window(cat, json.loads(r.content))
    if w is None or w.state(today) != "public":
        raise Conflict("该记录已不在公示中（公示期已满或已修复），无需再修复；请以“不予修复”办结并说明",
                       code="REPAIR_NOT_NEEDED")
    if today < w.earliest_repair:  # a correction since the application may have lengthened the minimum
        raise _too_early(w)
    pub = cat.publication
    if pub is None or not pub.repaired_item:
        raise InvalidInput(f"信息清单未为“{cat.name}”规定“是否已信用修复”字段，无法记录修复", code="REPAIR_NOT_APPLICABLE")
    changes = {pub.repaired_item: "是"}
    if pub.until_item:
        changes[pub.until_item] = today.isoformat()
    new = records_service.correct_record(s, catalog, r.id, changes, actor=p.username,
                                         reason=f"信用修复 {a.number}：{note}")
    now = clock.now()
    a.state, a.decision_note, a.decided_by, a.decided_at = "approved", note, p.username, now
    a.repaired_on, a.new_record_id = today, new.id
    _step(s, a, p.username, "approved", note, new_record_id=new.id, repaired_on=today.isoformat())
    _tell_provider(s, a, r.provider, cat.name, today, notifier)
    return a


def _tell_provider(s: Session, a: RepairApplication, provider: str, cat_name: str, today: date,
                   notifier: Notifier | None) -> None:
    """The department that provided the record hears of the repair (quality's departments map its name)."""
    dept = departments.by_name(s, provider)
    if dept is None or not dept.contact:
        _step(s, a, "system", "notified", f"提供单位“{provider}”未登记为数据提供部门或无联系方式，未能通知；"
                                          "修复后的记录已随节点同步送达上下级平台")
        return
    if notifier is None:
        _step(s, a, "system", "notified", f"本节点未配置通知方式，请另行告知 {dept.name}", department=dept.code)
        return
    notifier.send(dept.contact, f"【信易贷平台】贵单位报送的{cat_name}信息（{a.record_key}）已于 {today.isoformat()} "
                                    f"经信用修复停止公示（申请 {a.number}），请同步更新本单位系统。", kind="credit_repair")
    _step(s, a, "system", "notified", f"已通知 {dept.name}", department=dept.code)


def refuse(s: Session, p: Principal, number: str, note: str) -> RepairApplication:
    a, note = _deciding(s, p, number, note, "不予修复")
    a.state, a.decision_note, a.decided_by, a.decided_at = "refused", note, p.username, clock.now()
    _step(s, a, p.username, "refused", note)
    return a


def withdraw(s: Session, p: Principal, number: str) -> RepairApplication:
    """The administrator withdraws the enterprise's own open application."""
    commitments.own_administrator(s, p)
    a = get(s, p, number)
    if a.state not in OPEN:
        raise Conflict("该申请已办结，不能撤回", code="REPAIR_NOT_OPEN")
    a.state = "withdrawn"
    _step(s, a, p.username, "withdrawn")
    return a


__all__ = ["Eligible", "apply", "approve", "commitment_of", "current_version", "eligibility", "get", "listing",
           "penalty_records", "preview_commitment", "readable", "refuse", "steps", "withdraw"]
