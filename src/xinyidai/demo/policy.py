"""The demo's policy money (notice point 十四), made through the policy services as the people would: Harbin's
finance office (the `policy` and `policy2` accounts, 230100) creates and starts three programmes —

  - 哈尔滨市中小微企业贷款贴息: 1 个百分点 a year, any industry, 1,000 万元 per enterprise, 365 days;
  - 哈尔滨市中小微企业信用贷款风险补偿资金池, with a contribution from the demo bank;
  - 哈尔滨市政府性融资担保费补贴, for the demo guarantor (the `guarantor` account);

the banks enrol two in three of their disbursed Harbin loans (the credit loans among them in the pool too),
and claims stand in every state: 贴息 claims submitted, reviewed, approved, paid and
rejected, a batch of the quarter before submitted for review, a compensation paid on a loan that became
non-performing with a recovery after it, and the guarantor's fee-subsidy claim submitted. So every policy page
— the office's, the banks', the guarantor's, the enterprise's and the figures — has something to show.

Last, the `enterprise` account gets one loan with the demo bank (the `bank` account's institution), made
through the market services with the clock set back (`clock.frozen_at`): applied 124 days before `as_of`,
accepted, offered, offer accepted, then granted and drawn in full on the same day, 120 days before `as_of`
(`loan_dates(as_of)`: granted_on = first_disbursed_on = as_of − 120 days, matures_on = that day + 365 days;
for a demo built on 2026-12-07: granted and drawn 2026-08-09, maturing 2027-08-09). Its bank loan number
(`loan_ref`) is `DEMO-POLICY-0001`; 100 万元 at 4.35%, a credit loan. It is enrolled in no programme: a
browser journey enrols it and claims on it. Nothing here is random, so the same demo is made every time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from xinyidai.accounts.models import User
from xinyidai.catalog.schema import Catalog
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import clock
from xinyidai.kit.db import Database
from xinyidai.kit.errors import DomainError
from xinyidai.kit.principal import Principal
from xinyidai.market import applications, loans, products
from xinyidai.market.applications import Actor
from xinyidai.market.models import Application, Loan, Product
from xinyidai.policy import arithmetic, claims, enrolments, evidence, guarantees, programmes
from xinyidai.policy.evidence import Evidence
from xinyidai.policy.models import Claim, Enrolment

HARBIN = "230100"
LOAN_REF = "DEMO-POLICY-0001"
LOAN_DAYS_AGO = 120
LOAN_AMOUNT_YUAN = 1_000_000
# A one-page PDF the claims carry as their evidence (付息凭证, 损失证明): the office's pages open it.
_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


@dataclass
class PolicyDemo:
    programmes: dict[str, str]  # kind → number
    enrolled: int
    claims: dict[str, int]  # state → claims
    batch: str | None
    contract: str | None
    enterprise_loan: str | None  # the platform's number of DEMO-POLICY-0001


def loan_dates(as_of: date) -> tuple[date, date]:
    """(granted and drawn, matures) of the enterprise account's loan DEMO-POLICY-0001."""
    granted = as_of - timedelta(days=LOAN_DAYS_AGO)
    return granted, granted + timedelta(days=365)


def _quarters(as_of: date) -> tuple[tuple[date, date], tuple[date, date]]:
    """The last calendar quarter that has ended before `as_of`, and the one before it."""
    q0 = date(as_of.year, 3 * ((as_of.month - 1) // 3) + 1, 1)
    last_end = q0 - timedelta(days=1)
    last = (date(last_end.year, last_end.month - 2, 1), last_end)
    prev_end = last[0] - timedelta(days=1)
    return last, (date(prev_end.year, prev_end.month - 2, 1), prev_end)


def _principal(s: Any, username: str) -> Principal | None:
    u = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
    return None if u is None else Principal(u.id, u.username, u.display_name, u.role, u.org_code)


def _teller(code: str) -> Principal:
    return Principal(0, f"demo-{code[-6:]}", "演示数据", "bank", code)


def seed(db: Database, catalog: Catalog, as_of: date, node_code: str, var_dir: Path) -> PolicyDemo:
    with db.session() as s:
        officer, reviewer = _principal(s, "policy"), _principal(s, "policy2")
        guarantor, bank_user = _principal(s, "guarantor"), _principal(s, "bank")
        enterprise = _principal(s, "enterprise")
    made = PolicyDemo({}, 0, {}, None, None, None)
    if officer is None or reviewer is None:
        return made
    ev = evidence.store(var_dir, "付息凭证（演示）.pdf", _PDF)
    start = date(as_of.year - 1, 1, 1)
    with db.session() as s:
        for kind, name, budget, raw in (
                ("interest", "哈尔滨市中小微企业贷款贴息", 5_000_000, {}),
                ("pool", "哈尔滨市中小微企业信用贷款风险补偿资金池", 20_000_000, {}),
                ("guarantee", "哈尔滨市政府性融资担保费补贴", 1_000_000, {"rate_bp": 50, "fee_ceiling_bp": 100})):
            prog = programmes.create(s, officer, kind=kind, name=name, region_code=HARBIN, starts_on=start,
                                     ends_on=date(as_of.year + 1, 12, 31), budget_fen=budget * 100, raw_rules=raw)
            programmes.start(s, officer, prog.number)
            made.programmes[kind] = prog.number
        if bank_user is not None and bank_user.org_code:
            bank_name = s.get(FinancialInstitution, bank_user.org_code)
            programmes.contribute(s, officer, made.programmes["pool"],
                                  (bank_name.name if bank_name else "合作银行")[:30], 5_000_000 * 100)
    demo_bank = bank_user.org_code if bank_user is not None else None
    enrolled = _enrol(db, made)
    made.enrolled = len(enrolled)
    last, before = _quarters(as_of)
    _interest_claims(db, made, officer, reviewer, enrolled, last, ev)
    if demo_bank:
        made.batch = _batch(db, made, demo_bank, before, ev)
    _pool(db, made, officer, reviewer, enrolled, as_of, ev)
    if guarantor is not None:
        made.contract = _guarantee(db, made, guarantor, enrolled, last, ev)
    with db.session() as s:
        for state, n in s.execute(select(Claim.state, func.count()).group_by(Claim.state)).all():
            made.claims[state] = int(n)
    if enterprise is not None and demo_bank:
        made.enterprise_loan = _enterprise_loan(db, catalog, enterprise, demo_bank, as_of, node_code)
    return made


def _enrol(db: Database, made: PolicyDemo) -> list[tuple[str, str]]:
    """Two in three of each bank's disbursed Harbin loans in the 贴息 programme, one by one as a bank's
    teller would (the third is left for the bank's own pages), and the credit loans among them in the pool."""
    out: list[tuple[str, str]] = []  # (institution, loan number)
    with db.session() as s:
        rows = s.execute(select(Loan.institution_code, Loan.loan_no, Loan.is_credit).where(
            Loan.city_code == HARBIN, Loan.first_disbursed_on.is_not(None), Loan.status == "DISBURSED")
            .order_by(Loan.institution_code, Loan.loan_no)).all()
        by_bank: dict[str, list[tuple[str, int]]] = {}
        for inst, number, credit in rows:
            by_bank.setdefault(inst, []).append((number, credit))
        for inst, mine in by_bank.items():
            teller = _teller(inst)
            for k, (number, credit) in enumerate(mine):
                if k % 3 == 2:
                    continue
                for kind in ("interest", "pool") if credit else ("interest",):
                    try:
                        enrolments.enrol(s, teller, made.programmes[kind], number)
                    except DomainError:
                        continue
                    if kind == "interest":
                        out.append((inst, number))
    return out


def _paid_interest(loan: Loan, days: int) -> int:
    """The interest the bank's statement shows for the days: the loan's own rate on what was drawn."""
    return max(1, loan.disbursed_fen * loan.rate_bp * days // (10_000 * 360))


def _interest_claims(db: Database, made: PolicyDemo, officer: Principal, reviewer: Principal,
                     enrolled: list[tuple[str, str]], period: tuple[date, date], ev: Evidence) -> None:
    """One 贴息 claim for the last quarter in each state: draft, submitted, reviewed, approved, paid (two),
    rejected."""
    fates = ["paid", "approved", "reviewed", "submitted", "rejected", "paid", "draft"]
    number = made.programmes["interest"]
    for inst, loan_no in enrolled:
        if not fates:
            break
        teller = _teller(inst)
        with db.session() as s:
            loan = s.execute(select(Loan).where(Loan.loan_no == loan_no)).scalar_one()
            f, t = arithmetic.day(period[0]), arithmetic.day(period[1]) + 1
            days = arithmetic.overlap_days(f, t, arithmetic.day(loan.first_disbursed_on or loan.granted_on),
                                           arithmetic.day(loan.first_disbursed_on or loan.granted_on) + 365)
            if days == 0:
                continue
            try:
                c = claims.draft_interest(s, teller, number, loan_no, *period, paid_interest_fen=_paid_interest(loan, days),
                                          ev=ev, source="page")
            except DomainError:
                s.rollback()
                continue
            fate = fates.pop(0)
            moves: list[tuple[Principal, str, dict[str, Any]]] = []
            if fate != "draft":
                moves.append((teller, "submit", {}))
            if fate in ("reviewed", "approved", "paid"):
                moves.append((officer, "review", {}))
            if fate in ("approved", "paid"):
                moves.append((reviewer, "approve", {}))
            if fate == "paid":
                moves.append((officer, "pay", {"payment_ref": f"GK-HRB-{c.number[-6:]}"}))
            if fate == "rejected":
                moves.append((officer, "reject", {"reason": "付息凭证所列利息与贷款合同利率不符，请核对后重新申领"}))
            for who, action, kw in moves:
                claims.act(s, who, c.number, action, **kw)


def _batch(db: Database, made: PolicyDemo, bank: str, period: tuple[date, date], ev: Evidence) -> str | None:
    """The demo bank's quarter before last, every enrolled loan at once, submitted for the office to review."""
    with db.session() as s:
        try:
            b = claims.claim_period(s, _teller(bank), made.programmes["interest"], *period, ev=ev)
        except DomainError:
            s.rollback()
            return None
        if b.claims == 0:
            return None
        claims.act_batch(s, _teller(bank), made.programmes["interest"], b.batch, "submit")
        return b.batch


def _pool(db: Database, made: PolicyDemo, officer: Principal, reviewer: Principal, enrolled: list[tuple[str, str]],
          as_of: date, ev: Evidence) -> None:
    """One loan in the pool turns non-performing (the bank reports it 95 days past due, 次级): the bank claims
    its compensation, the office pays it, and a first recovery pays the pool back its share."""
    number = made.programmes["pool"]
    with db.session() as s:
        prog = programmes.get(s, officer, number)
        rows = s.execute(select(Enrolment.institution_code, Enrolment.loan_id)
                         .where(Enrolment.programme_id == prog.id).order_by(Enrolment.id)).all()
    for inst, loan_id in rows[:1]:
        teller = _teller(inst)
        with db.session() as s:
            loan = s.get(Loan, loan_id)
            assert loan is not None
            outstanding = loan.outstanding_fen if loan.outstanding_fen is not None else loan.disbursed_fen
            if not outstanding:
                continue
            try:
                loans.report_status(s, loan, as_of=as_of, outstanding_fen=outstanding, overdue_principal_fen=outstanding,
                                    overdue_interest_fen=0, interest_paid_fen=0, dpd=95, risk_class="次级",
                                    source="demo", reported_by="demo")
                c = claims.draft_compensation(s, teller, number, loan.loan_no, outstanding, ev)
                claims.act(s, teller, c.number, "submit")
                claims.act(s, officer, c.number, "review")
                claims.act(s, reviewer, c.number, "approve")
                claims.act(s, officer, c.number, "pay", payment_ref=f"GK-HRB-FXBC-{c.number[-6:]}")
                claims.act(s, teller, c.number, "recover", recovered_fen=outstanding // 5)
            except DomainError:
                s.rollback()


def _guarantee(db: Database, made: PolicyDemo, guarantor: Principal, enrolled: list[tuple[str, str]],
               period: tuple[date, date], ev: Evidence) -> str | None:
    """The guarantor's contract on an enrolled loan (80% covered, 0.8% a year), enrolled in the fee-subsidy
    programme, its last quarter claimed and submitted."""
    for _, loan_no in enrolled:
        with db.session() as s:
            loan = s.execute(select(Loan).where(Loan.loan_no == loan_no)).scalar_one()
            drawn = loan.first_disbursed_on or loan.granted_on
            if drawn > period[0]:
                continue
            try:
                g = guarantees.record(s, guarantor, loan_no=loan_no, contract_ref="HRBDB-2026-0001",
                                      covered_fen=loan.granted_fen * 8 // 10, fee_bp=80, starts_on=drawn,
                                      ends_on=loan.matures_on or drawn + timedelta(days=365),
                                      note="政府性融资担保，按年收取担保费")
                enrolments.enrol(s, guarantor, made.programmes["guarantee"], g.contract_ref)
                c = claims.draft_guarantee(s, guarantor, made.programmes["guarantee"], g.contract_ref, *period, ev=ev)
                claims.act(s, guarantor, c.number, "submit")
            except DomainError:
                s.rollback()
                continue
            return g.number
    return None


def _enterprise_loan(db: Database, catalog: Catalog, owner: Principal, bank: str, as_of: date,
                     node_code: str) -> str | None:
    """DEMO-POLICY-0001: the enterprise account's loan with the demo bank, applied for on one of the bank's
    products it qualifies for, granted and drawn 120 days before `as_of` (see the module docstring)."""
    granted, matures = loan_dates(as_of)
    applied = datetime.combine(granted - timedelta(days=4), time(9, 30), tzinfo=clock.CHINA_TZ)
    teller = Actor("demo", applications.ActorKind.BANK, bank, "system", _teller(bank))
    me = Actor(owner.username, applications.ActorKind.ENTERPRISE, owner.org_code, "system", owner)
    with db.session() as s:
        numbers = list(s.execute(select(Product.number).where(Product.institution_code == bank,
                                                              Product.live_version_id.is_not(None))
                                 .order_by(Product.id.desc())).scalars())
    number = None
    for product in numbers:
        with clock.frozen_at(applied), db.session() as s:
            try:
                v = products.published_version(s, product)
                amount = min(max(LOAN_AMOUNT_YUAN * 100, v.amount_min_fen), v.amount_max_fen) // 100
                term = max(min(12, v.term_max_months), v.term_min_months)
                pv = applications.preview(s, catalog, owner, product, amount, term, "购买原材料")
                number = applications.submit(s, catalog, owner, product_number=product, amount=amount, term_months=term,
                                             purpose="购买原材料", grant_digest=pv["grant_digest"],
                                             node_code=node_code).number
            except DomainError:
                s.rollback()
                continue
        break
    if number is None:
        return None
    steps: list[tuple[datetime, Actor, str, dict[str, Any]]] = [
        (applied + timedelta(hours=3), teller, "accept", {}),
        (applied + timedelta(days=1), teller, "offer", {"amount": amount, "rate": "4.35", "term_months": term}),
        (applied + timedelta(days=2), me, "accept_offer", {}),
        (datetime.combine(granted, time(10), tzinfo=clock.CHINA_TZ), teller, "grant",
         {"amount": amount, "guarantee_type": "信用", "loan_ref": LOAN_REF, "first_loan": False,
          "matures_on": matures.isoformat()}),
        (datetime.combine(granted, time(15), tzinfo=clock.CHINA_TZ), teller, "disburse", {"amount": amount}),
    ]
    for at, who, action, body in steps:
        with clock.frozen_at(at), db.session() as s:
            applications.decide(s, catalog, who, number, action, body, node_code=node_code)
    with db.session() as s:
        loan_id = s.execute(select(Application.loan_id).where(Application.number == number)).scalar_one()
        loan = s.get(Loan, loan_id)
        return loan.loan_no if loan is not None else None
