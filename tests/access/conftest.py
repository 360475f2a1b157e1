"""A small world for sharing tests: one enterprise with records in public and authorized categories, three
institutions (two active, one suspended), principals for each, and a node signer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from xinyidai.entities.codes import make_id_number, make_uscc
from xinyidai.entities.models import MarketEntity
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import clock
from xinyidai.kit.audit import Signer
from xinyidai.kit.crypto.suite import get_suite
from xinyidai.kit.db import Database
from xinyidai.kit.node_key import signer_for
from xinyidai.kit.principal import Principal
from xinyidai.records.canonical import canonical_json, fingerprint, record_key
from xinyidai.records.models import CreditRecord

ENTITY = make_uscc("230102", 4711)
OTHER_ENTITY = make_uscc("230102", 4712)
BANK_A = make_uscc("230100", 9001, "1", "1")
BANK_B = make_uscc("230100", 9002, "1", "1")
BANK_SUSPENDED = make_uscc("230100", 9003, "1", "1")
LEGAL_REP_ID = make_id_number("230102", date(1980, 5, 17), 123)
ACCOUNT = "HRB-WATER-55667788"


@dataclass
class World:
    enterprise: Principal
    other_enterprise: Principal
    bank_a: Principal
    bank_b: Principal
    bank_suspended: Principal
    signer: Signer


def _record(catalog, entity: str, category: str, content: dict, start: date | None, end: date | None) -> CreditRecord:  # noqa: ANN001
    cat = catalog.category(category)
    body = canonical_json(content)
    return CreditRecord(entity_code=entity, category=category, record_key=record_key(cat.key, content), version=1,
                        status="current", content=body, fingerprint=fingerprint(body), period_start=start,
                        period_end=end, provider="测试部门", received_at=clock.now())


def populate(db: Database, catalog) -> None:  # noqa: ANN001
    now = clock.now()
    with db.session() as s:
        for code, name in ((ENTITY, "哈尔滨市龙信机械制造有限公司"), (OTHER_ENTITY, "哈尔滨市松北商贸有限公司")):
            s.add(MarketEntity(code=code, name=name, kind="企业", region_code="230102", industry_code="C34",
                               registered_on=date(2015, 3, 1), status="存续", legal_rep="王建国",
                               legal_rep_id=LEGAL_REP_ID, registered_capital=500.0,
                               address="黑龙江省哈尔滨市道里区友谊路88号", updated_at=now))
        for code, name, status in ((BANK_A, "龙江银行股份有限公司", "active"), (BANK_B, "哈尔滨银行股份有限公司", "active"),
                                   (BANK_SUSPENDED, "某小额贷款有限公司", "suspended")):
            s.add(FinancialInstitution(code=code, name=name, kind="银行", status=status, created_at=now,
                                       created_by="test"))
        s.flush()
        recs = [_record(catalog, ENTITY, "registration",
                        {"legal_representative": "王建国", "legal_rep_id_no": LEGAL_REP_ID,
                         "address": "黑龙江省哈尔滨市道里区友谊路88号", "registered_capital": "500",
                         "established_on": "2015-03-01"}, date(2015, 3, 1), date(2015, 3, 1))]
        for m in range(1, 13):
            month = f"2025-{m:02d}"
            recs.append(_record(catalog, ENTITY, "tax", {"period": month, "tax_credit_grade": "A",
                                                        "tax_paid": "50000.00", "declared_sales": "1234567.89"},
                                date(2025, m, 1), date(2025, m, 28)))
            recs.append(_record(catalog, ENTITY, "social_insurance", {"period": month, "insured_count": 30 + m // 2},
                                date(2025, m, 1), date(2025, m, 28)))
            recs.append(_record(catalog, ENTITY, "water", {"account_no": ACCOUNT, "period": month,
                                                          "amount_due": "321.50", "amount_paid": "321.50"},
                                date(2025, m, 1), date(2025, m, 28)))
        recs.append(_record(catalog, ENTITY, "judicial", {"case_no": "(2023)黑0102执123号", "case_type": "执行",
                                                         "filed_on": "2023-05-10"}, date(2023, 5, 10), date(2023, 5, 10)))
        recs.append(_record(catalog, ENTITY, "penalty", {"decision_no": "哈市监罚〔2024〕8号", "decided_on": "2024-02-01",
                                                        "fine_amount": "2"}, date(2024, 2, 1), date(2024, 2, 1)))
        s.add_all(recs)


@pytest.fixture
def world(db: Database, catalog) -> World:  # noqa: ANN001
    populate(db, catalog)

    def bank(code: str, name: str) -> Principal:
        return Principal(0, f"officer-{code[-4:]}", name, "bank", code)

    return World(
        enterprise=Principal(1, "ent-admin", "王建国", "enterprise", ENTITY),
        other_enterprise=Principal(2, "other-admin", "李四", "enterprise", OTHER_ENTITY),
        bank_a=bank(BANK_A, "龙江银行"), bank_b=bank(BANK_B, "哈尔滨银行"),
        bank_suspended=bank(BANK_SUSPENDED, "某小贷"),
        signer=signer_for(get_suite("sm").generate_identity()),
    )
