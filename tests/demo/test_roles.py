"""The demo lets every role walk its own path at once (issue 23, item 12): the `bank` account's institution has
authorized enterprises, confirmed by real accounts or the named demo actor; the enterprise has an
authorization and has been looked at; the security officer has alerts; the operator has a trained scorecard
in use and a key-project list; and every upload the pages offer has a sample file that the page accepts.

One small demo province is built for the module, through the same two calls `xinyidai demo` makes; each test
works on its own copy of the database, through the real app over HTTP."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import FIXED_NOW
from tests.web.conftest import csrf_of
from xinyidai.access.models import Authorization
from xinyidai.accounts.models import User
from xinyidai.app import create_app
from xinyidai.catalog.schema import load_catalog
from xinyidai.config import load_settings
from xinyidai.credit.models import LoanOutcome, ScorecardModel
from xinyidai.demo import DEMO_PASSWORD, applications, build_demo
from xinyidai.demo import credit as credit_demo
from xinyidai.kit import clock, migrate
from xinyidai.kit.db import Database
from xinyidai.records.models import CreditRecord

N = 300
SEED = 7


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, credit_demo.CreditDemo]:
    root = tmp_path_factory.mktemp("demo-roles")
    db = Database(f"sqlite:///{root / 'demo.db'}")
    migrate.upgrade(db.engine)
    clock.set_clock(lambda: FIXED_NOW)
    try:
        catalog = load_catalog()
        build_demo(db, catalog, entities=N, seed=SEED, defects_dir=root / "var" / "demo-deliveries")
        made = credit_demo.seed(db, catalog, clock.today(), "CN-230000", root / "var" / "demo-samples", SEED)
    finally:
        clock.set_clock(None)
        db.dispose()
    return root, made


@pytest.fixture
def demo(built, tmp_path: Path) -> Iterator[tuple[Database, Callable[[str], TestClient], credit_demo.CreditDemo]]:
    root, made = built
    shutil.copy(root / "demo.db", tmp_path / "demo.db")
    db = Database(f"sqlite:///{tmp_path / 'demo.db'}")
    app = create_app(load_settings(env={}, var_dir=tmp_path / "var", database_url=db.url), db)
    clients: list[TestClient] = []

    def login(username: str) -> TestClient:
        c = TestClient(app, base_url="http://testserver")
        clients.append(c)
        r = c.post("/login", data={"username": username, "password": DEMO_PASSWORD, "next": "/",
                                   "csrf_token": csrf_of(c.get("/login").text)}, follow_redirects=False)
        assert r.status_code == 303, r.text
        c.csrf = csrf_of(c.get("/").text)  # type: ignore[attr-defined]
        return c

    yield db, login, made
    for c in clients:
        c.close()
    db.dispose()


def test_the_demo_bank_has_authorized_enterprises_confirmed_by_someone_real(demo) -> None:  # noqa: ANN001
    db, login, made = demo
    with db.session() as s:
        bank_code = s.execute(select(User.org_code).where(User.username == "bank")).scalar_one()
        users = set(s.execute(select(User.username)).scalars())
        confirmers = set(s.execute(select(Authorization.confirmed_by)).scalars())
        to_bank = s.execute(select(Authorization.entity_code).where(Authorization.institution_code == bank_code)
                            ).scalars().all()
    assert made.applications.to_demo_bank == len(set(to_bank)) >= 5
    with db.session() as s:  # what they authorized (纳税) is there to see
        taxed = set(s.execute(select(CreditRecord.entity_code).where(CreditRecord.category == "tax",
                                                                     CreditRecord.status == "current")).scalars())
    assert set(to_bank) <= taxed
    assert confirmers <= users | {"demo"}, confirmers - users  # every confirmer exists, or is the demo itself
    home = login("bank").get("/bank").text
    assert "暂无企业向本机构授权" not in home
    assert set(re.findall(r'href="/bank/entities/(\w{18})"', home)) == set(to_bank)
    # The demo bank has already opened a few of them: one use each, shown against no limit.
    assert len(re.findall(r'<td class="num">1 <small class="muted">（不限）', home)) == applications.LOOKED_AT


def test_the_enterprise_has_an_authorization_and_sees_who_looked(demo) -> None:  # noqa: ANN001
    _, login, made = demo
    me = login("enterprise")
    number = made.applications.enterprise_authorization
    assert number and number in me.get("/my/authorizations").text
    detail = me.get(f"/my/authorizations/{number}").text
    assert "王财务" in detail  # confirmed by the enterprise's own account, named as a person
    accesses = me.get("/my/accesses").text
    assert "哈尔滨银行股份有限公司" in accesses and "查询信用概况" in accesses


def test_security_finds_alerts(demo) -> None:  # noqa: ANN001
    _, login, made = demo
    page = login("security").get("/access/alerts").text
    assert made.applications.alerts >= 2
    assert "频繁被拒" in page and "批量遍历主体" in page and "龙江银行股份有限公司" in page


def test_a_scorecard_in_use_and_lists_delivered_to_the_demo_bank(demo) -> None:  # noqa: ANN001
    db, login, made = demo
    with db.session() as s:
        active = s.execute(select(ScorecardModel).where(ScorecardModel.status == "active")).scalar_one()
    assert made.model and active.training_rows > 100
    assert "在用" in login("operator").get("/credit/models").text
    assert made.key_projects and made.key_projects in login("operator").get("/keyprojects").text
    lists = login("bank").get("/bank/whitelists").text
    assert made.key_projects in lists and made.whitelist in lists


def test_every_upload_the_pages_offer_has_a_sample_the_page_accepts(demo) -> None:  # noqa: ANN001
    db, login, made = demo
    by_name = {x.path.name: x for x in made.samples}
    assert {"贷款结果（已导入）.csv", "贷款结果（第二批）.csv", "指标体系（演示调整版）.yaml",
            f"{FIXED_NOW.year}年度重点项目清单（已导入）.csv", f"{FIXED_NOW.year}年度重点项目清单（补充）.csv"} == set(by_name)
    assert all(x.path.parent.name == "demo-samples" and x.path.is_file() for x in made.samples)
    op = login("operator")
    with db.session() as s:
        loans = s.execute(select(LoanOutcome)).scalars().all()

    def upload(url: str, name: str, expect: tuple[int, ...] = (200, 303), **form: str) -> str:
        path = by_name[name].path
        r = op.post(url, data={"csrf_token": op.csrf, **form}, files={"file": (path.name, path.read_bytes())})
        assert r.status_code in expect, r.text
        return op.get(r.headers["location"]).text if r.status_code == 303 else r.text

    again = upload("/credit/outcomes", "贷款结果（已导入）.csv")
    assert f"共 {len(loans)} 行，新增 0，更新 0，未变化 {len(loans)}" in again  # it is what the demo loaded
    second = upload("/credit/outcomes", "贷款结果（第二批）.csv")
    assert re.search(r"新增 [1-9]\d*，更新 0", second), second
    trained = op.post("/credit/models/train", data={"csrf_token": op.csrf, "name": credit_demo.MODEL_NAME},
                      follow_redirects=False)
    assert trained.status_code == 303
    assert "v2" in op.get("/credit/models").text

    year = str(FIXED_NOW.year)
    duplicate = upload("/keyprojects/import", f"{year}年度重点项目清单（已导入）.csv", (409,), year=year)
    assert "DUPLICATE_FILE" in duplicate and made.key_projects in duplicate
    imported = upload("/keyprojects/import", f"{year}年度重点项目清单（补充）.csv", year=year)
    assert f"KP-CN-230000-{year}-2" in imported

    spec = by_name["指标体系（演示调整版）.yaml"].path.read_text(encoding="utf-8")
    r = op.post("/credit/indicators", data={"csrf_token": op.csrf, "spec": spec}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert re.search(r"<code>2026\.2-演示</code></td><td>[^<]+</td><td>在用", op.get("/credit").text)


def test_a_province_too_small_to_train_on_is_still_built(tmp_path: Path) -> None:
    """One entity: no loan to train on and no applicant, yet the demo completes and says what it left out."""
    db = Database(f"sqlite:///{tmp_path / 'tiny.db'}")
    migrate.upgrade(db.engine)
    catalog = load_catalog()
    build_demo(db, catalog, entities=1, seed=SEED, defects_dir=tmp_path / "var" / "demo-deliveries")
    made = credit_demo.seed(db, catalog, clock.today(), "CN-230000", tmp_path / "var" / "demo-samples", SEED)
    db.dispose()
    assert made.model is None and made.applications.granted == 0
    loans = {x.path.name: x.loaded for x in made.samples if x.path.name.startswith("贷款结果")}
    assert loans == {"贷款结果（已导入）.csv": False, "贷款结果（第二批）.csv": False}
