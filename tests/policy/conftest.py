"""A policy world on top of the market's small one: policy officers of Harbin (two, for the two-officer rule),
of Daqing and of the province; a government guarantor; and loans of the two banks written straight into the
market's table (the market's own tests cover how loans come to be)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from tests.market.conftest import BANK_A, BRANCH_B, DAQING, ENTITY, ENTITY_B, Market, market  # noqa: F401 - the fixture
from xinyidai.entities.codes import make_uscc
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import clock
from xinyidai.kit.principal import Principal
from xinyidai.market.models import Loan
from xinyidai.policy import programmes

GUARANTOR_CODE = make_uscc("230100", 9201, "1", "1")
HRB_OFFICER = Principal(11, "hrb-fin-1", "哈尔滨市财政局经办人", "policy", "230100")
HRB_OFFICER_2 = Principal(12, "hrb-fin-2", "哈尔滨市财政局复核人", "policy", "230100")
DQ_OFFICER = Principal(13, "dq-fin", "大庆市财政局经办人", "policy", "230600")
PROVINCE_OFFICER = Principal(14, "hlj-fin", "黑龙江省财政厅经办人", "policy", "230000")
GUARANTOR = Principal(15, "guar", "哈尔滨市融资担保公司经办人", "bank", GUARANTOR_CODE)
PERIOD = (date(2026, 1, 1), date(2026, 12, 31))


@dataclass
class World:
    m: Market
    n: int = 0

    def loan(self, s: Any, *, bank: str = BANK_A, entity: str = ENTITY, granted: int = 100_000_000,
             on: date = date(2026, 3, 1), credit: bool = True, first: bool = True, rate_bp: int = 450,
             city: str = "230100", industry: str | None = "C34", disbursed: bool = True, **over: Any) -> Loan:
        """A loan of `bank` to `entity`, drawn in full on the day it was granted (amounts in 分)."""
        self.n += 1
        now = clock.now()
        values: dict[str, Any] = dict(
            loan_no=f"DK-T-{self.n:05d}", origin_node="CN-230000", revision=1, institution_code=bank,
            bank_code=bank, loan_ref=f"REF-{self.n:05d}", entity_code=entity, city_code=city, industry_code=industry,
            product_number="CP-T", product_kind="纯信用" if credit else "抵押", sector_mask=1,
            guarantee_type="信用" if credit else "抵押", is_credit=int(credit), first_declared=int(first),
            first_on_platform=int(first), first_loan=int(first), granted_fen=granted, credit_fen=granted * credit,
            first_fen=granted * first, disbursed_fen=granted if disbursed else 0, granted_on=on,
            granted_month=on.year * 100 + on.month, first_disbursed_on=on if disbursed else None,
            matures_on=date(on.year + 1, on.month, on.day), rate_bp=rate_bp, term_months=12, policy_tags=[],
            status="DISBURSED" if disbursed else "GRANTED", dpd=0, created_at=now, updated_at=now)
        values.update(over)
        loan = Loan(**values)
        s.add(loan)
        s.flush()
        return loan

    def programme(self, s: Any, kind: str = "interest", *, rules: dict[str, Any] | None = None,
                  budget: int = 100_000_000, region: str = "230100", officer: Principal = HRB_OFFICER,
                  start: bool = True, period: tuple[date, date] = PERIOD, name: str | None = None) -> str:
        prog = programmes.create(s, officer, kind=kind, name=name or f"测试{kind}政策", region_code=region,
                                 starts_on=period[0], ends_on=period[1], budget_fen=budget, raw_rules=rules or {})
        if start:
            programmes.start(s, officer, prog.number)
        return prog.number


@pytest.fixture
def world(market: Market) -> World:  # noqa: F811 - the imported fixture
    with market.db.session() as s:
        s.add(FinancialInstitution(code=GUARANTOR_CODE, name="哈尔滨市中小企业融资担保有限公司", kind="担保机构",
                                   status="active", created_at=clock.now(), created_by="test"))
    return World(market)


__all__ = ["BANK_A", "BRANCH_B", "DAQING", "ENTITY", "ENTITY_B", "World"]
