"""Banks' data processors (数据处理受托方): declared by the institution's administrator with a valid code, a
future contract end and catalogue categories; named in the authorization text the enterprise confirms and on
every export; withdrawn ones no longer named; every declaration and withdrawal audited."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from xinyidai.access import authorizations, sharing
from xinyidai.access.authorizations import GrantRequest
from xinyidai.access.policy import default_policy
from xinyidai.catalog.schema import Catalog
from xinyidai.entities.codes import make_uscc
from xinyidai.institutions import processors
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.db import Database
from xinyidai.kit.errors import DomainError
from xinyidai.kit.principal import Principal
from xinyidai.rights import selfreport

from .test_selfreport import BANK, PRODUCT, make_world

PROCESSOR = make_uscc("230100", 7001)


def known(catalog: Catalog) -> dict[str, str]:
    return {c.code: c.name for c in catalog.categories}


def declare(db: Database, catalog: Catalog, p: Principal, **over: object) -> processors.Processor:
    args: dict[str, object] = {"name": "哈尔滨云算数据科技有限公司", "credit_code": PROCESSOR, "purpose": "贷前数据整理与建模",
                               "categories": ["self_products", "tax"],
                               "contract_end": clock.today() + timedelta(days=365), "known": known(catalog)}
    args.update(over)
    with db.session() as s:
        x = processors.declare(s, p, **args)  # type: ignore[arg-type]
        s.expunge(x)
        return x


@pytest.mark.parametrize(("over", "code"), [
    ({"credit_code": "91230100ABCDEFGHIJ"}, "INVALID_USCC"),
    ({"credit_code": "123"}, "INVALID_USCC"),
    ({"contract_end": date(2026, 11, 14)}, "CONTRACT_ENDED"),
    ({"contract_end": "2026-11-15"}, "CONTRACT_ENDED"),
    ({"contract_end": "明年"}, "BAD_CONTRACT_END"),
    ({"categories": ["unicorns"]}, "UNKNOWN_CATEGORY"),
    ({"categories": []}, "NO_CATEGORY"),
    ({"name": " "}, "PROCESSOR_NAME_REQUIRED"),
    ({"purpose": ""}, "PROCESSOR_PURPOSE_REQUIRED"),
])
def test_bad_declarations_refused(db: Database, catalog: Catalog, over: dict, code: str) -> None:
    w = make_world(db, bank_admin=True)
    with pytest.raises(DomainError) as e:
        declare(db, catalog, w.bank, **over)
    assert e.value.code == code and e.value.message
    with db.session() as s:
        assert processors.listing(s, w.bank) == []


def test_only_the_institutions_administrator_declares(db: Database, catalog: Catalog) -> None:
    w = make_world(db, bank_admin=False)
    with pytest.raises(DomainError) as e:
        declare(db, catalog, w.bank)
    assert e.value.code == "ORG_ADMIN_ONLY"
    with pytest.raises(DomainError) as e:
        declare(db, catalog, w.admin)
    assert e.value.code == "ROLE_FORBIDDEN"


def test_named_in_the_authorization_text_and_on_exports(db: Database, catalog: Catalog) -> None:
    w = make_world(db, bank_admin=True)
    x = declare(db, catalog, w.bank)
    with pytest.raises(DomainError) as e:
        declare(db, catalog, w.bank)
    assert e.value.code == "PROCESSOR_EXISTS"
    selfreport.submit(db, catalog, w.admin, "self_products", PRODUCT)
    req = GrantRequest(BANK, "贷前审查", "原始明细", ["self_products"], clock.today() + timedelta(days=30))
    with db.session() as s:
        text, digest = authorizations.preview(s, catalog, w.admin, req)
        a = authorizations.grant(s, catalog, w.admin, req, digest)
        assert a.text == text
    assert "数据处理受托方" in text and "哈尔滨云算数据科技有限公司" in text and PROCESSOR in text
    assert processors.describe(x, known(catalog)) in text and "主要产品及服务" in processors.describe(x, known(catalog))

    actor = sharing.actor_of(Principal(0, "officer", "客户经理", "bank", BANK))
    with db.session() as s:
        _, csv_text = sharing.export_csv(s, catalog, default_policy(), actor, w.admin.org_code or "",
                                         "self_products", purpose="贷前审查", secret="k")
    head, header, row = list(csv.reader(io.StringIO(csv_text)))[:3]
    assert "数据处理受托方" in head[0] and PROCESSOR in head[0]
    assert "产品或服务名称" in header and "数控机床主轴" in row

    with db.session() as s:
        processors.withdraw(s, w.bank, x.id, "合同提前终止")
        with pytest.raises(DomainError) as e:
            processors.withdraw(s, w.bank, x.id)
        assert e.value.code == "PROCESSOR_WITHDRAWN"
    with db.session() as s:
        text2, _ = authorizations.preview(s, catalog, w.admin, req)
        _, csv2 = sharing.export_csv(s, catalog, default_policy(), actor, w.admin.org_code or "",
                                     "self_products", purpose="贷前审查", secret="k")
        assert "哈尔滨云算" not in text2 and "数据处理受托方 无" in csv2.splitlines()[0]
        [listed] = processors.listing(s, w.bank)
        assert processors.state(listed) == "已撤回"
        actions = list(s.execute(select(AuditEvent.action).where(AuditEvent.target == f"processor:{x.id}")
                                 .order_by(AuditEvent.id)).scalars())
    assert actions == ["institution.processor_declared", "institution.processor_withdrawn"]


def test_a_contract_that_ended_is_no_longer_named(db: Database, catalog: Catalog) -> None:
    w = make_world(db, bank_admin=True)
    declare(db, catalog, w.bank, contract_end=clock.today() + timedelta(days=1))
    with db.session() as s:
        assert len(processors.live(s, BANK)) == 1
        assert processors.live(s, BANK, clock.today() + timedelta(days=2)) == []
