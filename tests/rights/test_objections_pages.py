"""The objection pages over HTTP: the enterprise's administrator raises one on its own record with evidence
(a bad file refused and nothing stored), the operator accepts and routes it, the department corrects it with
the prefilled form (only changed items sent), each side sees only its own; a regulator reads, the evidence
downloads as an attachment, and the enterprise's notice lists the open objection."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.rights.test_objections import PDF, PNG, PROVIDER, penalty
from tests.web.conftest import ENTERPRISE_CODE, PASSWORD, app, login  # noqa: F401 - fixtures used by name
from xinyidai.accounts.models import User
from xinyidai.accounts.users import create_user
from xinyidai.entities.codes import make_uscc
from xinyidai.kit.db import Database
from xinyidai.quality import departments
from xinyidai.records.models import CreditRecord, RecordMark
from xinyidai.rights.models import Evidence, Objection


@pytest.fixture
def world(app, db: Database) -> dict:  # noqa: ANN001, F811
    with db.session() as s:
        departments.create(s, code="harbin-amr", name=PROVIDER, region="230100", contact="13800000011", actor="op")
        departments.create(s, code="tax-bureau", name="黑龙江省税务局", region="230000", contact=None, actor="op")
        departments.add_account(s, "harbin-amr", "amr1", "市监局经办", PASSWORD, "op")
        departments.add_account(s, "tax-bureau", "tax1", "税务局经办", PASSWORD, "op")
        u = create_user(s, username="ent-admin", display_name="企业管理员", role="enterprise", password=PASSWORD,
                        org_code=ENTERPRISE_CODE)
        u.org_admin = True
        mine = penalty(s, ENTERPRISE_CODE, "哈市监罚〔2026〕1号")
        theirs = penalty(s, make_uscc("230200", 7102), "齐市监罚〔2026〕9号")
    return {"mine": mine, "theirs": theirs}


def _form(c, **data) -> dict:  # noqa: ANN001, ANN003
    return {"csrf_token": c.csrf, **data}


def _raise(c, record: int, files: list | None = None, **data):  # noqa: ANN001, ANN003, ANN201
    return c.post("/my/objections/new", data=_form(c, record=str(record), **data),
                  files=files or [], follow_redirects=False)


def _count(db: Database, model) -> int:  # noqa: ANN001
    with db.session() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def test_objection_from_the_enterprise_to_the_department_and_corrected(app, world, login, db: Database) -> None:  # noqa: ANN001, F811
    ent = login("ent-admin")
    form = ent.get(f"/my/objections/new?record={world['mine']}")
    assert form.status_code == 200 and "哈市监罚〔2026〕1号" in form.text and 'id="objection-form"' in form.text
    assert "未按规定公示年报" in form.text  # the record's facts are shown
    # A disguised executable: refused with its code, the form kept as typed, nothing stored.
    bad = _raise(ent, world["mine"], files=[("files", ("ok.png", PNG, "image/png")),
                                            ("files", ("invoice.pdf", b"MZ\x90\x00program", "application/pdf"))],
                 complaint="罚款金额有误")
    assert bad.status_code == 422 and 'data-code="EVIDENCE_DISGUISED"' in bad.text and "罚款金额有误" in bad.text
    assert (_count(db, Objection), _count(db, RecordMark), _count(db, Evidence)) == (0, 0, 0)
    r = _raise(ent, world["mine"], files=[("files", ("缴款凭证.pdf", PDF, "application/pdf"))],
               complaint="罚款金额应为 0.2 万元", wanted="0.2")
    assert r.status_code == 303, r.text
    number = re.search(r"/my/objections/(YY\d{12})", r.headers["location"]).group(1)  # type: ignore[union-attr]
    page = ent.get(r.headers["location"])
    assert page.status_code == 200 and "异议已提交" in page.text and 'data-state="submitted"' in page.text
    assert "2026-12-05" in page.text and "2026-11-17" in page.text  # the 20 days; the 2 working days
    dup = _raise(ent, world["mine"], complaint="再提一次")
    assert dup.status_code == 409 and 'data-code="OBJECTION_ALREADY_OPEN"' in dup.text
    assert number in ent.get("/my/objections").text

    op = login("operator")
    queue = op.get("/rights/objections?state=submitted&sort=due_on")
    assert queue.status_code == 200 and number in queue.text
    detail = op.get(f"/rights/objections/{number}")
    assert 'id="accept-form"' in detail.text and "缴款凭证.pdf" in detail.text
    ev_id = re.search(rf"/rights/objections/{number}/evidence/(\d+)", detail.text).group(1)  # type: ignore[union-attr]
    got = op.get(f"/rights/objections/{number}/evidence/{ev_id}")
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["x-content-type-options"] == "nosniff"
    r = op.post(f"/rights/objections/{number}/accept", data=_form(op, department="", note="材料齐全"),
                follow_redirects=False)
    assert r.status_code == 303 and "done=accepted" in r.headers["location"]
    told = (Path(app.state.node.settings.var_dir) / "notifications.log").read_text(encoding="utf-8")
    assert number in told and "13800000011" in told  # the department's contact

    tax, amr = login("tax1"), login("amr1")
    assert number not in tax.get("/department/objections").text
    assert tax.get(f"/department/objections/{number}").status_code == 404
    assert tax.get(f"/department/objections/{number}/evidence/{ev_id}").status_code == 404
    mine = amr.get(f"/department/objections/{number}")
    assert mine.status_code == 200 and 'id="answer-form"' in mine.text and 'name="item_fine_amount"' in mine.text
    assert 'value="0.5"' in mine.text  # prefilled with the current value
    items = dict(re.findall(r'name="(item_\w+)" value="([^"]*)"', mine.text))
    refused = amr.post(f"/department/objections/{number}/answer",
                       data=_form(amr, outcome="corrected", statement="金额录入有误", **items))
    assert refused.status_code == 422 and 'data-code="CORRECTION_REQUIRED"' in refused.text  # nothing changed
    items["item_fine_amount"] = "0.2"
    done = amr.post(f"/department/objections/{number}/answer",
                    data=_form(amr, outcome="corrected", statement="金额录入有误，已更正", **items))
    assert done.status_code == 200 and 'data-state="concluded"' in done.text and "金额录入有误，已更正" in done.text
    with db.session() as s:
        cur = s.execute(select(CreditRecord).where(CreditRecord.record_key == "哈市监罚〔2026〕1号",
                                                   CreditRecord.status == "current")).scalar_one()
        assert cur.version == 2 and '"fine_amount"' in cur.content
        assert s.execute(select(func.count()).select_from(RecordMark).where(RecordMark.lifted_at.is_(None))
                         ).scalar_one() == 0
    final = ent.get(f"/my/objections/{number}")
    assert 'data-outcome="corrected"' in final.text and "金额录入有误，已更正" in final.text


def test_who_may_do_what(world, login, db: Database) -> None:  # noqa: ANN001, F811
    ent = login("ent-admin")
    other = ent.get(f"/my/objections/new?record={world['theirs']}")
    missing = ent.get("/my/objections/new?record=99999999")
    assert other.status_code == missing.status_code == 404
    assert "OBJECTION_RECORD_NOT_FOUND" in other.text or "本企业" in other.text
    assert _raise(ent, world["theirs"], complaint="不是我们的处罚").status_code == 404
    assert ent.get("/my/objections/new?record=9223372036854775808").status_code == 422
    staff = login("enterprise")  # a colleague, not the administrator
    assert 'data-code="OBJECTION_ADMIN_ONLY"' in staff.get(f"/my/objections/new?record={world['mine']}").text
    assert _raise(staff, world["mine"], complaint="有误").status_code == 403
    number = re.search(r"(YY\d{12})", _raise(ent, world["mine"], complaint="金额有误").headers["location"]).group(1)  # type: ignore[union-attr]
    reg = login("regulator")
    page = reg.get(f"/rights/objections/{number}")
    assert page.status_code == 200 and 'id="accept-form"' not in page.text
    assert reg.post(f"/rights/objections/{number}/refuse", data=_form(reg, reason="不予受理")).status_code == 403
    assert login("bank").get("/rights/objections").status_code == 403
    op = login("operator")
    r = op.post(f"/rights/objections/{number}/refuse", data=_form(op, reason=""))
    assert r.status_code == 422 and 'data-code="REASON_REQUIRED"' in r.text
    r = op.post(f"/rights/objections/{number}/refuse", data=_form(op, reason="异议内容与记录无关"))
    assert r.status_code == 200 and 'data-state="refused"' in r.text
    assert 'data-state="refused"' in ent.get("/my/objections").text


def test_the_daily_chore_escalates_and_the_queue_shows_it(app, world, login, db: Database) -> None:  # noqa: ANN001, F811
    from datetime import UTC, datetime

    from xinyidai.kit import clock
    from xinyidai.kit.principal import Principal
    from xinyidai.rights import objections, runtime

    with db.session() as s:
        admin = s.execute(select(User).where(User.username == "ent-admin")).scalar_one()
        p = Principal(admin.id, admin.username, admin.display_name, "enterprise", ENTERPRISE_CODE)
        number = objections.raise_objection(s, p, record_id=world["mine"], complaint="金额有误").number
    state: dict = {}
    assert runtime.chores_once(app, state) == {"answered": 0, "reminded": 0, "escalated": 0, "broken": 0}
    clock.set_clock(lambda: datetime(2026, 12, 7, 2, 0, tzinfo=UTC))
    assert runtime.chores_once(app, state) == {"answered": 0, "reminded": 1, "escalated": 1, "broken": 0}
    assert runtime.chores_once(app, state) == {"answered": 0}  # once a day; the network's answers meanwhile
    op = login("operator")
    queue = op.get("/rights/objections?overdue=true")
    assert number in queue.text and 'id="overdue-count"' in queue.text and "已督办" in queue.text
    page = op.get(f"/rights/objections/{number}")
    assert 'id="objection-overdue"' in page.text and 'data-action="escalated"' in page.text
    assert "已超过 2 天" in page.text
    # A deadline in a year the calendar lacks: counted Monday–Friday, and the page says so.
    with clock.frozen_at(datetime(2026, 12, 24, 2, 0, tzinfo=UTC)), db.session() as s:
        later = objections.raise_objection(s, p, record_id=penalty(s, ENTERPRISE_CODE, "哈市监罚〔2026〕3号"),
                                           complaint="处罚对象有误").number
    page = op.get(f"/rights/objections/{later}")
    assert 'id="calendar-missing"' in page.text and "2027 年" in page.text
    assert 'id="calendar-missing"' not in op.get(f"/rights/objections/{number}").text
