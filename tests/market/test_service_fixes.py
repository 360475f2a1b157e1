"""Service behaviour the market API and the banks' feedback files rely on, each found wrong while building them:
a quote's request id reused for another quote, an identical status report re-sent after a later one, a
decision dated by day only on the day of the previous step, the product list's region filter."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.market.conftest import BANK, ENTERPRISE, NODE, Market, publish, terms
from xinyidai.kit import clock
from xinyidai.kit.errors import DomainError
from xinyidai.kit.pagination import PageRequest
from xinyidai.market import applications, demands, loans, products
from xinyidai.market.applications import Actor
from xinyidai.market.models import Loan, StatusReport


def _apply(s, m: Market):  # noqa: ANN001, ANN202
    pv = applications.preview(s, m.catalog, ENTERPRISE, m.product, "500000", 12, "采购原材料")
    return applications.submit(s, m.catalog, ENTERPRISE, product_number=m.product, amount="500000", term_months=12,
                               purpose="采购原材料", grant_digest=pv["grant_digest"], node_code=NODE)


def test_a_quote_request_id_used_for_another_quote_is_refused(market: Market) -> None:
    with market.db.session() as s:
        d = demands.publish(s, ENTERPRISE, amount="800000", term_months=24, purpose="扩大产能", kinds=["纯信用"],
                            expires_on=(clock.today() + timedelta(days=20)).isoformat(), node_code=NODE)
        until = str(clock.today() + timedelta(days=5))
        first = demands.quote(s, BANK, d.number, product_number=market.product, amount="800000", rate="4.5",
                              term_months=24, valid_until=until, node_code=NODE, request_id="q-1")
        again = demands.quote(s, BANK, d.number, product_number=market.product, amount="800000", rate="4.5",
                              term_months=24, valid_until=until, node_code=NODE, request_id="q-1")
        assert again.id == first.id
        with pytest.raises(DomainError) as info:
            demands.quote(s, BANK, d.number, product_number=market.product, amount="900000", rate="4.5",
                          term_months=24, valid_until=until, node_code=NODE, request_id="q-1")
        assert info.value.code == "REQUEST_ID_REUSED"


def test_an_identical_older_status_report_sent_again_changes_nothing(market: Market) -> None:
    """A bank's cumulative export repeats October after November was reported: October is unchanged."""
    now = clock.now()
    clock.set_clock(lambda: now - timedelta(days=60))  # the loan was disbursed two months ago
    with market.db.session() as s:
        app = _apply(s, market)
        bank = Actor.of(BANK, "api")
        applications.decide(s, market.catalog, bank, app.number, "accept")
        applications.decide(s, market.catalog, bank, app.number, "offer", {"amount": "400000", "rate": "4.2"})
        applications.decide(s, market.catalog, Actor.of(ENTERPRISE, "page"), app.number, "accept_offer")
        applications.decide(s, market.catalog, bank, app.number, "grant",
                            {"amount": "400000", "guarantee_type": "信用", "loan_ref": "HRB-1", "first_loan": True},
                            node_code=NODE)
        applications.decide(s, market.catalog, bank, app.number, "disburse", {"amount": "400000"})
        loan_id = app.loan_id
    clock.set_clock(lambda: now)
    with market.db.session() as s:
        loan = s.get(Loan, loan_id)

        def report(day: date, balance: int) -> bool:
            return loans.report_status(s, loan, as_of=day, outstanding_fen=balance, overdue_principal_fen=0,
                                       overdue_interest_fen=0, interest_paid_fen=0, dpd=0, risk_class="正常",
                                       source="file", reported_by="teller-a")[1]

        assert report(date(2026, 10, 31), 40_000_000) and report(date(2026, 11, 14), 39_000_000)
        assert report(date(2026, 10, 31), 40_000_000) is False
        with pytest.raises(DomainError) as info:  # a different figure for the older date is still refused
            report(date(2026, 10, 31), 39_500_000)
        assert info.value.code == "DATE_OUT_OF_ORDER"
        assert len(loans.reports(s, loan)) == 2 and s.query(StatusReport).count() == 2


def test_a_decision_dated_by_day_on_the_day_of_the_previous_step_is_taken_after_it(market: Market) -> None:
    """Submitted at 10:00 today; the bank says it accepted "today" (no time): that is after 10:00, not 00:00."""
    with market.db.session() as s:
        app = _apply(s, market)
        today = clock.today().isoformat()
        applications.decide(s, market.catalog, Actor.of(BANK, "file"), app.number, "accept", {"acted_at": today})
        last = applications.timeline(s, app)[-1]
        assert last.acted_at == app.submitted_at
        with pytest.raises(DomainError) as info:  # a day before the previous step is still out of order
            applications.decide(s, market.catalog, Actor.of(BANK, "file"), app.number, "request_auth",
                                {"acted_at": (clock.today() - timedelta(days=1)).isoformat(),
                                 "categories": ["tax"]})
        assert info.value.code == "DATE_OUT_OF_ORDER"


def test_the_product_list_filters_by_region(market: Market) -> None:
    with market.db.session() as s:
        daqing = publish(s, market.catalog, terms(name="大庆油田贷", regions=["230600"]))
        province = publish(s, market.catalog, terms(name="全省通贷", regions=["230000"]))

        def numbers(region: str) -> set[str]:
            page = products.search(s, ENTERPRISE, PageRequest(size=50), region=region)
            return {s.get(products.Product, v.product_id).number for v in page.items}

        assert numbers("230102") == {market.product, province}  # a Harbin district: Harbin's and the province's
        assert numbers("230602") == {daqing, province}
        assert products.search(s, ENTERPRISE, PageRequest(size=50), region="230602").total == 2


def test_a_decision_request_id_is_not_replayed_on_another_application(market: Market) -> None:
    """The digest covers the action and body only: accepting B under the id that accepted A must not
    answer with A (B would stay unanswered while the bank believes it accepted)."""
    from tests.market.conftest import ENTERPRISE_B

    with market.db.session() as s:
        a = _apply(s, market)
        pv = applications.preview(s, market.catalog, ENTERPRISE_B, market.product, "500000", 12, "采购原材料")
        b = applications.submit(s, market.catalog, ENTERPRISE_B, product_number=market.product, amount="500000",
                                term_months=12, purpose="采购原材料", grant_digest=pv["grant_digest"], node_code=NODE)
        applications.decide(s, market.catalog, Actor.of(BANK, "api"), a.number, "accept", request_id="r-1")
        with pytest.raises(DomainError) as info:
            applications.decide(s, market.catalog, Actor.of(BANK, "api"), b.number, "accept", request_id="r-1")
        assert info.value.code == "REQUEST_ID_REUSED" and b.state == "SUBMITTED"
