"""Government financing guarantors' contracts (政府性融资担保): a guarantor, onboarded as an institution of
the kind 担保机构, records its guarantee on a loan the platform knows — the covered amount, the fee rate it
charges — and, if the borrower fails, the 代偿 it paid. Its fee-subsidy programme enrols these contracts."""

from __future__ import annotations

import secrets
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import audit, clock
from xinyidai.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import Principal
from xinyidai.market.models import Loan
from xinyidai.market.money import wan
from xinyidai.policy.enrolments import GUARANTOR_KIND, institution_of
from xinyidai.policy.models import GuaranteeContract

STATES = {"ACTIVE": "保证中", "COMPENSATED": "已代偿", "ENDED": "已解除"}
SORTABLE = {"created_at": GuaranteeContract.created_at, "covered": GuaranteeContract.covered_fen,
            "starts_on": GuaranteeContract.starts_on}


def guarantor_of(s: Session, p: Principal) -> FinancialInstitution:
    inst = institution_of(s, p)
    if inst.kind != GUARANTOR_KIND:
        raise Forbidden("只有政府性融资担保机构可以登记担保合同", code="NOT_A_GUARANTOR")
    return inst


def record(s: Session, p: Principal, *, loan_no: str, contract_ref: str, covered_fen: int, fee_bp: int,
           starts_on: date, ends_on: date, note: str | None = None) -> GuaranteeContract:
    inst = guarantor_of(s, p)
    ref = (contract_ref or "").strip()
    if not 1 <= len(ref) <= 64:
        raise InvalidInput("请填写担保合同编号（1–64 个字符）", code="BAD_CONTRACT_REF")
    loan = s.execute(select(Loan).where(Loan.loan_no == (loan_no or "").strip())).scalar_one_or_none()
    if loan is None:
        raise NotFound(f"平台上没有贷款 {loan_no}：请填写银行授信后平台给出的贷款编号（DK-…）", code="LOAN_NOT_FOUND")
    if s.execute(select(GuaranteeContract.number).where(GuaranteeContract.guarantor_code == inst.code,
                                                        GuaranteeContract.contract_ref == ref)).first():
        raise Conflict(f"担保合同 {ref} 已登记，不能重复登记", code="CONTRACT_TAKEN")
    if not 0 < covered_fen <= loan.granted_fen:
        raise InvalidInput(f"担保金额须大于 0 且不超过授信金额 {wan(loan.granted_fen)}", code="COVER_ABOVE_LOAN")
    if not 0 <= fee_bp <= 1000:
        raise InvalidInput("担保费率须在 0–10% 之间", code="BAD_FEE")
    if ends_on <= starts_on:
        raise InvalidInput(f"担保期限的结束日 {ends_on} 须晚于开始日 {starts_on}", code="BAD_PERIOD")
    c = GuaranteeContract(number=f"DB-{clock.now().astimezone(clock.CHINA_TZ):%Y%m%d}-{secrets.token_hex(5).upper()}",
                          guarantor_code=inst.code, contract_ref=ref, loan_id=loan.id, loan_no=loan.loan_no,
                          entity_code=loan.entity_code, covered_fen=covered_fen, fee_bp=fee_bp, starts_on=starts_on,
                          ends_on=ends_on, state="ACTIVE", compensated_fen=0, note=(note or "").strip()[:500] or None,
                          created_by=p.username, created_at=clock.now())
    s.add(c)
    s.flush()
    audit.record(s, p.username, "policy.guarantee.recorded", f"guarantee:{c.number}", entity_code=loan.entity_code,
                 institution_code=inst.code, loan_no=loan.loan_no, covered_fen=covered_fen, fee_bp=fee_bp)
    return c


def own(s: Session, p: Principal, ref: str) -> GuaranteeContract:
    inst = guarantor_of(s, p)
    c = s.execute(select(GuaranteeContract).where(GuaranteeContract.guarantor_code == inst.code,
                                                  (GuaranteeContract.number == ref) | (GuaranteeContract.contract_ref == ref))
                  ).scalar_one_or_none()
    if c is None:
        raise NotFound(f"未找到本机构的担保合同 {ref}", code="CONTRACT_NOT_FOUND")
    return c


def compensate(s: Session, p: Principal, ref: str, amount_fen: int, on: date) -> GuaranteeContract:
    """The guarantor paid the bank for the borrower (代偿): once, no more than it covered."""
    c = own(s, p, ref)
    if c.state != "ACTIVE":
        raise Conflict(f"担保合同当前为“{STATES[c.state]}”，不能登记代偿", code="CONTRACT_NOT_ACTIVE")
    if not 0 < amount_fen <= c.covered_fen:
        raise InvalidInput(f"代偿金额须大于 0 且不超过担保金额 {wan(c.covered_fen)}", code="COMPENSATION_ABOVE_COVER")
    if on < c.starts_on or on > clock.today():
        raise InvalidInput(f"代偿日期 {on} 须在担保开始日 {c.starts_on} 之后且不晚于今天", code="BAD_DATE")
    c.state, c.compensated_fen, c.compensated_on = "COMPENSATED", amount_fen, on
    audit.record(s, p.username, "policy.guarantee.compensated", f"guarantee:{c.number}", entity_code=c.entity_code,
                 institution_code=c.guarantor_code, amount_fen=amount_fen)
    return c


def listing(s: Session, p: Principal, req: PageRequest) -> Page[GuaranteeContract]:
    q = select(GuaranteeContract)
    if p.role == "bank":
        q = q.where(GuaranteeContract.guarantor_code == (p.org_code or ""))
    elif p.role == "enterprise":
        q = q.where(GuaranteeContract.entity_code == (p.org_code or ""))
    elif p.role not in ("operator", "regulator", "policy"):
        q = q.where(GuaranteeContract.id < 0)
    return paginate(s, q, req, SORTABLE, "created_at")
