"""Self-reported information (企业自报): through the loader with the catalogue's types, a commitment first,
versions on edit, withdrawal, kept out of the evaluation and the public report, shared only under an
authorization, and a certificate confirmed or contradicted by a department's record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from xinyidai.access import authorizations, sharing
from xinyidai.access.authorizations import GrantRequest
from xinyidai.access.policy import default_policy
from xinyidai.accounts.models import User
from xinyidai.accounts.users import create_user
from xinyidai.catalog.schema import Catalog
from xinyidai.credit import features
from xinyidai.entities.codes import make_uscc
from xinyidai.entities.models import MarketEntity
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.db import Database
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.errors import DomainError
from xinyidai.kit.principal import Principal
from xinyidai.quality import checks, rules
from xinyidai.records.canonical import canonical_json, fingerprint, record_key
from xinyidai.records.models import CreditRecord
from xinyidai.reports import service as report_service
from xinyidai.rights import selfreport
from xinyidai.rights.models import Commitment

ENTITY = make_uscc("230102", 5811)
BANK = make_uscc("230100", 9101, "1", "1")
PASSWORD = "correct-horse-9"
PRODUCT = {"product_name": "数控机床主轴", "product_kind": "产品", "annual_sales": "1200.5", "sales_share": "60"}


@dataclass
class World:
    admin: Principal
    clerk: Principal
    bank: Principal


def _user(s, *, username: str, display_name: str, role: str, password: str, org_code: str) -> User:  # noqa: ANN001
    """A user row without the (deliberately slow) password hash: service tests never log in."""
    del password
    u = User(username=username, display_name=display_name, role=role, password_hash="-", org_code=org_code,
             active=True, created_at=clock.now())
    s.add(u)
    s.flush()
    return u


def make_world(db: Database, *, committed: bool = True, bank_admin: bool = False, hashed: bool = False) -> World:
    now = clock.now()
    with db.session() as s:
        s.add(MarketEntity(code=ENTITY, name="哈尔滨市精工机床有限公司", kind="企业", region_code="230102",
                           industry_code="C34", registered_on=date(2015, 3, 1), status="存续", updated_at=now))
        s.add(FinancialInstitution(code=BANK, name="龙江银行股份有限公司", kind="银行", status="active",
                                   created_at=now, created_by="test"))
        s.flush()
        make = create_user if hashed else _user
        admin = make(s, username="ent-admin", display_name="王建国", role="enterprise", password=PASSWORD,
                     org_code=ENTITY)
        admin.org_admin = True
        clerk = make(s, username="ent-clerk", display_name="李明", role="enterprise", password=PASSWORD,
                     org_code=ENTITY)
        banker = make(s, username="bank-admin", display_name="赵行长", role="bank", password=PASSWORD,
                      org_code=BANK)
        banker.org_admin = bank_admin
        if committed:
            sign(s)
        s.flush()
        return World(Principal(admin.id, admin.username, "王建国", "enterprise", ENTITY),
                     Principal(clerk.id, clerk.username, "李明", "enterprise", ENTITY),
                     Principal(banker.id, banker.username, "赵行长", "bank", BANK))


def sign(s) -> None:  # noqa: ANN001
    text = "自报信息真实性承诺书：本主体自行填报的信息真实、准确、完整。"
    s.add(Commitment(number="CN20261115TEST01", entity_code=ENTITY, kind="self_report", scope="", text=text,
                     text_digest=sm3_hex(text.encode()), confirmed_by="ent-admin", confirmed_at=clock.now()))


def count(db: Database, **where: str) -> int:
    with db.session() as s:
        q = select(func.count()).select_from(CreditRecord).where(CreditRecord.entity_code == ENTITY)
        for k, v in where.items():
            q = q.where(getattr(CreditRecord, k) == v)
        return s.execute(q).scalar_one()


def refused(fn, *args, **kw) -> DomainError:  # noqa: ANN001
    with pytest.raises(DomainError) as e:
        fn(*args, **kw)
    return e.value


def test_no_commitment_refused_nothing_stored(db: Database, catalog: Catalog) -> None:
    w = make_world(db, committed=False)
    err = refused(selfreport.submit, db, catalog, w.admin, "self_products", PRODUCT)
    assert err.code == "COMMITMENT_REQUIRED" and "承诺书" in err.message
    assert count(db) == 0


def test_only_the_administrator_reports(db: Database, catalog: Catalog) -> None:
    w = make_world(db)
    assert refused(selfreport.submit, db, catalog, w.clerk, "self_products", PRODUCT).code == "ORG_ADMIN_ONLY"
    assert refused(selfreport.submit, db, catalog, w.bank, "self_products", PRODUCT).code == "ROLE_FORBIDDEN"
    assert refused(selfreport.submit, db, catalog, w.admin, "tax", PRODUCT).code == "UNKNOWN_CATEGORY"
    assert count(db) == 0


@pytest.mark.parametrize(("category", "values", "field"), [
    ("self_products", {**PRODUCT, "annual_sales": "-3"}, "上年销售额"),
    ("self_products", {**PRODUCT, "annual_sales": "一千万"}, "上年销售额"),
    ("self_products", {**PRODUCT, "product_kind": "软件"}, "产品类型"),
    ("self_financing", {"plan_name": "技改贷款", "planned_amount": "500", "funding_use": "技术改造",
                        "term_months": "0"}, "期限"),
    ("self_customers", {"customer_name": "哈电集团", "order_no": "HT-1", "order_amount": "80",
                        "customer_uscc": "91230100ABCDEFGHIJ"}, "客户统一社会信用代码"),
    ("self_certificates", {"certificate_name": "安全生产许可证", "certificate_no": "X1", "issuer": "应急管理厅",
                           "issued_on": "2099-01-01"}, "颁发日期"),
    ("self_contacts", {"contact_name": "王建国", "contact_role": "财务总监"}, "联系电话"),
])
def test_bad_values_refused_with_the_row_report_nothing_stored(db: Database, catalog: Catalog, category: str,
                                                               values: dict[str, str], field: str) -> None:
    w = make_world(db)
    err = refused(selfreport.submit, db, catalog, w.admin, category, values)
    assert err.code == "SELF_REPORT_INVALID" and field in err.message, err.message
    assert any(d["field"] == field for d in err.detail)
    assert count(db) == 0


def test_add_edit_withdraw_and_add_again(db: Database, catalog: Catalog) -> None:
    w = make_world(db)
    r1 = selfreport.submit(db, catalog, w.admin, "self_products", PRODUCT)
    assert (r1.version, r1.provider, r1.status) == (1, "企业自报", "current")
    err = refused(selfreport.submit, db, catalog, w.admin, "self_products", PRODUCT)
    assert err.code == "NO_CHANGE"
    r2 = selfreport.submit(db, catalog, w.admin, "self_products", {**PRODUCT, "annual_sales": "1300"},
                           record_id=r1.id)
    assert r2.version == 2 and r2.record_key == r1.record_key
    assert count(db, status="superseded") == 1 and count(db, status="current") == 1
    renamed = {**PRODUCT, "product_name": "别的产品"}
    assert refused(selfreport.submit, db, catalog, w.admin, "self_products", renamed,
                   record_id=r2.id).code == "KEY_UNCHANGEABLE"
    with db.session() as s:
        assert refused(selfreport.withdraw, s, catalog, w.admin, r1.id, "过时").code == "NOT_CURRENT"
        gone = selfreport.withdraw(s, catalog, w.admin, r2.id, "产品已停产")
        assert gone.status == "withdrawn"
    with db.session() as s:
        assert selfreport.entries(s, catalog, ENTITY)["self_products"] == []
    again = selfreport.submit(db, catalog, w.admin, "self_products", {**PRODUCT, "annual_sales": "1300"})
    assert again.version == 3 and again.status == "current"
    with db.session() as s:
        actions = [a for (a,) in s.execute(select(AuditEvent.action).where(AuditEvent.entity_code == ENTITY)
                                           .order_by(AuditEvent.id))]
    assert actions.count("rights.selfreport.added") == 2 and "rights.selfreport.edited" in actions
    assert "rights.selfreport.withdrawn" in actions


def test_never_in_the_evaluation_nor_the_public_tier(db: Database, catalog: Catalog) -> None:
    w = make_world(db)
    before, _ = _features(db)
    selfreport.submit(db, catalog, w.admin, "self_products", PRODUCT)
    selfreport.submit(db, catalog, w.admin, "self_certificates", {
        "certificate_name": "安全生产许可证", "certificate_no": "(黑)JZ安许证字[2024]001", "issuer": "黑龙江省住建厅"})
    after, n = _features(db)
    assert after == before and n == 0  # no feature reads them, not even the count of categories present
    assert not any(f.category.startswith("self_") for f in features.FEATURES)
    # Public tier: what the public report (its plan) and an unauthorized bank read holds none of them.
    assert not {c.code for c in selfreport.categories(catalog)} & set(report_service.public_plan(catalog))
    assert all(c.sensitivity == "授权查询" for c in selfreport.categories(catalog))


def _features(db: Database) -> tuple[dict, int]:
    with db.session() as s:
        return features.entity_features(s, ENTITY, clock.today())


def test_banks_see_it_only_under_an_authorization(db: Database, catalog: Catalog) -> None:
    w = make_world(db)
    selfreport.submit(db, catalog, w.admin, "self_products", PRODUCT)
    pol = default_policy()
    actor = sharing.actor_of(Principal(0, "officer", "客户经理", "bank", BANK))
    with db.session() as s:
        got = sharing.profile(s, catalog, pol, actor, ENTITY)
        assert "self_products" not in got["categories"]
        with pytest.raises(DomainError) as e:
            sharing.detail(s, catalog, pol, actor, ENTITY, "self_products")
        assert e.value.code == "NO_AUTHORIZATION"
    req = GrantRequest(BANK, "贷前审查", "汇总查询", ["self_products"], clock.today() + timedelta(days=30))
    with db.session() as s:
        _, digest = authorizations.preview(s, catalog, w.admin, req)
        authorizations.grant(s, catalog, w.admin, req, digest)
    with db.session() as s:
        got = sharing.profile(s, catalog, pol, actor, ENTITY)
        sec = got["categories"]["self_products"]
        assert sec["records"] == 1 and sec["latest"]["product_name"] == "数控机床主轴"
        assert catalog.category("self_products").provider == "企业自报"


def _license(db: Database, catalog: Catalog, number: str, valid_to: str, name: str) -> None:
    content = {"license_category": "普通", "license_no": number, "license_name": name, "license_content": "施工",
               "decided_on": "2024-01-05", "valid_to": valid_to, "authority": "黑龙江省住房和城乡建设厅"}
    body = canonical_json(content)
    with db.session() as s:
        s.add(CreditRecord(entity_code=ENTITY, category="license", record_key=record_key(("license_no",), content),
                           version=1, status="current", content=body, fingerprint=fingerprint(body),
                           period_start=date(2024, 1, 5), period_end=date(2024, 1, 5), provider="黑龙江省住建厅",
                           received_at=clock.now()))


def _conflicts(db: Database, catalog: Catalog) -> list[checks.Outcome]:
    rule = next(r for r in rules.parse(rules.default_text(catalog), catalog).rules
                if r.kind == "self_report_conflict")
    with db.session() as s:
        return checks.self_report_conflict(checks.Context(s, catalog, clock.today()), [rule])


def test_a_certificate_confirmed_or_contradicted(db: Database, catalog: Catalog) -> None:
    w = make_world(db)
    cert = {"certificate_name": "安全生产许可证", "certificate_no": "JZ-2024-001", "issuer": "黑龙江省住建厅",
            "valid_to": "2027-01-04"}
    mine = selfreport.submit(db, catalog, w.admin, "self_certificates", cert)
    with db.session() as s:
        assert selfreport.entries(s, catalog, ENTITY)["self_certificates"][0].confirmation == "未经部门核实"
    assert _conflicts(db, catalog) == []
    _license(db, catalog, "JZ-2024-001", "2027-01-04", "安全生产许可证")
    with db.session() as s:
        e = selfreport.entries(s, catalog, ENTITY)["self_certificates"][0]
        assert (e.confirmation, e.confirmed_by) == ("已经部门核实", "黑龙江省住建厅")
    [ok] = _conflicts(db, catalog)
    assert (ok.affected, ok.population, ok.category) == (0, 1, "license")
    # The enterprise says the certificate runs a year longer than the department's record: a contradiction.
    selfreport.submit(db, catalog, w.admin, "self_certificates", {**cert, "valid_to": "2028-01-04"},
                      record_id=mine.id)
    with db.session() as s:
        assert selfreport.entries(s, catalog, ENTITY)["self_certificates"][0].confirmation == "与部门记录不一致"
    [bad] = _conflicts(db, catalog)
    assert (bad.affected, bad.provider, bad.category) == (1, "黑龙江省住建厅", "license")
    assert "2028-01-04" in bad.sample[0]["detail"] and "2027-01-04" in bad.sample[0]["detail"]


def test_default_rules_leave_self_reported_categories_alone(catalog: Catalog) -> None:
    parsed = rules.parse(rules.default_text(catalog), catalog)
    assert not [r for r in parsed.rules if (r.category or "").startswith("self_")]
    assert [r.kind for r in parsed.rules if r.kind == "self_report_conflict"] == ["self_report_conflict"]
