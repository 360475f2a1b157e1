"""The node-network pages: who may see them, and the officers' review actions through the forms."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from xinyidai.kit import audit, clock
from xinyidai.kit.db import Database
from xinyidai.kit.principal import Principal
from xinyidai.network import peers
from xinyidai.network.models import BankNeed, OutboxEnvelope, Peer, Reconciliation

ASSESSMENT = {k: f"自评估：{label}" for k, label in peers.ASSESSMENT.items()} | {"mlps_level": "3"}
PAGES = ["/network", "/network/_topology", "/network/applications", "/network/transfers",
         "/network/reconciliation", "/network/needs", "/network/peers/CN-230100"]


def _child(db: Database, code: str = "CN-230100", status: str = "pending", checked_by: str | None = None) -> None:
    now = clock.now()
    with db.session() as s:
        s.add(Peer(code=code, name="哈尔滨市融资信用服务平台", role="municipal", relation="child",
                   endpoint="http://127.0.0.1:9", mode="push", suite="sm", public_key={}, key_id="k-" + code,
                   region_prefix="2301", status=status, contact="哈尔滨 运维 0451-1", assessment=ASSESSMENT,
                   applied_at=now, checked_by=checked_by, checked_at=now if checked_by else None))
        audit.record(s, code, "peer.applied", f"peer:{code}", role="municipal", mode="push")


@pytest.fixture
def filled(db: Database) -> Database:
    _child(db)
    now = clock.now()
    with db.session() as s:
        s.add(OutboxEnvelope(id="env-1", recipient="CN-230100", kind="records", created_at=now, items=120,
                             size=4096, wire=b"x", digest="d" * 64, status="pending", attempts=3,
                             next_attempt_at=now, last_error="连接被拒绝"))
        s.add(Reconciliation(peer="CN-230100", category="tax", day=date(2026, 11, 14), local_count=10,
                             local_digest="a" * 64, remote_count=8, remote_digest="b" * 64, status="mismatch",
                             difference={"missing": ["r1", "r2"]}, resent=2, at=now))
        s.add(BankNeed(origin_node="CN-230100", institution_code="91230100MA00000001", institution_name="龙江银行",
                       category="tax", items=["纳税等级", "纳税额"], reason="普惠贷款授信", filed_by="bank",
                       filed_at=now, external_id="need-1"))
    return db


@pytest.mark.parametrize("role", ["operator", "security", "regulator"])
def test_staff_see_every_network_page(filled, login, role: str) -> None:
    c = login(role)
    for path in PAGES:
        r = c.get(path)
        assert r.status_code == 200, (path, r.text[:500])
    assert "节点网络" in c.get("/").text  # the navigation link
    assert "连接被拒绝" in c.get("/network/transfers").text
    assert "不一致" in c.get("/network/reconciliation").text
    needs = c.get("/network/needs").text
    assert "纳税等级 × 1" in needs and "龙江银行" in needs
    topo = c.get("/network").text
    assert "哈尔滨市融资信用服务平台" in topo and 'hx-trigger="every 3s"' in topo
    file = c.get("/network/peers/CN-230100").text
    for label in peers.ASSESSMENT.values():
        assert label in file
    assert "提交接入申请" in file  # the history, from the audit trail


@pytest.mark.parametrize("role", ["bank", "enterprise"])
def test_others_are_refused(filled, login, role: str) -> None:
    c = login(role)
    for path in PAGES:
        assert c.get(path, headers={"accept": "text/html"}).status_code == 403, path
    assert "节点网络" not in c.get("/").text


def test_anonymous_is_sent_to_login(filled, app) -> None:  # noqa: ANN001
    from fastapi.testclient import TestClient

    r = TestClient(app).get("/network/applications", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def _act(c, code: str, action: str, reason: str = "材料齐全，自评估属实", **extra: str):  # noqa: ANN001, ANN202
    return c.post(f"/network/peers/{code}/{action}", data={"csrf_token": c.csrf, "reason": reason, **extra},
                  headers={"accept": "text/html"}, follow_redirects=False)


def _peer(db: Database, code: str = "CN-230100") -> Peer:
    with db.session() as s:
        p = s.get(Peer, code)
        s.expunge(p)
        return p


def test_review_through_the_forms(filled, login) -> None:
    op, sec, reg = login("operator"), login("security"), login("regulator")
    queue = op.get("/network/applications").text
    assert "CN-230100" in queue and "待登记审核" in queue
    assert 'action="/network/peers/CN-230100/check"' in op.get("/network/peers/CN-230100").text
    assert 'action="/network/peers/CN-230100/check"' not in sec.get("/network/peers/CN-230100").text

    # the security officer cannot decide before the check, nor check himself
    r = _act(sec, "CN-230100", "approve")
    assert r.status_code == 409 and "尚未经登记审核人员审核" in r.text
    assert _act(sec, "CN-230100", "check").status_code == 403
    assert _act(reg, "CN-230100", "check").status_code == 403  # the regulator only reads

    r = _act(op, "CN-230100", "check", reason="")
    assert r.status_code == 422 and "请填写审核意见" in r.text
    r = _act(op, "CN-230100", "check")
    assert r.status_code == 303 and r.headers["location"] == "/network/peers/CN-230100?done=check"
    assert "已审核通过" in op.get(r.headers["location"]).text
    assert _peer(filled).checked_by == "operator"
    assert "待安全管理员决定" in sec.get("/network/applications").text

    r = _act(sec, "CN-230100", "approve", reason="x")
    assert r.status_code == 422 and "请填写理由" in r.text
    r = _act(sec, "CN-230100", "approve", reason="自评估符合等保三级要求")
    assert r.status_code == 303
    assert _peer(filled).status == "active" and _peer(filled).decided_by == "security"

    # 已接入 → 整改中 (deadline required and in the future) → 已接入 → 已撤销
    r = _act(sec, "CN-230100", "rectify", reason="日志留存不足", deadline="")
    assert r.status_code == 422 and "整改期限" in r.text
    today = clock.now().astimezone(clock.CHINA_TZ).date()
    r = _act(sec, "CN-230100", "rectify", reason="日志留存不足", deadline=today.isoformat())
    assert r.status_code == 422 and "整改期限须晚于今天" in r.text
    due = (today + timedelta(days=30)).isoformat()
    assert _act(sec, "CN-230100", "rectify", reason="日志留存不足", deadline=due).status_code == 303
    assert _peer(filled).status == "rectifying"
    assert "整改中" in sec.get("/network/peers/CN-230100").text
    assert _act(sec, "CN-230100", "restore", reason="整改已验收").status_code == 303
    assert _act(sec, "CN-230100", "revoke", reason="发现数据泄露").status_code == 303
    assert _peer(filled).status == "revoked"
    assert _act(sec, "CN-230100", "revoke", reason="再次撤销").status_code == 409

    with filled.session() as s:
        actions = [(e.actor, e.action) for e in s.execute(
            select(audit.AuditEvent).where(audit.AuditEvent.target == "peer:CN-230100")
            .order_by(audit.AuditEvent.id)).scalars()]
    assert actions == [("CN-230100", "peer.applied"), ("operator", "peer.checked"), ("security", "peer.approved"),
                       ("security", "peer.rectifying"), ("security", "peer.restored"), ("security", "peer.revoked")]
    file = reg.get("/network/peers/CN-230100").text
    assert "撤销接入" in file and "发现数据泄露" in file


def test_separation_of_duties_is_shown_in_chinese(db: Database, login) -> None:
    """A security officer who checked the application himself (e.g. while he was an operator) may not decide."""
    _child(db, "CN-230200")
    with db.session() as s:
        peers.check(s, Principal(0, "security", "测试security", "operator", None), "CN-230200", "材料齐全")
    sec = login("security")
    page = sec.get("/network/peers/CN-230200").text
    assert "按职责分离要求" in page
    r = _act(sec, "CN-230200", "approve", reason="同意接入")
    assert r.status_code == 403
    assert "审核与决定不能由同一人完成" in r.text and "SEPARATION_OF_DUTIES" in r.text
    assert _peer(db, "CN-230200").status == "pending"
    r = _act(sec, "CN-230200", "reject", reason="驳回")
    assert r.status_code == 403 and _peer(db, "CN-230200").status == "pending"


def test_forms_need_the_csrf_token(filled, login) -> None:
    op = login("operator")
    r = op.post("/network/peers/CN-230100/check", data={"reason": "材料齐全"}, headers={"accept": "text/html"})
    assert r.status_code == 403 and "CSRF" in r.text
    assert _peer(filled).checked_by is None


def test_unknown_peer_and_action(filled, login) -> None:
    op = login("operator")
    assert op.get("/network/peers/CN-999999", headers={"accept": "text/html"}).status_code == 404
    r = _act(op, "CN-230100", "delete")
    assert r.status_code == 422 and "未知操作" in r.text


def test_counts_that_differ_say_why(filled, login) -> None:  # noqa: ANN001
    """What a node holds is counted in current records; what it sent and received in the items its envelopes
    carried — each version of a record (new, corrected, withdrawn) and each resend, and the other kinds'
    items. The two differ, and the pages say why instead of leaving two unlike numbers side by side."""
    c = login("operator")
    topo = c.get("/network").text
    assert "本节点持有的现行记录" in topo and "已发送（报文条目）" in topo and "已接收（报文条目）" in topo
    assert "记录的每个版本" in topo and "与上方按现行记录计的条数不同" in topo
    transfers = c.get("/network/transfers").text
    assert "条目" in transfers and "条记录<" not in transfers and "记录的每个版本" in transfers
