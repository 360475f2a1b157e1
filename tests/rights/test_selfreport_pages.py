"""The pages: /my/selfreport (add, refused form as typed with message and code, edit, withdraw, a colleague
reads only), the bank's /bank/processors (declare, refused, withdraw) and the operators' read-only view, the
enterprise's authorization page naming the processors, and the bank's profile labelling 企业自报."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.web.conftest import app, login  # noqa: F401 - fixtures used by name
from xinyidai.access import authorizations
from xinyidai.access.authorizations import GrantRequest
from xinyidai.catalog.schema import Catalog
from xinyidai.kit import clock
from xinyidai.kit.db import Database
from xinyidai.records.models import CreditRecord

from .test_processors import PROCESSOR
from .test_selfreport import BANK, ENTITY, make_world, sign


def post(c: TestClient, url: str, **data: object):  # noqa: ANN201
    return c.post(url, data={"csrf_token": c.csrf, **data}, follow_redirects=False)  # type: ignore[attr-defined]


def stored(db: Database) -> int:
    with db.session() as s:
        return s.execute(select(func.count()).select_from(CreditRecord).where(CreditRecord.entity_code == ENTITY)
                         ).scalar_one()


def test_the_enterprise_reports_edits_and_withdraws(app, login, db: Database, catalog: Catalog) -> None:  # noqa: ANN001, F811
    make_world(db, committed=False, hashed=True)
    ent = login("ent-admin")
    page = ent.get("/my/selfreport")
    assert page.status_code == 200 and "企业自报信息（未经部门核实）" in page.text and "/my/commitments" in page.text
    good = {"category": "self_products", "product_name": "数控机床主轴", "product_kind": "产品", "annual_sales": "1200"}
    r = post(ent, "/my/selfreport/new", **good)
    assert r.status_code == 409 and "COMMITMENT_REQUIRED" in r.text and stored(db) == 0
    with db.session() as s:
        sign(s)
    r = post(ent, "/my/selfreport/new", **{**good, "annual_sales": "-8"})
    assert r.status_code == 422 and "SELF_REPORT_INVALID" in r.text and "上年销售额" in r.text
    assert 'value="数控机床主轴"' in r.text and stored(db) == 0  # the form comes back as typed
    r = post(ent, "/my/selfreport/new", **good)
    assert r.status_code == 303 and r.headers["location"].startswith("/my/selfreport?done=added")
    page = ent.get("/my/selfreport?done=added")
    assert "自报信息已保存" in page.text and "数控机床主轴" in page.text and "未经部门核实" in page.text
    records = ent.get(f"/entities/{ENTITY}?category=self_products")  # the entity's pages keep it apart too
    assert records.status_code == 200 and "企业自报（未经部门核实）" in records.text and "数控机床主轴" in records.text
    rid = int(re.search(r"/my/selfreport/(\d+)/edit", page.text).group(1))  # type: ignore[union-attr]
    form = ent.get(f"/my/selfreport/{rid}/edit")
    assert form.status_code == 200 and "readonly" in form.text and 'name="annual_sales" value="1200' in form.text
    r = post(ent, f"/my/selfreport/{rid}/edit", **{**good, "annual_sales": "1500"})
    assert r.status_code == 303
    history = ent.get("/my/selfreport?history=true")
    assert "v2" in history.text and "已修改" in history.text
    assert ent.get(f"/my/selfreport/{rid}/edit").status_code == 404  # no longer the current version
    current = int(re.search(r"/my/selfreport/(\d+)/edit", ent.get("/my/selfreport").text).group(1))  # type: ignore[union-attr]
    assert post(ent, f"/my/selfreport/{current}/withdraw", reason="停产").status_code == 303
    assert "尚未填报" in ent.get("/my/selfreport").text.split('id="cat-self_customers"')[0]

    clerk = login("ent-clerk")
    assert "只有本企业的管理员" in clerk.get("/my/selfreport").text
    r = post(clerk, "/my/selfreport/new", **good)
    assert r.status_code == 403 and "ORG_ADMIN_ONLY" in r.text


def test_processors_pages_and_the_authorization_page(app, login, db: Database, catalog: Catalog) -> None:  # noqa: ANN001, F811
    w = make_world(db, bank_admin=True, hashed=True)
    bank = login("bank-admin")
    page = bank.get("/bank/processors")
    assert page.status_code == 200 and "申报受托方" in page.text
    good = {"name": "哈尔滨云算数据科技有限公司", "credit_code": PROCESSOR, "purpose": "贷前数据整理",
            "categories": ["self_products"], "contract_end": (clock.today() + timedelta(days=200)).isoformat()}
    r = post(bank, "/bank/processors", **{**good, "credit_code": "91230100ABCDEFGHIJ"})
    assert r.status_code == 422 and "INVALID_USCC" in r.text and 'value="哈尔滨云算数据科技有限公司"' in r.text
    r = post(bank, "/bank/processors", **{**good, "contract_end": "2020-01-01"})
    assert r.status_code == 422 and "CONTRACT_ENDED" in r.text
    r = post(bank, "/bank/processors", **good)
    assert r.status_code == 303
    assert "受托方已申报" in bank.get("/bank/processors?done=declared").text

    op = login("operator")
    ro = op.get(f"/institutions/{BANK}/processors")
    assert ro.status_code == 200 and PROCESSOR in ro.text and "申报受托方" not in ro.text and "撤回" not in ro.text
    assert "数据处理受托方" in op.get(f"/institutions/{BANK}").text

    req = GrantRequest(BANK, "贷前审查", "汇总查询", ["self_products"], clock.today() + timedelta(days=30))
    with db.session() as s:
        _, digest = authorizations.preview(s, catalog, w.admin, req)
        number = authorizations.grant(s, catalog, w.admin, req, digest).number
    ent = login("ent-admin")
    auth_page = ent.get(f"/my/authorizations/{number}")
    assert auth_page.status_code == 200 and auth_page.text.count("哈尔滨云算数据科技有限公司") >= 2  # facts + text

    ent_post = post(ent, "/my/selfreport/new", category="self_products", product_name="数控机床主轴",
                    product_kind="产品")
    assert ent_post.status_code == 303
    profile = post(bank, f"/bank/entities/{ENTITY}")
    assert profile.status_code == 200 and "主要产品及服务" in profile.text and 'badge self-reported' in profile.text

    pid = int(re.search(r"/bank/processors/(\d+)/withdraw", bank.get("/bank/processors").text).group(1))  # type: ignore[union-attr]
    assert post(bank, f"/bank/processors/{pid}/withdraw", reason="到期不续").status_code == 303
    assert "已撤回" in bank.get("/bank/processors").text
    assert "无（该机构目前未申报受托方）" in ent.get(f"/my/authorizations/{number}").text
