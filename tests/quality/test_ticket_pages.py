"""The ticket pages over HTTP for each role: the operator sends a finding to its department, the department
sees only its own tickets and answers with its own delivery, the operator closes; a regulator reads but cannot
act; a department user is refused the operators' pages and another department's ticket."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.quality.tickets_world import HOUSING_NAME, TAX_NAME, delivery, high_rule, run_with, seed
from tests.web.conftest import PASSWORD, app, login  # noqa: F401 - fixtures used by name
from xinyidai.kit import clock
from xinyidai.kit.db import Database
from xinyidai.quality import departments
from xinyidai.quality.models import Finding, Ticket


@pytest.fixture
def world(app, db: Database):  # noqa: ANN001, ANN201, F811
    with db.session() as s:
        seed(s)
        departments.add_account(s, "tax-bureau", "tax1", "税务局经办", PASSWORD, "op")
        departments.add_account(s, "housing-fund", "hf1", "公积金经办", PASSWORD, "op")
        rule = high_rule(s)
        run = run_with(s, [(rule, HOUSING_NAME, 7)], severity="high")  # opens a housing-fund ticket
        s.add(Finding(run_id=run.id, rule_id="timeliness.tax", dimension="timeliness", severity="medium",
                      provider=TAX_NAME, category="tax", affected=1, population=1, sample="[]",
                      message="纳税信息按每月更新：已逾期 20 天"))
        s.flush()
        finding = s.execute(select(Finding.id).where(Finding.provider == TAX_NAME)).scalar_one()
        housing = s.execute(select(Ticket.number)).scalar_one()
    return {"finding": finding, "housing": housing}


def _number(r) -> str:  # noqa: ANN001
    assert r.status_code == 303, r.text
    return re.search(r"/quality/tickets/(QT-\d{4}-\d{6})", r.headers["location"]).group(1)  # type: ignore[union-attr]


def test_operator_sends_a_finding_and_the_department_answers(world, login, db: Database) -> None:  # noqa: ANN001, F811
    op = login("operator")
    number = _number(op.post(f"/quality/findings/{world['finding']}/ticket",
                             data={"csrf_token": op.csrf, "note": "请补报", "due_days": "7"},  # type: ignore[attr-defined]
                             follow_redirects=False))
    page = op.get(f"/quality/tickets/{number}?done=opened")
    assert page.status_code == 200 and "整改工单已开具" in page.text and "纳税信息按每月更新" in page.text
    listing = op.get("/quality/tickets?state=open&sort=due_on")
    assert number in listing.text and world["housing"] in listing.text
    assert number not in op.get("/quality/tickets?department=housing-fund").text

    tax = login("tax1")
    home = tax.get("/department")
    assert home.status_code == 200 and number in home.text and world["housing"] not in home.text
    assert tax.get("/", follow_redirects=False).headers["location"] == "/department"
    with db.session() as s:
        mine = delivery(s, TAX_NAME, clock.now() + timedelta(minutes=1))
    ticket = tax.get(f"/quality/tickets/{number}")
    assert ticket.status_code == 200 and f'value="{mine}"' in ticket.text and 'id="answer-form"' in ticket.text
    r = tax.post(f"/quality/tickets/{number}/answer", data={"csrf_token": tax.csrf, "kind": "delivery",  # type: ignore[attr-defined]
                                                            "delivery_id": str(mine)}, follow_redirects=False)
    assert r.status_code == 303
    assert 'data-state="answered"' in tax.get(f"/quality/tickets/{number}?done=answered").text

    refused = op.post(f"/quality/tickets/{number}/close", data={"csrf_token": op.csrf, "reason": ""})  # type: ignore[attr-defined]
    assert refused.status_code == 422 and 'data-code="REASON_REQUIRED"' in refused.text
    done = op.post(f"/quality/tickets/{number}/close", data={"csrf_token": op.csrf, "reason": "已补报，接受"})  # type: ignore[attr-defined]
    assert done.status_code == 200 and 'data-state="closed"' in done.text and "已补报，接受" in done.text


def test_a_department_is_refused_another_departments_ticket_and_the_operator_pages(world, login, db) -> None:  # noqa: ANN001, F811
    tax = login("tax1")
    other = world["housing"]
    assert tax.get(f"/quality/tickets/{other}").status_code == 404
    r = tax.post(f"/quality/tickets/{other}/answer", data={"csrf_token": tax.csrf, "kind": "explanation",  # type: ignore[attr-defined]
                                                           "text": "不是我们的"})
    assert r.status_code == 404 and "不属于本部门" in r.text
    for path in ("/quality/tickets/new",):
        assert tax.get(path).status_code == 403
    assert tax.post(f"/quality/findings/{world['finding']}/ticket", data={"csrf_token": tax.csrf}  # type: ignore[attr-defined]
                    ).status_code == 403
    assert tax.post(f"/quality/tickets/{other}/close", data={"csrf_token": tax.csrf, "reason": "关"}  # type: ignore[attr-defined]
                    ).status_code == 403
    with db.session() as s:
        t = s.execute(select(Ticket).where(Ticket.number == other)).scalar_one()
        assert t.state == "open" and t.answered_at is None and t.closed_at is None


def test_operator_opens_by_judgement_and_the_regulator_only_reads(world, login) -> None:  # noqa: ANN001, F811
    op = login("operator")
    form = op.get("/quality/tickets/new")
    assert form.status_code == 200 and "黑龙江省税务局" in form.text
    bad = op.post("/quality/tickets/new", data={"csrf_token": op.csrf, "department": "tax-bureau", "title": "x",  # type: ignore[attr-defined]
                                                "description": "说明", "due_days": "5"})
    assert bad.status_code == 422 and 'data-code="TITLE_REQUIRED"' in bad.text
    number = _number(op.post("/quality/tickets/new", data={
        "csrf_token": op.csrf, "department": "tax-bureau", "title": "A 级纳税人名单缺失",  # type: ignore[attr-defined]
        "description": "本月未报送 A 级纳税人名单", "category": "tax", "severity": "high", "due_days": "5"},
        follow_redirects=False))
    reg = login("regulator")
    page = reg.get(f"/quality/tickets/{number}")
    assert page.status_code == 200 and "A 级纳税人名单缺失" in page.text and 'id="close-form"' not in page.text
    assert reg.post(f"/quality/tickets/{number}/close", data={"csrf_token": reg.csrf, "reason": "关"}  # type: ignore[attr-defined]
                    ).status_code == 403
    assert login("bank").get("/quality/tickets").status_code == 403


def test_department_upload_fixes_the_provider(world, login, db: Database) -> None:  # noqa: ANN001, F811
    tax: TestClient = login("tax1")
    csv = "统一社会信用代码,纳税信用等级\n".encode()
    r = tax.post("/department/upload", data={"csrf_token": tax.csrf, "category": "tax",  # type: ignore[attr-defined]
                                             "provider": "冒充的单位"},
                 files={"file": ("tax.csv", csv, "text/csv")}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/department")
    with db.session() as s:
        from xinyidai.records.models import Delivery
        providers = set(s.execute(select(Delivery.provider)).scalars())
    assert providers == {TAX_NAME}


def test_the_recheck_button_runs_the_rule(world, login) -> None:  # noqa: ANN001, F811
    """The housing-fund ticket's rule finds nothing in this node's (empty) data: the re-check closes it."""
    op = login("operator")
    r = op.post(f"/quality/tickets/{world['housing']}/recheck", data={"csrf_token": op.csrf})  # type: ignore[attr-defined]
    assert r.status_code == 200 and 'data-state="closed"' in r.text and "复核通过" in r.text
    assert 'data-action="rechecked"' in r.text


def test_the_operator_raises_feedback_from_the_tickets_page(world, login) -> None:  # noqa: ANN001, F811
    """The form sends a note down to the node that loaded the record; a record this node loaded itself has no
    one below to send it to, and the refusal comes back on the page with what was typed."""
    op = login("operator")
    page = op.get("/quality/tickets")
    assert page.status_code == 200 and 'id="feedback-form"' in page.text and "本节点没有发出过质量反馈" in page.text
    r = op.post("/quality/feedback", data={"csrf_token": op.csrf, "entity_code": "91230100MA00000000",  # type: ignore[attr-defined]
                                          "category": "tax", "problem": "欠税标记可疑"})
    assert r.status_code == 404 and "本节点没有这条现行记录" in r.text and "欠税标记可疑" in r.text
    assert login("regulator").post("/quality/feedback", data={"entity_code": "x"}).status_code in (403, 422)
    assert 'id="feedback-form"' not in login("regulator").get("/quality/tickets").text
