"""What the pages found missing in the services: applying twice with one request id (a double-click on
"confirm") gives the first application back; a 授信 with a term that is not a number is refused with a code,
not a crash."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.market.conftest import BANK, ENTERPRISE, NODE, Market
from xinyidai.kit.errors import DomainError
from xinyidai.market import applications
from xinyidai.market.applications import Actor
from xinyidai.market.models import Application


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
