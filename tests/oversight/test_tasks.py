"""督办 (issue 17, notice point 十八): the notice's task points, province tasks, follow-ups opened from a stored
run (the bottom places with their ties, indicators under target), the answer → close / send back steps with
their refusals, overdue tasks, the listing — and the pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.oversight import signin
from xinyidai.accounts.models import User
from xinyidai.entities.codes import make_uscc
from xinyidai.kit import audit, clock
from xinyidai.kit.db import Database
from xinyidai.kit.errors import DomainError
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.oversight import runs, tasks
from xinyidai.oversight.models import Task, TaskStep
from xinyidai.records.models import CreditRecord

REG1 = Principal(31, "reg1", "监管人员甲", "regulator", None)
REG2 = Principal(32, "reg2", "监管人员乙", "regulator", None)
OP = Principal(33, "op", "运营人员", "operator", None)
TELLER = Principal(34, "teller", "客户经理", "bank", None)
PASSWORD = "correct-horse-9"
# Categories of information received in 2026-11 per city: the first nine cities distinct, the last four none
# (they tie for the 10th place, across the boundary of the bottom three). 哈尔滨 is over target on S1.
CATEGORIES = (12, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 0, 0)


def _records(db: Database) -> None:
    with db.session() as s:
        for city, n in zip(runs.cities(), CATEGORIES, strict=True):
            for k in range(n):
                s.add(CreditRecord(entity_code=make_uscc(city, 100 + k), category=f"cat{k:02d}", record_key=f"r{k}",
                                   version=1, status="current", content="{}", fingerprint="0" * 64, provider="测试",
                                   received_at=datetime(2026, 11, 3, 1, 0, tzinfo=UTC)))


@pytest.fixture
def stored_run(db: Database) -> str:
    _records(db)
    with db.session() as s:
        return runs.run(s, runs.period_of("2026-11", None), "tester").number


def _count(s: Any, model: Any, *where: Any) -> int:
    return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def _audits(s: Any, action: str) -> int:
    return _count(s, audit.AuditEvent, audit.AuditEvent.action == action)


def _refused(code: str, fn: Any, *args: Any, **kw: Any) -> DomainError:
    with pytest.raises(DomainError) as e:
        fn(*args, **kw)
    assert e.value.code == code, (e.value.code, e.value.message)
    assert re.search(r"[\u4e00-\u9fff]", e.value.message)  # said in Chinese
    return e.value


# ── the notice's tasks ──────────────────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize(("limit", "due"), [("2022年7月底前", date(2022, 7, 31)), ("2022年5月底前", date(2022, 5, 31)),
                                            ("2022年12月底前", date(2022, 12, 31)), ("2022 年底前", date(2022, 12, 31)),
                                            ("2024年2月底前", date(2024, 2, 29)), ("持续开展", date(2026, 12, 31))])
def test_deadline_of_a_time_limit(limit: str, due: date) -> None:
    assert tasks.deadline_of(limit) == due


def test_an_unreadable_time_limit_is_refused() -> None:
    _refused("TASK_TIME_LIMIT", tasks.deadline_of, "尽快")


def test_the_notice_tasks_are_registered_once(db: Database) -> None:
    with db.session() as s:
        made = tasks.register_notice_tasks(s, REG1)
        assert [t.number for t in made] == [f"RW-TZ-{i:02d}" for i in range(1, 15)]
        assert [t.clause for t in made] == ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二",
                                            "十三", "十四"]
    with db.session() as s:
        one = tasks.get(s, "RW-TZ-01")
        assert (one.kind, one.title, one.owner, one.deadline, one.state) == (
            "notice", "建立全省性融资信用服务平台", "省营商环境建设监督局、黑龙江银保监局", date(2022, 7, 31), "open")
        assert tasks.get(s, "RW-TZ-02").owner == "省公共信用中心"
        assert tasks.get(s, "RW-TZ-02").deadline == date(2022, 5, 31)
        assert tasks.get(s, "RW-TZ-04").owner == "各级银保监局"
        assert tasks.get(s, "RW-TZ-05").deadline == date(2023, 12, 31)
        assert tasks.get(s, "RW-TZ-12").deadline == date(2022, 12, 31)
        continuing = tasks.get(s, "RW-TZ-06")
        assert continuing.deadline == date(2026, 12, 31) and "持续开展" in continuing.detail
        assert "持续开展" not in one.detail and "2022年7月底前" in one.detail
        assert _count(s, TaskStep) == 14 and _audits(s, "oversight.tasks.notice") == 1
    with db.session() as s:
        assert tasks.register_notice_tasks(s, OP) == []
        assert _count(s, Task) == 14 and _count(s, TaskStep) == 14 and _audits(s, "oversight.tasks.notice") == 1


def test_only_regulators_and_operators_register(db: Database) -> None:
    with db.session() as s:
        _refused("ROLE_FORBIDDEN", tasks.register_notice_tasks, s, TELLER)
        assert _count(s, Task) == 0


# ── province tasks ──────────────────────────────────────────────────────────────────────────────────────

def _add(s: Any, **over: Any) -> Task:
    kw = {"title": "落实主要工作任务第3项", "owner": "省市场监管局", "deadline": date(2026, 12, 31),
          "detail": "归集市场主体登记信息", "clause": "五", "city_code": None} | over
    return tasks.add_task(s, REG1, **kw)


def test_a_province_task_is_added_with_its_step_and_audit(db: Database) -> None:
    with db.session() as s:
        t = _add(s, city_code="230100", deadline=date(2026, 11, 15))  # today is allowed
        assert (t.number, t.kind, t.state, t.city_code) == ("RW-SR-001", "province", "open", "230100")
        assert _add(s).number == "RW-SR-002"
    with db.session() as s:
        d = tasks.detail(s, "RW-SR-001")
        assert [x.action for x in d.steps] == ["opened"] and d.run_number is None and not d.overdue
        assert _audits(s, "oversight.task.opened") == 2


@pytest.mark.parametrize(("over", "code"), [
    ({"title": " "}, "TASK_TITLE_REQUIRED"), ({"owner": ""}, "TASK_OWNER_REQUIRED"),
    ({"deadline": date(2026, 11, 14)}, "TASK_DEADLINE_PAST"), ({"city_code": "220100"}, "TASK_CITY_UNKNOWN"),
    ({"title": "长" * 201}, "TASK_TITLE_REQUIRED")])
def test_a_bad_province_task_is_refused_and_nothing_stored(db: Database, over: dict[str, Any], code: str) -> None:
    with db.session() as s:
        _refused(code, _add, s, **over)
        s.rollback()
        assert _count(s, Task) == 0 and _count(s, TaskStep) == 0


# ── handling ────────────────────────────────────────────────────────────────────────────────────────────

def test_answer_send_back_answer_again_and_close_by_another(db: Database) -> None:
    with db.session() as s:
        number = _add(s).number
    with db.session() as s:
        t = tasks.answer(s, OP, number, "已完成登记信息归集，共 1.2 万条")
        assert (t.state, t.answered_by) == ("answered", "op")
    with db.session() as s:
        _refused("ROLE_FORBIDDEN", tasks.close, s, OP, number, "同意")  # operators record, regulators close
        _refused("TASK_ALREADY_ANSWERED", tasks.answer, s, REG1, number, "再报一次")
        assert tasks.send_back(s, REG2, number, "请补充归集的类别").state == "returned"
    with db.session() as s:
        assert tasks.answer(s, REG1, number, "补充：涉及 5 类信息").answered_by == "reg1"
    with db.session() as s:
        e = _refused("TASK_SAME_PERSON", tasks.close, s, REG1, number, "同意办结")
        assert "另一名" in e.message
    with db.session() as s:
        t = tasks.close(s, REG2, number, "整改到位，同意办结")
        assert (t.state, t.closed_by) == ("done", "reg2")
    with db.session() as s:
        _refused("TASK_DONE", tasks.answer, s, OP, number, "又一次")
        _refused("TASK_DONE", tasks.close, s, REG1, number, "同意")
        _refused("TASK_DONE", tasks.send_back, s, REG1, number, "退回")
        d = tasks.detail(s, number)
        assert [x.action for x in d.steps] == ["opened", "answered", "returned", "answered", "closed"]
        assert [x.by for x in d.steps] == ["reg1", "op", "reg2", "reg1", "reg2"]
        assert d.task.answer == "补充：涉及 5 类信息"
        for action in ("answered", "returned", "closed"):
            assert _audits(s, f"oversight.task.{action}") == (2 if action == "answered" else 1)


def test_wrong_state_moves_are_refused(db: Database) -> None:
    with db.session() as s:
        number = _add(s).number
    with db.session() as s:
        _refused("TASK_NOT_ANSWERED", tasks.close, s, REG1, number, "同意")
        _refused("TASK_NOT_ANSWERED", tasks.send_back, s, REG1, number, "退回")
        _refused("TASK_ANSWER_REQUIRED", tasks.answer, s, OP, number, " ")
        _refused("TASK_NOT_FOUND", tasks.answer, s, OP, "RW-SR-999", "整改完成")
        _refused("ROLE_FORBIDDEN", tasks.answer, s, TELLER, number, "整改完成")
    with db.session() as s:
        tasks.answer(s, OP, number, "整改完成")
    with db.session() as s:
        _refused("TASK_NOTE_REQUIRED", tasks.close, s, REG1, number, "")
        assert tasks.get(s, number).state == "answered"
        assert [x.action for x in tasks.detail(s, number).steps] == ["opened", "answered"]


def test_overdue(db: Database) -> None:
    with db.session() as s:
        tasks.register_notice_tasks(s, REG1)
        due_today = _add(s, deadline=date(2026, 11, 15)).number
        later = _add(s, deadline=date(2027, 1, 31)).number
    with db.session() as s:
        late = [t.number for t in tasks.overdue(s)]
        # the points with a date in 2022/2023 are late; those 持续开展 (due 2026-12-31) and ours are not
        assert late == ["RW-TZ-02", "RW-TZ-01", "RW-TZ-03", "RW-TZ-08", "RW-TZ-12", "RW-TZ-05"]
        assert [t.number for t in tasks.overdue(s, date(2026, 11, 16))][-1] == due_today
        tasks.answer(s, OP, "RW-TZ-02", "省级节点已建成并与国家平台联通")
    with db.session() as s:
        tasks.close(s, REG1, "RW-TZ-02", "同意")
    with db.session() as s:
        assert "RW-TZ-02" not in [t.number for t in tasks.overdue(s)]  # done is never overdue
        assert "RW-TZ-03" in [t.number for t in tasks.overdue(s)]  # answered but not done still is
        assert later in [t.number for t in tasks.overdue(s, date(2027, 2, 1))]


def test_listing_filters_sorts_and_pages(db: Database) -> None:
    with db.session() as s:
        tasks.register_notice_tasks(s, REG1)
        _add(s, city_code="230200")
    with db.session() as s:
        page = tasks.listing(s, page=PageRequest(1, 5, "deadline"))
        assert page.total == 15 and len(page.items) == 5 and page.items[0].number == "RW-TZ-02"
        assert tasks.listing(s, kind="province").total == 1
        assert [t.number for t in tasks.listing(s, city="230200").items] == ["RW-SR-001"]
        assert tasks.listing(s, state="done").total == 0
        assert tasks.listing(s, overdue_only=True).total == 6
        desc = tasks.listing(s, page=PageRequest(1, 20, "number", True))
        assert desc.items[0].number == "RW-TZ-14"
        _refused("OVERSIGHT_RUN_UNKNOWN", tasks.listing, s, run="KH-NONE")


# ── follow-ups from a run ───────────────────────────────────────────────────────────────────────────────

def test_followups_from_a_run_include_the_tie_at_the_boundary(db: Database, stored_run: str) -> None:
    with db.session() as s:
        run = runs.by_number(s, stored_run)
        ranking = runs.ranking(s, run)
        assert ranking.system.bottom_places == 3
        assert [c.rank for c in ranking.cities][-4:] == [10, 10, 10, 10]
        made = tasks.open_followups(s, run, REG1)
        numbers = {t.number for t in made}
    last4 = runs.cities()[-4:]
    with db.session() as s:
        run = runs.by_number(s, stored_run)
        bottom = s.execute(select(Task).where(Task.run_id == run.id, Task.indicator == "")
                           .order_by(Task.city_code)).scalars().all()
        assert [t.city_code for t in bottom] == list(last4)  # four cities though three places: they tie
        b = bottom[0]
        assert b.owner == "牡丹江市营商环境建设监督局" and b.kind == "followup" and b.deadline == date(2026, 12, 15)
        total = next(c.total for c in runs.ranking(s, run).cities if c.city_code == b.city_code)
        assert f"总分 {total:.2f}" in b.detail and "排名第 10 位" in b.detail and "S1 归集信息类别覆盖" in b.detail
        assert "C1 市级平台接入省级节点" in b.detail
        per_indicator = s.execute(select(Task.city_code, Task.indicator).where(Task.run_id == run.id,
                                                                            Task.indicator != "")).all()
        # 哈尔滨 reaches 60 on S1 (12 of 17 categories) but not on C1; the other eight miss both; missing values
        # (C3, F4, F6–F8 without data) open nothing
        assert sorted(per_indicator) == sorted([("230100", "C1")] + [(c, i) for c in runs.cities()[1:9]
                                                                     for i in ("S1", "C1")])
        s1 = tasks.get(s, f"DB-{run.id:05d}-230200-S1")
        assert s1.owner == "齐齐哈尔市营商环境建设监督局" and "得分 47.1" in s1.detail and "目标 17" in s1.detail
        assert len(numbers) == 4 + 17 and _count(s, TaskStep) == 21
        assert _audits(s, "oversight.tasks.followups") == 1
    with db.session() as s:
        assert tasks.open_followups(s, runs.by_number(s, stored_run), OP) == []
        assert _count(s, Task) == 21 and _audits(s, "oversight.tasks.followups") == 1
        assert tasks.listing(s, run=stored_run).total == 21


def test_bottom_places_without_a_tie(db: Database, stored_run: str) -> None:
    with db.session() as s:
        ranking = runs.ranking(s, runs.by_number(s, stored_run))
        # drop the four tied cities: the bottom three of the nine left are exactly three
        nine = runs.Ranking(ranking.run, ranking.system, ranking.cities[:9])
        assert [c.city_code for c in tasks.bottom_cities(nine)] == list(runs.cities()[6:9])


# ── the pages ───────────────────────────────────────────────────────────────────────────────────────────

def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def _login(app: Any, username: str) -> Any:
    return signin.login(app, username, PASSWORD)


@pytest.fixture
def site(db: Database, tmp_path: Path) -> Iterator[dict[str, TestClient]]:
    from xinyidai.app import create_app
    from xinyidai.config import load_settings

    hashed = PasswordHasher().hash(PASSWORD)
    with db.session() as s:
        for who in (REG1, REG2, OP, TELLER):
            s.add(User(username=who.username, display_name=who.display_name, role=who.role, password_hash=hashed,
                       org_code=make_uscc("230100", 9301, "1", "1") if who.role == "bank" else None,
                       created_at=clock.now()))
    app = create_app(load_settings(env={}, var_dir=tmp_path / "var", database_url=db.url), db)
    clients = {p.username: _login(app, p.username) for p in (REG1, REG2, OP, TELLER)}
    yield clients
    for c in clients.values():
        c.close()


def test_the_list_registers_the_notice_tasks_and_marks_overdue(site: dict[str, TestClient], db: Database) -> None:
    reg = site["reg1"]
    page = reg.get("/oversight/tasks")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "登记通知主要任务" in page.text and "没有符合条件的督办事项" in page.text
    r = reg.post("/oversight/tasks/notice", data={"csrf_token": _token(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/oversight/tasks?kind=notice&done=notice"
    listed = reg.get(r.headers["location"]).text
    assert "通知主要任务已登记" in listed and "建立全省性融资信用服务平台" in listed
    assert "逾期" in listed and 'class="overdue"' in listed and 'id="register-notice"' not in listed
    assert site["op"].get("/oversight/tasks?overdue=true&sort=number&desc=true").status_code == 200
    assert site["teller"].get("/oversight/tasks", follow_redirects=False).status_code == 403


def test_a_post_without_the_csrf_token_is_refused(site: dict[str, TestClient], db: Database) -> None:
    r = site["reg1"].post("/oversight/tasks/notice", data={}, follow_redirects=False)
    assert r.status_code in (400, 403)
    with db.session() as s:
        assert _count(s, Task) == 0


def test_add_answer_return_and_close_through_the_pages(site: dict[str, TestClient], db: Database) -> None:
    reg1, reg2, op = site["reg1"], site["reg2"], site["op"]
    form = reg1.get("/oversight/tasks/new")
    assert form.status_code == 200 and "登记本省任务" in form.text
    data = {"csrf_token": _token(form.text), "title": "落实主要工作任务第1项", "owner": "省公共信用中心",
            "deadline": "2026-11-01", "detail": "", "clause": "五", "city_code": ""}
    bad = reg1.post("/oversight/tasks/new", data=data)
    assert bad.status_code == 422 and "早于今天" in bad.text and 'value="落实主要工作任务第1项"' in bad.text
    unknown = reg1.post("/oversight/tasks/new", data=data | {"deadline": "2026-12-31", "city_code": "999999"})
    assert unknown.status_code == 422 and "没有代码为 999999 的市（地）" in unknown.text
    with db.session() as s:
        assert _count(s, Task) == 0  # nothing half-stored
    r = reg1.post("/oversight/tasks/new", data=data | {"deadline": "2026-12-31"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/oversight/tasks/RW-SR-001?done=added"
    page = op.get("/oversight/tasks/RW-SR-001")
    assert 'id="answer-form"' in page.text and 'id="close-form"' not in page.text
    r = op.post("/oversight/tasks/RW-SR-001/answer", data={"csrf_token": _token(page.text), "text": "已完成"},
                follow_redirects=False)
    assert r.status_code == 303
    page = op.get("/oversight/tasks/RW-SR-001")
    assert 'id="answer-form"' not in page.text and 'id="review"' not in page.text  # operators do not review
    again = op.post("/oversight/tasks/RW-SR-001/answer", data={"csrf_token": _token(page.text), "text": "再报"})
    assert again.status_code == 409 and "待监管人员审核" in again.text
    page = reg2.get("/oversight/tasks/RW-SR-001")
    r = reg2.post("/oversight/tasks/RW-SR-001/return", data={"csrf_token": _token(page.text), "note": "请补充材料"},
                  follow_redirects=False)
    assert r.status_code == 303 and "已退回" in reg2.get(r.headers["location"]).text
    page = reg1.get("/oversight/tasks/RW-SR-001")
    reg1.post("/oversight/tasks/RW-SR-001/answer", data={"csrf_token": _token(page.text), "text": "已补充材料"})
    page = reg1.get("/oversight/tasks/RW-SR-001")
    assert 'id="same-person"' in page.text and 'id="close-form"' not in page.text
    same = reg1.post("/oversight/tasks/RW-SR-001/close", data={"csrf_token": _token(page.text), "note": "同意"})
    assert same.status_code == 403 and "另一名监管人员" in same.text
    page = reg2.get("/oversight/tasks/RW-SR-001")
    r = reg2.post("/oversight/tasks/RW-SR-001/close", data={"csrf_token": _token(page.text), "note": "同意办结"},
                  follow_redirects=False)
    assert r.status_code == 303
    done = reg2.get(r.headers["location"]).text
    assert "督办事项已办结" in done and "已办结" in done and 'id="answer-form"' not in done
    assert done.count('data-action="') == 5
    assert reg1.get("/oversight/tasks/RW-SR-404").status_code == 404


def test_followups_are_opened_from_a_run_page_button(site: dict[str, TestClient], stored_run: str) -> None:
    reg = site["reg1"]
    token = _token(reg.get("/oversight/tasks").text)
    r = reg.post(f"/oversight/runs/{stored_run}/followups", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/oversight/tasks?run={stored_run}&done=followups"
    page = reg.get(r.headers["location"])
    assert "已按考核结果发起督办" in page.text and "共 21 条" in page.text and "牡丹江市营商环境建设监督局" in page.text
    r = reg.post(f"/oversight/runs/{stored_run}/followups", data={"csrf_token": token}, follow_redirects=False)
    assert r.headers["location"].endswith("done=followups_none")
    missing = reg.post("/oversight/runs/KH-NONE/followups", data={"csrf_token": token})
    assert missing.status_code == 404 and "KH-NONE" in missing.text
