"""Claims: a bank claims 贴息 on an enrolled loan after the interest for a period is paid (with the payment
evidence), a guarantor claims its fee subsidy for a period of cover, a bank claims compensation when an
enrolled credit loan has become non-performing (the market's default case classified it). One officer
reviews, a second approves, an officer records the payment; a paid compensation takes recoveries, each
paying the pool back its share.

Money is checked where it moves, under the programme's row lock: a claim is refused when it exceeds what
the programme still has (money in hand less what pending claims hold) or, for a pool, the bank's yearly cap;
a payment is a balanced ledger transaction and can happen once. A period of a loan is claimed once.

`claim_period` computes a whole period's 贴息 claims for every enrolled loan of a bank in one statement, in
integers that equal the `Decimal` arithmetic (the tests hold them equal)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import String, and_, case, cast, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from xinyidai.kit import audit, clock
from xinyidai.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import Principal
from xinyidai.market import flows as market_flows
from xinyidai.market.flows import ActorKind
from xinyidai.market.models import CaseEvent, DefaultCase, Loan
from xinyidai.market.money import MAX_FEN, wan
from xinyidai.policy import arithmetic, enrolments, flows, ledger, programmes
from xinyidai.policy.evidence import Evidence
from xinyidai.policy.models import Claim, ClaimEvent, Enrolment, GuaranteeContract, Programme
from xinyidai.policy.rules import Rules

CLOSED_STATES = (flows.REJECTED, flows.WITHDRAWN)
SORTABLE = {"created_at": Claim.created_at, "amount": Claim.amount_fen, "state": Claim.state,
            "number": Claim.number}


def _number() -> str:
    return f"SL-{clock.now().astimezone(clock.CHINA_TZ):%Y%m%d}-{secrets.token_hex(5).upper()}"


def actor_kind(p: Principal) -> ActorKind:
    if p.role == "bank":
        return ActorKind.BANK
    if p.role == "policy":
        return ActorKind.POLICY
    raise Forbidden(f"当前角色（{p.role_label}）不能办理政策申领", code="ROLE_FORBIDDEN")


def visible(p: Principal) -> Any:
    """The claims `p` may read, as a query: an institution its own, an officer his division's programmes',
    an enterprise those on its loans, the operator and the regulator all."""
    q = select(Claim)
    if p.role == "bank":
        return q.where(Claim.institution_code == (p.org_code or ""))
    if p.role == "enterprise":
        return q.where(Claim.entity_code == (p.org_code or ""))
    if p.role == "policy":
        return q.where(Claim.programme_id.in_(programmes.visible(p).with_only_columns(Programme.id)))
    if p.role in programmes.READERS:
        return q
    return q.where(Claim.id < 0)


def get(s: Session, p: Principal, number: str) -> Claim:
    c = s.execute(visible(p).where(Claim.number == number)).scalar_one_or_none()
    if c is None:
        raise NotFound(f"未找到申领 {number}", code="CLAIM_NOT_FOUND")
    return c


def listing(s: Session, p: Principal, req: PageRequest, *, programme_id: int | None = None,
            state: str | None = None) -> Page[Claim]:
    q = visible(p)
    if programme_id is not None:
        q = q.where(Claim.programme_id == programme_id)
    if state:
        q = q.where(Claim.state == state)
    return paginate(s, q, req, SORTABLE, "created_at")


def events(s: Session, claim: Claim) -> list[ClaimEvent]:
    return list(s.execute(select(ClaimEvent).where(ClaimEvent.claim_id == claim.id).order_by(ClaimEvent.seq)).scalars())


def _event(s: Session, claim: Claim, action: str, old: str, new: str, actor: str, payload: dict[str, Any]) -> None:
    seq = (s.execute(select(func.max(ClaimEvent.seq)).where(ClaimEvent.claim_id == claim.id)).scalar() or 0) + 1
    s.add(ClaimEvent(claim_id=claim.id, seq=seq, action=action, from_state=old, to_state=new, actor=actor[:64],
                     at=clock.now(), payload=payload))


def _events_for(s: Session, where: Any, action: str, new: str, actor: str, payload: dict[str, Any],
                from_state: str | None = None) -> None:
    """The timeline line of one move for every claim `where` selects (a batch's), in one insert: a batch
    claim's page shows who created, submitted or approved it just as a single claim's does."""
    rows = s.execute(select(Claim.id, Claim.state, func.coalesce(func.max(ClaimEvent.seq), 0))
                     .outerjoin(ClaimEvent, ClaimEvent.claim_id == Claim.id).where(where)
                     .group_by(Claim.id, Claim.state)).all()
    if rows:
        at = clock.now()
        s.execute(insert(ClaimEvent), [
            {"claim_id": cid, "seq": int(seq) + 1, "action": action, "from_state": old if from_state is None
             else from_state, "to_state": new, "actor": actor[:64], "at": at, "payload": payload}
            for cid, old, seq in rows])


def _lock(s: Session, programme_id: int) -> None:
    """Serialise the money moves of one programme (PostgreSQL: row lock; SQLite: one writer anyway)."""
    s.execute(select(Programme.id).where(Programme.id == programme_id).with_for_update())


def _own_enrolment(s: Session, p: Principal, prog: Programme, loan_no: str) -> Enrolment:
    e = s.execute(select(Enrolment).where(Enrolment.programme_id == prog.id,
                                          Enrolment.institution_code == (p.org_code or ""),
                                          or_(Enrolment.loan_no == loan_no,
                                              Enrolment.loan_id.in_(select(Loan.id).where(
                                                  Loan.loan_ref == loan_no,
                                                  Loan.institution_code == (p.org_code or "")))))).scalar_one_or_none()
    if e is None:
        raise NotFound(f"贷款 {loan_no} 未由本机构在该政策备案；请先备案", code="NOT_ENROLLED")
    return e


def _claimed_overlap(s: Session, e: Enrolment, from_day: int, to_day: int) -> Claim | None:
    return s.execute(select(Claim).where(Claim.enrolment_id == e.id, Claim.state.not_in(CLOSED_STATES),
                                         Claim.period_from_day < to_day, Claim.period_to_day > from_day)
                     .limit(1)).scalar_one_or_none()


def _period(prog: Programme, e: Enrolment, start: date, end: date) -> tuple[int, int, int]:
    """(from day, to day exclusive, subsidised days) of a claimed period given with inclusive dates."""
    if end < start:
        raise InvalidInput(f"申领期间的结束日 {end} 早于开始日 {start}", code="BAD_PERIOD")
    if end >= clock.today():
        raise InvalidInput(f"申领期间须已结束（结束日 {end} 不早于今天）：利息付讫后方可申领", code="PERIOD_NOT_ENDED")
    f, t = arithmetic.day(start), arithmetic.day(end) + 1
    days = arithmetic.overlap_days(f, t, e.starts_day, e.ends_day)
    if days == 0:
        raise InvalidInput(f"申领期间 {start} 至 {end} 不在该贷款的补贴期 {arithmetic.from_day(e.starts_day)} 至 "
                           f"{arithmetic.from_day(e.ends_day - 1)} 内", code="NO_SUBSIDISED_DAYS")
    return max(f, e.starts_day), min(t, e.ends_day), days


def _new(s: Session, p: Principal, prog: Programme, e: Enrolment, w: arithmetic.Worked, r: Rules,
         *, from_day: int | None, to_day: int | None, paid_interest_fen: int | None, ev: Evidence | None,
         source: str) -> Claim:
    now = clock.now()
    c = Claim(number=_number(), programme_id=prog.id, enrolment_id=e.id, kind=prog.kind,
              institution_code=e.institution_code, bank_code=e.bank_code, entity_code=e.entity_code,
              city_code=e.city_code, period_from_day=from_day, period_to_day=to_day, basis_fen=w.basis_fen,
              days=w.days, paid_interest_fen=paid_interest_fen, rate_bp=w.rate_bp, amount_fen=w.amount_fen,
              rule_version=prog.rule_version,
              evidence_name=ev.name if ev else None, evidence_sha256=ev.sha256 if ev else None,
              evidence_path=ev.path if ev else None, state=flows.DRAFT, last_action="create", created_by=p.username,
              created_at=now, updated_at=now)
    s.add(c)
    s.flush()
    _event(s, c, "create", market_flows.START, flows.DRAFT, p.username, {"formula": w.formula, "source": source})
    audit.record(s, p.username, "policy.claim.created", f"claim:{c.number}", entity_code=c.entity_code,
                 institution_code=c.institution_code, amount_fen=c.amount_fen, rule_version=c.rule_version)
    return c


def _basis(loan: Loan, e: Enrolment) -> int:
    """The principal a 贴息 period is computed on: what the programme covers, what was drawn, and what the
    latest repayment report says is still outstanding — the least of them."""
    outstanding = loan.outstanding_fen if loan.outstanding_fen is not None else loan.disbursed_fen
    return max(0, min(e.eligible_fen, loan.disbursed_fen, outstanding))


def draft_interest(s: Session, p: Principal, number: str, loan_no: str, start: date, end: date,
                   paid_interest_fen: int, ev: Evidence | None, source: str = "page") -> Claim:
    """A 贴息 claim for one enrolled loan and a period whose interest the bank has been paid."""
    enrolments.institution_of(s, p)
    prog = programmes.get(s, p, number)
    if prog.kind != "interest":
        raise InvalidInput("该政策不是贷款贴息", code="WRONG_KIND")
    programmes.running(prog)
    if ev is None:
        raise InvalidInput("贴息申领须上传付息凭证", code="EVIDENCE_REQUIRED")
    if not 0 < paid_interest_fen <= MAX_FEN:
        raise InvalidInput("实付利息须大于 0", code="BAD_AMOUNT")
    e = _own_enrolment(s, p, prog, loan_no)
    _lock(s, prog.id)
    f, t, days = _period(prog, e, start, end)
    if (other := _claimed_overlap(s, e, f, t)) is not None:
        raise Conflict(f"该贷款的 {arithmetic.from_day(other.period_from_day or 0)} 至 "
                       f"{arithmetic.from_day((other.period_to_day or 1) - 1)} 已在申领 {other.number} 中，同一期间不能重复申领",
                       code="PERIOD_ALREADY_CLAIMED", detail={"claim": other.number})
    loan = s.get(Loan, e.loan_id)
    assert loan is not None
    r = programmes.rules_of(s, prog)
    w = arithmetic.interest(_basis(loan, e), min(r.rate_bp, loan.rate_bp), days, r.day_basis, paid_interest_fen)
    return _new(s, p, prog, e, w, r, from_day=f, to_day=t, paid_interest_fen=paid_interest_fen, ev=ev, source=source)


def draft_guarantee(s: Session, p: Principal, number: str, contract_ref: str, start: date, end: date,
                    ev: Evidence | None, source: str = "page") -> Claim:
    """A guarantor's fee-subsidy claim for a period of cover of an enrolled contract."""
    inst = enrolments.institution_of(s, p)
    prog = programmes.get(s, p, number)
    if prog.kind != "guarantee":
        raise InvalidInput("该政策不是担保费补贴", code="WRONG_KIND")
    programmes.running(prog)
    contract = s.execute(select(GuaranteeContract).where(
        GuaranteeContract.guarantor_code == inst.code,
        or_(GuaranteeContract.number == contract_ref, GuaranteeContract.contract_ref == contract_ref))).scalar_one_or_none()
    if contract is None:
        raise NotFound(f"未找到本机构的担保合同 {contract_ref}", code="CONTRACT_NOT_FOUND")
    e = s.execute(select(Enrolment).where(Enrolment.programme_id == prog.id, Enrolment.contract_id == contract.id)) \
        .scalar_one_or_none()
    if e is None:
        raise NotFound(f"担保合同 {contract_ref} 未在该政策备案；请先备案", code="NOT_ENROLLED")
    _lock(s, prog.id)
    f, t, days = _period(prog, e, start, end)
    if (other := _claimed_overlap(s, e, f, t)) is not None:
        raise Conflict(f"该合同的这一期间已在申领 {other.number} 中，同一期间不能重复申领", code="PERIOD_ALREADY_CLAIMED",
                       detail={"claim": other.number})
    r = programmes.rules_of(s, prog)
    w = arithmetic.guarantee(e.eligible_fen, r.rate_bp, contract.fee_bp, days, r.day_basis)
    return _new(s, p, prog, e, w, r, from_day=f, to_day=t, paid_interest_fen=None, ev=ev, source=source)


def non_performing(s: Session, loan_id: int) -> bool:
    """The market's default case of the loan was classified non-performing (it may since have closed)."""
    return s.execute(select(CaseEvent.id).join(DefaultCase, DefaultCase.id == CaseEvent.case_id).where(
        DefaultCase.loan_id == loan_id, CaseEvent.to_state == market_flows.NPL).limit(1)).first() is not None


def draft_compensation(s: Session, p: Principal, number: str, loan_no: str, loss_fen: int, ev: Evidence | None,
                       source: str = "page") -> Claim:
    """A pool compensation claim: the enrolled loan is non-performing; the loss is the principal not
    recovered, no more than was outstanding."""
    enrolments.institution_of(s, p)
    prog = programmes.get(s, p, number)
    if prog.kind != "pool":
        raise InvalidInput("该政策不是风险补偿", code="WRONG_KIND")
    programmes.running(prog)
    if ev is None:
        raise InvalidInput("补偿申领须上传损失证明材料", code="EVIDENCE_REQUIRED")
    e = _own_enrolment(s, p, prog, loan_no)
    loan = s.get(Loan, e.loan_id)
    assert loan is not None
    if not non_performing(s, loan.id):
        raise Conflict("该贷款尚未认定为不良（违约案件未转为不良），不能申请风险补偿", code="NOT_NON_PERFORMING")
    _lock(s, prog.id)
    if s.execute(select(Claim.number).where(Claim.enrolment_id == e.id, Claim.state.not_in(CLOSED_STATES))).first():
        raise Conflict("该贷款已有风险补偿申领，不能重复申领", code="ALREADY_CLAIMED")
    ceiling = loan.outstanding_fen if loan.outstanding_fen is not None else loan.disbursed_fen
    if not 0 < loss_fen <= min(ceiling, e.eligible_fen):
        raise InvalidInput(f"本金损失须大于 0 且不超过贷款余额 {wan(min(ceiling, e.eligible_fen))}", code="LOSS_ABOVE_OUTSTANDING")
    r = programmes.rules_of(s, prog)
    w = arithmetic.compensation(loss_fen, r.compensation_share(bool(loan.is_credit), bool(loan.first_loan)))
    return _new(s, p, prog, e, w, r, from_day=None, to_day=None, paid_interest_fen=None, ev=ev, source=source)


# ── moves ───────────────────────────────────────────────────────────────────────────────────────────────

def _check_money(s: Session, prog: Programme, claim: Claim, r: Rules) -> None:
    """Refuse a claim the programme cannot pay: above what it still has, or above the bank's yearly cap."""
    held = programmes.pending_fen(s, prog.id) - (claim.amount_fen if claim.state in programmes.PENDING else 0)
    room = ledger.fund_balance(s, prog.id) - held
    if claim.amount_fen > room:
        raise Conflict(f"申领金额 {wan(claim.amount_fen)} 超过政策剩余可用资金 {wan(max(room, 0))}",
                       code="BUDGET_EXCEEDED", detail={"amount_fen": claim.amount_fen, "available_fen": max(room, 0)})
    if prog.kind == "pool" and r.bank_cap_fen:
        year = claim.created_at.astimezone(clock.CHINA_TZ).year
        since = datetime(year, 1, 1, tzinfo=clock.CHINA_TZ)
        until = datetime(year + 1, 1, 1, tzinfo=clock.CHINA_TZ)
        used = int(s.execute(select(func.coalesce(func.sum(Claim.amount_fen), 0)).where(
            Claim.programme_id == prog.id, Claim.bank_code == claim.bank_code, Claim.id != claim.id,
            Claim.state.in_(flows.HOLDING), Claim.created_at >= since, Claim.created_at < until)).scalar_one())
        if used + claim.amount_fen > r.bank_cap_fen:
            raise Conflict(f"本机构 {year} 年在该政策已申领补偿 {wan(used)}，加上本次 {wan(claim.amount_fen)} 将超过单家银行"
                           f"年度上限 {wan(r.bank_cap_fen)}", code="BANK_CAP_EXCEEDED",
                           detail={"used_fen": used, "cap_fen": r.bank_cap_fen})


def act(s: Session, p: Principal, number: str, action: str, *, reason: str | None = None,
        payment_ref: str | None = None, paid_on: date | None = None, recovered_fen: int | None = None) -> Claim:
    """One move of a claim by a person, checked against the flow table, the two-officer rule and the money."""
    kind = actor_kind(p)
    claim = get(s, p, number)
    prog = s.get(Programme, claim.programme_id)
    assert prog is not None
    if kind == ActorKind.POLICY:
        programmes.managed(s, p, prog.number)
    _lock(s, prog.id)
    s.refresh(claim)
    old = claim.state
    new = flows.CLAIM.check(old, action, kind, last_action=claim.last_action)
    payload: dict[str, Any] = {}
    now = clock.now()
    if action == "submit":
        _check_money(s, prog, claim, programmes.rules_of(s, prog, claim.rule_version))
    elif action == "review":
        claim.reviewed_by = p.username
    elif action == "approve":
        if claim.reviewed_by == p.username:
            raise Forbidden("复核须由初审以外的另一名工作人员办理（双人审核）", code="SAME_OFFICER")
        claim.approved_by = p.username
    elif action == "reject":
        reason = (reason or "").strip()
        if not 2 <= len(reason) <= 300:
            raise InvalidInput("退回须写明原因（2–300 字），申领机构将据此修改", code="REASON_REQUIRED")
        claim.reason = reason
        payload["reason"] = reason
    elif action == "pay":
        ref = (payment_ref or "").strip()
        if not 1 <= len(ref) <= 64:
            raise InvalidInput("登记拨付须填写支付凭证号", code="PAYMENT_REF_REQUIRED")
        if ledger.fund_balance(s, prog.id) < claim.amount_fen:
            raise Conflict("政策资金余额不足以拨付该申领", code="FUND_INSUFFICIENT")
        claim.payment_ref, claim.paid_on = ref, paid_on or clock.today()
        ledger.transfer(s, prog.id, f"payout:{claim.institution_code}", ledger.FUND, claim.amount_fen,
                        f"拨付申领 {claim.number}（{ref}）", p.username, claim.id)
        payload.update(payment_ref=ref, paid_on=str(claim.paid_on))
    elif action == "recover":
        if claim.kind != "pool":
            raise InvalidInput("只有风险补偿申领登记追偿回款", code="WRONG_KIND")
        if recovered_fen is None or recovered_fen <= 0:
            raise InvalidInput("追偿回款金额须大于 0", code="BAD_AMOUNT")
        total = claim.recovered_fen + recovered_fen
        if total > claim.basis_fen:
            raise InvalidInput(f"累计追偿回款 {wan(total)} 将超过本金损失 {wan(claim.basis_fen)}", code="RECOVERY_ABOVE_LOSS")
        back = arithmetic.returned(total, claim.basis_fen, claim.amount_fen) - claim.returned_fen
        claim.recovered_fen, claim.returned_fen = total, claim.returned_fen + back
        if back:
            ledger.transfer(s, prog.id, ledger.FUND, f"recovery:{claim.institution_code}", back,
                            f"申领 {claim.number} 追偿回款 {wan(recovered_fen)}，按比例返还", p.username, claim.id)
        payload.update(recovered_fen=recovered_fen, returned_fen=back)
    claim.state, claim.last_action, claim.updated_at = new, action, now
    _event(s, claim, action, old, new, p.username, payload)
    audit.record(s, p.username, f"policy.claim.{action}", f"claim:{claim.number}", entity_code=claim.entity_code,
                 institution_code=claim.institution_code, state=new, amount_fen=claim.amount_fen, **payload)
    return claim


# ── a whole period at once ──────────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class Batch:
    batch: str
    claims: int
    amount_fen: int


def claim_period(s: Session, p: Principal, number: str, start: date, end: date, ev: Evidence | None) -> Batch:
    """The 贴息 drafts of every loan the bank enrolled in the programme for one period (a quarter's interest
    settlement), in one statement; loans whose period was claimed already, or that have no subsidised day
    in it, are left out. The bank reviews the batch and submits it with `act_batch`."""
    inst = enrolments.institution_of(s, p)
    prog = programmes.get(s, p, number)
    if prog.kind != "interest":
        raise InvalidInput("批量申领仅适用于贷款贴息", code="WRONG_KIND")
    programmes.running(prog)
    if ev is None:
        raise InvalidInput("贴息申领须上传付息凭证", code="EVIDENCE_REQUIRED")
    if end < start:
        raise InvalidInput(f"申领期间的结束日 {end} 早于开始日 {start}", code="BAD_PERIOD")
    if end >= clock.today():
        raise InvalidInput(f"申领期间须已结束（结束日 {end} 不早于今天）：利息付讫后方可申领", code="PERIOD_NOT_ENDED")
    _lock(s, prog.id)
    r = programmes.rules_of(s, prog)
    f, t = arithmetic.day(start), arithmetic.day(end) + 1
    lo = case((Enrolment.starts_day > f, Enrolment.starts_day), else_=f)
    hi = case((Enrolment.ends_day < t, Enrolment.ends_day), else_=t)
    days = hi - lo
    outstanding = func.coalesce(Loan.outstanding_fen, Loan.disbursed_fen)
    basis = case((Enrolment.eligible_fen <= Loan.disbursed_fen, Enrolment.eligible_fen), else_=Loan.disbursed_fen)
    basis = case((outstanding < basis, outstanding), else_=basis)
    rate = case((Loan.rate_bp < r.rate_bp, Loan.rate_bp), else_=r.rate_bp)
    denominator = 10_000 * r.day_basis
    amount = (2 * basis * rate * days + denominator) // (2 * denominator)  # arithmetic.half_up_div, in SQL
    # A probe of ix_policy_claims_enrolment per loan, written as a scalar subquery so that PostgreSQL cannot turn
    # it into an anti-join hashing every claim of the node for each bank's batch.
    claimed = select(Claim.id).where(Claim.enrolment_id == Enrolment.id, Claim.state.not_in(CLOSED_STATES),
                                     Claim.period_from_day < t, Claim.period_to_day > f).limit(1).scalar_subquery()
    batch = f"B{clock.now().astimezone(clock.CHINA_TZ):%Y%m%d}-{secrets.token_hex(4).upper()}"
    now = clock.now()
    prefix = f"SL-{now.astimezone(clock.CHINA_TZ):%Y%m%d}-{batch[-8:]}-"
    rows = (select(literal(prefix).concat(cast(Enrolment.id, String)), literal(prog.id), Enrolment.id,
                   literal("interest"), Enrolment.institution_code, Enrolment.bank_code, Enrolment.entity_code,
                   Enrolment.city_code, lo, hi, basis, days, rate, amount, literal(prog.rule_version), literal(ev.name), literal(ev.sha256), literal(ev.path),
                   literal(flows.DRAFT), literal("create"), literal(batch), literal(p.username[:64]),
                   literal(now, Claim.created_at.type), literal(now, Claim.updated_at.type))
            .select_from(Enrolment).join(Loan, Loan.id == Enrolment.loan_id)
            .where(Enrolment.programme_id == prog.id, Enrolment.institution_code == inst.code,
                   Enrolment.starts_day < t, Enrolment.ends_day > f, claimed.is_(None)))
    cols = ["number", "programme_id", "enrolment_id", "kind", "institution_code", "bank_code", "entity_code",
            "city_code", "period_from_day", "period_to_day", "basis_fen", "days", "rate_bp", "amount_fen",
            "rule_version", "evidence_name", "evidence_sha256", "evidence_path", "state", "last_action", "batch",
            "created_by", "created_at", "updated_at"]
    n = s.execute(insert(Claim).from_select(cols, rows).execution_options(preserve_rowcount=True)).rowcount
    # Each new claim's first timeline line, written by the database from the claims just made (ix_policy_claims_batch):
    # a batch can be a bank's whole book, too many rows to pass through Python.
    created = select(Claim.id, literal(1), literal("create"), literal(market_flows.START), literal(flows.DRAFT),
                     literal(p.username[:64]), literal(now, ClaimEvent.at.type),
                     literal({"batch": batch, "source": "batch"}, ClaimEvent.payload.type)).where(Claim.batch == batch)
    s.execute(insert(ClaimEvent).from_select(["claim_id", "seq", "action", "from_state", "to_state", "actor", "at",
                                              "payload"], created))
    total = int(s.execute(select(func.coalesce(func.sum(Claim.amount_fen), 0)).where(Claim.batch == batch)).scalar_one())
    audit.record(s, p.username, "policy.claim.batch_created", f"programme:{prog.number}", institution_code=inst.code,
                 batch=batch, claims=n, amount_fen=total, period=f"{start}/{end}", rule_version=prog.rule_version,
                 evidence_sha256=ev.sha256)
    return Batch(batch, n, total)


def act_batch(s: Session, p: Principal, number: str, batch: str, action: str, *, payment_ref: str | None = None,
              reason: str | None = None) -> Batch:
    """One move for every claim of a batch still in the state the move leaves (submit, withdraw, review,
    approve, reject, pay), with the same checks as one claim: the flow, two officers, the money."""
    kind = actor_kind(p)
    prog = programmes.get(s, p, number)
    if kind == ActorKind.POLICY:
        programmes.managed(s, p, prog.number)
    move = flows.CLAIM.move(action)
    if kind not in move.actors or move.target is None:
        raise Forbidden(f"“{move.label}”不能由{'政策管理部门' if kind == ActorKind.POLICY else '申领机构'}批量办理",
                        code="ACTOR_NOT_ALLOWED")
    _lock(s, prog.id)
    mine = visible(p).with_only_columns(Claim.id).where(Claim.programme_id == prog.id, Claim.batch == batch)
    sources = sorted(move.sources)
    where = and_(Claim.id.in_(mine), Claim.state.in_(sources))
    n, total = s.execute(select(func.count(), func.coalesce(func.sum(Claim.amount_fen), 0)).where(where)).one()
    n, total = int(n), int(total)
    if n == 0:
        raise Conflict(f"批次 {batch} 中没有可以“{move.label}”的申领", code="NOTHING_TO_DO")
    values: dict[str, Any] = {"state": move.target, "last_action": action, "updated_at": clock.now()}
    if action == "submit":
        room = ledger.fund_balance(s, prog.id) - programmes.pending_fen(s, prog.id)
        if total > room:
            raise Conflict(f"批次合计 {wan(total)} 超过政策剩余可用资金 {wan(max(room, 0))}", code="BUDGET_EXCEEDED",
                           detail={"amount_fen": total, "available_fen": max(room, 0)})
    elif action == "review":
        values["reviewed_by"] = p.username
    elif action == "approve":
        if s.execute(select(Claim.id).where(where, Claim.reviewed_by == p.username).limit(1)).first():
            raise Forbidden("复核须由初审以外的另一名工作人员办理（双人审核）", code="SAME_OFFICER")
        values["approved_by"] = p.username
    elif action == "reject":
        reason = (reason or "").strip()
        if not 2 <= len(reason) <= 300:
            raise InvalidInput("退回须写明原因（2–300 字），申领机构将据此修改", code="REASON_REQUIRED")
        values["reason"] = reason
    elif action == "pay":
        ref = (payment_ref or "").strip()
        if not 1 <= len(ref) <= 64:
            raise InvalidInput("登记拨付须填写支付凭证号", code="PAYMENT_REF_REQUIRED")
        if ledger.fund_balance(s, prog.id) < total:
            raise Conflict("政策资金余额不足以拨付该批次", code="FUND_INSUFFICIENT")
        values.update(payment_ref=ref, paid_on=clock.today())
        for inst, amount in s.execute(select(Claim.institution_code, func.sum(Claim.amount_fen)).where(where)
                                      .group_by(Claim.institution_code)).all():
            ledger.transfer(s, prog.id, f"payout:{inst}", ledger.FUND, int(amount), f"拨付批次 {batch}（{ref}）",
                            p.username)
    _events_for(s, where, action, move.target, p.username,
                {"batch": batch, **({"reason": values["reason"]} if "reason" in values else {}),
                 **({"payment_ref": values["payment_ref"]} if "payment_ref" in values else {})})
    s.execute(update(Claim).where(where).values(**values).execution_options(synchronize_session=False))
    audit.record(s, p.username, f"policy.claim.batch_{action}", f"programme:{prog.number}", batch=batch, claims=n,
                 amount_fen=total)
    return Batch(batch, n, total)


def worked(s: Session, claim: Claim) -> arithmetic.Worked:
    """A claim's amount worked again from its own figures under the rules of its version, with the formula
    in words (the pages show it; for a batch claim no event kept one)."""
    prog = s.get(Programme, claim.programme_id)
    assert prog is not None
    r = programmes.rules_of(s, prog, claim.rule_version)
    if claim.kind == "pool":
        return arithmetic.compensation(claim.basis_fen, claim.rate_bp)
    if claim.kind == "guarantee":
        contract = s.execute(select(GuaranteeContract).join(Enrolment, Enrolment.contract_id == GuaranteeContract.id)
                             .where(Enrolment.id == claim.enrolment_id)).scalar_one()
        return arithmetic.guarantee(claim.basis_fen, claim.rate_bp, contract.fee_bp, claim.days, r.day_basis)
    return arithmetic.interest(claim.basis_fen, claim.rate_bp, claim.days, r.day_basis, claim.paid_interest_fen)


def recompute(s: Session, claim: Claim) -> int:
    """The amount a claim's own figures give under the rules of its version: equal to `amount_fen`."""
    return worked(s, claim).amount_fen


def split_of(s: Session, claim: Claim) -> dict[str, int]:
    """How the claim's cost falls on levels of government, by the shares of its rule version."""
    prog = s.get(Programme, claim.programme_id)
    assert prog is not None
    return arithmetic.split(claim.amount_fen, programmes.rules_of(s, prog, claim.rule_version).split)
