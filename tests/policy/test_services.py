"""Programmes, enrolments, claims and the ledger through the services, on whichever engine the `db` fixture
runs: each refusal the issue names, with its code and a message a person can act on."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from tests.market.conftest import BANK, BANK_B, ENTERPRISE, OPERATOR, OTHER_BANK, REGULATOR
from tests.policy.conftest import (
    BANK_A,
    BRANCH_B,
    DAQING,
    DQ_OFFICER,
    ENTITY_B,
    GUARANTOR,
    HRB_OFFICER,
    HRB_OFFICER_2,
    PROVINCE_OFFICER,
    World,
)
from xinyidai.kit import audit
from xinyidai.kit.errors import DomainError
from xinyidai.market import flows as market_flows
from xinyidai.market import loans
from xinyidai.market.models import DefaultCase, Loan
from xinyidai.policy import claims, enrolments, flows, guarantees, ledger, programmes, rules
from xinyidai.policy.evidence import Evidence
from xinyidai.policy.models import Claim, Enrolment

EV = Evidence("付息凭证.pdf", "0" * 64, "policy-evidence/x.pdf", "application/pdf")
Q1 = (date(2026, 3, 1), date(2026, 5, 31))  # 92 days


def refused(code: str, fn: Any, *args: Any, **kw: Any) -> DomainError:
    with pytest.raises(DomainError) as e:
        fn(*args, **kw)
    assert e.value.code == code, (e.value.code, e.value.message)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in e.value.message)  # a message in Chinese
    return e.value


# ── rules ───────────────────────────────────────────────────────────────────────────────────────────────

def test_defaults_say_where_they_come_from_and_contradictions_are_refused() -> None:
    r = rules.defaults("interest")
    assert (r.rate_bp, r.cap_fen, r.max_days, r.split) == (100, 1_000_000_000, 365, {"中央": 9000, "省级": 1000})
    assert "财金〔2025〕81号" in rules.SOURCES["interest"] and "30%" in rules.SOURCES["pool"]
    assert rules.defaults("pool").suspend_overdue_bp == 500
    refused("RULES_CONTRADICT", rules.parse, {"cap_fen": -1}, "interest")
    refused("RULES_CONTRADICT", rules.parse, {"share_bp": 12000}, "pool")
    refused("RULES_CONTRADICT", rules.parse, {"split": {"中央": 6000, "省级": 6000}}, "interest")
    refused("RULES_CONTRADICT", rules.parse, {"split": {"火星": 10000}}, "interest")
    refused("RULES_CONTRADICT", rules.parse, {"share_bp": 3000, "credit_share_bp": 2000}, "pool")
    refused("RULES_CONTRADICT", rules.parse, {"rate_bp": 200, "fee_ceiling_bp": 100}, "guarantee")
    refused("RULES_CONTRADICT", rules.parse, {"industries": ["X9"]}, "interest")
    refused("RULES_CONTRADICT", rules.parse, {"min_grade": "AAA"}, "interest")
    refused("RULES_CONTRADICT", rules.parse, {"allow_stacking": "yes"}, "interest")
    refused("RULES_CONTRADICT", rules.parse, {"rate_bp": 1.5}, "interest")
    refused("RULES_UNKNOWN_KEY", rules.parse, {"share_bp": 3000}, "interest")
    assert rules.parse({"industries": "C, 13"}, "interest").industries == ("13", "C")


def test_programmes_are_managed_within_the_officers_division(world: World) -> None:
    with world.m.db.session() as s:
        refused("REGION_NOT_MANAGED", programmes.create, s, DQ_OFFICER, kind="interest", name="大庆越权", region_code="230100",
                starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31), budget_fen=1, raw_rules={})
        refused("ROLE_FORBIDDEN", programmes.create, s, BANK, kind="interest", name="银行越权", region_code="230100",
                starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31), budget_fen=1, raw_rules={})
        refused("BAD_PERIOD", programmes.create, s, HRB_OFFICER, kind="interest", name="倒置期限", region_code="230100",
                starts_on=date(2026, 12, 1), ends_on=date(2026, 1, 1), budget_fen=1, raw_rules={})
        refused("BAD_BUDGET", programmes.create, s, HRB_OFFICER, kind="pool", name="零预算", region_code="230100",
                starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31), budget_fen=0, raw_rules={})
        number = world.programme(s, start=False)
        assert programmes.get(s, PROVINCE_OFFICER, number).state == "DRAFT"  # the province sees its cities'
        refused("PROGRAMME_NOT_FOUND", programmes.get, s, DQ_OFFICER, number)
        refused("PROGRAMME_NOT_FOUND", programmes.get, s, BANK, number)  # a draft is not public
        programmes.start(s, HRB_OFFICER, number)
        refused("PROGRAMME_NOT_DRAFT", programmes.start, s, HRB_OFFICER, number)
        prog = programmes.get(s, BANK, number)
        assert ledger.fund_balance(s, prog.id) == prog.budget_fen
        v = programmes.revise(s, HRB_OFFICER, number, {"rate_bp": 150}, "提高贴息比例")
        assert v.version == 2 and programmes.rules_of(s, prog).rate_bp == 150
        assert programmes.rules_of(s, prog, 1).rate_bp == 100
        refused("RULES_UNCHANGED", programmes.revise, s, HRB_OFFICER, number, {"rate_bp": 150})


# ── enrolment ───────────────────────────────────────────────────────────────────────────────────────────

def test_enrolment_says_every_reason_a_loan_does_not_qualify(world: World) -> None:
    with world.m.db.session() as s:
        number = world.programme(s, rules={"industries": ["13"], "credit_only": True})
        ok = world.loan(s, industry="1310")
        bad = world.loan(s, industry="C34", credit=False, on=date(2025, 6, 1))
        daqing = world.loan(s, entity=DAQING, city="230600", industry="13")
        other = world.loan(s, bank=BRANCH_B, industry="13")
        e = enrolments.enrol(s, BANK, number, ok.loan_ref)
        assert (e.eligible_fen, e.rule_version, e.ends_day - e.starts_day) == (ok.granted_fen, 1, 365)
        err = refused("NOT_ELIGIBLE", enrolments.enrol, s, BANK, number, bad.loan_no)
        assert {r["code"] for r in err.detail["reasons"]} == {"OUT_OF_PERIOD", "INDUSTRY_NOT_ELIGIBLE", "NOT_CREDIT_LOAN"}
        assert "2025-06-01" in err.message
        err = refused("NOT_ELIGIBLE", enrolments.enrol, s, BANK, number, daqing.loan_no)
        assert [r["code"] for r in err.detail["reasons"]] == ["OUT_OF_REGION"] and "大庆市" in err.message
        refused("NOT_ELIGIBLE", enrolments.enrol, s, BANK, number, ok.loan_no)  # twice
        refused("LOAN_NOT_FOUND", enrolments.enrol, s, BANK, number, other.loan_no)  # another bank's loan
        refused("ROLE_FORBIDDEN", enrolments.enrol, s, ENTERPRISE, number, ok.loan_no)
        undrawn = world.loan(s, industry="13", disbursed=False)
        err = refused("NOT_ELIGIBLE", enrolments.enrol, s, BANK, number, undrawn.loan_no)
        assert [r["code"] for r in err.detail["reasons"]] == ["NOT_DISBURSED"]


def test_the_enterprise_cap_and_stacking(world: World) -> None:
    with world.m.db.session() as s:
        number = world.programme(s, rules={"cap_fen": 150_000_000})  # 150 万 per enterprise
        a = world.loan(s, granted=100_000_000)
        b = world.loan(s, granted=100_000_000)
        c = world.loan(s, granted=10_000_000)
        assert enrolments.enrol(s, BANK, number, a.loan_no).eligible_fen == 100_000_000
        assert enrolments.enrol(s, BANK, number, b.loan_no).eligible_fen == 50_000_000  # what room was left
        err = refused("NOT_ELIGIBLE", enrolments.enrol, s, BANK, number, c.loan_no)
        assert err.detail["reasons"][0]["code"] == "ENTERPRISE_CAP_REACHED"
        # A second 贴息 programme of the province: stacking forbidden (by default) for a loan already in one.
        other = world.programme(s, region="230000", officer=PROVINCE_OFFICER, name="省级贴息")
        err = refused("NOT_ELIGIBLE", enrolments.enrol, s, BANK, other, a.loan_no)
        assert [r["code"] for r in err.detail["reasons"]] == ["STACKING_FORBIDDEN"]
        # A pool is another kind: the same loan may be in it.
        pool = world.programme(s, "pool")
        enrolments.enrol(s, BANK, pool, a.loan_no)


def test_bulk_enrolment_agrees_with_one_by_one(world: World) -> None:
    with world.m.db.session() as s:
        one = world.programme(s, rules={"cap_fen": 150_000_000, "industries": ["C"]}, name="逐笔")
        many = world.programme(s, rules={"cap_fen": 150_000_000, "industries": ["C"]}, name="批量",
                               officer=HRB_OFFICER_2)
        made = [world.loan(s, granted=100_000_000, on=date(2026, 3, 1)),
                world.loan(s, granted=100_000_000, on=date(2026, 4, 1)),
                world.loan(s, entity=ENTITY_B, granted=20_000_000, industry="13"),
                world.loan(s, entity=ENTITY_B, granted=20_000_000, industry="A01"),
                world.loan(s, on=date(2025, 1, 1)),
                world.loan(s, entity=DAQING, city="230600"),
                world.loan(s, disbursed=False)]
        singles: dict[str, tuple[int, int, int]] = {}
        for loan in made:
            try:
                e = enrolments.enrol(s, BANK, one, loan.loan_no)
                singles[loan.loan_no] = (e.eligible_fen, e.starts_day, e.ends_day)
            except DomainError:
                pass
        # Both programmes forbid stacking: clear the first so the second sees the same loans afresh.
        s.query(Enrolment).filter(Enrolment.programme_id == programmes.get(s, BANK, one).id).delete()
        res = enrolments.enrol_all(s, BANK, many)
        prog = programmes.get(s, BANK, many)
        got = {e.loan_no: (e.eligible_fen, e.starts_day, e.ends_day) for e in
               s.execute(select(Enrolment).where(Enrolment.programme_id == prog.id)).scalars()}
        assert got == singles and res.enrolled == 3
        assert res.refused == {"INDUSTRY_NOT_ELIGIBLE": 1, "OUT_OF_PERIOD": 1, "OUT_OF_REGION": 1, "NOT_DISBURSED": 1}
        assert enrolments.enrol_all(s, BANK, many).refused["ALREADY_ENROLLED"] == 3


# ── claims ──────────────────────────────────────────────────────────────────────────────────────────────

def test_an_interest_claim_from_draft_to_paid(world: World) -> None:
    with world.m.db.session() as s:
        number = world.programme(s)
        loan = world.loan(s, granted=500_000_000)  # 500 万, drawn 2026-03-01
        enrolments.enrol(s, BANK, number, loan.loan_no)
        c = claims.draft_interest(s, BANK, number, loan.loan_no, *Q1, paid_interest_fen=6_000_000, ev=EV)
        # 5,000,000 × 1% × 92 / 360 = 12,777.78 元
        assert (c.days, c.amount_fen, c.state) == (92, 1_277_778, flows.DRAFT)
        assert claims.recompute(s, c) == c.amount_fen
        assert claims.split_of(s, c) == {"中央": 1_150_000, "省级": 127_778}
        refused("PERIOD_ALREADY_CLAIMED", claims.draft_interest, s, BANK, number, loan.loan_no, date(2026, 5, 1),
                date(2026, 6, 30), paid_interest_fen=1, ev=EV)
        refused("PERIOD_NOT_ENDED", claims.draft_interest, s, BANK, number, loan.loan_no, date(2026, 6, 1),
                date(2026, 11, 30), paid_interest_fen=1, ev=EV)
        refused("EVIDENCE_REQUIRED", claims.draft_interest, s, BANK, number, loan.loan_no, date(2026, 6, 1),
                date(2026, 6, 30), paid_interest_fen=1, ev=None)
        refused("NOT_ENROLLED", claims.draft_interest, s, OTHER_BANK, number, loan.loan_no, date(2026, 6, 1),
                date(2026, 6, 30), paid_interest_fen=1, ev=EV)
        refused("ACTOR_NOT_ALLOWED", claims.act, s, HRB_OFFICER, c.number, "submit")
        claims.act(s, BANK, c.number, "submit")
        refused("ACTOR_NOT_ALLOWED", claims.act, s, BANK, c.number, "approve")
        refused("OUT_OF_ORDER", claims.act, s, HRB_OFFICER, c.number, "approve")
        claims.act(s, HRB_OFFICER, c.number, "review")
        refused("SAME_OFFICER", claims.act, s, HRB_OFFICER, c.number, "approve")  # approving one's own review
        refused("CLAIM_NOT_FOUND", claims.act, s, DQ_OFFICER, c.number, "approve")  # not his division
        claims.act(s, HRB_OFFICER_2, c.number, "approve")
        refused("PAYMENT_REF_REQUIRED", claims.act, s, HRB_OFFICER, c.number, "pay")
        claims.act(s, HRB_OFFICER, c.number, "pay", payment_ref="GK2026-0001")
        refused("ALREADY_DONE", claims.act, s, HRB_OFFICER, c.number, "pay", payment_ref="GK2026-0001")  # paying twice
        prog = programmes.get(s, BANK, number)
        t = ledger.totals(s, prog.id)
        assert (t.paid_fen, t.balance_fen, t.debits_fen == t.credits_fen) == (1_277_778, 100_000_000 - 1_277_778, True)
        assert [e.action for e in claims.events(s, c)] == ["create", "submit", "review", "approve", "pay"]
        # The enterprise sees the claim on its loan; another bank does not.
        assert claims.get(s, ENTERPRISE, c.number).amount_fen == c.amount_fen
        refused("CLAIM_NOT_FOUND", claims.get, s, OTHER_BANK, c.number)
        assert claims.get(s, REGULATOR, c.number) and claims.get(s, OPERATOR, c.number)
        actions = [a for (a,) in s.execute(select(audit.AuditEvent.action).where(
            audit.AuditEvent.target == f"claim:{c.number}"))]
        assert actions == ["policy.claim.created", "policy.claim.submit", "policy.claim.review",
                           "policy.claim.approve", "policy.claim.pay"]


def test_a_claim_above_the_remaining_budget_is_refused(world: World) -> None:
    with world.m.db.session() as s:
        number = world.programme(s, budget=2_000_000)  # 2 万元
        loans_ = [world.loan(s, granted=500_000_000) for _ in range(2)]
        for loan in loans_:
            enrolments.enrol(s, BANK, number, loan.loan_no)
        a = claims.draft_interest(s, BANK, number, loans_[0].loan_no, *Q1, paid_interest_fen=10**8, ev=EV)
        b = claims.draft_interest(s, BANK, number, loans_[1].loan_no, *Q1, paid_interest_fen=10**8, ev=EV)
        claims.act(s, BANK, a.number, "submit")
        err = refused("BUDGET_EXCEEDED", claims.act, s, BANK, b.number, "submit")
        assert err.detail["available_fen"] == 2_000_000 - a.amount_fen and "剩余可用资金" in err.message
        claims.act(s, HRB_OFFICER, a.number, "reject", reason="付息凭证金额与贷款合同不符")
        claims.act(s, BANK, b.number, "submit")  # the rejected claim no longer holds money


def test_batch_claims_equal_single_claims(world: World) -> None:
    with world.m.db.session() as s:
        # Two programmes that both allow stacking, so the same loans can be in each.
        single = world.programme(s, name="逐笔申领", rules={"allow_stacking": True})
        batch = world.programme(s, "interest", name="批量申领", rules={"allow_stacking": True})
        made = [world.loan(s, granted=g, on=d, rate_bp=r) for g, d, r in (
            (123_456_789, date(2026, 3, 17), 450), (500_000_000, date(2026, 4, 30), 80), (7_777_700, date(2026, 5, 31), 300))]
        singles = {}
        for loan in made:
            enrolments.enrol(s, BANK, single, loan.loan_no)
            c = claims.draft_interest(s, BANK, single, loan.loan_no, *Q1, paid_interest_fen=10**9, ev=EV)
            singles[loan.loan_no] = (c.days, c.basis_fen, c.amount_fen)
        res = enrolments.enrol_all(s, BANK, batch)
        assert res.enrolled == 3, res
        b = claims.claim_period(s, BANK, batch, *Q1, ev=EV)
        prog = programmes.get(s, BANK, batch)
        rows = s.execute(select(Enrolment.loan_no, Claim.days, Claim.basis_fen, Claim.amount_fen).join(
            Claim, Claim.enrolment_id == Enrolment.id).where(Claim.programme_id == prog.id)).all()
        assert {r[0]: tuple(r[1:]) for r in rows} == singles
        assert b.claims == 3 and b.amount_fen == sum(v[2] for v in singles.values())
        assert claims.claim_period(s, BANK, batch, *Q1, ev=EV).claims == 0  # a period is claimed once
        claims.act_batch(s, BANK, batch, b.batch, "submit")
        claims.act_batch(s, HRB_OFFICER, batch, b.batch, "review")
        refused("SAME_OFFICER", claims.act_batch, s, HRB_OFFICER, batch, b.batch, "approve")
        claims.act_batch(s, HRB_OFFICER_2, batch, b.batch, "approve")
        claims.act_batch(s, HRB_OFFICER, batch, b.batch, "pay", payment_ref="GK-B-1")
        refused("NOTHING_TO_DO", claims.act_batch, s, HRB_OFFICER, batch, b.batch, "pay", payment_ref="GK-B-1")
        assert ledger.totals(s, prog.id).paid_fen == b.amount_fen and not ledger.unbalanced_transactions(s)


def _npl(s: Any, loan: Loan) -> None:
    loans.report_status(s, loan, as_of=date(2026, 11, 1), outstanding_fen=loan.disbursed_fen,
                        overdue_principal_fen=loan.disbursed_fen, overdue_interest_fen=0, interest_paid_fen=0, dpd=95,
                        risk_class="次级", source="api", reported_by="teller-a")
    assert s.execute(select(DefaultCase.state).where(DefaultCase.loan_id == loan.id)).scalar() == market_flows.NPL


def test_pool_compensation_recovery_caps_and_suspension(world: World) -> None:
    with world.m.db.session() as s:
        number = world.programme(s, "pool", rules={"bank_cap_fen": 40_000_000}, budget=500_000_000)
        a = world.loan(s, granted=100_000_000)
        b = world.loan(s, granted=100_000_000, entity=ENTITY_B)
        c = world.loan(s, granted=100_000_000, entity=ENTITY_B, credit=False)
        enrolments.enrol(s, BANK, number, a.loan_no)
        enrolments.enrol(s, BANK, number, b.loan_no)
        err = refused("NOT_ELIGIBLE", enrolments.enrol, s, BANK, number, c.loan_no)
        assert err.detail["reasons"][0]["code"] == "NOT_CREDIT_LOAN"
        refused("NOT_NON_PERFORMING", claims.draft_compensation, s, BANK, number, a.loan_no, 80_000_000, EV)
        _npl(s, a)
        refused("LOSS_ABOVE_OUTSTANDING", claims.draft_compensation, s, BANK, number, a.loan_no, 200_000_000, EV)
        x = claims.draft_compensation(s, BANK, number, a.loan_no, 80_000_000, EV)
        assert (x.rate_bp, x.amount_fen) == (4000, 32_000_000)  # a credit first loan: the 40% tier
        refused("ALREADY_CLAIMED", claims.draft_compensation, s, BANK, number, a.loan_no, 1, EV)
        claims.act(s, BANK, x.number, "submit")
        # The overdue loan is half the bank's enrolled principal, far above 5%: no new enrolments.
        d = world.loan(s, granted=100_000_000)
        err = refused("BANK_SUSPENDED", enrolments.enrol, s, BANK, number, d.loan_no)
        assert "50.00%" in err.message
        refused("BANK_SUSPENDED", enrolments.enrol_all, s, BANK, number)
        _npl(s, b)
        y = claims.draft_compensation(s, BANK, number, b.loan_no, 50_000_000, EV)
        err = refused("BANK_CAP_EXCEEDED", claims.act, s, BANK, y.number, "submit")  # 32 + 20 > 40 万
        assert "年度上限" in err.message
        for who, act in ((HRB_OFFICER, "review"), (HRB_OFFICER_2, "approve")):
            claims.act(s, who, x.number, act)
        claims.act(s, HRB_OFFICER, x.number, "pay", payment_ref="GK-P-1")
        refused("RECOVERY_ABOVE_LOSS", claims.act, s, BANK, x.number, "recover", recovered_fen=90_000_000)
        claims.act(s, BANK, x.number, "recover", recovered_fen=20_000_000)  # a quarter of the loss
        x = claims.get(s, BANK, x.number)
        assert (x.recovered_fen, x.returned_fen, x.state) == (20_000_000, 8_000_000, flows.PAID)
        t = ledger.totals(s, programmes.get(s, BANK, number).id)
        assert (t.paid_fen, t.recovered_fen, t.balance_fen) == (32_000_000, 8_000_000, 500_000_000 - 24_000_000)


def test_guarantee_contracts_and_their_fee_subsidy(world: World) -> None:
    with world.m.db.session() as s:
        number = world.programme(s, "guarantee", rules={"rate_bp": 50, "fee_ceiling_bp": 100})
        loan = world.loan(s, granted=200_000_000)
        refused("NOT_A_GUARANTOR", guarantees.record, s, BANK, loan_no=loan.loan_no, contract_ref="G-1",
                covered_fen=1, fee_bp=80, starts_on=date(2026, 3, 1), ends_on=date(2027, 2, 28))
        refused("COVER_ABOVE_LOAN", guarantees.record, s, GUARANTOR, loan_no=loan.loan_no, contract_ref="G-1",
                covered_fen=300_000_000, fee_bp=80, starts_on=date(2026, 3, 1), ends_on=date(2027, 2, 28))
        g = guarantees.record(s, GUARANTOR, loan_no=loan.loan_no, contract_ref="G-1", covered_fen=160_000_000,
                              fee_bp=80, starts_on=date(2026, 3, 1), ends_on=date(2027, 2, 28))
        refused("CONTRACT_TAKEN", guarantees.record, s, GUARANTOR, loan_no=loan.loan_no, contract_ref="G-1",
                covered_fen=1, fee_bp=80, starts_on=date(2026, 3, 1), ends_on=date(2027, 2, 28))
        dear = guarantees.record(s, GUARANTOR, loan_no=world.loan(s).loan_no, contract_ref="G-2", covered_fen=10_000_000,
                                 fee_bp=150, starts_on=date(2026, 3, 1), ends_on=date(2027, 2, 28))
        refused("NOT_A_LENDER", enrolments.enrol, s, GUARANTOR, world.programme(s, name="贴息"), loan.loan_no)
        e = enrolments.enrol(s, GUARANTOR, number, "G-1")
        assert (e.eligible_fen, e.contract_id, e.institution_code) == (160_000_000, g.id, g.guarantor_code)
        second = guarantees.record(s, GUARANTOR, loan_no=loan.loan_no, contract_ref="G-3", covered_fen=1_000_000,
                                   fee_bp=80, starts_on=date(2026, 3, 1), ends_on=date(2027, 2, 28))
        err = refused("NOT_ELIGIBLE", enrolments.enrol, s, GUARANTOR, number, second.number)
        assert err.detail["reasons"][0]["code"] == "ALREADY_ENROLLED"  # one contract per loan and programme
        err = refused("NOT_ELIGIBLE", enrolments.enrol, s, GUARANTOR, number, "G-2", contract_ref=dear.contract_ref)
        assert err.detail["reasons"][0]["code"] == "FEE_ABOVE_CEILING"
        c = claims.draft_guarantee(s, GUARANTOR, number, "G-1", *Q1, ev=EV)
        # 1,600,000 × 0.5% × 92 / 360 = 2,044.44 元 (the fee, 0.8%, is higher: no cap)
        assert (c.amount_fen, c.days) == (204_444, 92) and claims.recompute(s, c) == c.amount_fen
        guarantees.compensate(s, GUARANTOR, "G-1", 50_000_000, date(2026, 11, 1))
        refused("CONTRACT_NOT_ACTIVE", guarantees.compensate, s, GUARANTOR, "G-1", 1, date(2026, 11, 2))


def test_bank_b_head_office_and_the_province_reader(world: World) -> None:
    with world.m.db.session() as s:
        number = world.programme(s, region="230000", officer=PROVINCE_OFFICER)
        loan = world.loan(s, bank=BRANCH_B, entity=DAQING, city="230600")
        enrolments.enrol(s, OTHER_BANK, number, loan.loan_no)
        assert s.execute(select(Enrolment.bank_code)).scalar() == BRANCH_B
        assert BANK_B and BANK_A  # both banks exist in the market world
