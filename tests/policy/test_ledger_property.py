"""The pool's ledger under any sequence of moves a bank and two officers may try — contributions, claims,
submissions, reviews, approvals, rejections, payments (twice), recoveries: whatever is refused, every
transaction balances, money in hand is never negative, and it equals what came in less what went out."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.market.conftest import BANK
from tests.policy.conftest import ENTITY_B, HRB_OFFICER, HRB_OFFICER_2, World
from xinyidai.kit.errors import DomainError
from xinyidai.market import loans
from xinyidai.policy import claims, enrolments, flows, ledger, programmes
from xinyidai.policy.evidence import Evidence
from xinyidai.policy.models import Claim

EV = Evidence("损失证明.pdf", "1" * 64, "policy-evidence/y.pdf", "application/pdf")
MOVES = st.lists(st.tuples(st.sampled_from(["contribute", "claim", "advance", "advance", "advance", "reject", "pay",
                                            "recover"]),
                           st.integers(0, 2), st.integers(1, 120_000_000)), min_size=12, max_size=30)
# The next step of a claim and who takes it: "advance" walks a claim along its flow, so sequences reach payment.
NEXT = {flows.DRAFT: ("submit", BANK), flows.SUBMITTED: ("review", HRB_OFFICER), flows.REVIEWED: ("approve", HRB_OFFICER_2),
        flows.APPROVED: ("pay", HRB_OFFICER), flows.PAID: ("recover", BANK)}


def _try(fn: Any, *args: Any, **kw: Any) -> None:
    try:
        with _SAVEPOINT[0].begin_nested():
            fn(*args, **kw)
    except DomainError as e:
        event(f"refused {e.code}")


_SAVEPOINT: list[Any] = [None]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=MOVES)
def test_the_ledger_always_balances(world: World, moves: list[tuple[str, int, int]]) -> None:
    with world.m.db.session() as s:
        _SAVEPOINT[0] = s
        number = world.programme(s, "pool", budget=50_000_000, rules={"suspend_overdue_bp": 0,
                                                                      "bank_cap_fen": 45_000_000},
                                 name=f"资金池{world.n}")
        prog = programmes.get(s, BANK, number)
        made = []
        for _ in range(3):
            loan = world.loan(s, granted=100_000_000, entity=ENTITY_B)
            enrolments.enrol(s, BANK, number, loan.loan_no)
            loans.report_status(s, loan, as_of=date(2026, 11, 1), outstanding_fen=loan.disbursed_fen,
                                overdue_principal_fen=loan.disbursed_fen, overdue_interest_fen=0, interest_paid_fen=0,
                                dpd=95, risk_class="次级", source="api", reported_by="t")
            made.append(loan)
        for move, k, amount in moves:
            loan = made[k]
            claim = s.execute(select(Claim).where(Claim.programme_id == prog.id, Claim.bank_code == loan.bank_code,
                                                  Claim.enrolment_id.in_(select(enrolments.Enrolment.id).where(
                                                      enrolments.Enrolment.loan_id == loan.id)))
                              .order_by(Claim.id.desc())).scalars().first()
            if move == "advance":  # the latest claim still moving, whichever loan it is on
                claim = s.execute(select(Claim).where(Claim.programme_id == prog.id, Claim.state.in_(list(NEXT)))
                                  .order_by(Claim.id.desc())).scalars().first()
            if move == "contribute":
                _try(programmes.contribute, s, HRB_OFFICER, number, "合作银行", amount)
            elif move == "claim":
                _try(claims.draft_compensation, s, BANK, number, loan.loan_no, amount, EV)
            elif claim is None:
                continue
            elif move == "advance":
                action, who = NEXT[claim.state]
                _try(claims.act, s, who, claim.number, action, recovered_fen=amount // 3, payment_ref=f"GK{k}")
            elif move == "recover":
                _try(claims.act, s, BANK, claim.number, move, recovered_fen=amount // 3)
            else:  # reject or pay at any state: the flow refuses what is out of order, paying twice too
                _try(claims.act, s, HRB_OFFICER, claim.number, move, reason="材料不全，请补充", payment_ref=f"GK{k}")
            assert not ledger.unbalanced_transactions(s, prog.id)
            t = ledger.totals(s, prog.id)
            assert t.debits_fen == t.credits_fen
            assert t.balance_fen >= 0
            assert t.balance_fen == t.contributed_fen - t.paid_fen + t.recovered_fen
            paid = sum(c.amount_fen for c in s.execute(select(Claim).where(
                Claim.programme_id == prog.id, Claim.state == flows.PAID)).scalars())
            assert t.paid_fen == paid
            assert programmes.available_fen(s, prog) >= 0
        t = ledger.totals(s, prog.id)
        event(f"reached payment: {t.paid_fen > 0}, a recovery: {t.recovered_fen > 0}")  # --hypothesis-show-statistics
