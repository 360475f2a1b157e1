"""Credit commitments (信用承诺书): a text the enterprise's administrator confirms, kept like an authorization.

The text is built from the kind, the entity's name and code, the scope and the Beijing date; the page shows it
with its SM3 digest, and the confirmation sends the digest back. The service rebuilds the text from the same
inputs and refuses a mismatch (a text changed since it was shown — another day, another name — is not what
was confirmed). A later penalty within the scope breaks the commitment: `check_broken` finds them all in one
query (the daily chore), sets broken_at / broken_record_id / broken_note and audits each."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select
from sqlalchemy.orm import Session

from xinyidai.accounts import colleagues
from xinyidai.catalog.publication import add_months
from xinyidai.catalog.schema import Catalog
from xinyidai.entities.models import MarketEntity
from xinyidai.kit import audit, clock
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import Principal
from xinyidai.records.models import CreditRecord
from xinyidai.rights.models import COMMITMENT_KINDS, Commitment

VALID_MONTHS = {"general": 12, "repair": 12}  # self-report commitments stand with what they vouch for
READERS = ("operator", "regulator")
TITLES = {"general": "信用承诺书（主动型）", "repair": "信用修复承诺书", "self_report": "自报信息真实性承诺书"}
PLEDGES = {
    "general": ["严格遵守法律、法规和规章，依法诚信经营，自觉接受政府、行业组织、社会公众和新闻舆论的监督；",
                "向平台及金融机构提供的信息真实、准确、完整，不隐瞒、不虚构；",
                "在承诺范围内不发生新的失信行为；如违反承诺，自愿接受有关部门依法依规作出的处理，"
                "并同意将违诺情况记入本主体的信用记录，在平台上标注展示。"],
    "repair": ["已履行行政处罚决定规定的义务，已纠正失信行为、消除不良影响；",
               "申请信用修复所提交的材料真实、准确、完整，如有虚假，自愿撤销修复结果并承担相应责任；",
               "修复后在承诺范围内不再发生同类失信行为；如违反承诺，同意将违诺情况记入本主体的信用记录。"],
    "self_report": ["本主体自行填报的信息真实、准确、完整，如有变化将及时更新；",
                    "知悉自报信息在有关部门的记录确认前不计入公共信用评价，与部门记录不一致的将作为数据质量问题核查；",
                    "如填报虚假信息，自愿承担相应责任，并同意将该情况记入本主体的信用记录。"],
}
NUMERALS = "一二三四五六七八九十"


@dataclass(frozen=True)
class CommitmentRequest:
    """What a commitment says: its kind, the catalogue categories it covers, and for a repair or a
    self-report a line naming what it is about (the record repaired, the information declared)."""

    kind: str = "general"
    scope: tuple[str, ...] = ("penalty",)
    subject: str = ""


def own_administrator(s: Session, p: Principal) -> str:
    """The enterprise's code, when `p` is its verified administrator (read from the database each call)."""
    if p.role != "enterprise" or not p.org_code:
        raise Forbidden("只有企业用户可以办理本企业的信用承诺与信用修复", code="ROLE_FORBIDDEN")
    if not colleagues.is_administrator(s, p):
        raise Forbidden("只有本企业经实名核验的管理员可以签署信用承诺、申请信用修复", code="ORG_ADMIN_ONLY")
    return p.org_code


def _check(catalog: Catalog, req: CommitmentRequest) -> tuple[str, ...]:
    if req.kind not in COMMITMENT_KINDS:
        raise InvalidInput(f"承诺类型须为 {'、'.join(COMMITMENT_KINDS.values())} 之一", code="BAD_COMMITMENT_KIND")
    scope = sorted({c.strip() for c in req.scope if c.strip()})
    if not scope:
        raise InvalidInput("请选择承诺覆盖的信息类别", code="COMMITMENT_SCOPE_REQUIRED")
    unknown = [c for c in scope if c not in catalog.positions]
    if unknown:
        raise InvalidInput(f"信息清单中没有类别“{unknown[0][:40]}”", code="UNKNOWN_CATEGORY")
    return tuple(sorted(scope, key=catalog.position))


def valid_until(kind: str, today: date) -> date | None:
    months = VALID_MONTHS.get(kind)
    return add_months(today, months) if months else None


def commitment_text(catalog: Catalog, entity: MarketEntity, req: CommitmentRequest, scope: tuple[str, ...],
                    today: date) -> str:
    """The words the administrator confirms; everything that decides when it counts as broken is in them."""
    names = "、".join(catalog.category(c).name for c in scope)
    until = valid_until(req.kind, today)
    lines = [TITLES[req.kind], f"承诺主体：{entity.name}（统一社会信用代码 {entity.code}）", f"承诺日期：{today.isoformat()}"]
    if req.subject.strip():
        lines.append(f"承诺事项：{req.subject.strip()}")
    lines.append(f"承诺范围：{names}")
    lines.append("本主体郑重承诺：")
    lines += [f"  {NUMERALS[i]}、{text}" for i, text in enumerate(PLEDGES[req.kind])]
    lines.append(f"有效期：{today.isoformat()} 至 {until.isoformat()}" if until else "有效期：与所承诺事项相同")
    lines.append(f"承诺日期之后作出、属于承诺范围（{names}）的记录，视为违反本承诺，平台将予以标注，"
                 "并向本主体及平台运营方展示。")
    return "\n".join(lines)


def preview(s: Session, catalog: Catalog, p: Principal, req: CommitmentRequest) -> tuple[str, str]:
    """The text to show and its SM3 digest (which the confirmation must send back)."""
    code = own_administrator(s, p)
    entity = s.get(MarketEntity, code)
    if entity is None:
        raise NotFound("登记册中没有本企业", code="ENTITY_NOT_FOUND")
    text = commitment_text(catalog, entity, req, _check(catalog, req), clock.today())
    return text, sm3_hex(text.encode("utf-8"))


def confirm(s: Session, catalog: Catalog, p: Principal, req: CommitmentRequest, shown_digest: str) -> Commitment:
    """Store exactly the text shown; a digest that does not match the text rebuilt now is refused."""
    text, digest = preview(s, catalog, p, req)
    if not (shown_digest or "").strip():
        raise InvalidInput("请阅读并确认承诺书全文", code="COMMITMENT_NOT_CONFIRMED")
    if shown_digest.strip() != digest:
        raise Conflict("承诺书内容已变化（例如跨过了日期），请重新阅读并确认", code="COMMITMENT_TEXT_CHANGED")
    now, today = clock.now(), clock.today()
    c = Commitment(number=f"tmp-{secrets.token_hex(8)}", entity_code=p.org_code or "", kind=req.kind,
                   scope=",".join(_check(catalog, req)), text=text, text_digest=digest, confirmed_by=p.username,
                   confirmed_at=now, valid_until=valid_until(req.kind, today))
    s.add(c)
    s.flush()
    c.number = f"CN{today:%Y%m%d}{c.id:04d}"  # the row's id: two confirmations at once never share one
    audit.record(s, p.username, "rights.commitment.signed", f"commitment:{c.number}", entity_code=c.entity_code,
                 kind=c.kind, scope=c.scope.split(","), text_digest=digest)
    return c


# ── reading: authorization inside the query ─────────────────────────────────────────────────────────────

def readable(p: Principal) -> Select[Any]:
    """An enterprise's own commitments; all for the platform's operators and regulators; none for others."""
    stmt = select(Commitment)
    if p.role == "enterprise" and p.org_code:
        return stmt.where(Commitment.entity_code == p.org_code)
    if p.role in READERS:
        return stmt
    raise Forbidden(f"当前角色（{p.role_label}）无权查看信用承诺", code="ROLE_FORBIDDEN")


def get(s: Session, p: Principal, number: str) -> Commitment:
    c = s.execute(readable(p).where(Commitment.number == (number or "").strip()[:30])).scalar_one_or_none()
    if c is None:
        raise NotFound("未找到该信用承诺", code="COMMITMENT_NOT_FOUND")
    return c


def listing(s: Session, p: Principal, req: PageRequest, *, broken: bool = False, kind: str | None = None,
            entity_code: str | None = None) -> Page:
    stmt = readable(p)
    if broken:
        stmt = stmt.where(Commitment.broken_at.is_not(None))
    if kind in COMMITMENT_KINDS:
        stmt = stmt.where(Commitment.kind == kind)
    if entity_code:
        stmt = stmt.where(Commitment.entity_code == entity_code.strip().upper()[:18])
    sortable = {"confirmed_at": Commitment.confirmed_at, "broken_at": Commitment.broken_at,
                "entity_code": Commitment.entity_code, "kind": Commitment.kind, "valid_until": Commitment.valid_until}
    return paginate(s, stmt, req, sortable, "confirmed_at")


def is_live(c: Commitment, today: date) -> bool:
    return c.broken_at is None and (c.valid_until is None or today <= c.valid_until)


# ── broken commitments: the daily chore ─────────────────────────────────────────────────────────────────

def _beijing_day(col: Any, dialect: str) -> ColumnElement[Any]:
    """The Beijing calendar date of a stored UTC time, in SQL (SQLite keeps 'YYYY-MM-DD HH:MM:SS…' text)."""
    if dialect == "postgresql":
        return func.date(func.timezone("Asia/Shanghai", col))
    return func.date(col, "+8 hours")


def check_broken(s: Session, today: date, catalog: Catalog | None = None) -> int:
    """Flag every unbroken commitment that a later record in its scope breaks: a current record of the same
    entity, of a category in the scope, whose date (the category's period item — the decision date of a
    penalty) is after the commitment's Beijing date, within its validity and not after `today`. One query
    over all commitments finds them; each found is then marked and audited. Returns how many were broken."""
    dialect = s.get_bind().dialect.name
    in_scope = (literal(",") + Commitment.scope + literal(",")).like(
        literal("%,") + CreditRecord.category + literal(",%"))
    rows = s.execute(
        select(Commitment.id, CreditRecord.id, CreditRecord.category, CreditRecord.period_start,
               CreditRecord.content)
        .join(CreditRecord, and_(CreditRecord.entity_code == Commitment.entity_code, CreditRecord.status == "current",
                                 in_scope))
        .where(Commitment.broken_at.is_(None), CreditRecord.period_start.is_not(None),
               CreditRecord.period_start > _beijing_day(Commitment.confirmed_at, dialect),
               CreditRecord.period_start <= today,
               or_(Commitment.valid_until.is_(None), CreditRecord.period_start <= Commitment.valid_until))
        .order_by(Commitment.id, CreditRecord.period_start, CreditRecord.id)).all()
    first: dict[int, Any] = {}
    for row in rows:
        first.setdefault(row[0], row)
    now = clock.now()
    for cid, (_, rid, category, day, content) in first.items():
        c = s.get(Commitment, cid)
        if c is None:
            continue
        c.broken_at, c.broken_record_id = now, rid
        c.broken_note = _broken_note(_category_name(catalog, category), day, content)
        audit.record(s, "system", "rights.commitment.broken", f"commitment:{c.number}", entity_code=c.entity_code,
                     record_id=rid, category=category, decided_on=str(day), note=c.broken_note)
    return len(first)


def _category_name(catalog: Catalog | None, code: str) -> str:
    try:
        return catalog.category(code).name if catalog is not None else code
    except KeyError:
        return code


def _broken_note(category: str, day: Any, content: str) -> str:
    try:
        facts = json.loads(content)
    except ValueError:
        facts = {}
    what = "、".join(str(facts[k]) for k in ("authority", "decision_no") if facts.get(k))
    return f"承诺后于 {day} 新增属于承诺范围的“{category}”记录{('（' + what + '）') if what else ''}"[:2000]


__all__ = ["COMMITMENT_KINDS", "CommitmentRequest", "check_broken", "commitment_text", "confirm", "get", "is_live",
           "listing", "own_administrator", "preview", "readable", "valid_until"]
