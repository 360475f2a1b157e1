"""What the pages found missing in the services: applying twice with one request id (a double-click on
"confirm") gives the first application back; a 授信 with a term that is not a number is refused with a code,
not a crash; and the city office can record its 约谈 on a case the system escalated by itself at 30 days."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.market.conftest import BANK, ENTERPRISE, NODE, OPERATOR, Market
from xinyidai.kit import clock
from xinyidai.kit.errors import DomainError
from xinyidai.market import applications, cases, flows, loans
from xinyidai.market.applications import Actor
from xinyidai.market.models import Application, DefaultCase, Loan


def _submit(s, m: Market, request_id: str | None):  # noqa: ANN001, ANN202
    pv = applications.preview(s, m.catalog, ENTERPRISE, m.product, "500000", 12, "采购原材料")
    return applications.submit(s, m.catalog, ENTERPRISE, product_number=m.product, amount="500000", term_months=12,
                               purpose="采购原材料", grant_digest=pv["grant_digest"], node_code=NODE,
                               request_id=request_id)


def test_submitting_again_with_the_same_request_id_gives_the_first_application(market: Market) -> None:
    with market.db.session() as s:
        first = _submit(s, market, "form-1")
        again = _submit(s, market, "form-1")
        assert again.id == first.id
        assert s.execute(select(func.count()).select_from(Application)).scalar_one() == 1
        with pytest.raises(DomainError) as info:  # a new form (new id) is a second application: refused
            _submit(s, market, "form-2")
        assert info.value.code == "APPLICATION_EXISTS"


def _offer_accepted(s, m: Market) -> Application:  # noqa: ANN001
    app = _submit(s, m, None)
    bank = Actor.of(BANK, "page")
    applications.decide(s, m.catalog, bank, app.number, "accept")
    applications.decide(s, m.catalog, bank, app.number, "offer", {"amount": "400000", "rate": "4.2"})
    applications.decide(s, m.catalog, Actor.of(ENTERPRISE, "page"), app.number, "accept_offer")
    return app


def test_a_grant_with_a_term_that_is_not_a_number_is_refused_with_a_code(market: Market) -> None:
    with market.db.session() as s:
        app = _offer_accepted(s, market)
        body = {"amount": "400000", "guarantee_type": "信用", "loan_ref": "HRB-1", "first_loan": "是",
                "term_months": "十二"}
        with pytest.raises(DomainError) as info:
            applications.decide(s, market.catalog, Actor.of(BANK, "page"), app.number, "grant", body, node_code=NODE)
        assert info.value.code == "GRANT_TERMS_INVALID" and "期限" in info.value.message


def test_the_city_office_records_the_interview_of_a_case_the_system_escalated(market: Market) -> None:
    with market.db.session() as s:
        app = _offer_accepted(s, market)
        bank = Actor.of(BANK, "page")
        applications.decide(s, market.catalog, bank, app.number, "grant",
                            {"amount": "400000", "guarantee_type": "信用", "loan_ref": "HRB-1", "first_loan": "是"},
                            node_code=NODE)
        applications.decide(s, market.catalog, bank, app.number, "disburse", {"amount": "400000"})
        loan = s.execute(select(Loan)).scalar_one()
        loans.report_status(s, loan, as_of=clock.today(), outstanding_fen=40_000_000, overdue_principal_fen=500_000,
                            overdue_interest_fen=0, interest_paid_fen=0, dpd=35, risk_class=None, source="page",
                            reported_by=BANK.username)
        case = s.execute(select(DefaultCase)).scalar_one()
        assert case.state == flows.ESCALATED  # by the system, at once: no person could attach the 约谈 then
        with pytest.raises(DomainError) as info:
            cases.act(s, OPERATOR, case.number, "interview", {"held_on": "2026-11-16 09:30"})
        assert info.value.code == "INTERVIEW_NOTE_REQUIRED"
        cases.act(s, OPERATOR, case.number, "interview", {"held_on": "2026-11-16 09:30", "place": "市信用办",
                                                          "attendees": "企业法定代表人、龙江银行客户经理",
                                                          "agreed": "两周内归还逾期本金"})
        last = cases.timeline(s, case)[-1]
        assert (last.action, last.to_state, last.payload["interview"]["place"]) == ("interview", flows.ESCALATED,
                                                                                    "市信用办")
        with pytest.raises(DomainError) as info:
            cases.act(s, BANK, case.number, "interview", {"held_on": "x", "attendees": "y", "agreed": "z"})
        assert info.value.code == "ACTOR_NOT_ALLOWED"
