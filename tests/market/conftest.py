"""A small market: two enterprises in Harbin (one in Daqing, outside a Harbin product's region), two banks
(the second with a branch), their users as principals, an operator, and a published product of bank A."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from xinyidai.catalog.schema import Catalog
from xinyidai.entities.codes import make_uscc
from xinyidai.entities.models import MarketEntity
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import clock
from xinyidai.kit.db import Database
from xinyidai.kit.principal import Principal
from xinyidai.market import products

NODE = "CN-230000"
ENTITY = make_uscc("230102", 5101)
ENTITY_B = make_uscc("230103", 5102)
DAQING = make_uscc("230602", 5103)
BANK_A = make_uscc("230100", 9101, "1", "1")
BANK_B = make_uscc("230100", 9102, "1", "1")
BRANCH_B = make_uscc("230100", 9103, "1", "1")

OPERATOR = Principal(1, "op", "运营人员", "operator", None)
REGULATOR = Principal(2, "reg", "监管人员", "regulator", None)
ENTERPRISE = Principal(3, "ent", "企业管理员", "enterprise", ENTITY)
ENTERPRISE_B = Principal(4, "ent-b", "企业B管理员", "enterprise", ENTITY_B)
ENTERPRISE_DQ = Principal(5, "ent-dq", "大庆企业", "enterprise", DAQING)
BANK = Principal(6, "teller-a", "银行A客户经理", "bank", BANK_A)
OTHER_BANK = Principal(7, "teller-b", "银行B客户经理", "bank", BRANCH_B)


def terms(**over: Any) -> dict[str, Any]:
    base = {"name": "龙江信用快贷", "summary": "面向哈尔滨小微企业的纯信用贷款", "kind": "纯信用",
            "sectors": ["制造业", "科技"], "amount_min": "100000", "amount_max": "3000000",
            "term_min_months": 6, "term_max_months": 36, "rate_min": "3.45", "rate_max": "6.5",
            "regions": ["230100"], "industries": [], "eligibility": {"min_years": 2},
            "auth_categories": ["tax", "social_insurance"], "auth_mode": "汇总查询", "auth_days": 90}
    base.update(over)
    return base


@dataclass
class Market:
    db: Database
    catalog: Catalog
    product: str  # number of bank A's published product


def publish(s: Any, catalog: Catalog, raw: dict[str, Any] | None = None, bank: Principal = BANK) -> str:
    v = products.create(s, catalog, bank, raw or terms(), NODE)
    number = s.get(products.Product, v.product_id).number
    products.act(s, bank, number, 1, "submit")
    products.act(s, OPERATOR, number, 1, "publish")
    return number


@pytest.fixture
def market(db: Database, catalog: Catalog) -> Market:
    now = clock.now()
    with db.session() as s:
        for code, name, region in ((ENTITY, "哈尔滨市龙信机械制造有限公司", "230102"),
                                   (ENTITY_B, "哈尔滨市松北科技有限公司", "230103"),
                                   (DAQING, "大庆市油田服务有限公司", "230602")):
            s.add(MarketEntity(code=code, name=name, kind="企业", region_code=region, industry_code="C34",
                               registered_on=date(2015, 3, 1), status="存续", updated_at=now))
        for code, name, parent in ((BANK_A, "龙江银行股份有限公司", None), (BANK_B, "哈尔滨银行股份有限公司", None),
                                   (BRANCH_B, "哈尔滨银行股份有限公司道里支行", BANK_B)):
            s.add(FinancialInstitution(code=code, name=name, kind="银行", status="active", parent_code=parent,
                                       created_at=now, created_by="test"))
        s.flush()
        number = publish(s, catalog)
    return Market(db, catalog, number)
