"""The sanction pages: an operator proposes from a peer's file, one security officer agrees and another decides
through the forms (POST-redirect-GET), refusals shown on the page; the list is paged, sortable and filtered
by state; a child's network page shows its parent's notices until marked read; an institution's file offers
rectification and shows its proposals."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.entities.helpers import BANK_CODE, onboard_bank
from xinyidai.accounts.users import create_user
from xinyidai.kit import clock
from xinyidai.kit.db import Database
from xinyidai.network.models import NodeNotice, Peer, SanctionProposal

from .conftest import PASSWORD
from .test_network_pages import _child


def _second_officer(db: Database) -> None:
    with db.session() as s:
        create_user(s, username="security2", display_name="测试安全员乙", role="security", password=PASSWORD)


def test_propose_agree_decide_through_the_forms(db: Database, login) -> None:  # noqa: ANN001
    _child(db, status="active")
    _second_officer(db)
    op, sec, sec2 = login("operator"), login("security"), login("security2")
    page = op.get("/network/peers/CN-230100")
    assert page.status_code == 200 and "整改与处置" in page.text and "没有处置提议" in page.text
    r = op.post("/network/sanctions", data={"target_kind": "peer", "target_code": "CN-230100", "action": "suspend",
                                            "reason": "发生数据泄露事件", "back": "/network/peers/CN-230100",
                                            "csrf_token": op.csrf}, follow_redirects=False)
    assert r.status_code == 303, r.text
    url = r.headers["location"].split("?")[0]
    number = url.rsplit("/", 1)[-1]
    assert "处置提议已提出" in op.get(r.headers["location"]).text
    assert number in op.get("/network/peers/CN-230100").text
    # The operator cannot agree; the security officer agrees, then cannot decide too.
    assert op.post(url + "/agree", data={"reason": "同意", "csrf_token": op.csrf}).status_code == 403
    r = sec.post(url + "/agree", data={"reason": "核实属实", "csrf_token": sec.csrf}, follow_redirects=False)
    assert r.status_code == 303
    r = sec.post(url + "/decide", data={"approve": "yes", "reason": "暂停", "csrf_token": sec.csrf})
    assert r.status_code == 403 and "SAME_OFFICER" in r.text and "另一名安全管理员" in r.text
    with db.session() as s:
        assert s.get(Peer, "CN-230100").status == "active"
    r = sec2.post(url + "/decide", data={"approve": "yes", "reason": "决定暂停接入", "csrf_token": sec2.csrf},
                  follow_redirects=False)
    assert r.status_code == 303
    assert "已批准并执行" in sec2.get(r.headers["location"]).text
    with db.session() as s:
        assert s.get(Peer, "CN-230100").status == "suspended"
        assert s.execute(select(SanctionProposal.state)).scalar_one() == "executed"
    again = sec2.post(url + "/decide", data={"approve": "no", "reason": "再来一次", "csrf_token": sec2.csrf})
    assert again.status_code == 409 and "ALREADY_DECIDED" in again.text
    # The suspended peer's file offers the security officer a restore.
    peer_page = sec.get("/network/peers/CN-230100").text
    assert "已暂停" in peer_page and 'data-action="restore"' in peer_page
    r = sec.post("/network/peers/CN-230100/restore", data={"reason": "整改已验收", "csrf_token": sec.csrf},
                 follow_redirects=False)
    assert r.status_code == 303
    with db.session() as s:
        assert s.get(Peer, "CN-230100").status == "active"


def test_the_list_is_paged_sorted_and_filtered(db: Database, login) -> None:  # noqa: ANN001
    from xinyidai.kit.principal import Principal
    from xinyidai.network import sanctions

    op = Principal(0, "op", "运营", "operator", None)
    for i in range(3):
        _child(db, code=f"CN-23{i + 1:02d}00", status="active")
        with db.session() as s:
            sanctions.propose(s, op, "peer", f"CN-23{i + 1:02d}00", "suspend", f"事件 {i}", "officer")
    c = login("regulator")
    page = c.get("/network/sanctions")
    assert page.status_code == 200 and page.text.count("data-proposal=") == 3
    assert c.get("/network/sanctions?state=executed").text.count("data-proposal=") == 0
    page = c.get("/network/sanctions?state=all&sort=target_code&desc=false&size=2")
    rows = [x for x in ("CN-230100", "CN-230200", "CN-230300") if f'<code>{x}</code>' in page.text]
    assert rows == ["CN-230100", "CN-230200"]
    assert login("bank").get("/network/sanctions").status_code == 403
    assert c.get("/api/v1/network/sanctions?state=proposed").json()["total"] == 3


def test_refused_proposal_stays_on_the_file(db: Database, login) -> None:  # noqa: ANN001
    _child(db, status="revoked")
    op = login("operator")
    r = op.post("/network/sanctions", data={"target_kind": "peer", "target_code": "CN-230100", "action": "suspend",
                                            "reason": "已撤销的节点", "csrf_token": op.csrf})
    assert r.status_code == 409 and "ALREADY_REVOKED" in r.text
    with db.session() as s:
        assert s.execute(select(SanctionProposal)).first() is None


def test_notices_from_the_parent_show_until_read(db: Database, login) -> None:  # noqa: ANN001
    with db.session() as s:
        s.add(NodeNotice(external_id="CN-230000:rectify_due:2026-11-20:d-7", from_node="CN-230000",
                         kind="rectify_due", title="整改期限将至", body="请于 2026-11-20 前完成整改",
                         due_on=clock.today() + timedelta(days=7), received_at=clock.now()))
    c = login("operator")
    page = c.get("/network").text
    assert "整改期限将至" in page and "1 条未读" in page and "标记已读" in page
    r = c.post("/network/notices/1/read", data={"csrf_token": c.csrf}, follow_redirects=False)
    assert r.status_code == 303
    page = c.get(r.headers["location"]).text
    assert "通知已标记为已读" in page and "operator 已读" in page and "条未读" not in page


def test_institution_file_rectify_and_restore(db: Database, login) -> None:  # noqa: ANN001
    with db.session() as s:
        onboard_bank(s)
    c = login("security")
    page = c.get(f"/institutions/{BANK_CODE}").text
    assert 'data-action="rectify"' in page and "整改与处置" in page
    bad = c.post(f"/institutions/{BANK_CODE}/rectify", data={"deadline": clock.today().isoformat(),
                                                            "reason": "期限是今天", "csrf_token": c.csrf})
    assert bad.status_code == 422 and "整改期限须晚于今天" in bad.text
    due = (clock.today() + timedelta(days=30)).isoformat()
    r = c.post(f"/institutions/{BANK_CODE}/rectify", data={"deadline": due, "reason": "日志不全", "csrf_token": c.csrf},
               follow_redirects=False)
    assert r.status_code == 303
    page = c.get(r.headers["location"]).text
    assert "整改中" in page and due in page and 'data-action="restore"' in page
    r = c.post(f"/institutions/{BANK_CODE}/restore", data={"reason": "已整改", "csrf_token": c.csrf},
               follow_redirects=False)
    assert r.status_code == 303 and "整改已完成" in c.get(r.headers["location"]).text


def test_the_json_api_runs_the_same_flow(db: Database, login) -> None:  # noqa: ANN001
    _child(db, status="active")
    _second_officer(db)
    op, sec, sec2 = login("operator"), login("security"), login("security2")
    h = {"X-CSRF-Token": op.csrf}
    r = op.post("/api/v1/network/sanctions", headers=h, json={"target_kind": "peer", "target_code": "CN-230100",
                                                              "action": "revoke", "reason": "多次未整改"})
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    assert r.json()["state"] == "proposed" and r.json()["source"] == "officer"
    r = op.post("/api/v1/network/sanctions", headers=h, json={"target_kind": "peer", "target_code": "CN-999900",
                                                              "action": "revoke", "reason": "不存在"})
    assert r.status_code == 404
    r = sec.post(f"/api/v1/network/sanctions/{number}/agree", headers={"X-CSRF-Token": sec.csrf},
                 json={"reason": "同意"})
    assert r.status_code == 200 and r.json()["state"] == "agreed"
    r = sec.post(f"/api/v1/network/sanctions/{number}/decide", headers={"X-CSRF-Token": sec.csrf},
                 json={"approve": True, "reason": "同意"})
    assert r.status_code == 403 and r.json()["error"] == "SAME_OFFICER"
    r = sec2.post(f"/api/v1/network/sanctions/{number}/decide", headers={"X-CSRF-Token": sec2.csrf},
                  json={"approve": True, "reason": "取消接入"})
    assert r.status_code == 200 and r.json()["state"] == "executed"
    with db.session() as s:
        assert s.get(Peer, "CN-230100").status == "revoked"
