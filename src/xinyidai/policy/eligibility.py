"""What an enterprise may qualify for and what it has received (`/my/policies`): each running programme of
its region, checked against what the platform knows of the enterprise — region, industry, grade — with the
conditions that depend on a loan (credit loan, first loan, the bank enrolling it) said in words; then its
enrolled loans and the money claimed and paid on them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyidai.entities.models import MarketEntity
from xinyidai.entities.regions import region_name
from xinyidai.kit.errors import Forbidden, NotFound
from xinyidai.kit.principal import Principal
from xinyidai.policy import enrolments, flows, programmes, rules
from xinyidai.policy.models import KINDS, Claim, Enrolment, Programme


@dataclass(frozen=True)
class Check:
    ok: bool
    text: str


@dataclass(frozen=True)
class Offer:
    programme: Programme
    kind_label: str
    checks: list[Check]
    terms: list[tuple[str, str]]
    conditions: list[str]  # what depends on the loan and the bank

    @property
    def qualifies(self) -> bool:
        return all(c.ok for c in self.checks)


@dataclass(frozen=True)
class Received:
    programme: Programme
    loans: int
    claimed_fen: int
    paid_fen: int


def _entity(s: Session, p: Principal) -> MarketEntity:
    if p.role != "enterprise" or not p.org_code:
        raise Forbidden("只有企业用户可以查看本企业可享受的政策", code="ROLE_FORBIDDEN")
    e = s.get(MarketEntity, p.org_code)
    if e is None:
        raise NotFound("平台上还没有本企业的登记信息", code="ENTITY_NOT_FOUND")
    return e


def offers(s: Session, p: Principal) -> list[Offer]:
    """The running programmes whose region covers the enterprise, those it meets first."""
    entity = _entity(s, p)
    grade = enrolments.grade_of(s, entity.code)
    out = []
    progs = s.execute(programmes.visible(p).where(Programme.state == "ACTIVE").order_by(Programme.ends_on)).scalars()
    for prog in progs:
        if not programmes.covers(prog.region_code, entity.region_code or ""):
            continue
        r = programmes.rules_of(s, prog)
        checks = [Check(True, f"注册地 {region_name(entity.region_code or '') or entity.region_code} 在实施区域内")]
        if r.industries:
            ok = enrolments.industry_ok(r, entity.industry_code)
            checks.append(Check(ok, f"行业 {entity.industry_code or '未知'}{'属于' if ok else '不属于'}支持行业"
                                    f"（{'、'.join(r.industries)}）"))
        if r.min_grade:
            ok = enrolments.grade_ok(grade, r.min_grade)
            checks.append(Check(ok, f"公共信用综合评价 {grade or '暂无'}，要求不低于 {r.min_grade}"))
        conditions = [f"贷款授信日期在 {prog.starts_on} 至 {prog.ends_on} 之间，并由贷款银行向平台备案"]
        if r.credit_only:
            conditions.append("仅限信用贷款")
        if r.first_only:
            conditions.append("仅限首贷")
        out.append(Offer(prog, KINDS[prog.kind], checks, rules.describe(r), conditions))
    return sorted(out, key=lambda o: not o.qualifies)


def received(s: Session, p: Principal) -> list[Received]:
    """Per programme: the enterprise's enrolled loans, what was claimed (submitted or later) and paid."""
    entity = _entity(s, p)
    rows = s.execute(select(Enrolment.programme_id, func.count()).where(Enrolment.entity_code == entity.code)
                     .group_by(Enrolment.programme_id)).all()
    out = []
    for pid, n in rows:
        prog = s.get(Programme, pid)
        assert prog is not None
        held = s.execute(select(Claim.state, func.sum(Claim.amount_fen)).where(
            Claim.entity_code == entity.code, Claim.programme_id == pid, Claim.state.in_(flows.HOLDING))
            .group_by(Claim.state)).all()
        out.append(Received(prog, int(n), sum(int(v) for _, v in held),
                            sum(int(v) for st, v in held if st == flows.PAID)))
    return out
