"""Issue 19, the mark in every place a record shows, over HTTP: the enterprise's own record pages (with its
administrator's 提出异议 and 申请信用修复 links), the operator's entity page, banks' profile (page and JSON
API), banks' detail page, the verification page and the credit page that explains the evaluation."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.access.conftest import BANK_A, ENTITY
from tests.rights.test_marks_world import (
    DISPUTE_REF,
    ENDED,
    ENTERPRISE_SAYS,
    OBJECTION_REF,
    PROVIDER_SAYS,
    PUBLISHED,
    REPAIRED,
    build,
    grant,
)
from tests.web.conftest import app, login  # noqa: F401 - fixtures used by name
from xinyidai.accounts.models import User
from xinyidai.records.models import CreditRecord

BASIS = "国家发展和改革委员会令2023年第58号"


@pytest.fixture
def world(app, db, catalog):  # noqa: ANN001, ANN201, F811
    build(db, catalog)
    with db.session() as s:
        s.execute(update(User).where(User.username == "enterprise").values(org_code=ENTITY, org_admin=True))
        s.execute(update(User).where(User.username == "bank").values(org_code=BANK_A))
        ids = dict(s.execute(select(CreditRecord.record_key, CreditRecord.id).where(
            CreditRecord.entity_code == ENTITY, CreditRecord.category == "penalty",
            CreditRecord.status == "current")).all())
    return ids


@pytest.fixture
def client(login):  # noqa: ANN001, ANN201, F811
    """Clients as a browser within the site (a bank's reads are served only to the site's own pages)."""
    def _login(username: str) -> TestClient:
        c = login(username)
        c.headers["Sec-Fetch-Site"] = "same-origin"
        return c
    return _login


def _row(html: str, text: str) -> str:
    """The table row (or version card) that contains `text`."""
    for row in re.findall(r"<tr[ >].*?</tr>|<section class=\"card version.*?</section>", html, re.S):
        if text in row:
            return row
    raise AssertionError(f"no row with {text}")


def test_the_enterprise_sees_marks_states_and_its_links(world, client) -> None:  # noqa: ANN001
    ent = client("enterprise")
    page = ent.get(f"/entities/{ENTITY}?category=penalty")
    assert page.status_code == 200
    published = _row(page.text, PUBLISHED)
    assert "异议处理中" in published and OBJECTION_REF in published and "公示中至 2027-02-01" in published
    assert "/my/objections/new" not in published  # already under objection
    assert f"/my/repairs/new?record={world[PUBLISHED]}" in published  # 3 months have passed: it may apply
    ended = _row(page.text, ENDED)
    assert "公示期满，停止公示" in ended and BASIS in ended and "/my/repairs/new" not in ended
    assert f"/my/objections/new?record={world[ENDED]}" in ended
    repaired = _row(page.text, REPAIRED)
    assert "已信用修复，停止公示" in repaired and "/my/repairs/new" not in repaired
    tax = ent.get(f"/entities/{ENTITY}?category=tax")
    disputed = _row(tax.text, "2025-03")
    assert "存在异议" in disputed and ENTERPRISE_SAYS in disputed and PROVIDER_SAYS in disputed
    history = ent.get(f"/records/{world[PUBLISHED]}/history")
    assert "异议处理中" in history.text and "公示中至 2027-02-01" in history.text and BASIS in history.text


def test_the_operator_sees_the_marks_and_states_without_the_enterprise_links(world, client) -> None:  # noqa: ANN001
    op = client("operator")
    page = op.get(f"/entities/{ENTITY}?category=penalty")
    assert page.status_code == 200
    assert "异议处理中" in _row(page.text, PUBLISHED) and "公示期满，停止公示" in _row(page.text, ENDED)
    assert "已信用修复，停止公示" in _row(page.text, REPAIRED)
    assert "/my/objections/new" not in page.text and "/my/repairs/new" not in page.text
    assert DISPUTE_REF in op.get(f"/entities/{ENTITY}?category=tax").text


def test_the_bank_profile_page_and_api_show_the_mark_and_only_published_penalties(world, client, db, catalog
                                                                                  ) -> None:  # noqa: ANN001
    grant(db, catalog, "汇总查询", ["tax"])
    bank = client("bank")
    page = bank.get(f"/bank/entities/{ENTITY}")
    assert page.status_code == 200
    penalty = re.search(r'id="cat-penalty".*?</section>', page.text, re.S).group(0)  # type: ignore[union-attr]
    assert "异议处理中" in penalty and OBJECTION_REF in penalty
    assert "共 1 条记录" in penalty  # the ended and the repaired penalty are neither listed nor counted
    assert DISPUTE_REF in page.text and PROVIDER_SAYS in page.text
    api = bank.get(f"/api/v1/access/entities/{ENTITY}/profile").json()
    assert api["categories"]["penalty"]["records"] == 1
    assert [(m["kind"], m["label"], m["ref"]) for m in api["categories"]["penalty"]["marks"]] == [
        ("objection", "异议处理中", OBJECTION_REF)]
    assert api["categories"]["tax"]["marks"][0]["kind"] == "disputed"


def test_the_bank_detail_page_and_api_list_published_penalties_with_their_marks(world, client) -> None:  # noqa: ANN001
    bank = client("bank")
    page = bank.get(f"/bank/entities/{ENTITY}/records/penalty")
    assert page.status_code == 200 and PUBLISHED in page.text
    assert ENDED not in page.text and REPAIRED not in page.text
    assert "异议处理中" in _row(page.text, PUBLISHED)
    rows = bank.get(f"/api/v1/access/entities/{ENTITY}/records/penalty").json()["rows"]
    assert [(r["fields"]["decision_no"], [m["ref"] for m in r["marks"]]) for r in rows] == [
        (PUBLISHED, [OBJECTION_REF])]


def test_the_verification_page_notes_an_answer_resting_on_a_marked_record(world, client, db, catalog
                                                                         ) -> None:  # noqa: ANN001
    grant(db, catalog, "核验比对", ["tax"])
    bank = client("bank")
    form = bank.get(f"/bank/entities/{ENTITY}/verify")
    rid = re.search(r'name="request_id" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    r = bank.post(f"/bank/entities/{ENTITY}/verify", data={
        "csrf_token": bank.csrf, "request_id": rid, "target_0": "tax:tax_paid", "aggregate_0": "sum",  # type: ignore[attr-defined]
        "op_0": "ge", "value_0": "1", "from_0": "2025-03", "to_0": "2025-03"})
    assert r.status_code == 200 and "相符" in r.text
    assert DISPUTE_REF in r.text and PROVIDER_SAYS in r.text


def test_the_credit_page_and_the_report_page_show_the_mark(world, client) -> None:  # noqa: ANN001
    for who, path in (("enterprise", "/my/credit"), ("operator", f"/entities/{ENTITY}/credit")):
        page = client(who).get(path)
        assert page.status_code == 200
        assert "所依据的记录正在异议处理中，暂按现有记录计算，异议办结后重新评价" in page.text, who
    ent = client("enterprise")
    made = ent.post("/reports", data={"csrf_token": ent.csrf, "entity_code": ENTITY},  # type: ignore[attr-defined]
                    follow_redirects=False)
    assert made.status_code == 303, made.text
    report = ent.get(made.headers["location"])
    negative = re.search(r'id="report-negative".*?</section>', report.text, re.S).group(0)  # type: ignore[union-attr]
    assert f"{PUBLISHED}〔注1〕" in negative and f"异议编号 {OBJECTION_REF}" in negative
    assert ENDED not in report.text and REPAIRED not in report.text
    assert "/my/objections" in report.text
