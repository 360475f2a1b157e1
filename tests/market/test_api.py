"""The market's JSON API through HTTP and the real app: a bank with an API key and with signed requests, an
enterprise and the staff with sessions. Every endpoint's happy path, request ids required and idempotent,
refusals out of order with the flow's state and next moves in `detail`, another bank's rows not found, and
the feedback files' upload."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.market.conftest import BANK_A, BRANCH_B, ENTITY, ENTITY_B, NODE, OPERATOR, Market
from xinyidai.accounts.models import User
from xinyidai.app import create_app
from xinyidai.config import load_settings
from xinyidai.institutions import onboarding, request_auth
from xinyidai.kit import clock
from xinyidai.kit.crypto import sm2
from xinyidai.market import alerts, feedback
from xinyidai.market.models import ApiRequest, Application, ApplicationEvent, DefaultCase, Loan, Quote
from xinyidai.records.canonical import canonical_json, fingerprint, record_key
from xinyidai.records.models import CreditRecord

PASSWORD = "correct-horse-9"
M = "/api/v1/market"


@pytest.fixture(scope="session")
def password_hash() -> str:
    return PasswordHasher().hash(PASSWORD)  # once: argon2 is slow on purpose, and the users only log in


class Api:
    """The app, bank A (API key) and bank B's branch (API key); the people log in when first used."""

    def __init__(self, app: FastAPI, market: Market, bank: TestClient, other_bank: TestClient,
                 signing_key: sm2.PrivateKey, key_id: str) -> None:
        self.app, self.market, self.bank, self.other_bank = app, market, bank, other_bank
        self.signing_key, self.key_id = signing_key, key_id
        self.clients = [bank, other_bank]

    def _login(self, username: str) -> TestClient:
        c = TestClient(self.app, base_url="http://testserver")
        self.clients.append(c)
        page = c.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        r = c.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token, "next": "/"},
                   follow_redirects=False)
        assert r.status_code == 303, r.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/").text).group(1)  # type: ignore[union-attr]
        c.headers["X-CSRF-Token"] = csrf
        return c

    @cached_property
    def enterprise(self) -> TestClient:  # ENTITY's administrator
        return self._login("ent-admin")

    @cached_property
    def enterprise_b(self) -> TestClient:
        return self._login("ent-b-admin")

    @cached_property
    def operator(self) -> TestClient:
        return self._login("operator")

    @cached_property
    def regulator(self) -> TestClient:
        return self._login("regulator")


@pytest.fixture
def api(market: Market, tmp_path: Path, password_hash: str) -> Iterator[Api]:
    settings = load_settings(env={}, var_dir=tmp_path / "var", database_url=market.db.url)
    key = sm2.PrivateKey.generate()
    with market.db.session() as s:
        for username, role, org in (("ent-admin", "enterprise", ENTITY), ("ent-b-admin", "enterprise", ENTITY_B),
                                    ("operator", "operator", None), ("regulator", "regulator", None)):
            s.add(User(username=username, display_name=f"测试{username}", role=role, password_hash=password_hash,
                       org_code=org, created_at=clock.now()))
        token = onboarding.issue_api_key(s, OPERATOR, BANK_A, label="信贷系统").token
        other = onboarding.issue_api_key(s, OPERATOR, BRANCH_B).token
        key_id = onboarding.register_public_key(s, OPERATOR, BANK_A, kind="sm2", public_key=key.public_key.to_hex()).key_id
    app = create_app(settings, market.db)
    api = Api(app, market, TestClient(app, headers={"X-Api-Key": token}), TestClient(app, headers={"X-Api-Key": other}),
              key, key_id)
    yield api
    for c in api.clients:
        c.close()


def ok(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    return r.json()


def refused(r: Any, status: int, code: str) -> dict[str, Any]:
    assert (r.status_code, r.json().get("error")) == (status, code), r.text
    assert set(r.json()) == {"error", "message", "detail"} and r.json()["message"]
    return r.json()


def rid(n: int | str) -> dict[str, str]:
    return {"X-Request-Id": f"req-{n}"}


def apply(api: Api, client: TestClient | None = None, amount: str = "500000", product: str | None = None) -> str:
    client = client or api.enterprise
    body = {"product": product or api.market.product, "amount": amount, "term_months": 12, "purpose": "采购原材料"}
    pv = ok(client.post(f"{M}/applications/preview", json=body))
    assert pv["ok"] and "信用信息查询授权书" in pv["grant_text"] and pv["amount"] == float(amount)
    return ok(client.post(f"{M}/applications", json={**body, "grant_digest": pv["grant_digest"]}), 201)["number"]


def decide(api: Api, number: str, n: int | str, client: TestClient | None = None, **body: Any) -> Any:
    return (client or api.bank).post(f"{M}/applications/{number}/decisions", json=body, headers=rid(n))


def to_granted(api: Api, number: str, loan_ref: str = "HRB-2026-0001") -> None:
    ok(decide(api, number, f"{number}-accept", action="accept"))
    ok(decide(api, number, f"{number}-offer", action="offer", amount="400000", rate="4.2", term_months=12))
    ok(decide(api, number, f"{number}-yes", api.enterprise, action="accept_offer"))
    ok(decide(api, number, f"{number}-grant", action="grant", amount="400000", guarantee_type="信用", first_loan=True,
              loan_ref=loan_ref, matures_on="2027-11-15"))


# ── products ────────────────────────────────────────────────────────────────────────────────────────────

TERMS = {"name": "龙江订单贷", "kind": "订单融资", "sectors": ["制造业"], "amount_min": "100000", "amount_max": 2000000,
         "term_min_months": 3, "term_max_months": 24, "rate_min": "3.8", "rate_max": 6, "regions": ["230100"],
         "auth_categories": ["tax"], "eligibility": {"min_years": 1}}


def test_a_product_from_draft_to_published_and_a_new_version(api: Api) -> None:
    refused(api.bank.post(f"{M}/products", json=TERMS), 422, "REQUEST_ID_REQUIRED")
    created = api.bank.post(f"{M}/products", json=TERMS, headers=rid("p1"))
    v1 = ok(created, 201)
    assert (v1["version"], v1["state"], v1["amount_max"], v1["rate_min"]) == (1, "DRAFT", 2000000.0, 3.8)
    again = api.bank.post(f"{M}/products", json=TERMS, headers=rid("p1"))
    assert ok(again, 201) == v1 and again.headers["Idempotent-Replayed"] == "true"
    refused(api.bank.post(f"{M}/products", json={**TERMS, "name": "另一个"}, headers=rid("p1")), 409, "REQUEST_ID_REUSED")
    number = v1["number"]
    refused(api.bank.post(f"{M}/products", json={**TERMS, "amount_min": "3000000"}, headers=rid("p2")), 422,
            "PRODUCT_RANGE_INVERTED")
    edited = ok(api.bank.put(f"{M}/products/{number}/versions/1", json={**TERMS, "summary": "订单融资"}, headers=rid("p3")))
    assert edited["summary"] == "订单融资"
    ok(api.bank.post(f"{M}/products/{number}/versions/1/actions/submit", headers=rid("p4")))
    # A bank may not publish its own product: refused with the flow's state and what may happen next.
    err = refused(api.bank.post(f"{M}/products/{number}/versions/1/actions/publish", json={"note": ""},
                                headers=rid("p5")), 403, "ACTOR_NOT_ALLOWED")
    assert err["detail"]["state"] == "REVIEW" and {"publish", "return"} <= {a["action"] for a in err["detail"]["allowed"]}
    refused(api.operator.post(f"{M}/products/{number}/versions/1/actions/return"), 422, "REASON_REQUIRED")
    published = ok(api.operator.post(f"{M}/products/{number}/versions/1/actions/publish", json={"note": "符合要求"}))
    assert published["state"] == "PUBLISHED" and published["review_note"] == "符合要求"
    refused(api.bank.put(f"{M}/products/{number}/versions/1", json=TERMS, headers=rid("p6")), 409, "PRODUCT_EDIT_LOCKED")
    v2 = ok(api.bank.post(f"{M}/products/{number}/versions", json={**TERMS, "rate_min": "3.5"}, headers=rid("p7")), 201)
    assert (v2["version"], v2["state"]) == (2, "DRAFT")
    # The enterprise sees the published version only, with why it fits; another bank cannot act on it.
    product = ok(api.enterprise.get(f"{M}/products/{number}"))
    assert [v["version"] for v in product["versions"]] == [1]
    assert {c["rule"]: c["ok"] for c in product["versions"][0]["fit"]} == {"region": True, "min_years": True}
    refused(api.other_bank.post(f"{M}/products/{number}/versions/1/actions/suspend", headers=rid("x")), 404,
            "PRODUCT_NOT_FOUND")
    assert [v["version"] for v in ok(api.bank.get(f"{M}/products/{number}"))["versions"]] == [2, 1]


def test_the_product_list_filters_and_says_why_a_product_fits(api: Api) -> None:
    listed = ok(api.enterprise.get(f"{M}/products", params={"region": "230102", "amount": "500000"}))
    assert listed["total"] == 1 and listed["items"][0]["number"] == api.market.product
    assert all(c["ok"] for c in listed["items"][0]["fit"])
    assert ok(api.enterprise.get(f"{M}/products", params={"region": "230602"}))["total"] == 0  # Daqing
    assert ok(api.enterprise.get(f"{M}/products", params={"amount": "5000000"}))["total"] == 0
    refused(api.enterprise.get(f"{M}/products", params={"amount": "-1"}), 422, "INVALID_INPUT")
    assert ok(api.bank.get(f"{M}/products"))["items"][0]["fit"] is None
    assert ok(api.regulator.get(f"{M}/products"))["total"] == 1


# ── applications ────────────────────────────────────────────────────────────────────────────────────────

def test_an_application_from_the_enterprise_to_a_disbursed_loan(api: Api) -> None:
    number = apply(api)
    queue = ok(api.bank.get(f"{M}/applications", params={"state": "SUBMITTED"}))
    assert [a["number"] for a in queue["items"]] == [number]
    assert queue["items"][0]["entity_name"] == "哈尔滨市龙信机械制造有限公司" and queue["items"][0]["product"] == api.market.product

    refused(api.bank.post(f"{M}/applications/{number}/decisions", json={"action": "accept"}), 422, "REQUEST_ID_REQUIRED")
    # Out of order: disbursing a submitted application. The detail names the state and the allowed moves.
    err = refused(decide(api, number, "early", action="disburse", amount="1000"), 409, "OUT_OF_ORDER")
    assert (err["detail"]["flow"], err["detail"]["state"], err["detail"]["action"]) == ("application", "SUBMITTED",
                                                                                         "disburse")
    assert {a["action"] for a in err["detail"]["allowed"]} == {"accept", "decline", "withdraw", "expire", "cancel"}
    assert "当前可以" in err["message"]

    first = ok(decide(api, number, 1, action="accept", note="资料齐全"))
    assert (first["application"]["state"], first["event"]["action"], first["replayed"]) == ("ACCEPTED", "accept", False)
    again = decide(api, number, 1, action="accept", note="资料齐全")
    assert ok(again)["replayed"] is True and again.headers["Idempotent-Replayed"] == "true"
    assert ok(again)["event"] == first["event"]
    refused(decide(api, number, 1, action="offer", amount="1"), 409, "REQUEST_ID_REUSED")
    refused(decide(api, number, 2, action="accept"), 409, "ALREADY_DONE")
    refused(decide(api, number, 3, api.enterprise, action="grant", amount="1"), 403, "ACTOR_NOT_ALLOWED")
    refused(decide(api, number, 4, api.regulator, action="cancel"), 403, "ROLE_FORBIDDEN")

    ok(decide(api, number, 5, action="offer", amount="400000", rate="4.2", term_months=12, valid_until="2026-12-01"))
    detail = ok(api.enterprise.get(f"{M}/applications/{number}"))
    assert {m["action"] for m in detail["yours"]} == {"accept_offer", "decline_offer", "withdraw"}
    assert detail["application"]["offer"] == {"amount": 400000.0, "rate": 4.2, "term_months": 12,
                                              "valid_until": "2026-12-01T16:00:00+00:00"}
    ok(decide(api, number, 6, api.enterprise, action="accept_offer"))  # an enterprise's id is optional
    refused(decide(api, number, 7, action="grant", amount="400001", guarantee_type="信用", first_loan=True,
                   loan_ref="HRB-1"), 422, "GRANT_ABOVE_OFFER")
    granted = ok(decide(api, number, 8, action="grant", amount="400000", guarantee_type="信用", first_loan=True,
                        loan_ref="HRB-1", matures_on="2027-11-15", policy_tags=["首贷"]))
    loan_no = granted["application"]["loan_no"]
    assert granted["application"]["state"] == "GRANTED" and loan_no.startswith("DK-")
    refused(decide(api, number, 9, action="disburse", amount="400000.01"), 422, "DISBURSE_ABOVE_GRANT")
    ok(decide(api, number, 10, action="disburse", amount="400000"))
    refused(decide(api, number, 11, api.enterprise, action="withdraw"), 409, "OUT_OF_ORDER")

    timeline = ok(api.bank.get(f"{M}/applications/{number}"))["timeline"]
    assert [e["action"] for e in timeline] == ["submit", "accept", "offer", "accept_offer", "grant", "disburse"]
    assert timeline[1]["request_id"] == "req-1" and timeline[1]["source"] == "api" and timeline[0]["from"] == ""
    with api.market.db.session() as s:  # each repeat answered from the store, not done again
        assert s.execute(select(func.count()).select_from(ApplicationEvent)).scalar_one() == 6

    loan = ok(api.bank.get(f"{M}/loans/HRB-1"))
    assert (loan["loan"]["loan_no"], loan["loan"]["disbursed"], loan["application"]) == (loan_no, 400000.0, number)
    assert loan["loan"]["first_loan"] and loan["earlier_loans"] == []
    assert ok(api.enterprise.get(f"{M}/loans"))["items"][0]["loan_no"] == loan_no
    assert ok(api.enterprise.get(f"{M}/loans/{loan_no}"))["loan"]["dpd"] == 0


def test_another_bank_finds_nothing_of_the_first_banks(api: Api) -> None:
    number = apply(api)
    refused(decide(api, number, 1, api.other_bank, action="accept"), 404, "APPLICATION_NOT_FOUND")
    refused(api.other_bank.get(f"{M}/applications/{number}"), 404, "APPLICATION_NOT_FOUND")
    assert ok(api.other_bank.get(f"{M}/applications"))["total"] == 0
    assert ok(api.enterprise_b.get(f"{M}/applications"))["total"] == 0
    to_granted(api, number)
    refused(api.other_bank.get(f"{M}/loans/HRB-2026-0001"), 404, "UNKNOWN_LOAN")
    refused(api.other_bank.post(f"{M}/loans/HRB-2026-0001/status", headers=rid(1),
                                json={"as_of": "2026-11-15", "outstanding": 0, "dpd": 0}), 404, "UNKNOWN_LOAN")
    assert ok(api.other_bank.get(f"{M}/loans"))["total"] == 0
    assert state_of(api, number) == "GRANTED"


def state_of(api: Api, number: str) -> str:
    with api.market.db.session() as s:
        return s.execute(select(Application.state).where(Application.number == number)).scalar_one()


def test_a_signed_request_decides_and_a_tampered_one_does_not(api: Api) -> None:
    number = apply(api)
    path = f"{M}/applications/{number}/decisions"
    body = json.dumps({"action": "accept", "note": "签名请求"}, ensure_ascii=False).encode()
    signed = request_auth.sign_headers(lambda m: sm2.sign(api.signing_key, m).to_der(), api.key_id, "POST", path, "", body)
    plain = TestClient(api.app)
    r = plain.post(path, content=body, headers={**signed, "Content-Type": "application/json", **rid("s1")})
    assert ok(r)["application"]["state"] == "ACCEPTED"
    assert ok(r)["event"]["actor"] == f"key:{api.key_id}"
    tampered = request_auth.sign_headers(lambda m: sm2.sign(api.signing_key, m).to_der(), api.key_id, "POST", path, "",
                                         body)
    r = plain.post(path, content=body.replace("签名".encode(), "篡改".encode()),
                   headers={**tampered, "Content-Type": "application/json", **rid("s2")})
    refused(r, 401, "SIGNATURE_INVALID")
    refused(plain.post(path, json={"action": "accept"}), 401, "UNAUTHENTICATED")


# ── needs and quotes ────────────────────────────────────────────────────────────────────────────────────

def test_a_need_quoted_by_a_bank_and_picked_by_the_enterprise(api: Api) -> None:
    need = {"amount": "800000", "term_months": 24, "purpose": "扩大产能", "kinds": ["纯信用", "保证"],
            "expires_on": (clock.today() + timedelta(days=20)).isoformat()}
    number = ok(api.enterprise.post(f"{M}/demands", json=need), 201)["number"]
    assert [d["number"] for d in ok(api.bank.get(f"{M}/demands"))["items"]] == [number]
    assert ok(api.enterprise_b.get(f"{M}/demands"))["total"] == 0
    quote = {"product": api.market.product, "amount": "800000", "rate": "4.5", "term_months": 24,
             "valid_until": (clock.today() + timedelta(days=5)).isoformat()}
    refused(api.bank.post(f"{M}/demands/{number}/quotes", json=quote), 422, "REQUEST_ID_REQUIRED")
    q = ok(api.bank.post(f"{M}/demands/{number}/quotes", json=quote, headers=rid("q1")), 201)
    assert ok(api.bank.post(f"{M}/demands/{number}/quotes", json=quote, headers=rid("q1")), 201) == q
    refused(api.bank.post(f"{M}/demands/{number}/quotes", json={**quote, "rate": "4.4"}, headers=rid("q1")), 409,
            "REQUEST_ID_REUSED")
    refused(api.bank.post(f"{M}/demands/{number}/quotes", json={**quote, "rate": "9.9"}, headers=rid("q2")), 422,
            "QUOTE_PRODUCT_MISMATCH")
    with api.market.db.session() as s:
        assert s.execute(select(func.count()).select_from(Quote)).scalar_one() == 1
    seen = ok(api.enterprise.get(f"{M}/demands/{number}"))
    assert seen["demand"]["quotes"] == 1 and seen["quotes"][0]["institution_name"] == "龙江银行股份有限公司"
    pv = ok(api.enterprise.post(f"{M}/demands/{number}/quotes/{q['number']}/preview"))
    app = ok(api.enterprise.post(f"{M}/demands/{number}/quotes/{q['number']}/pick",
                                 json={"grant_digest": pv["grant_digest"]}), 201)
    assert (app["state"], app["amount"]) == ("ACCEPTED", 800000.0)
    refused(api.enterprise.post(f"{M}/demands/{number}/close"), 409, "ALREADY_FINAL")
    other = ok(api.enterprise.post(f"{M}/demands", json=need), 201)["number"]
    assert ok(api.operator.post(f"{M}/demands/{other}/close"))["state"] == "CLOSED"


# ── repayment, default cases, alerts ────────────────────────────────────────────────────────────────────

def test_status_reports_are_idempotent_and_an_overdue_one_opens_a_case(api: Api) -> None:
    number = apply(api)
    to_granted(api, number)
    ok(decide(api, number, "draw", action="disburse", amount="400000"))
    status = {"as_of": "2026-11-15", "outstanding": "395000", "dpd": 3, "overdue_principal": "5000",
              "overdue_interest": "12.5", "risk_class": "关注"}
    refused(api.bank.post(f"{M}/loans/HRB-2026-0001/status", json=status), 422, "REQUEST_ID_REQUIRED")
    first = ok(api.bank.post(f"{M}/loans/HRB-2026-0001/status", json=status, headers=rid("st1")))
    assert first["changed"] and first["case"]["state"] == "REMINDED" and first["loan"]["dpd"] == 3
    assert ok(api.bank.post(f"{M}/loans/HRB-2026-0001/status", json=status, headers=rid("st1"))) == first
    refused(api.bank.post(f"{M}/loans/HRB-2026-0001/status", json={**status, "dpd": 4}, headers=rid("st1")), 409,
            "REQUEST_ID_REUSED")
    # The same figures under a new id: stored already, nothing changes.
    assert ok(api.bank.post(f"{M}/loans/HRB-2026-0001/status", json=status, headers=rid("st2")))["changed"] is False
    refused(api.bank.post(f"{M}/loans/HRB-2026-0001/status", json={**status, "dpd": 0}, headers=rid("st3")), 422,
            "OVERDUE_INCONSISTENT")
    refused(api.bank.post(f"{M}/loans/HRB-2026-0001/status", json={**status, "as_of": "2026-11-20"},
                          headers=rid("st4")), 422, "DATE_IN_FUTURE")

    case = first["case"]["number"]
    assert [c["number"] for c in ok(api.enterprise.get(f"{M}/cases"))["items"]] == [case]
    assert ok(api.other_bank.get(f"{M}/cases"))["total"] == 0
    seen = ok(api.operator.get(f"{M}/cases/{case}"))
    assert [e["action"] for e in seen["timeline"]] == ["open", "remind"] and seen["reminders"][0]["channel"] == "portal"
    refused(api.enterprise.post(f"{M}/cases/{case}/actions", json={"action": "respond"}), 422, "NOTE_REQUIRED")
    ok(api.enterprise.post(f"{M}/cases/{case}/actions", json={"action": "respond", "note": "下周还款"}))
    err = refused(api.operator.post(f"{M}/cases/{case}/actions", json={
        "action": "escalate", "held_on": "2026-11-15", "attendees": "张三", "agreed": "两周内还款"}), 409,
        "THRESHOLD_NOT_REACHED")
    assert err["detail"]["min_dpd"] == 30 and err["detail"]["dpd"] == 3
    cured = ok(api.bank.post(f"{M}/cases/{case}/actions", json={"action": "cure"}, headers=rid("cure")))
    assert cured["state"] == "CURED"
    loan = ok(api.bank.get(f"{M}/loans/HRB-2026-0001"))
    assert loan["reports"][0]["dpd"] == 3 and loan["cases"][0]["state"] == "CURED"


def _penalty(api: Api) -> None:
    content = {"decision_no": "哈市监罚〔2026〕1号", "penalty_type": "罚款", "reason": "虚假宣传", "decided_on": "2026-11-10"}
    body = canonical_json(content)
    with api.market.db.session() as s:
        s.add(CreditRecord(entity_code=ENTITY, category="penalty", record_key=record_key(("decision_no",), content),
                           version=1, status="current", content=body, fingerprint=fingerprint(body),
                           provider="测试", received_at=clock.now()))


def test_post_loan_authorization_subscriptions_and_the_alert_feed(api: Api) -> None:
    number = apply(api)
    refused(api.enterprise.get(f"{M}/applications/{number}/authorization"), 409, "NOTHING_TO_AUTHORIZE")
    sub = {"entity_code": ENTITY, "kinds": ["penalty"]}
    refused(api.bank.post(f"{M}/alert-subscriptions", json=sub, headers=rid("a1")), 403, "NO_POST_LOAN_AUTHORIZATION")
    to_granted(api, number)
    pending = ok(api.enterprise.get(f"{M}/applications/{number}/authorization"))
    assert pending["kind"] == "post_loan" and "贷后管理" in pending["grant_text"]
    ok(api.enterprise.post(f"{M}/applications/{number}/post-loan-authorization",
                           json={"grant_digest": pending["grant_digest"]}), 201)
    made = ok(api.bank.post(f"{M}/alert-subscriptions", json=sub, headers=rid("a2")), 201)
    assert made["kinds"] == ["penalty"]
    with api.market.db.session() as s:
        alerts.scan(s)  # places the cursor
    _penalty(api)
    with api.market.db.session() as s:
        assert alerts.scan(s) == 1
    feed = ok(api.bank.get(f"{M}/alerts", params={"unread": True}))
    assert [a["kind"] for a in feed["items"]] == ["penalty"]
    read = ok(api.bank.post(f"{M}/alerts/{feed['items'][0]['id']}/read", headers=rid("a3")))
    assert read["read"] is True and ok(api.bank.get(f"{M}/alerts", params={"unread": True}))["total"] == 0
    refused(api.other_bank.post(f"{M}/alerts/{feed['items'][0]['id']}/read", headers=rid("a3")), 404, "ALERT_NOT_FOUND")
    gone = ok(api.bank.delete(f"{M}/alert-subscriptions/{ENTITY}", headers=rid("a4")))
    assert gone["entity_code"] == ENTITY and gone["cancelled"][0]["kinds"] == ["penalty"]
    refused(api.enterprise.get(f"{M}/alerts"), 403, "ROLE_FORBIDDEN")


# ── feedback files ──────────────────────────────────────────────────────────────────────────────────────

def _decisions_csv(number: str, action: str = "受理", acted_at: str = "2026-11-15") -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["申请编号", "操作", "办理时间", "原因代码"])
    w.writerow([number, action, acted_at, ""])
    return buf.getvalue().encode("gbk")


def test_feedback_files_upload_with_a_request_id_and_a_row_report(api: Api) -> None:
    number = apply(api)
    files = {"file": ("办理结果.csv", _decisions_csv(number, "结清"), "text/csv")}
    refused(api.bank.post(f"{M}/feedback", params={"kind": "decisions"}, files=files), 422, "REQUEST_ID_REQUIRED")
    bad = api.bank.post(f"{M}/feedback", params={"kind": "decisions"}, files=files, headers=rid("f1"))
    report = refused(bad, 422, "FEEDBACK_INVALID")["detail"]
    assert report["status"] == "rejected" and report["issues"] == [
        {"row_no": 2, "field": "操作", "value": "结清", "code": "OUT_OF_ORDER", "message": report["issues"][0]["message"]}]
    assert ok(api.bank.get(f"{M}/feedback/{report['id']}"))["issues"] == report["issues"]
    # The same request again is answered from the store: still the same rejected file, nothing new.
    again = api.bank.post(f"{M}/feedback", params={"kind": "decisions"}, files=files, headers=rid("f1"))
    assert refused(again, 422, "FEEDBACK_INVALID")["detail"]["id"] == report["id"]

    good = {"file": ("办理结果.csv", _decisions_csv(number), "text/csv")}
    accepted = ok(api.bank.post(f"{M}/feedback", params={"kind": "decisions"}, files=good, headers=rid("f2")), 201)
    assert (accepted["status"], accepted["rows_applied"], accepted["issues"]) == ("accepted", 1, [])
    assert state_of(api, number) == "ACCEPTED"
    dup = ok(api.bank.post(f"{M}/feedback", params={"kind": "decisions"}, files=good, headers=rid("f3")))
    assert dup["status"] == "duplicate" and f"#{accepted['id']}" in dup["message"]
    listed = ok(api.bank.get(f"{M}/feedback"))
    assert [f["status"] for f in listed["items"]] == ["duplicate", "accepted", "rejected"]
    refused(api.other_bank.get(f"{M}/feedback/{accepted['id']}"), 404, "FEEDBACK_NOT_FOUND")
    refused(api.enterprise.post(f"{M}/feedback", params={"kind": "decisions"}, files=good), 403, "ROLE_FORBIDDEN")
    refused(api.bank.post(f"{M}/feedback", params={"kind": "decisions"}, headers=rid("f4")), 422, "FILE_REQUIRED")


def test_a_signed_feedback_upload(api: Api) -> None:
    number = apply(api)
    boundary = "xydboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"fb.csv\"\r\n"
            "Content-Type: text/csv\r\n\r\n").encode() + _decisions_csv(number) + f"\r\n--{boundary}--\r\n".encode()
    path = f"{M}/feedback"
    h = request_auth.sign_headers(lambda m: sm2.sign(api.signing_key, m).to_der(), api.key_id, "POST", path,
                                  "kind=status", body)
    r = TestClient(api.app).post(path + "?kind=status", content=body, headers={
        **h, "Content-Type": f"multipart/form-data; boundary={boundary}", **rid("sig-f")})
    # Read and judged: a decisions file sent as status lacks the status columns.
    assert refused(r, 422, "FEEDBACK_COLUMNS_MISSING")["detail"]["submitted_by"] == f"key:{api.key_id}"
    with api.market.db.session() as s:
        assert s.execute(select(ApiRequest.owner)).scalars().all() == [BANK_A] * s.execute(
            select(func.count()).select_from(ApiRequest)).scalar_one()


# ── the document ────────────────────────────────────────────────────────────────────────────────────────

def test_the_openapi_document_declares_the_error_shape_and_request_ids(api: Api) -> None:
    spec = ok(api.bank.get("/openapi.json"))
    decisions = spec["paths"][f"{M}/applications/{{number}}/decisions"]["post"]
    assert decisions["tags"] == ["融资服务"]
    for status in ("401", "403", "404", "409", "422"):
        assert decisions["responses"][status]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert any(prm["name"] == "X-Request-Id" and prm["in"] == "header" for prm in decisions["parameters"])
    writes = {f"{method.upper()} {path}": set(op["responses"]) for path, ops in spec["paths"].items()
              if path.startswith(M) for method, op in ops.items() if method in ("post", "put", "delete")}
    assert len(writes) >= 15 and {w for w, codes in writes.items() if not {"409", "422"} <= codes} == set()
    upload = spec["paths"][f"{M}/feedback"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert set(spec["components"]["schemas"]["ErrorBody"]["required"]) >= {"error", "message"}


def test_regulators_read_and_do_not_write(api: Api) -> None:
    number = apply(api)
    assert ok(api.regulator.get(f"{M}/applications"))["items"][0]["number"] == number
    assert ok(api.regulator.get(f"{M}/applications/{number}"))["yours"] == []
    refused(api.regulator.post(f"{M}/products", json=TERMS), 403, "ROLE_FORBIDDEN")
    assert set(ok(api.regulator.get(f"{M}/reasons"))) == {"decline", "reject", "withdraw", "cancel"}
    with api.market.db.session() as s:
        assert s.execute(select(func.count()).select_from(DefaultCase)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(Loan)).scalar_one() == 0
    assert NODE and feedback.KINDS
