"""Assessment validity on the network pages, the re-assessment forms, and the JSON endpoints."""

from __future__ import annotations

from datetime import date, timedelta

from xinyidai.kit import audit, clock
from xinyidai.kit.db import Database
from xinyidai.network import peers
from xinyidai.network.models import Peer

ASSESSMENT = {k: f"自评估：{label}" for k, label in peers.ASSESSMENT.items()} | {"mlps_level": "3"}
TODAY = date(2026, 11, 15)  # the suite's fixed clock, in Beijing


def _child(db: Database, code: str, valid_until: date, name: str, reassessment: dict | None = None) -> None:
    now = clock.now()
    with db.session() as s:
        s.add(Peer(code=code, name=name, role="municipal", relation="child", endpoint="http://127.0.0.1:9",
                   mode="push", suite="sm", public_key={}, key_id="k-" + code, region_prefix="2301",
                   status="active", contact="运维 0451-1", assessment=ASSESSMENT, applied_at=now - timedelta(days=400),
                   decided_by="sec", decided_at=now - timedelta(days=400), assessed_at=now - timedelta(days=400),
                   assessment_valid_until=valid_until, reassessment=reassessment,
                   reassessment_at=now if reassessment else None))
        audit.record(s, code, "peer.applied", f"peer:{code}", role="municipal", mode="push")


def _filled(db: Database) -> None:
    _child(db, "CN-230100", TODAY - timedelta(days=10), "哈尔滨市融资信用服务平台")
    _child(db, "CN-230200", TODAY + timedelta(days=12), "齐齐哈尔市融资信用服务平台",
           reassessment=ASSESSMENT | {"mlps_certificate": "23020099-2026-0100"})
    _child(db, "CN-230300", TODAY + timedelta(days=200), "鸡西市融资信用服务平台")


def test_peers_list_shows_validity_and_filters_due(db: Database, login) -> None:  # noqa: ANN001
    _filled(db)
    c = login("regulator")
    html = c.get("/network/applications?status=all").text
    assert 'data-validity="expired"' in html and "已过期" in html
    assert "即将到期" in html and "有效" in html and "重新评估待审" in html
    due = c.get("/network/applications?status=assessment_due").text
    assert "CN-230100" in due and "CN-230200" in due and "CN-230300" not in due
    assert "评估即将到期或已过期" in due
    file = c.get("/network/peers/CN-230100").text
    assert 'data-validity="expired"' in file and "已过期 10 天" in file


def _post(c, path: str, reason: str = "测评报告真实有效"):  # noqa: ANN001, ANN202
    return c.post(path, data={"csrf_token": c.csrf, "reason": reason}, headers={"accept": "text/html"},
                  follow_redirects=False)


def test_reassessment_forms(db: Database, login) -> None:  # noqa: ANN001
    _filled(db)
    op, sec = login("operator"), login("security")
    file = op.get("/network/peers/CN-230200").text
    assert 'id="reassessment"' in file and "23020099-2026-0100" in file and "有变化" in file
    assert 'action="/network/peers/CN-230200/reassessment/check"' in file
    r = _post(sec, "/network/peers/CN-230200/reassessment/approve")
    assert r.status_code == 409 and "尚未经登记审核人员审核" in r.text
    r = _post(op, "/network/peers/CN-230200/reassessment/check")
    assert r.status_code == 303 and r.headers["location"].endswith("done=reassessment_check")
    assert "重新评估已审核通过" in op.get(r.headers["location"]).text
    assert 'reassessment/approve"' in sec.get("/network/peers/CN-230200").text
    r = _post(sec, "/network/peers/CN-230200/reassessment/approve")
    assert r.status_code == 303
    with db.session() as s:
        p = s.get(Peer, "CN-230200")
        assert p.reassessment is None and p.assessment["mlps_certificate"] == "23020099-2026-0100"
        assert p.assessment_valid_until == TODAY + timedelta(days=365) and p.status == "active"
    assert "安全评估有效期已重新起算" in sec.get("/network/peers/CN-230200?done=reassessment_approve").text


def test_json_endpoints(db: Database, login) -> None:  # noqa: ANN001
    _filled(db)
    op, sec = login("operator"), login("security")
    body = op.get("/api/v1/network/assessments/due").json()
    assert [x["code"] for x in body["items"]] == ["CN-230100", "CN-230200"]
    assert body["items"][0]["validity"]["state"] == "expired" and body["items"][0]["validity"]["days_left"] == -10
    assert body["items"][1]["reassessment"]["checked_by"] is None
    assert op.get("/api/v1/network/assessments/due?within_days=0").json()["total"] == 1
    headers = {"x-csrf-token": op.csrf}
    r = op.post("/api/v1/network/peers/CN-230200/reassessment/check", json={"reason": "材料齐全"}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["reassessment"]["checked_by"] == "operator"
    r = sec.post("/api/v1/network/peers/CN-230200/reassessment/reject", json={"reason": "测评报告过期"},
                 headers={"x-csrf-token": sec.csrf})
    assert r.status_code == 200, r.text
    assert r.json()["reassessment"] is None and r.json()["validity"]["valid_until"] == "2026-11-27"
    r = sec.post("/api/v1/network/peers/CN-230100/reassessment/approve", json={"reason": "无"},
                 headers={"x-csrf-token": sec.csrf})
    assert r.status_code == 409 and r.json()["error"] == "NO_REASSESSMENT"


def test_a_connected_child_reassesses_through_the_application_endpoint(db: Database, app) -> None:  # noqa: ANN001
    from fastapi.testclient import TestClient

    from xinyidai.config import Settings
    from xinyidai.kit.crypto.suite import get_suite

    key = get_suite("intl").generate_identity()
    child = Settings(node_code="CN-230100", node_role="municipal", node_name="哈尔滨市融资信用服务平台")
    now = clock.now()
    with db.session() as s:
        s.add(Peer(code="CN-230100", name=child.node_name, role="municipal", relation="child", mode="push",
                   endpoint="http://127.0.0.1:9", suite="intl", public_key=key.public_bundle(), key_id=key.key_id,
                   status="rectifying", contact="运维", assessment=ASSESSMENT, applied_at=now - timedelta(days=360),
                   decided_at=now - timedelta(days=350)))  # migrated: dated from the decision, due in 15 days
    doc = peers.application(child, key, endpoint="http://127.0.0.1:9", contact="运维 0451-2", assessment=ASSESSMENT)
    c = TestClient(app)
    r = c.post("/api/v1/network/applications", json=doc)
    assert r.status_code == 201 and r.json()["reassessment"] is True, r.text
    assert c.post("/api/v1/network/applications", json=doc).json()["error"] == "REASSESSMENT_PENDING"
    with db.session() as s:
        p = s.get(Peer, "CN-230100")
        assert p.status == "rectifying" and p.reassessment == ASSESSMENT and p.contact == "运维"
