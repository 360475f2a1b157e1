"""Enrolment (备案): a bank puts one of its loans into a running programme — or a government guarantor its
contract on a loan — and the platform checks it against the rules in force, saying each reason it does not
qualify. One loan at a time (a page, the API, each row of a file) or every loan of the bank at once
(`enrol_all`, set-based: the same conditions written as SQL, with the per-enterprise cap as a running sum).

The checks, in order (`REASONS`): not enrolled here already, granted within the programme's period, in its
region, in an eligible industry, a credit loan or a first loan where the rules ask, the enterprise's grade,
no forbidden stacking with another programme of the kind, the enterprise's cap not used up; and for the bank
as a whole, not suspended by the pool's overdue trigger."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    and_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    literal_column,
    not_,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session

from xinyidai.credit import evaluation
from xinyidai.credit.indicators import GRADE_ORDER
from xinyidai.credit.models import Evaluation, EvaluationRun
from xinyidai.entities.models import MarketEntity
from xinyidai.entities.regions import region_name
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import audit, clock
from xinyidai.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import Principal
from xinyidai.market.models import Loan
from xinyidai.market.money import wan
from xinyidai.policy import arithmetic, programmes
from xinyidai.policy.models import Enrolment, GuaranteeContract, Programme, RuleVersion
from xinyidai.policy.rules import Rules

REASONS = {
    "ALREADY_ENROLLED": "该贷款已在本政策备案",
    "NOT_DISBURSED": "贷款尚未放款",
    "OUT_OF_PERIOD": "授信日期不在政策期限内",
    "OUT_OF_REGION": "企业不在政策实施区域内",
    "INDUSTRY_NOT_ELIGIBLE": "企业所属行业不在政策支持范围内",
    "NOT_CREDIT_LOAN": "政策仅支持信用贷款",
    "NOT_FIRST_LOAN": "政策仅支持首贷",
    "GRADE_TOO_LOW": "企业公共信用综合评价等级低于政策要求",
    "STACKING_FORBIDDEN": "该贷款已享受同类政策，本政策不允许叠加",
    "ENTERPRISE_CAP_REACHED": "企业已备案本金达到单户上限",
}
GUARANTOR_KIND = "担保机构"


@dataclass
class Verdict:
    """Why a loan does or does not qualify: the failed checks (code, words) and, if it does, its terms."""

    failures: list[tuple[str, str]] = field(default_factory=list)
    eligible_fen: int = 0
    starts_day: int = 0
    ends_day: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, code: str, words: str | None = None) -> None:
        self.failures.append((code, words or REASONS[code]))


SORTABLE = {"enrolled_at": Enrolment.enrolled_at, "eligible": Enrolment.eligible_fen, "loan_no": Enrolment.loan_no}


def visible(p: Principal) -> Select:
    """The enrolments `p` may read, as a query: an institution those it made, an enterprise those of its
    loans, an officer his division's programmes', the operator and the regulator all."""
    q = select(Enrolment)
    if p.role == "bank":
        return q.where(Enrolment.institution_code == (p.org_code or ""))
    if p.role == "enterprise":
        return q.where(Enrolment.entity_code == (p.org_code or ""))
    if p.role == "policy":
        return q.where(Enrolment.programme_id.in_(programmes.visible(p).with_only_columns(Programme.id)))
    if p.role in programmes.READERS:
        return q
    return q.where(Enrolment.id < 0)


def listing(s: Session, p: Principal, req: PageRequest, *, programme_id: int | None = None) -> Page[Enrolment]:
    q = visible(p)
    if programme_id is not None:
        q = q.where(Enrolment.programme_id == programme_id)
    return paginate(s, q, req, SORTABLE, "enrolled_at")


def institution_of(s: Session, p: Principal) -> FinancialInstitution:
    if p.role != "bank" or not p.org_code:
        raise Forbidden("只有金融机构或担保机构的用户可以办理政策备案和申领", code="ROLE_FORBIDDEN")
    inst = s.get(FinancialInstitution, p.org_code)
    if inst is None or inst.status != "active":
        raise Forbidden("本机构未在平台登记或已停用", code="INSTITUTION_INACTIVE")
    return inst


def own_loan(s: Session, inst: FinancialInstitution, loan_no: str) -> Loan:
    """A loan of the bank, by the platform's number or the bank's own; another bank's is not found."""
    loan = s.execute(select(Loan).where(Loan.institution_code == inst.code,
                                        or_(Loan.loan_no == loan_no, Loan.loan_ref == loan_no))).scalar_one_or_none()
    if loan is None:
        raise NotFound(f"未找到本机构的贷款 {loan_no}（贷款须经本平台授信，且属于本机构）", code="LOAN_NOT_FOUND")
    return loan


def grade_of(s: Session, entity_code: str) -> str | None:
    ev = evaluation.latest(s, entity_code)
    return ev.grade if ev is not None and ev.status == "ok" else None


def grade_ok(grade: str | None, minimum: str | None) -> bool:
    return minimum is None or (grade in GRADE_ORDER and GRADE_ORDER.index(grade) <= GRADE_ORDER.index(minimum))


def industry_ok(r: Rules, code: str | None) -> bool:
    if not r.industries:
        return True
    letters, divisions = r.divisions()
    if not code:
        return False
    c = code.strip().upper()
    if c in letters:
        return True
    digits = c[1:] if c[:1].isalpha() else c
    return digits[:2] in divisions


def blocking_programmes(s: Session, prog: Programme, r: Rules) -> list[int]:
    """Other running or ended programmes of the same kind a loan of theirs may not be stacked with: all of
    them if this one forbids stacking, else those whose own rules forbid it."""
    others = s.execute(select(Programme.id, RuleVersion.rules).join(
        RuleVersion, and_(RuleVersion.programme_id == Programme.id, RuleVersion.version == Programme.rule_version))
        .where(Programme.kind == prog.kind, Programme.id != prog.id, Programme.state != "DRAFT")).all()
    return [pid for pid, raw in others if not r.allow_stacking or not raw.get("allow_stacking", False)]


def overdue_rate_bp(s: Session, prog: Programme, bank_code: str) -> int:
    """The bank's overdue rate in the programme: principal of its enrolled loans now past due over all its
    enrolled principal, in basis points."""
    row = s.execute(select(func.coalesce(func.sum(Loan.granted_fen), 0),
                           func.coalesce(func.sum(case((Loan.dpd > 0, Loan.granted_fen), else_=0)), 0))
                    .select_from(Enrolment).join(Loan, Loan.id == Enrolment.loan_id)
                    .where(Enrolment.programme_id == prog.id, Enrolment.bank_code == bank_code)).one()
    total, overdue = int(row[0]), int(row[1])
    return 0 if total == 0 else overdue * 10_000 // total


def suspended(s: Session, prog: Programme, r: Rules, bank_code: str) -> str | None:
    if prog.kind != "pool" or not r.suspend_overdue_bp:
        return None
    rate = overdue_rate_bp(s, prog, bank_code)
    if rate > r.suspend_overdue_bp:
        return (f"本机构在该风险补偿政策中的逾期率为 {rate / 100:.2f}%，高于 {r.suspend_overdue_bp / 100:.2f}% 的暂停线，"
                "暂停新增备案；逾期率回落后自动恢复")
    return None


def _entity_region(s: Session, loan: Loan) -> str:
    return s.execute(select(MarketEntity.region_code).where(MarketEntity.code == loan.entity_code)).scalar() \
        or loan.city_code


def judge(s: Session, prog: Programme, r: Rules, loan: Loan, contract: GuaranteeContract | None = None) -> Verdict:
    """Every check of one loan against the rules in force (all failures, not only the first)."""
    v = Verdict()
    if s.execute(select(Enrolment.id).where(Enrolment.programme_id == prog.id, Enrolment.loan_id == loan.id)).first():
        v.fail("ALREADY_ENROLLED")
    if loan.first_disbursed_on is None:
        v.fail("NOT_DISBURSED")
    if not prog.starts_on <= loan.granted_on <= prog.ends_on:
        v.fail("OUT_OF_PERIOD", f"授信日期 {loan.granted_on} 不在政策期限 {prog.starts_on} 至 {prog.ends_on} 内")
    region = loan.city_code if prog.region_code.endswith("00") else _entity_region(s, loan)
    if not programmes.covers(prog.region_code, region):
        v.fail("OUT_OF_REGION", f"企业所在地 {region_name(region) or region} 不在政策实施区域"
                                f"（{region_name(prog.region_code) or prog.region_code}）内")
    if not industry_ok(r, loan.industry_code):
        v.fail("INDUSTRY_NOT_ELIGIBLE", f"企业行业 {loan.industry_code or '未知'} 不在支持行业（{'、'.join(r.industries)}）内")
    if r.credit_only and not loan.is_credit:
        v.fail("NOT_CREDIT_LOAN", f"该贷款担保方式为“{loan.guarantee_type}”，政策仅支持信用贷款")
    if r.first_only and not loan.first_loan:
        v.fail("NOT_FIRST_LOAN")
    if r.min_grade:
        grade = grade_of(s, loan.entity_code)
        if not grade_ok(grade, r.min_grade):
            v.fail("GRADE_TOO_LOW", f"企业公共信用综合评价为 {grade or '暂无'}，政策要求不低于 {r.min_grade}")
    blockers = blocking_programmes(s, prog, r)
    if blockers and s.execute(select(Enrolment.id).where(Enrolment.loan_id == loan.id,
                                                         Enrolment.programme_id.in_(blockers))).first():
        v.fail("STACKING_FORBIDDEN")
    start = arithmetic.day(loan.first_disbursed_on or loan.granted_on)
    if prog.kind == "interest":
        used = int(s.execute(select(func.coalesce(func.sum(Enrolment.eligible_fen), 0)).where(
            Enrolment.programme_id == prog.id, Enrolment.entity_code == loan.entity_code)).scalar_one())
        v.eligible_fen = min(loan.granted_fen, r.cap_fen - used)
        if v.eligible_fen <= 0:
            v.fail("ENTERPRISE_CAP_REACHED", f"企业在本政策已备案贴息本金 {wan(used)}，达到单户上限 {wan(r.cap_fen)}")
        v.starts_day, v.ends_day = start, start + r.max_days
    elif prog.kind == "guarantee":
        if contract is None:
            raise InvalidInput("担保费补贴须按担保合同备案：请注明担保合同编号", code="CONTRACT_REQUIRED")
        if contract.fee_bp > r.fee_ceiling_bp:
            v.fail("FEE_ABOVE_CEILING", f"担保费率 {contract.fee_bp / 100:.2f}% 高于政策上限 {r.fee_ceiling_bp / 100:.2f}%")
        if contract.state != "ACTIVE":
            v.fail("CONTRACT_NOT_ACTIVE", "担保合同已代偿或已终止")
        v.eligible_fen = contract.covered_fen
        c_start = arithmetic.day(contract.starts_on)
        v.starts_day, v.ends_day = c_start, min(arithmetic.day(contract.ends_on) + 1, c_start + r.max_days)
    else:
        v.eligible_fen = loan.granted_fen
        end = arithmetic.day(loan.matures_on) + 1 if loan.matures_on else start + 3660
        v.starts_day, v.ends_day = start, max(end, start + 1)
    return v


def _contract(s: Session, inst: FinancialInstitution, contract_ref: str) -> GuaranteeContract:
    c = s.execute(select(GuaranteeContract).where(
        GuaranteeContract.guarantor_code == inst.code,
        or_(GuaranteeContract.number == contract_ref, GuaranteeContract.contract_ref == contract_ref))).scalar_one_or_none()
    if c is None:
        raise NotFound(f"未找到本机构的担保合同 {contract_ref}", code="CONTRACT_NOT_FOUND")
    return c


def enrol(s: Session, p: Principal, number: str, loan_no: str, *, contract_ref: str | None = None,
          source: str = "page") -> Enrolment:
    """Enrol one loan (a guarantor: one contract), or refuse with every reason it does not qualify."""
    inst = institution_of(s, p)
    prog = programmes.get(s, p, number)
    programmes.running(prog)
    r = programmes.rules_of(s, prog)
    contract = None
    if prog.kind == "guarantee":
        if inst.kind != GUARANTOR_KIND:
            raise Forbidden("担保费补贴只能由政府性融资担保机构备案", code="NOT_A_GUARANTOR")
        contract = _contract(s, inst, contract_ref or loan_no)
        loan = s.get(Loan, contract.loan_id)
        assert loan is not None
    else:
        if inst.kind == GUARANTOR_KIND:
            raise Forbidden("担保机构只能备案担保费补贴政策", code="NOT_A_LENDER")
        loan = own_loan(s, inst, loan_no)
        why = suspended(s, prog, r, loan.bank_code)
        if why:
            raise Conflict(why, code="BANK_SUSPENDED")
    # One writer per programme at a time: the per-enterprise cap is a sum over the programme's rows.
    s.execute(select(Programme.id).where(Programme.id == prog.id).with_for_update())
    v = judge(s, prog, r, loan, contract)
    if not v.ok:
        raise InvalidInput("该贷款不符合备案条件：" + "；".join(w for _, w in v.failures), code="NOT_ELIGIBLE",
                           detail={"loan_no": loan.loan_no, "reasons": [{"code": c, "message": w} for c, w in v.failures]})
    e = Enrolment(programme_id=prog.id, loan_id=loan.id, loan_no=loan.loan_no, institution_code=inst.code,
                  bank_code=loan.bank_code, entity_code=loan.entity_code, city_code=loan.city_code,
                  contract_id=contract.id if contract else None, eligible_fen=v.eligible_fen, starts_day=v.starts_day,
                  ends_day=v.ends_day, rule_version=prog.rule_version, source=source, enrolled_by=p.username,
                  enrolled_at=clock.now())
    s.add(e)
    s.flush()
    audit.record(s, p.username, "policy.enrolled", f"programme:{prog.number}", entity_code=loan.entity_code,
                 institution_code=inst.code, loan_no=loan.loan_no, eligible_fen=v.eligible_fen,
                 rule_version=prog.rule_version)
    return e


# ── every loan of a bank at once ─────────────────────────────────────────────────────────────────────────

# enrol_all's working table: each loan of the institution and the first reason it is refused (NULL: it
# qualifies). Temporary, so private to the connection; dropped by the call, or by the rollback of a failed one.
_SCRATCH = Table("policy_enrol_scratch", MetaData(), Column("loan_id", BigInteger, nullable=False),
                 Column("reason", String(24)), prefixes=["TEMPORARY"], postgresql_on_commit="drop")


@dataclass(frozen=True)
class BulkResult:
    enrolled: int
    refused: dict[str, int]  # reason code → loans


def _industry_sql(r: Rules) -> Any:
    """`industry_ok` in SQL, cheapest test first (it runs on every loan): a code that starts with its two
    division digits ("52", "1310"); one that starts with its section letter ("C34"); a bare section ("C")."""
    letters, divisions = r.divisions()
    code = Loan.industry_code
    divs = sorted(divisions)
    return or_(func.substr(code, 1, 2).in_(divs),
               and_(func.upper(func.substr(code, 1, 1)).between("A", "Z"), func.substr(code, 2, 2).in_(divs)),
               func.upper(code).in_(sorted(letters)) if letters else literal(False))


def _grade_sql(minimum: str) -> Any:
    """The loan's enterprise has, as its latest completed public evaluation, a grade at least `minimum`."""
    allowed = list(GRADE_ORDER[:GRADE_ORDER.index(minimum) + 1])
    done = select(EvaluationRun.id).where(EvaluationRun.status == "done")
    latest = (select(func.max(Evaluation.as_of)).where(Evaluation.entity_code == Loan.entity_code,
                                                        Evaluation.method == "public", Evaluation.run_id.in_(done))
              .scalar_subquery())
    return exists().where(Evaluation.entity_code == Loan.entity_code, Evaluation.method == "public",
                          Evaluation.run_id.in_(done), Evaluation.as_of == latest, Evaluation.status == "ok",
                          Evaluation.grade.in_(allowed))


def enrol_all(s: Session, p: Principal, number: str) -> BulkResult:
    """Enrol every loan of the bank that qualifies for a 贴息 or pool programme, in two statements: one
    counts the loans each reason refuses, one inserts the rest with the cap applied as a running sum per
    enterprise (earliest grants first). Same rules as `judge`, which the tests hold it to."""
    inst = institution_of(s, p)
    prog = programmes.get(s, p, number)
    programmes.running(prog)
    if prog.kind == "guarantee":
        raise InvalidInput("担保费补贴须逐份担保合同备案", code="CONTRACT_REQUIRED")
    r = programmes.rules_of(s, prog)
    if prog.kind == "pool" and r.suspend_overdue_bp:  # only a pool suspends a bank (a read of its loans)
        for bank_code in s.execute(select(Loan.bank_code).where(Loan.institution_code == inst.code).distinct()
                                   ).scalars():
            why = suspended(s, prog, r, bank_code)
            if why:
                raise Conflict(why, code="BANK_SUSPENDED")
    s.execute(select(Programme.id).where(Programme.id == prog.id).with_for_update())

    conds: list[tuple[str, Any]] = []
    # The per-loan probes below name the programme as `programme_id + 0`, which no index can answer, so they go
    # through the loan (ix_policy_enrolments_loan) or the enterprise (ix_policy_enrolments_entity). A programme
    # new since the last ANALYZE looks like one row to PostgreSQL's planner, which then chose to probe through
    # ix_policy_enrolments_institution's programme prefix — reading every enrolment the programme already
    # had, once per loan: quadratic over the banks of a bulk run (measured: a second programme on 1M loans
    # had not finished in 17 minutes; the first took 19 s).
    prog_id = Enrolment.programme_id + 0
    # Only this institution enrols its loans here (`own_loan`): if it has enrolled none yet, none is
    # enrolled, and the probe per loan is spared (ix_policy_enrolments_institution answers once).
    if s.execute(select(Enrolment.id).where(Enrolment.programme_id == prog.id,
                                            Enrolment.institution_code == inst.code).limit(1)).first():
        conds.append(("ALREADY_ENROLLED", exists().where(prog_id == prog.id, Enrolment.loan_id == Loan.id)))
    conds += [("NOT_DISBURSED", Loan.first_disbursed_on.is_(None)),
              ("OUT_OF_PERIOD", not_(Loan.granted_on.between(prog.starts_on, prog.ends_on)))]
    if prog.region_code.endswith("0000"):
        conds.append(("OUT_OF_REGION", not_(Loan.city_code.like(prog.region_code[:2] + "%"))))
    elif prog.region_code.endswith("00"):
        conds.append(("OUT_OF_REGION", Loan.city_code != prog.region_code))
    else:
        conds.append(("OUT_OF_REGION", not_(exists().where(MarketEntity.code == Loan.entity_code,
                                                            MarketEntity.region_code == prog.region_code))))
    if r.industries:
        conds.append(("INDUSTRY_NOT_ELIGIBLE", not_(func.coalesce(_industry_sql(r), False))))
    if r.credit_only:
        conds.append(("NOT_CREDIT_LOAN", Loan.is_credit == 0))
    if r.first_only:
        conds.append(("NOT_FIRST_LOAN", Loan.first_loan == 0))
    if r.min_grade:
        conds.append(("GRADE_TOO_LOW", not_(_grade_sql(r.min_grade))))
    blockers = blocking_programmes(s, prog, r)
    if blockers:
        conds.append(("STACKING_FORBIDDEN", exists().where(Enrolment.loan_id == Loan.id, prog_id.in_(blockers))))
    reason = case(*[(cond, literal(code)) for code, cond in conds], else_=literal(None))
    mine = Loan.institution_code == inst.code

    # The institution's loans are read once (through ix_market_loans_institution: their rows lie all over the
    # table), each with the first reason it is refused, into a temporary table; the counts and the insert read
    # that instead of the loans again.
    conn = s.connection()
    _SCRATCH.create(conn)
    s.execute(insert(_SCRATCH).from_select(["loan_id", "reason"], select(Loan.id, reason).where(mine)))
    if conn.dialect.name == "postgresql":
        s.execute(text(f"ANALYZE {_SCRATCH.name}"))  # no statistics otherwise: the join below needs them
    counts = dict(s.execute(select(_SCRATCH.c.reason, func.count()).group_by(_SCRATCH.c.reason)).all())
    passed = counts.pop(None, 0)
    # The qualifying loans, kept aside (MATERIALIZED): computed inline, SQLite would walk ix_market_loans_entity
    # over every loan of every bank to get the cap's window in order — a whole-table pass per institution.
    cand = (select(Loan.id, Loan.loan_no, Loan.institution_code, Loan.bank_code, Loan.entity_code, Loan.city_code,
                   Loan.granted_fen, Loan.granted_on, Loan.first_disbursed_on, Loan.matures_on)
            .join(_SCRATCH, _SCRATCH.c.loan_id == Loan.id).where(_SCRATCH.c.reason.is_(None))
            .cte("candidates", nesting=True).prefix_with("MATERIALIZED"))
    if prog.kind == "interest":
        # The per-enterprise cap: what the enterprise has enrolled already (for these enterprises only), then
        # its qualifying loans in order of grant, each taking what room the earlier ones left. The enrolled sum
        # is a probe of ix_policy_enrolments_entity per loan (as a join, PostgreSQL read all the programme's
        # enrolments for each bank), taken once per loan in `roomy`, not once per use of `room`.
        used = (select(func.coalesce(func.sum(Enrolment.eligible_fen), 0))
                .where(Enrolment.entity_code == cand.c.entity_code, prog_id == prog.id)
                .scalar_subquery())
        before = func.coalesce(func.sum(cand.c.granted_fen).over(
            partition_by=cand.c.entity_code, order_by=(cand.c.granted_on, cand.c.id), rows=(None, -1)), 0)
        roomy = select(*cand.c, (r.cap_fen - used - before).label("room")).subquery()
        eligible = case((roomy.c.room >= roomy.c.granted_fen, roomy.c.granted_fen), else_=roomy.c.room)
        base = select(*[c for c in roomy.c if c.name != "room"], eligible.label("eligible")).subquery()
    else:
        base = select(*cand.c, cand.c.granted_fen.label("eligible")).subquery()
    start = day_sql(s, func.coalesce(base.c.first_disbursed_on, base.c.granted_on))
    if prog.kind == "interest":
        end = start + r.max_days
    else:
        matures = day_sql(s, base.c.matures_on) + 1
        end = case((base.c.matures_on.is_(None), start + 3660), (matures > start, matures), else_=start + 1)
    rows = select(literal(prog.id), base.c.id, base.c.loan_no, base.c.institution_code, base.c.bank_code,
                  base.c.entity_code, base.c.city_code, base.c.eligible, start, end, literal(prog.rule_version),
                  literal("bulk"), literal(p.username[:64]), literal(clock.now(), Enrolment.enrolled_at.type)) \
        .where(base.c.eligible > 0)
    cols = ["programme_id", "loan_id", "loan_no", "institution_code", "bank_code", "entity_code", "city_code",
            "eligible_fen", "starts_day", "ends_day", "rule_version", "source", "enrolled_by", "enrolled_at"]
    enrolled = s.execute(insert(Enrolment).from_select(cols, rows).execution_options(preserve_rowcount=True)
                         ).rowcount if passed else 0
    _SCRATCH.drop(conn)
    refused = {str(k): int(v) for k, v in counts.items()}
    if passed > enrolled:
        refused["ENTERPRISE_CAP_REACHED"] = passed - enrolled
    audit.record(s, p.username, "policy.enrolled.bulk", f"programme:{prog.number}", institution_code=inst.code,
                 enrolled=enrolled, refused=refused, rule_version=prog.rule_version)
    return BulkResult(enrolled, refused)


def day_sql(s: Session, d: Any) -> Any:
    """A date column as its day ordinal (`date.toordinal()`), on either engine."""
    if s.get_bind().dialect.name == "postgresql":
        return cast(d - literal_column("DATE '0001-01-01'"), Integer) + 1
    return cast(func.julianday(d) - 1721424.5, Integer)
