"""Shared builders for the entity-domain tests: principals, an institution, a registered entity."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from xinyidai.entities.codes import make_id_number, make_uscc
from xinyidai.entities.models import MarketEntity
from xinyidai.institutions import onboarding as institutions
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import clock
from xinyidai.kit.principal import Principal

OPERATOR = Principal(1, "op", "测试运营", "operator", None)
REGULATOR = Principal(2, "reg", "测试监管", "regulator", None)
BANK_CODE = make_uscc("230103", 900_001)
OTHER_BANK_CODE = make_uscc("230102", 900_002)
ENTITY_CODE = make_uscc("230103", 77)
ENTITY_NAME = "哈尔滨测试科技有限公司"
LEGAL_REP = "张三"


def legal_rep_id_with_x() -> str:
    """An ID number whose check character is X, to test the case-insensitive comparison."""
    for serial in range(1000):
        n = make_id_number("230103", date(1980, 5, 17), serial)
        if n.endswith("X"):
            return n
    raise AssertionError("no ID number ending in X")


LEGAL_REP_ID = legal_rep_id_with_x()


def bank_principal(code: str = BANK_CODE) -> Principal:
    return Principal(3, "teller", "测试客户经理", "bank", code)


def onboard_bank(s: Session, code: str = BANK_CODE, name: str = "哈尔滨测试银行股份有限公司",
                 rate: int = 600) -> FinancialInstitution:
    return institutions.onboard(s, OPERATOR, code=code, name=name, kind="银行", region_code="230103",
                                rate_per_minute=rate)


def add_entity(s: Session, code: str = ENTITY_CODE, name: str = ENTITY_NAME, legal_rep: str = LEGAL_REP,
               legal_rep_id: str = LEGAL_REP_ID, status: str = "存续") -> MarketEntity:
    e = MarketEntity(code=code, name=name, kind="企业", region_code="230103", status=status, legal_rep=legal_rep,
                     legal_rep_id=legal_rep_id, updated_at=clock.now())
    s.add(e)
    s.flush()
    return e
