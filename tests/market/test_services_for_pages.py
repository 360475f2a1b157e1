"""What the pages found missing in the services: applying twice with one request id (a double-click on
"confirm") gives the first application back."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.market.conftest import ENTERPRISE, NODE, Market
from xinyidai.kit.errors import DomainError
from xinyidai.market import applications
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
