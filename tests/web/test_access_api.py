"""The sharing API end to end through HTTP: the error shape and codes, refusals kept in the audit chain even
though the request failed, idempotent request ids, the CSV export's traceable mark, and a signed receipt that
verifies with the node's published key."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.access.conftest import BANK_A, ENTITY, LEGAL_REP_ID, populate
from xinyidai.access.models import Authorization
from xinyidai.accounts.models import User
from xinyidai.institutions import onboarding
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.node_key import verify_signature
from xinyidai.kit.principal import Principal


@pytest.fixture
def world(app, db, catalog):  # noqa: ANN001, ANN201
    populate(db, catalog)
    with db.session() as s:
        s.execute(update(User).where(User.username == "bank").values(org_code=BANK_A))
        s.execute(update(User).where(User.username == "enterprise").values(org_code=ENTITY))
    return app


@pytest.fixture
def login(login):  # noqa: ANN001, ANN201
    """Clients as the platform's own pages call the API: the browser says a page of this site made the request
    (see test_a_cookie_session_cannot_be_made_to_spend_from_another_site)."""
    def _login(username: str) -> TestClient:
        c = login(username)
        c.headers["Sec-Fetch-Site"] = "same-origin"
        return c
    return _login


def grant(ent, mode: str, categories: list[str], purpose: str = "贷前审查") -> str:  # noqa: ANN001
    body = {"institution_code": BANK_A, "purpose": purpose, "mode": mode, "categories": categories,
            "valid_until": (clock.now().date() + timedelta(days=30)).isoformat()}
    h = {"X-CSRF-Token": ent.csrf}
    pre = ent.post("/api/v1/access/authorizations/preview", json=body, headers=h)
    assert pre.status_code == 200, pre.text
    assert "信用信息查询授权书" in pre.json()["text"]
    r = ent.post("/api/v1/access/authorizations", json={**body, "text_digest": pre.json()["text_digest"]}, headers=h)
    assert r.status_code == 201, r.text
    return r.json()["number"]


def test_grant_query_revoke_refuse(world, login, db) -> None:  # noqa: ANN001
    ent, bank = login("enterprise"), login("bank")
    number = grant(ent, "原始明细", ["tax"])
    r = bank.get(f"/api/v1/access/entities/{ENTITY}/records/tax")
    assert r.status_code == 200 and len(r.json()["rows"]) == 12 and r.json()["served_under"] == [number]
    r = bank.get(f"/api/v1/access/entities/{ENTITY}/profile")
    assert r.status_code == 200 and LEGAL_REP_ID not in r.text
    r = ent.post(f"/api/v1/access/authorizations/{number}/revoke", json={"reason": "贷款已结清"},
                 headers={"X-CSRF-Token": ent.csrf})
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    r = bank.get(f"/api/v1/access/entities/{ENTITY}/records/tax", params={"authorization": number})
    assert r.status_code == 403
    assert r.json()["error"] == "AUTHORIZATION_REVOKED" and "撤销" in r.json()["message"]
    with db.session() as s:  # the refusal survived the failed request
        ev = s.execute(select(AuditEvent).where(AuditEvent.action == "access.refused")).scalar_one()
        assert ev.entity_code == ENTITY and ev.institution_code == BANK_A
    seen = ent.get("/api/v1/access/my/accesses").json()["items"]
    assert {"access.detail", "access.refused", "access.profile"} <= {i["action"] for i in seen}
    assert any(i["institution_name"] == "龙江银行股份有限公司" for i in seen)


def test_roles_and_csrf(world, login) -> None:  # noqa: ANN001
    ent, bank, op = login("enterprise"), login("bank"), login("operator")
    assert ent.get(f"/api/v1/access/entities/{ENTITY}/profile").json()["error"] == "ROLE_FORBIDDEN"
    assert op.get(f"/api/v1/access/entities/{ENTITY}/profile").status_code == 403
    r = bank.post("/api/v1/access/authorizations/preview", json={}, headers={"X-CSRF-Token": bank.csrf})
    assert r.status_code in (403, 422)
    r = ent.post("/api/v1/access/authorizations/SQ1/revoke", json={"reason": "x"})  # no CSRF token
    assert r.json()["error"] == "CSRF_FAILED"
    assert op.get("/api/v1/access/audit", params={"entity": ENTITY}).status_code == 200
    assert bank.get("/api/v1/access/audit").status_code == 403


def test_institution_routes_refuse_before_any_work(world, login, db) -> None:  # noqa: ANN001
    """The query routes resolve and admit their caller in the worker thread that does the work: a missing
    log-in, a wrong role or a missing CSRF token is refused there, and nothing is spent or logged as an
    access."""
    ent, bank, anon = login("enterprise"), login("bank"), TestClient(world)
    grant(ent, "核验比对", ["tax"], purpose="核验")
    claim = {"claims": [{"category": "tax", "op": "exists", "period_from": "2025"}]}
    url = f"/api/v1/access/entities/{ENTITY}/verifications"
    r = anon.get(f"/api/v1/access/entities/{ENTITY}/profile")
    assert (r.status_code, r.json()["error"]) == (401, "UNAUTHENTICATED")
    r = bank.post(url, json=claim, headers={"X-Request-Id": "no-csrf-1"})  # a cookie session without its token
    assert (r.status_code, r.json()["error"]) == (403, "CSRF_FAILED")
    r = bank.post(url, json=claim, headers={"X-Request-Id": "no-csrf-1", "X-CSRF-Token": "forged"})
    assert r.json()["error"] == "CSRF_FAILED"
    with db.session() as s:
        assert s.execute(select(AuditEvent).where(AuditEvent.action.in_(("access.verify", "access.refused")),
                                                  AuditEvent.request_id == "no-csrf-1")).first() is None
    r = bank.post(url, json=claim, headers={"X-Request-Id": "no-csrf-1", "X-CSRF-Token": bank.csrf})
    assert r.status_code == 200 and not r.json()["replayed"]  # the refused attempts spent nothing


def test_export_carries_a_traceable_mark(world, login) -> None:  # noqa: ANN001
    ent, bank = login("enterprise"), login("bank")
    grant(ent, "原始明细", ["water"])
    r = bank.get(f"/api/v1/access/entities/{ENTITY}/records/water/export")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.lstrip("\ufeff").splitlines()
    assert r.headers["x-export-id"] in lines[0] and "仅限融资用途" in lines[0]
    assert lines[1].endswith("追溯码") and len(lines) == 14
    assert "55667788" not in r.text.replace("****7788", "")


def test_verification_receipt_and_idempotency(world, login) -> None:  # noqa: ANN001
    ent, bank = login("enterprise"), login("bank")
    grant(ent, "核验比对", ["tax"], purpose="核验")
    claim = {"claims": [{"category": "tax", "item": "tax_paid", "aggregate": "sum", "op": "ge",
                         "value": "500000", "period_from": "2025"}]}
    h = {"X-CSRF-Token": bank.csrf, "X-Request-Id": "loan-2026-0042"}
    r1 = bank.post(f"/api/v1/access/entities/{ENTITY}/verifications", json=claim, headers=h)
    assert r1.status_code == 200, r1.text
    assert r1.json()["results"][0]["outcome"] == "match" and "600000" not in r1.text
    r2 = bank.post(f"/api/v1/access/entities/{ENTITY}/verifications", json=claim, headers=h)
    assert r2.json()["replayed"] and r2.json()["receipt"] == r1.json()["receipt"]
    key = bank.get("/api/v1/access/node-key").json()
    receipt = r1.json()["receipt"]
    from xinyidai.access.verification import receipt_message
    assert receipt["key_id"] == key["key_id"]
    assert verify_signature(key["suite"], key["public_key"], receipt_message(receipt),
                            bytes.fromhex(receipt["signature"]))
    r = bank.post(f"/api/v1/access/entities/{ENTITY}/verifications", json=claim, headers={"X-CSRF-Token": bank.csrf})
    assert r.json()["error"] == "REQUEST_ID_REQUIRED"


def test_malformed_claim_is_refused_and_spends_nothing(world, login, db) -> None:  # noqa: ANN001
    ent, bank = login("enterprise"), login("bank")
    grant(ent, "核验比对", ["tax"], purpose="核验")
    claim = {"claims": [{"category": "tax", "item": "tax_paid", "aggregate": "sum", "op": "ge", "value": "abc"}]}
    r = bank.post(f"/api/v1/access/entities/{ENTITY}/verifications", json=claim,
                  headers={"X-CSRF-Token": bank.csrf, "X-Request-Id": "bad-1"})
    assert r.status_code == 422 and r.json()["error"] == "INVALID_CLAIM" and "不是数字" in r.json()["message"]
    with db.session() as s:
        assert s.execute(select(Authorization.uses)).scalar_one() == 0
        actions = s.execute(select(AuditEvent.action).where(AuditEvent.request_id == "bad-1")).scalars().all()
        assert actions == ["access.refused"]  # the refusal is logged; nothing else is written


@pytest.mark.parametrize("payload", ["' OR 1=1 --", "{{7*7}}", "%_%", "<script>alert(1)</script>"])
def test_injection_in_search_fields(world, login, payload: str) -> None:  # noqa: ANN001
    op, bank = login("operator"), login("bank")
    r = op.get("/api/v1/access/audit", params={"entity": payload, "action": payload, "institution": payload})
    assert r.status_code == 200 and r.json()["total"] == 0
    r = bank.get(f"/api/v1/access/entities/{payload}/profile")
    assert r.status_code in (404, 422) and "49" not in r.text


def test_a_cookie_session_cannot_be_made_to_spend_from_another_site(world, login, db) -> None:  # noqa: ANN001
    """Issue 23, item 7: the reads that spend a use are GETs, and a session cookie goes with another site's
    link or image. With a cookie they are served only when the browser says a page of this site asked; an
    API key or a signed request carries no ambient authority and is unaffected."""
    number = grant(login("enterprise"), "原始明细", ["tax"])
    bank = login("bank")
    paths = [f"/api/v1/access/entities/{ENTITY}/profile", f"/api/v1/access/entities/{ENTITY}/records/tax",
             f"/api/v1/access/entities/{ENTITY}/records/tax/export"]
    for path in paths:
        for site in ("cross-site", "same-site", "none"):
            r = bank.get(path, headers={"Sec-Fetch-Site": site})
            assert (r.status_code, r.json()["error"]) == (403, "CROSS_SITE_REQUEST"), (path, site)
            assert "API 密钥" in r.json()["message"]
    del bank.headers["Sec-Fetch-Site"]  # a browser too old to say is not believed either
    assert bank.get(paths[0]).json()["error"] == "CROSS_SITE_REQUEST"

    def uses() -> int:
        with db.session() as s:
            return s.execute(select(Authorization.uses).where(Authorization.number == number)).scalar_one()

    with db.session() as s:
        assert s.execute(select(AuditEvent).where(AuditEvent.action.like("access.%"))).first() is None
    assert uses() == 0
    assert bank.get(paths[1], headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200 and uses() == 1
    with db.session() as s:
        token = onboarding.issue_api_key(s, Principal(0, "op", "运营", "operator", None), BANK_A, label="信贷系统").token
    machine = TestClient(world)
    r = machine.get(paths[1], headers={"X-Api-Key": token})
    assert r.status_code == 200 and r.json()["served_under"] == [number] and uses() == 2
