"""The policy-money JSON API through HTTP and the real app: two Harbin finance-office officers and Daqing's with
sessions, bank A, bank B's branch and a government guarantor with API keys, an enterprise and the staff with
sessions. The whole 贴息 journey, request ids required and idempotent, each refusal the issue names with its
code, another institution's rows not found, batches, a risk pool with its caps and recoveries, guarantees."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.market.conftest import OPERATOR
from tests.policy.conftest import BANK_A, BRANCH_B, DAQING, ENTITY, ENTITY_B, GUARANTOR_CODE, World
from xinyidai.accounts.models import User
from xinyidai.app import create_app
from xinyidai.config import load_settings
from xinyidai.institutions import onboarding
from xinyidai.kit import clock
from xinyidai.policy.schemas import EVIDENCE_MAX_BYTES

PASSWORD = "correct-horse-9"
P = "/api/v1/policy"
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
Q1 = {"start": "2026-03-01", "end": "2026-05-31"}  # 92 days


@pytest.fixture(scope="session")
def password_hash() -> str:
    return PasswordHasher().hash(PASSWORD)  # once: argon2 is slow on purpose


class Api:
    """The app and the institutions' clients (API keys); the people log in when first used."""

    def __init__(self, app: FastAPI, world: World, keys: dict[str, str]) -> None:
        self.app, self.world = app, world
        self.bank = TestClient(app, headers={"X-Api-Key": keys["bank"]})
        self.other_bank = TestClient(app, headers={"X-Api-Key": keys["other_bank"]})
        self.guarantor = TestClient(app, headers={"X-Api-Key": keys["guarantor"]})
        self.clients = [self.bank, self.other_bank, self.guarantor]

    def _login(self, username: str) -> TestClient:
        c = TestClient(self.app, base_url="http://testserver")
        self.clients.append(c)
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)  # type: ignore[union-attr]
        r = c.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token, "next": "/"},
                   follow_redirects=False)
        assert r.status_code == 303, r.text
        # Any page carries the session's CSRF token (the log-out form); the catalogue is open to every role.
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/catalog").text).group(1)  # type: ignore[union-attr]
        c.headers["X-CSRF-Token"] = csrf
        return c

    @cached_property
    def officer(self) -> TestClient:  # Harbin's finance office, who reviews
        return self._login("hrb-fin-1")

    @cached_property
    def officer2(self) -> TestClient:  # … and a colleague, who approves
        return self._login("hrb-fin-2")

    @cached_property
    def daqing(self) -> TestClient:
        return self._login("dq-fin")

    @cached_property
    def enterprise(self) -> TestClient:
        return self._login("ent-admin")

    @cached_property
    def operator(self) -> TestClient:
        return self._login("operator")

    def loans(self, *specs: dict[str, Any]) -> list[str]:
        """Loans written straight into the market's table (see tests/policy/conftest.py); their numbers."""
        with self.world.m.db.session() as s:
            return [self.world.loan(s, **spec).loan_no for spec in specs]


@pytest.fixture
def api(world: World, tmp_path: Path, password_hash: str) -> Iterator[Api]:
    db = world.m.db
    with db.session() as s:
        for username, role, org in (("hrb-fin-1", "policy", "230100"), ("hrb-fin-2", "policy", "230100"),
                                    ("dq-fin", "policy", "230600"), ("ent-admin", "enterprise", ENTITY),
                                    ("operator", "operator", None)):
            s.add(User(username=username, display_name=f"测试{username}", role=role, password_hash=password_hash,
                       org_code=org, created_at=clock.now()))
        keys = {name: onboarding.issue_api_key(s, OPERATOR, code).token
                for name, code in (("bank", BANK_A), ("other_bank", BRANCH_B), ("guarantor", GUARANTOR_CODE))}
    app = create_app(load_settings(env={}, var_dir=tmp_path / "var", database_url=db.url), db)
    api = Api(app, world, keys)
    yield api
    for c in api.clients:
        c.close()


def ok(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    return r.json()


def refused(r: Any, status: int, code: str) -> dict[str, Any]:
    assert (r.status_code, r.json().get("error")) == (status, code), r.text
    body = r.json()
    assert set(body) == {"error", "message", "detail"} and any("\u4e00" <= ch <= "\u9fff" for ch in body["message"])
    return body


def rid(n: int | str) -> dict[str, str]:
    return {"X-Request-Id": f"req-{n}"}


def evidence(data: bytes = PDF, name: str = "付息凭证.pdf") -> dict[str, str]:
    return {"filename": name, "content_base64": base64.b64encode(data).decode()}


def programme(api: Api, kind: str = "interest", *, budget: str = "1000000", rules: dict[str, Any] | None = None,
              start: bool = True, name: str | None = None) -> str:
    body = {"kind": kind, "name": name or f"哈尔滨市{kind}政策", "region_code": "230100", "starts_on": "2026-01-01",
            "ends_on": "2026-12-31", "budget": budget, "rules": rules or {}}
    number = ok(api.officer.post(f"{P}/programmes", json=body), 201)["programme"]["number"]
    if start:
        ok(api.officer.post(f"{P}/programmes/{number}/start"))
    return number


def act(client: TestClient, claim: str, action: str, n: str | None = None, **body: Any) -> Any:
    return client.post(f"{P}/claims/{claim}/actions", json={"action": action, **body}, headers=rid(n) if n else {})


# ── the 贴息 journey ────────────────────────────────────────────────────────────────────────────────────

INTEREST = {"kind": "interest", "name": "哈尔滨市小微企业贷款贴息", "region_code": "230100", "starts_on": "2026-01-01",
            "ends_on": "2026-12-31", "budget": "1000000",
            "rules": {"rate": "1.5", "cap": "10000000", "split": {"中央": "90", "省级": "10"}, "industries": ["C"]}}


def test_a_programme_is_created_with_rules_in_percent_and_yuan_and_contradictions_are_refused(api: Api) -> None:
    url = f"{P}/programmes"
    refused(api.bank.post(url, json=INTEREST, headers=rid(1)), 403, "ROLE_FORBIDDEN")
    refused(api.daqing.post(url, json=INTEREST), 403, "REGION_NOT_MANAGED")
    err = refused(api.officer.post(url, json={**INTEREST, "rules": {"split": {"中央": "60", "省级": "60"}}}), 422,
                  "RULES_CONTRADICT")
    assert err["detail"] == {"rule": "split"} and "120%" in err["message"]
    err = refused(api.officer.post(url, json={**INTEREST, "rules": {"split": {"中央": "-10", "省级": "110"}}}), 422,
                  "RULES_CONTRADICT")
    assert err["detail"] == {"rule": "split"} and "-10%" in err["message"]
    err = refused(api.officer.post(url, json={**INTEREST, "rules": {"rate": "11"}}), 422, "RULES_CONTRADICT")
    assert err["detail"] == {"rule": "rate"} and "10%" in err["message"]  # said in the API's unit, not in bp
    err = refused(api.officer.post(url, json={**INTEREST, "rules": {"share": "30"}}), 422, "RULES_UNKNOWN_KEY")
    assert err["detail"] == {"unknown": ["share"]}
    pool = {**INTEREST, "kind": "pool", "rules": {"share": "30", "credit_share": "20"}}
    assert refused(api.officer.post(url, json=pool), 422, "RULES_CONTRADICT")["detail"] == {"rule": "credit_share"}
    refused(api.officer.post(url, json={**INTEREST, "rules": {"rate": "0.125"}}), 422, "RATE_FORMAT")
    refused(api.officer.post(url, json={**INTEREST, "budget": "1e999999"}), 422, "AMOUNT_FORMAT")
    refused(api.officer.post(url, json={**INTEREST, "starts_on": "2026-12-31", "ends_on": "2026-01-01"}), 422,
            "BAD_PERIOD")

    d = ok(api.officer.post(url, json=INTEREST), 201)
    number = d["programme"]["number"]
    assert (d["programme"]["state"], d["programme"]["budget"], d["programme"]["region_name"]) == ("DRAFT", "1000000.00",
                                                                                                  "哈尔滨市")
    assert {k: d["rules"][k] for k in ("rate", "cap", "max_days", "day_basis", "split", "industries", "share")} == {
        "rate": "1.50", "cap": "10000000.00", "max_days": 365, "day_basis": 360, "split": {"中央": "90.00", "省级": "10.00"},
        "industries": ["C"], "share": None}
    assert "财金〔2025〕81号" in d["source"] and d["money"]["balance"] == "0.00"
    refused(api.bank.get(f"{P}/programmes/{number}"), 404, "PROGRAMME_NOT_FOUND")  # a draft is not public
    refused(api.daqing.get(f"{P}/programmes/{number}"), 404, "PROGRAMME_NOT_FOUND")  # nor another city's
    assert ok(api.operator.get(url, params={"state": "DRAFT"}))["total"] == 1
    refused(api.officer.post(f"{P}/programmes/{number}/rules", json={"rules": INTEREST["rules"]}), 409, "RULES_UNCHANGED")
    v2 = ok(api.officer.post(f"{P}/programmes/{number}/rules", json={
        "rules": {**INTEREST["rules"], "rate": "1"}, "note": "按财金〔2025〕81号调整为 1 个百分点"}), 201)
    assert [v["version"] for v in v2["versions"]] == [2, 1] and v2["rules"]["rate"] == "1.00"
    assert v2["versions"][1]["rules"]["rate"] == "1.50" and v2["programme"]["rule_version"] == 2
    started = ok(api.officer.post(f"{P}/programmes/{number}/start"))
    assert started["programme"]["state"] == "ACTIVE"
    assert {started["money"][k] for k in ("budget", "contributed", "balance", "available")} == {"1000000.00"}
    refused(api.officer.post(f"{P}/programmes/{number}/start"), 409, "PROGRAMME_NOT_DRAFT")
    listed = ok(api.bank.get(url, params={"kind": "interest"}))
    assert [x["number"] for x in listed["items"]] == [number]
    assert ok(api.enterprise.get(url, params={"kind": "pool"}))["total"] == 0


def test_the_interest_subsidy_journey_through_the_api(api: Api) -> None:
    number = programme(api, rules={"industries": ["C"]})
    loan, old, daqing, others = api.loans({"granted": 500_000_000}, {"on": date(2025, 6, 1)},
                                          {"entity": DAQING, "city": "230600"}, {"bank": BRANCH_B})
    url = f"{P}/programmes/{number}/enrolments"

    # Enrolment: a request id is required of an institution, and a resend is answered, not done, again.
    refused(api.bank.post(url, json={"loan_no": loan}), 422, "REQUEST_ID_REQUIRED")
    first = api.bank.post(url, json={"loan_no": loan}, headers=rid("e1"))
    e = ok(first, 201)
    assert (e["eligible"], e["starts_on"], e["ends_on"], e["rule_version"], e["source"]) == (
        "5000000.00", "2026-03-01", "2027-02-28", 1, "api")
    again = api.bank.post(url, json={"loan_no": loan}, headers=rid("e1"))
    assert ok(again, 201) == e and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    refused(api.bank.post(url, json={"loan_no": old}, headers=rid("e1")), 409, "REQUEST_ID_REUSED")
    err = refused(api.bank.post(url, json={"loan_no": loan}, headers=rid("e2")), 422, "NOT_ELIGIBLE")  # twice
    assert [r["code"] for r in err["detail"]["reasons"]] == ["ALREADY_ENROLLED"]
    err = refused(api.bank.post(url, json={"loan_no": old}, headers=rid("e3")), 422, "NOT_ELIGIBLE")
    assert [r["code"] for r in err["detail"]["reasons"]] == ["OUT_OF_PERIOD"] and "2025-06-01" in err["message"]
    err = refused(api.bank.post(url, json={"loan_no": daqing}, headers=rid("e4")), 422, "NOT_ELIGIBLE")
    assert [r["code"] for r in err["detail"]["reasons"]] == ["OUT_OF_REGION"]
    refused(api.bank.post(url, json={"loan_no": others}, headers=rid("e5")), 404, "LOAN_NOT_FOUND")  # another bank's
    assert [x["loan_no"] for x in ok(api.bank.get(url))["items"]] == [loan]
    assert ok(api.other_bank.get(url))["total"] == 0 and ok(api.officer.get(url))["total"] == 1
    assert ok(api.enterprise.get(url))["total"] == 1

    # A claim for the first quarter: 5,000,000 × 1% × 92 / 360 = 12,777.78 元.
    curl = f"{P}/programmes/{number}/claims"
    body = {"kind": "interest", "loan_no": loan, **Q1, "paid_interest": "60000", "evidence": evidence()}
    refused(api.bank.post(curl, json={**body, "evidence": None}, headers=rid("c0")), 422, "EVIDENCE_REQUIRED")
    made = ok(api.bank.post(curl, json=body, headers=rid("c1")), 201)
    c = made["claim"]
    assert (c["amount"], c["days"], c["basis"], c["rate"], c["state"], c["loan_no"]) == (
        "12777.78", 92, "5000000.00", "1.00", "DRAFT", loan)
    assert (c["period_start"], c["period_end"], c["paid_interest"]) == ("2026-03-01", "2026-05-31", "60000.00")
    assert made["recomputed"] == c["amount"] and "÷ 360" in made["formula"]
    assert made["split"] == [{"level": "中央", "amount": "11500.00"}, {"level": "省级", "amount": "1277.78"}]
    assert {m["action"] for m in c["next"]} == {"submit", "withdraw"}
    assert c["evidence_sha256"] == hashlib.sha256(PDF).hexdigest() and c["evidence_name"] == "付息凭证.pdf"
    assert ok(api.bank.post(curl, json=body, headers=rid("c1")), 201) == made  # the resend: no second claim
    refused(api.bank.post(curl, json={**body, "start": "2026-05-01", "end": "2026-06-30"}, headers=rid("c2")), 409,
            "PERIOD_ALREADY_CLAIMED")
    refused(api.bank.post(curl, json={**body, "end": "2026-11-30"}, headers=rid("c3")), 422, "PERIOD_NOT_ENDED")
    refused(api.bank.post(curl, json={"kind": "pool", "loan_no": loan, "loss": "1", "evidence": evidence()},
                          headers=rid("c4")), 422, "WRONG_KIND")
    refused(api.other_bank.post(curl, json=body, headers=rid("c5")), 404, "NOT_ENROLLED")

    # Its flow: the bank submits, one officer reviews, another approves, one records the payment — once.
    claim = c["number"]
    refused(api.other_bank.get(f"{P}/claims/{claim}"), 404, "CLAIM_NOT_FOUND")  # another bank's claim
    refused(act(api.other_bank, claim, "submit", "x1"), 404, "CLAIM_NOT_FOUND")
    refused(act(api.bank, claim, "submit"), 422, "REQUEST_ID_REQUIRED")
    submitted = ok(act(api.bank, claim, "submit", "s1"))
    assert submitted["claim"]["state"] == "SUBMITTED"
    money = ok(api.bank.get(f"{P}/programmes/{number}"))["money"]
    assert (money["pending"], money["available"], money["balance"]) == ("12777.78", "987222.22", "1000000.00")
    refused(act(api.bank, claim, "approve", "s2"), 403, "ACTOR_NOT_ALLOWED")
    err = refused(act(api.officer, claim, "approve"), 409, "OUT_OF_ORDER")
    assert err["detail"]["state"] == "SUBMITTED" and {"review", "reject"} <= {a["action"] for a in err["detail"]["allowed"]}
    refused(act(api.daqing, claim, "review"), 404, "CLAIM_NOT_FOUND")  # not his division's
    ok(act(api.officer, claim, "review"))
    refused(act(api.officer, claim, "approve"), 403, "SAME_OFFICER")  # approving one's own review
    ok(act(api.officer2, claim, "approve"))
    refused(act(api.officer, claim, "pay"), 422, "PAYMENT_REF_REQUIRED")
    refused(act(api.officer, claim, "pay", payment_ref="GK2026-0001", paid_on="2026-12-01"), 422, "BAD_DATE")
    paid = ok(act(api.officer, claim, "pay", payment_ref="GK2026-0001", paid_on="2026-11-14"))
    assert (paid["claim"]["state"], paid["claim"]["payment_ref"], paid["claim"]["paid_on"]) == ("PAID", "GK2026-0001",
                                                                                                "2026-11-14")
    refused(act(api.officer, claim, "pay", payment_ref="GK2026-0002"), 409, "ALREADY_DONE")  # paying twice

    seen = ok(api.enterprise.get(f"{P}/claims/{claim}"))  # the enterprise sees the claim on its loan
    assert [e["action"] for e in seen["timeline"]] == ["create", "submit", "review", "approve", "pay"]
    assert seen["claim"]["reviewed_by"] == "hrb-fin-1" and seen["claim"]["approved_by"] == "hrb-fin-2"
    assert ok(api.bank.get(f"{P}/claims", params={"state": "PAID"}))["total"] == 1
    assert ok(api.other_bank.get(f"{P}/claims"))["total"] == 0
    assert ok(api.officer.get(f"{P}/claims", params={"programme": number, "kind": "interest"}))["total"] == 1

    book = ok(api.officer.get(f"{P}/ledger/{number}"))
    assert book["balanced"] and book["unbalanced"] == [] and book["debits"] == book["credits"] == "1012777.78"
    assert [(x["account"], x["debit"], x["credit"]) for x in book["items"]] == [
        ("fund", "1000000.00", "0.00"), ("budget", "0.00", "1000000.00"),
        (f"payout:{BANK_A}", "12777.78", "0.00"), ("fund", "0.00", "12777.78")]
    assert book["items"][2]["claim"] == claim
    assert (book["money"]["paid"], book["money"]["balance"], book["money"]["pending"]) == ("12777.78", "987222.22", "0.00")
    refused(api.bank.get(f"{P}/ledger/{number}"), 403, "ROLE_FORBIDDEN")
    refused(api.daqing.get(f"{P}/ledger/{number}"), 404, "PROGRAMME_NOT_FOUND")

    closed = ok(api.officer.post(f"{P}/programmes/{number}/close"))
    assert closed["programme"]["state"] == "CLOSED"
    refused(api.bank.post(url, json={"loan_no": old}, headers=rid("e6")), 409, "PROGRAMME_NOT_ACTIVE")


def test_a_claim_above_the_remaining_budget_is_refused(api: Api) -> None:
    number = programme(api, budget="20000")
    a, b = api.loans({"granted": 500_000_000}, {"granted": 500_000_000})
    made = []
    for i, loan in enumerate((a, b)):
        ok(api.bank.post(f"{P}/programmes/{number}/enrolments", json={"loan_no": loan}, headers=rid(f"e{i}")), 201)
        body = {"kind": "interest", "loan_no": loan, **Q1, "paid_interest": "60000", "evidence": evidence()}
        made.append(ok(api.bank.post(f"{P}/programmes/{number}/claims", json=body, headers=rid(f"c{i}")), 201)["claim"])
    ok(act(api.bank, made[0]["number"], "submit", "s0"))
    err = refused(act(api.bank, made[1]["number"], "submit", "s1"), 409, "BUDGET_EXCEEDED")
    assert err["detail"]["available_fen"] == 2_000_000 - 1_277_778 and "剩余可用资金" in err["message"]
    # The refusal kept nothing under its request id: once the first claim is rejected, the same id goes through.
    refused(act(api.officer, made[0]["number"], "reject", reason="x"), 422, "REASON_REQUIRED")
    ok(act(api.officer, made[0]["number"], "reject", reason="付息凭证金额与贷款合同不符"))
    assert ok(act(api.bank, made[1]["number"], "submit", "s1"))["claim"]["state"] == "SUBMITTED"


def test_bulk_enrolment_and_a_period_claimed_in_one_batch(api: Api) -> None:
    number = programme(api, rules={"industries": ["C"]})
    api.loans({"granted": 123_456_789, "on": date(2026, 3, 17)}, {"granted": 500_000_000, "rate_bp": 80},
              {"entity": ENTITY_B, "industry": "A01"}, {"on": date(2025, 1, 1)}, {"bank": BRANCH_B})
    res = ok(api.bank.post(f"{P}/programmes/{number}/enrolments/all", headers=rid("all")))
    assert res["enrolled"] == 2
    assert {r["code"]: r["loans"] for r in res["refused"]} == {"INDUSTRY_NOT_ELIGIBLE": 1, "OUT_OF_PERIOD": 1}
    again = ok(api.bank.post(f"{P}/programmes/{number}/enrolments/all", headers=rid("all-2")))
    assert again["enrolled"] == 0 and {r["code"]: r["loans"] for r in again["refused"]}["ALREADY_ENROLLED"] == 2

    period = {**Q1, "evidence": evidence(name="一季度付息清单.pdf")}
    b = ok(api.bank.post(f"{P}/programmes/{number}/claims/period", json=period, headers=rid("q1")), 201)
    # 1,234,567.89 × 1% × 76 / 360 = 2,606.31; 5,000,000 × 0.8% (the loan's own rate is lower) × 92 / 360 = 10,222.22
    assert (b["claims"], b["amount"]) == (2, "12828.53")
    assert ok(api.bank.post(f"{P}/programmes/{number}/claims/period", json=period, headers=rid("q1-2")), 201)["claims"] == 0
    listed = ok(api.officer.get(f"{P}/claims", params={"batch": b["batch"], "sort": "amount", "desc": "false"}))
    assert [c["amount"] for c in listed["items"]] == ["2606.31", "10222.22"]
    one = ok(api.officer.get(f"{P}/claims/{listed['items'][0]['number']}"))
    assert one["recomputed"] == "2606.31" and "76 天" in one["formula"]

    batch = f"{P}/programmes/{number}/batches/{b['batch']}/actions"
    assert ok(api.bank.post(batch, json={"action": "submit"}, headers=rid("bs")))["claims"] == 2
    refused(api.other_bank.post(batch, json={"action": "submit"}, headers=rid("bx")), 409, "NOTHING_TO_DO")
    ok(api.officer.post(batch, json={"action": "review"}))
    refused(api.officer.post(batch, json={"action": "approve"}), 403, "SAME_OFFICER")
    ok(api.officer2.post(batch, json={"action": "approve"}))
    paid = ok(api.officer.post(batch, json={"action": "pay", "payment_ref": "GK-B-1"}))
    assert (paid["claims"], paid["amount"]) == (2, "12828.53")
    refused(api.officer.post(batch, json={"action": "pay", "payment_ref": "GK-B-1"}), 409, "NOTHING_TO_DO")  # twice
    book = ok(api.officer.get(f"{P}/ledger/{number}"))
    assert book["balanced"] and book["money"]["paid"] == "12828.53"


def _npl(api: Api, loan: str, n: str) -> None:
    """The bank reports the loan 95 days past due: the market's default case turns non-performing."""
    r = ok(api.bank.post(f"/api/v1/market/loans/{loan}/status", headers=rid(n), json={
        "as_of": "2026-11-01", "outstanding": "1000000", "dpd": 95, "overdue_principal": "1000000",
        "risk_class": "次级"}))
    assert r["case"]["state"] == "NPL"


def test_a_risk_pool_with_its_bank_cap_suspension_contributions_and_recoveries(api: Api) -> None:
    number = programme(api, "pool", budget="5000000", rules={"bank_cap": "400000"})
    got = ok(api.officer.get(f"{P}/programmes/{number}"))["rules"]
    assert (got["share"], got["credit_share"], got["bank_cap"], got["suspend_overdue"], got["rate"]) == (
        "30.00", "40.00", "400000.00", "5.00", None)
    a, b, later = api.loans({"granted": 100_000_000}, {"granted": 100_000_000, "entity": ENTITY_B},
                            {"granted": 100_000_000})
    for i, loan in enumerate((a, b)):
        ok(api.bank.post(f"{P}/programmes/{number}/enrolments", json={"loan_no": loan}, headers=rid(f"e{i}")), 201)
    curl = f"{P}/programmes/{number}/claims"
    refused(api.bank.post(curl, json={"kind": "pool", "loan_no": a, "loss": "800000", "evidence": evidence()},
                          headers=rid("early")), 409, "NOT_NON_PERFORMING")
    _npl(api, a, "npl-a")
    refused(api.bank.post(f"{P}/programmes/{number}/enrolments", json={"loan_no": later}, headers=rid("e9")), 409,
            "BANK_SUSPENDED")  # half its enrolled principal is overdue, far above 5%
    refused(api.bank.post(curl, json={"kind": "pool", "loan_no": a, "loss": "2000000", "evidence": evidence()},
                          headers=rid("big")), 422, "LOSS_ABOVE_OUTSTANDING")
    x = ok(api.bank.post(curl, json={"kind": "pool", "loan_no": a, "loss": "800000", "evidence": evidence()},
                         headers=rid("x")), 201)
    assert (x["claim"]["rate"], x["claim"]["amount"]) == ("40.00", "320000.00")  # a credit first loan: the 40% tier
    assert "补偿比例 40%" in x["formula"]
    ok(act(api.bank, x["claim"]["number"], "submit", "xs"))
    _npl(api, b, "npl-b")
    y = ok(api.bank.post(curl, json={"kind": "pool", "loan_no": b, "loss": "500000", "evidence": evidence()},
                         headers=rid("y")), 201)
    err = refused(act(api.bank, y["claim"]["number"], "submit", "ys"), 409, "BANK_CAP_EXCEEDED")  # 32 + 20 > 40 万
    assert err["detail"] == {"used_fen": 32_000_000, "cap_fen": 40_000_000}

    money = ok(api.officer.post(f"{P}/programmes/{number}/contributions", json={"party": "合作银行", "amount": "1000000"}),
               201)
    assert money["amount"] == "1000000.00" and money["money"]["contributed"] == "6000000.00"
    refused(api.bank.post(f"{P}/programmes/{number}/contributions", json={"party": "合作银行", "amount": "1"},
                          headers=rid("c")), 403, "ROLE_FORBIDDEN")
    claim = x["claim"]["number"]
    ok(act(api.officer, claim, "review"))
    ok(act(api.officer2, claim, "approve"))
    ok(act(api.officer, claim, "pay", payment_ref="GK-P-1"))
    refused(act(api.bank, claim, "recover", "r0", recovered="900000"), 422, "RECOVERY_ABOVE_LOSS")
    back = ok(act(api.bank, claim, "recover", "r1", recovered="200000"))  # a quarter of the loss
    assert (back["claim"]["recovered"], back["claim"]["returned"], back["claim"]["state"]) == (
        "200000.00", "80000.00", "PAID")
    book = ok(api.operator.get(f"{P}/ledger/{number}"))
    assert book["balanced"] and (book["money"]["paid"], book["money"]["recovered"], book["money"]["balance"]) == (
        "320000.00", "80000.00", "5760000.00")


def test_guarantee_contracts_and_their_fee_subsidy(api: Api) -> None:
    number = programme(api, "guarantee", rules={"rate": "0.5", "fee_ceiling": "1"})
    loan, dear = api.loans({"granted": 200_000_000}, {})
    contract = {"loan_no": loan, "contract_ref": "G-1", "covered": "1600000", "fee": "0.8", "starts_on": "2026-03-01",
                "ends_on": "2027-02-28"}
    refused(api.bank.post(f"{P}/guarantees", json=contract, headers=rid("g0")), 403, "NOT_A_GUARANTOR")
    refused(api.guarantor.post(f"{P}/guarantees", json={**contract, "covered": "3000000"}, headers=rid("g1")), 422,
            "COVER_ABOVE_LOAN")
    g = ok(api.guarantor.post(f"{P}/guarantees", json=contract, headers=rid("g2")), 201)
    assert (g["covered"], g["fee"], g["state"], g["loan_no"]) == ("1600000.00", "0.80", "ACTIVE", loan)
    refused(api.guarantor.post(f"{P}/guarantees", json=contract, headers=rid("g3")), 409, "CONTRACT_TAKEN")
    ok(api.guarantor.post(f"{P}/guarantees", json={**contract, "loan_no": dear, "contract_ref": "G-2", "covered": "100000",
                                                   "fee": "1.5"}, headers=rid("g4")), 201)
    assert ok(api.guarantor.get(f"{P}/guarantees"))["total"] == 2 and ok(api.bank.get(f"{P}/guarantees"))["total"] == 0

    url = f"{P}/programmes/{number}/enrolments"
    refused(api.bank.post(url, json={"loan_no": loan}, headers=rid("e0")), 403, "NOT_A_GUARANTOR")
    e = ok(api.guarantor.post(url, json={"loan_no": loan, "contract_ref": "G-1"}, headers=rid("e1")), 201)
    assert (e["eligible"], e["contract"], e["institution_code"]) == ("1600000.00", g["number"], GUARANTOR_CODE)
    err = refused(api.guarantor.post(url, json={"loan_no": dear, "contract_ref": "G-2"}, headers=rid("e2")), 422,
                  "NOT_ELIGIBLE")
    assert [r["code"] for r in err["detail"]["reasons"]] == ["FEE_ABOVE_CEILING"]
    c = ok(api.guarantor.post(f"{P}/programmes/{number}/claims", json={"kind": "guarantee", "contract_ref": "G-1", **Q1},
                              headers=rid("c1")), 201)
    # 1,600,000 × 0.5% × 92 / 360 = 2,044.44 元 (the fee, 0.8%, is higher: no cap)
    assert (c["claim"]["amount"], c["claim"]["contract"], c["recomputed"]) == ("2044.44", g["number"], "2044.44")
    done = ok(api.guarantor.post(f"{P}/guarantees/G-1/compensation", json={"amount": "500000", "on": "2026-11-01"},
                                 headers=rid("k1")))
    assert (done["state"], done["compensated"], done["compensated_on"]) == ("COMPENSATED", "500000.00", "2026-11-01")
    refused(api.guarantor.post(f"{P}/guarantees/G-1/compensation", json={"amount": "1", "on": "2026-11-02"},
                               headers=rid("k2")), 409, "CONTRACT_NOT_ACTIVE")
    refused(api.other_bank.post(f"{P}/guarantees/G-1/compensation", json={"amount": "1", "on": "2026-11-02"},
                                headers=rid("k3")), 403, "NOT_A_GUARANTOR")


def test_evidence_is_checked(api: Api) -> None:
    number = programme(api)
    (loan,) = api.loans({})
    ok(api.bank.post(f"{P}/programmes/{number}/enrolments", json={"loan_no": loan}, headers=rid("e")), 201)
    url = f"{P}/programmes/{number}/claims"
    body = {"kind": "interest", "loan_no": loan, **Q1, "paid_interest": "60000"}
    refused(api.bank.post(url, json={**body, "evidence": {"filename": "x.pdf", "content_base64": "不是base64"}},
                          headers=rid(1)), 422, "EVIDENCE_ENCODING")
    refused(api.bank.post(url, json={**body, "evidence": evidence(b"just text", "x.pdf")}, headers=rid(2)), 422,
            "EVIDENCE_FORMAT")
    big = PDF + b"0" * (EVIDENCE_MAX_BYTES + 1 - len(PDF))
    refused(api.bank.post(url, json={**body, "evidence": evidence(big)}, headers=rid(3)), 422, "EVIDENCE_TOO_LARGE")
    wrapped = {"filename": "凭证.pdf", "content_base64": base64.encodebytes(PDF).decode()}  # lines of 76 characters
    assert ok(api.bank.post(url, json={**body, "evidence": wrapped}, headers=rid(4)), 201)["claim"]["evidence_sha256"]
    # Above the JSON body limit (1 MB) the request is refused before it is read.
    refused(api.bank.post(url, json={**body, "evidence": evidence(b"%PDF-" + b"0" * (1 << 20))}, headers=rid(5)), 413,
            "PAYLOAD_TOO_LARGE")
