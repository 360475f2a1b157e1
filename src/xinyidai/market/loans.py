"""Loans and their repayment: a loan exists from the bank's 授信 on an application; drawdowns (放款) add to
what was disbursed, never above the grant; repayment status reports (还款状态, monthly at least) keep the
loan's days past due, and an overdue report opens or moves a default case (see `cases`).

Whether a loan is the enterprise's first (首贷) is the bank's declaration — the bank sees the enterprise's
whole credit history, the platform does not — cross-checked against earlier loans on the platform: the
disagreement is kept (`first_on_platform`) and shown beside the declaration."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from xinyidai.entities.models import MarketEntity
from xinyidai.entities.regions import prefecture_of
from xinyidai.kit import audit, clock
from xinyidai.kit.errors import Conflict, InvalidInput, NotFound
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.market.models import (
    RISK_CLASSES,
    Application,
    Loan,
    Product,
    ProductVersion,
    StatusReport,
)
from xinyidai.market.money import wan


def _changed(s: Session, loan: Loan) -> None:
    """Every change of a loan is marked for the parent node, in its transaction (see `envelopes`)."""
    loan.updated_at, loan.dirty = clock.now(), 1


def create(s: Session, *, app: Application, product: Product, version: ProductVersion, entity: MarketEntity,
           node_code: str, loan_ref: str, granted_fen: int, guarantee_type: str, first_declared: bool,
           granted_on: date, rate_bp: int, term_months: int, matures_on: date | None,
           policy_tags: list[str]) -> Loan:
    """The loan of a 授信. A bank loan number used before by this institution is refused: one loan, once."""
    taken = s.execute(select(Loan.loan_no).where(Loan.institution_code == app.institution_code,
                                                 Loan.loan_ref == loan_ref)).scalar()
    if taken:
        raise Conflict(f"贷款编号 {loan_ref} 已用于贷款 {taken}，同一笔贷款不能报送两次", code="LOAN_REF_TAKEN")
    earlier = s.execute(select(exists().where(Loan.entity_code == entity.code, Loan.granted_on <= granted_on))).scalar()
    now = clock.now()
    first = int(bool(first_declared))
    credit = int(guarantee_type == "信用")
    loan = Loan(loan_no=f"DK-{node_code}-{granted_on:%Y%m%d}-{app.number[-10:]}", origin_node=node_code, revision=1,
                institution_code=app.institution_code, bank_code=app.bank_code, loan_ref=loan_ref,
                entity_code=entity.code, city_code=prefecture_of(entity.region_code),
                industry_code=entity.industry_code, application_id=app.id, product_number=product.number,
                product_kind=version.kind, sector_mask=version.sector_mask, guarantee_type=guarantee_type,
                is_credit=credit, first_declared=first, first_on_platform=int(not earlier), first_loan=first,
                granted_fen=granted_fen, credit_fen=granted_fen * credit, first_fen=granted_fen * first,
                disbursed_fen=0, granted_on=granted_on, granted_month=granted_on.year * 100 + granted_on.month,
                matures_on=matures_on, rate_bp=rate_bp, term_months=term_months, policy_tags=policy_tags,
                status="GRANTED", dpd=0, created_at=now, updated_at=now)
    s.add(loan)
    s.flush()
    _changed(s, loan)
    # A later loan of the same enterprise that called itself first on the platform is no longer so.
    s.execute(update(Loan).where(Loan.entity_code == entity.code, Loan.granted_on > granted_on,
                                 Loan.first_on_platform == 1).values(first_on_platform=0)
              .execution_options(synchronize_session=False))
    return loan


def disburse(s: Session, loan: Loan, amount_fen: int, on: date) -> None:
    if on < loan.granted_on:
        raise InvalidInput(f"放款日期 {on} 早于授信日期 {loan.granted_on}", code="DATE_OUT_OF_ORDER")
    if loan.disbursed_fen + amount_fen > loan.granted_fen:
        raise InvalidInput(f"累计放款 {wan(loan.disbursed_fen + amount_fen)} 将超过授信额度 {wan(loan.granted_fen)}",
                           code="DISBURSE_ABOVE_GRANT")
    loan.disbursed_fen += amount_fen
    loan.first_disbursed_on = loan.first_disbursed_on or on
    loan.status, loan.revision = "DISBURSED", loan.revision + 1
    _changed(s, loan)


def close(s: Session, loan: Loan) -> None:
    loan.status, loan.revision = "CLOSED", loan.revision + 1
    _changed(s, loan)


# ── reading ─────────────────────────────────────────────────────────────────────────────────────────────

def visible(p: Principal) -> Any:
    """Loans `p` may see: a bank its own institution's, an enterprise its own, staff all."""
    stmt = select(Loan)
    if p.role == "bank":
        return stmt.where(Loan.institution_code == (p.org_code or "-"))
    if p.role == "enterprise":
        return stmt.where(Loan.entity_code == (p.org_code or "-"))
    return stmt if p.role in STAFF else stmt.where(False)


def get(s: Session, p: Principal, loan_no_or_ref: str) -> Loan:
    key = (loan_no_or_ref or "").strip()
    loan = s.execute(visible(p).where((Loan.loan_no == key) | (Loan.loan_ref == key))).scalars().first()
    if loan is None:
        raise NotFound(f"未找到贷款 {key}（或该贷款不属于本机构）", code="UNKNOWN_LOAN")
    return loan


def earlier_loans(s: Session, loan: Loan) -> list[Loan]:
    """Loans of the same enterprise granted before this one (the cross-check of a first-loan declaration)."""
    return list(s.execute(select(Loan).where(Loan.entity_code == loan.entity_code, Loan.id != loan.id,
                                             Loan.granted_on <= loan.granted_on)
                          .order_by(Loan.granted_on)).scalars())


def reports(s: Session, loan: Loan) -> list[StatusReport]:
    return list(s.execute(select(StatusReport).where(StatusReport.loan_id == loan.id)
                          .order_by(StatusReport.as_of.desc())).scalars())


# ── repayment status ────────────────────────────────────────────────────────────────────────────────────

def report_status(s: Session, loan: Loan, *, as_of: date, outstanding_fen: int, overdue_principal_fen: int,
                  overdue_interest_fen: int, interest_paid_fen: int, dpd: int, risk_class: str | None,
                  source: str, reported_by: str, feedback_file_id: int | None = None) -> tuple[StatusReport, bool]:
    """Record a status report and move the default case it implies. Returns (report, changed): the same
    figures for the same date again change nothing; an older date than the latest is refused."""
    from xinyidai.market import cases

    if as_of > clock.today():
        raise InvalidInput(f"统计日期 {as_of} 晚于今天", code="DATE_IN_FUTURE")
    if loan.first_disbursed_on is None or as_of < loan.first_disbursed_on:
        raise InvalidInput(f"统计日期 {as_of} 早于首次放款日（{loan.first_disbursed_on or '尚未放款'}）",
                           code="DATE_OUT_OF_ORDER")
    if dpd < 0:
        raise InvalidInput("逾期天数不能为负数", code="NEGATIVE_AMOUNT")
    overdue = overdue_principal_fen + overdue_interest_fen
    if dpd > 0 and overdue == 0:
        raise InvalidInput(f"逾期天数为 {dpd}，但逾期本金和利息均为 0", code="OVERDUE_INCONSISTENT")
    if dpd == 0 and overdue > 0:
        raise InvalidInput(f"逾期天数为 0，但逾期金额为 {wan(overdue)}", code="OVERDUE_INCONSISTENT")
    if outstanding_fen > loan.disbursed_fen:
        raise InvalidInput(f"贷款余额 {wan(outstanding_fen)} 超过已放款金额 {wan(loan.disbursed_fen)}",
                           code="BALANCE_ABOVE_DISBURSED")
    if risk_class is not None and risk_class not in RISK_CLASSES:
        raise InvalidInput(f"五级分类须为 {'、'.join(RISK_CLASSES)} 之一", code="BAD_RISK_CLASS")
    values = dict(outstanding_fen=outstanding_fen, overdue_principal_fen=overdue_principal_fen,
                  overdue_interest_fen=overdue_interest_fen, interest_paid_fen=interest_paid_fen, dpd=dpd,
                  risk_class=risk_class)
    rep = s.execute(select(StatusReport).where(StatusReport.loan_id == loan.id, StatusReport.as_of == as_of)
                    ).scalar_one_or_none()
    # Before the date order: a cumulative export repeats older months exactly, and that is no error.
    if rep is not None and all(getattr(rep, k) == v for k, v in values.items()):
        return rep, False
    if loan.last_report_on is not None and as_of < loan.last_report_on:
        raise InvalidInput(f"统计日期 {as_of} 早于该贷款最近一次报告的日期 {loan.last_report_on}",
                           code="DATE_OUT_OF_ORDER")
    now = clock.now()
    if rep is None:
        rep = StatusReport(loan_id=loan.id, as_of=as_of, source=source, reported_by=reported_by,
                           feedback_file_id=feedback_file_id, received_at=now, **values)
        s.add(rep)
    else:  # a correction of the latest report: both figures stay in the audit chain
        audit.record(s, reported_by, "market.loan.status_corrected", f"loan:{loan.loan_no}", as_of=as_of.isoformat(),
                     before={k: getattr(rep, k) for k in values}, after=values)
        for k, v in values.items():
            setattr(rep, k, v)
        rep.received_at, rep.source = now, source
    loan.dpd, loan.outstanding_fen, loan.risk_class, loan.last_report_on = dpd, outstanding_fen, risk_class, as_of
    s.flush()
    audit.record(s, reported_by, "market.loan.status", f"loan:{loan.loan_no}", as_of=as_of.isoformat(), dpd=dpd,
                 entity_code=loan.entity_code, institution_code=loan.institution_code)
    cases.on_report(s, loan, dpd, overdue, as_of)
    return rep, True


def loan_dict(loan: Loan, *, with_risk: bool) -> dict[str, Any]:
    """A loan as the API gives it; days past due only to its bank, the enterprise and staff (`with_risk`)."""
    out = {"loan_no": loan.loan_no, "loan_ref": loan.loan_ref, "institution_code": loan.institution_code,
           "entity_code": loan.entity_code, "city_code": loan.city_code, "product": loan.product_number,
           "product_kind": loan.product_kind, "guarantee_type": loan.guarantee_type,
           "first_loan": bool(loan.first_loan), "first_on_platform": bool(loan.first_on_platform),
           "granted": loan.granted_fen / 100, "disbursed": loan.disbursed_fen / 100,
           "granted_on": loan.granted_on.isoformat(),
           "matures_on": loan.matures_on.isoformat() if loan.matures_on else None,
           "rate": loan.rate_bp / 100, "term_months": loan.term_months, "status": loan.status,
           "policy_tags": list(loan.policy_tags)}
    if with_risk:
        out.update(dpd=loan.dpd, risk_class=loan.risk_class,
                   outstanding=None if loan.outstanding_fen is None else loan.outstanding_fen / 100,
                   last_report_on=loan.last_report_on.isoformat() if loan.last_report_on else None)
    return out


# ── outcomes for the scorecards ─────────────────────────────────────────────────────────────────────────

OUTCOME_WINDOW_DAYS = 365
NPL_DPD = 90


def sync_outcomes(s: Session, chunk: int = 5000) -> dict[str, int]:
    """Label the platform's own disbursed loans for the scorecards (credit_outcomes, source 'market'): 90+
    days past due within a year of the first drawdown is a default, observed on that report's date; a year
    of reports without it (or the loan closed) is not. A label imported from a bank's file for the same loan
    is replaced: the platform's repayment reports are the better source. One grouped query per chunk."""
    from sqlalchemy import case, func

    from xinyidai.credit.models import LoanOutcome

    counts = {"new": 0, "updated": 0, "unchanged": 0}
    last_id = 0
    now = clock.now()
    while True:
        rows = s.execute(
            select(Loan.id, Loan.institution_code, Loan.loan_ref, Loan.entity_code, Loan.first_disbursed_on,
                   Loan.status, Loan.last_report_on, Application.submitted_at, Loan.granted_on,
                   func.min(case((StatusReport.dpd >= NPL_DPD, StatusReport.as_of))).label("npl_on"))
            .outerjoin(StatusReport, StatusReport.loan_id == Loan.id)
            .outerjoin(Application, Application.id == Loan.application_id)
            .where(Loan.id > last_id, Loan.application_id.is_not(None), Loan.first_disbursed_on.is_not(None))
            .group_by(Loan.id, Loan.institution_code, Loan.loan_ref, Loan.entity_code, Loan.first_disbursed_on,
                      Loan.status, Loan.last_report_on, Application.submitted_at, Loan.granted_on)
            .order_by(Loan.id).limit(chunk)).all()
        if not rows:
            return counts
        last_id = rows[-1].id
        labels = {}
        for r in rows:
            end = r.first_disbursed_on + timedelta(days=OUTCOME_WINDOW_DAYS)
            if r.npl_on is not None and r.npl_on <= end:
                label = (True, r.npl_on)
            elif (r.last_report_on is not None and r.last_report_on >= end) or r.status == "CLOSED":
                label = (False, min(end, r.last_report_on or end))
            else:
                continue  # not yet observed long enough
            applied = r.submitted_at.astimezone(clock.CHINA_TZ).date() if r.submitted_at else r.granted_on
            labels[(r.institution_code, r.loan_ref)] = dict(entity_code=r.entity_code, applied_on=applied,
                                                           observed_on=label[1], defaulted=label[0])
        if not labels:
            continue
        held = {(o.institution_code, o.loan_ref): o for o in s.execute(select(LoanOutcome).where(
            LoanOutcome.institution_code.in_({k[0] for k in labels}),
            LoanOutcome.loan_ref.in_({k[1] for k in labels}))).scalars()}
        for (inst, ref), values in labels.items():
            old = held.get((inst, ref))
            if old is None:
                s.add(LoanOutcome(institution_code=inst, loan_ref=ref, created_at=now, source="market", **values))
                counts["new"] += 1
            elif old.source != "market" or any(getattr(old, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(old, k, v)
                old.source = "market"
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
        s.flush()
