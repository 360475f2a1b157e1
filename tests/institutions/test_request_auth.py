"""Machine authentication over HTTP: API keys, signed requests (SM2 and Ed25519), refusals and their audit
entries, replay and clock-skew protection, the per-institution rate limit."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, Request
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.entities.helpers import BANK_CODE, OPERATOR, onboard_bank
from xinyidai.app import create_app
from xinyidai.config import load_settings
from xinyidai.institutions import onboarding as svc
from xinyidai.institutions import request_auth
from xinyidai.institutions.models import ApiCredential, RequestNonce
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.crypto import sm2, sm3
from xinyidai.kit.db import Database
from xinyidai.kit.errors import Forbidden
from xinyidai.kit.principal import Principal
from xinyidai.kit.throttle import guards
from xinyidai.web.deps import Caller, caller, require

ME = "/api/v1/institutions/me"
ECHO = "/api/v1/test-echo"
REFUSING = "/api/v1/test-refusing"  # a `Caller` route whose work is always refused


@pytest.fixture
def client(db: Database, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(load_settings(env={}, var_dir=tmp_path / "var", database_url=db.url), db)

    @app.post(ECHO)
    async def echo(request: Request, p: Principal = Depends(require("bank"))) -> dict[str, Any]:
        return {"principal": p.username, "org_code": p.org_code, "body": json.loads(await request.body() or b"{}")}

    @app.post(REFUSING)
    async def refusing(request: Request, bank: Caller = Depends(caller("bank"))) -> dict[str, Any]:
        def work(p: Principal, s: Session) -> dict[str, Any]:
            raise Forbidden("测试：拒绝", code="OUT_OF_SCOPE")
        return await bank.run(work)

    with db.session() as s:
        onboard_bank(s)
    with TestClient(app) as c:
        yield c


def _issue(db: Database, **kw: Any) -> str:
    with db.session() as s:
        return svc.issue_api_key(s, OPERATOR, BANK_CODE, **kw).token


def _register(db: Database, kind: str, public_key: str) -> str:
    with db.session() as s:
        return svc.register_public_key(s, OPERATOR, BANK_CODE, kind=kind, public_key=public_key).key_id


def _refusals(db: Database) -> list[dict]:
    with db.session() as s:
        return [e.detail for e in s.execute(select(AuditEvent).where(AuditEvent.action == "api.auth_refused")
                                            .order_by(AuditEvent.id)).scalars()]


def _sm2_signer(key: sm2.PrivateKey):  # noqa: ANN202
    return lambda m: sm2.sign(key, m).to_der()


def test_canonical_string_is_exactly_as_documented() -> None:
    got = request_auth.canonical_request("post", "/api/v1/查询", "b=2&a=1&b=%E4%BF%A1&c=x/y&e=", b'{"a":1}',
                                         "1794722400", "n0nce-n0nce-n0nce")
    assert got.decode().split("\n") == [
        "XYD-SIG-V1", "POST", "/api/v1/%E6%9F%A5%E8%AF%A2", "a=1&b=%E4%BF%A1&b=2&c=x%2Fy&e=",
        sm3.hexdigest(b'{"a":1}'),
        "1794722400", "n0nce-n0nce-n0nce"]
    empty = request_auth.canonical_request("GET", "/x", "", b"", "1", "n" * 16).decode().split("\n")
    assert empty[3] == "" and empty[4] == "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"


def test_api_key_authenticates_as_the_institution(client: TestClient, db: Database) -> None:
    token = _issue(db, label="信贷系统")
    r = client.get(ME, headers={"X-Api-Key": token})
    assert r.status_code == 200, r.text
    key_id = token[4:20]
    assert r.json()["code"] == BANK_CODE and r.json()["principal"] == f"key:{key_id}"
    assert r.json()["authenticated_by"] == "api_key"
    # No CSRF token is needed for a header-authenticated write; the role still applies.
    r = client.post(ECHO, headers={"X-Api-Key": token}, json={"q": 1})
    assert r.status_code == 200 and r.json()["org_code"] == BANK_CODE
    assert client.post("/api/v1/institutions", headers={"X-Api-Key": token}, json={}).json()["error"] \
        == "ROLE_FORBIDDEN"
    with db.session() as s:
        assert s.get(ApiCredential, key_id).last_used_at == clock.now()


def test_api_key_refusals_each_have_a_code_and_an_audit_entry(client: TestClient, db: Database,
                                                             fixed_clock) -> None:  # noqa: ANN001
    token = _issue(db)
    key_id, secret = svc.split_token(token)
    wrong = f"xyd_{key_id}.{'A' * len(secret)}"
    assert client.get(ME, headers={"X-Api-Key": wrong}).json()["error"] == "API_KEY_INVALID"
    assert client.get(ME, headers={"X-Api-Key": "garbage"}).status_code == 401
    assert client.get(ME, headers={"X-Api-Key": "xyd_0123456789abcdef." + "x" * 43}).json()["error"] \
        == "API_KEY_INVALID"

    with db.session() as s:
        svc.change_credential_status(s, OPERATOR, BANK_CODE, key_id, "suspend", "排查")
    r = client.get(ME, headers={"X-Api-Key": token})
    assert (r.status_code, r.json()["error"]) == (403, "CREDENTIAL_SUSPENDED")
    with db.session() as s:
        svc.change_credential_status(s, OPERATOR, BANK_CODE, key_id, "reactivate", "排查完毕")
        svc.change_status(s, OPERATOR, BANK_CODE, "suspend", "异常查询")
    r = client.get(ME, headers={"X-Api-Key": token})
    assert (r.status_code, r.json()["error"]) == (403, "INSTITUTION_SUSPENDED")
    with db.session() as s:
        svc.change_status(s, OPERATOR, BANK_CODE, "reactivate", "核查完毕")
        svc.change_credential_status(s, OPERATOR, BANK_CODE, key_id, "revoke", "疑似泄露")
    r = client.get(ME, headers={"X-Api-Key": token})
    assert (r.status_code, r.json()["error"]) == (401, "CREDENTIAL_REVOKED")

    expiring = _issue(db, expires_at=fixed_clock + timedelta(hours=1))
    assert client.get(ME, headers={"X-Api-Key": expiring}).status_code == 200
    clock.set_clock(lambda: fixed_clock + timedelta(hours=2))
    r = client.get(ME, headers={"X-Api-Key": expiring})
    assert (r.status_code, r.json()["error"]) == (401, "CREDENTIAL_EXPIRED")

    # the real key's wrong secret and the first unknown key are recorded; the second unknown key within the
    # minute is only counted (see test_invented_keys_are_recorded_once_and_summed_up)
    codes = [(d["code"], d.get("reason")) for d in _refusals(db)]
    assert codes == [("API_KEY_INVALID", "secret mismatch"), ("API_KEY_INVALID", "unknown key"),
                     ("CREDENTIAL_SUSPENDED", None), ("INSTITUTION_SUSPENDED", None), ("CREDENTIAL_REVOKED", None),
                     ("CREDENTIAL_EXPIRED", None)]
    with db.session() as s:
        for ev in s.execute(select(AuditEvent)).scalars():
            assert secret not in json.dumps(ev.detail) and "A" * 20 not in json.dumps(ev.detail)


def test_rotated_key_works_during_the_grace_period_only(client: TestClient, db: Database, fixed_clock) -> None:  # noqa: ANN001
    token = _issue(db)
    with db.session() as s:
        _new, issued = svc.rotate(s, OPERATOR, BANK_CODE, token[4:20], grace_hours=1)
    assert client.get(ME, headers={"X-Api-Key": token}).status_code == 200
    assert client.get(ME, headers={"X-Api-Key": issued.token}).status_code == 200
    clock.set_clock(lambda: fixed_clock + timedelta(minutes=61))
    assert client.get(ME, headers={"X-Api-Key": token}).json()["error"] == "CREDENTIAL_EXPIRED"
    assert client.get(ME, headers={"X-Api-Key": issued.token}).status_code == 200


def test_sm2_signed_request(client: TestClient, db: Database) -> None:
    key = sm2.PrivateKey.generate()
    key_id = _register(db, "sm2", key.public_key.to_hex())
    body = json.dumps({"entity": "91230100XY00000121", "说明": "贷前审查"}, ensure_ascii=False).encode()
    headers = request_auth.sign_headers(_sm2_signer(key), key_id, "POST", ECHO, "page=1&q=%E4%BF%A1", body)
    r = client.post(ECHO + "?q=%E4%BF%A1&page=1", content=body,
                    headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json() == {"principal": f"key:{key_id}", "org_code": BANK_CODE,
                        "body": {"entity": "91230100XY00000121", "说明": "贷前审查"}}
    # a route whose body FastAPI parses itself (pydantic) still sees a verifiable body; the role then applies
    onboard_body = json.dumps({"code": "x", "name": "某银行", "kind": "银行"}).encode()
    h = request_auth.sign_headers(_sm2_signer(key), key_id, "POST", "/api/v1/institutions", "", onboard_body)
    r = client.post("/api/v1/institutions", content=onboard_body, headers={**h, "Content-Type": "application/json"})
    assert r.json()["error"] == "ROLE_FORBIDDEN"
    # raw r‖s is accepted too
    raw = request_auth.sign_headers(lambda m: sm2.sign(key, m).to_raw(), key_id, "GET", ME)
    assert client.get(ME, headers=raw).json()["authenticated_by"] == "signature"


def test_ed25519_signed_request(client: TestClient, db: Database) -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    key_id = _register(db, "ed25519", pem)
    r = client.get(ME, headers=request_auth.sign_headers(key.sign, key_id, "GET", ME))
    assert r.status_code == 200 and r.json()["code"] == BANK_CODE


def test_forged_tampered_replayed_and_stale_requests_are_refused(client: TestClient, db: Database,
                                                                fixed_clock) -> None:  # noqa: ANN001
    key = sm2.PrivateKey.generate()
    key_id = _register(db, "sm2", key.public_key.to_hex())
    sign = _sm2_signer(key)

    forged = request_auth.sign_headers(_sm2_signer(sm2.PrivateKey.generate()), key_id, "GET", ME)
    r = client.get(ME, headers=forged)
    assert (r.status_code, r.json()["error"]) == (401, "SIGNATURE_INVALID")

    body = b'{"amount":100}'
    h = request_auth.sign_headers(sign, key_id, "POST", ECHO, "", body)
    r = client.post(ECHO, content=b'{"amount":999}', headers={**h, "Content-Type": "application/json"})
    assert r.json()["error"] == "SIGNATURE_INVALID"  # body changed in transit
    h = request_auth.sign_headers(sign, key_id, "GET", ME, "")
    assert client.get(ME + "?extra=1", headers=h).json()["error"] == "SIGNATURE_INVALID"

    h = request_auth.sign_headers(sign, key_id, "GET", ME)
    assert client.get(ME, headers=h).status_code == 200
    r = client.get(ME, headers=h)
    assert (r.status_code, r.json()["error"]) == (401, "REQUEST_REPLAYED")

    stale = request_auth.sign_headers(sign, key_id, "GET", ME, timestamp=int(fixed_clock.timestamp()) - 301)
    assert client.get(ME, headers=stale).json()["error"] == "REQUEST_EXPIRED"
    future = request_auth.sign_headers(sign, key_id, "GET", ME, timestamp=int(fixed_clock.timestamp()) + 301)
    assert client.get(ME, headers=future).json()["error"] == "REQUEST_EXPIRED"
    edge = request_auth.sign_headers(sign, key_id, "GET", ME, timestamp=int(fixed_clock.timestamp()) - 300)
    assert client.get(ME, headers=edge).status_code == 200

    unknown = request_auth.sign_headers(sign, "0123456789abcdef", "GET", ME)
    assert client.get(ME, headers=unknown).json()["error"] == "API_KEY_INVALID"
    short_nonce = request_auth.sign_headers(sign, key_id, "GET", ME, nonce="short")
    assert client.get(ME, headers=short_nonce).json()["error"] == "SIGNATURE_INVALID"

    codes = [d["code"] for d in _refusals(db)]
    assert codes == ["SIGNATURE_INVALID"] * 3 + ["REQUEST_REPLAYED", "REQUEST_EXPIRED", "REQUEST_EXPIRED",
                                                 "API_KEY_INVALID", "SIGNATURE_INVALID"]


def test_a_refused_signed_request_cannot_be_replayed(client: TestClient, db: Database) -> None:
    """Authenticating and the work share one session on the institutions' query routes: the nonce is
    committed before the work runs, so a request whose work is refused (and rolled back) stays spent."""
    key = sm2.PrivateKey.generate()
    key_id = _register(db, "sm2", key.public_key.to_hex())
    body = b'{"entity":"91230100XY00000121"}'
    h = {**request_auth.sign_headers(_sm2_signer(key), key_id, "POST", REFUSING, "", body),
         "Content-Type": "application/json"}
    assert client.post(REFUSING, content=body, headers=h).json()["error"] == "OUT_OF_SCOPE"
    r = client.post(REFUSING, content=body, headers=h)
    assert (r.status_code, r.json()["error"]) == (401, "REQUEST_REPLAYED")
    tampered = client.post(REFUSING, content=b'{"entity":"91230100XY00000999"}', headers=h)
    assert tampered.json()["error"] == "SIGNATURE_INVALID"
    token = _issue(db)
    assert client.post(REFUSING, headers={"X-Api-Key": token}, json={}).json()["error"] == "OUT_OF_SCOPE"
    assert client.post(REFUSING, json={}).json()["error"] == "UNAUTHENTICATED"


def test_old_nonces_are_purged(client: TestClient, db: Database, fixed_clock) -> None:  # noqa: ANN001
    key = sm2.PrivateKey.generate()
    key_id = _register(db, "sm2", key.public_key.to_hex())
    for _ in range(3):
        assert client.get(ME, headers=request_auth.sign_headers(_sm2_signer(key), key_id, "GET", ME)).status_code == 200
    clock.set_clock(lambda: fixed_clock + timedelta(minutes=15))
    assert client.get(ME, headers=request_auth.sign_headers(_sm2_signer(key), key_id, "GET", ME)).status_code == 200
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(RequestNonce)).scalar_one() == 1


def test_rate_limit_per_institution(client: TestClient, db: Database, fixed_clock) -> None:  # noqa: ANN001
    with db.session() as s:
        s.get(svc.FinancialInstitution, BANK_CODE).rate_per_minute = 3
    a, b = _issue(db), _issue(db)
    assert [client.get(ME, headers={"X-Api-Key": t}).status_code for t in (a, b, a)] == [200, 200, 200]
    r = client.get(ME, headers={"X-Api-Key": b})
    assert (r.status_code, r.json()["error"]) == (429, "RATE_LIMITED")
    # the clock stands still: the window's oldest request leaves it in a whole minute, said in the header too
    assert (r.headers["Retry-After"], r.json()["detail"]["retry_after"]) == ("60", 60)
    clock.set_clock(lambda: fixed_clock + timedelta(seconds=45))
    r = client.get(ME, headers={"X-Api-Key": a})
    assert (r.status_code, r.headers["Retry-After"]) == (429, "15")
    clock.set_clock(lambda: fixed_clock + timedelta(seconds=61))
    assert client.get(ME, headers={"X-Api-Key": a}).status_code == 200
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(AuditEvent)
                         .where(AuditEvent.action == "api.rate_limited")).scalar_one() == 1


def _invented_key() -> str:
    return f"xyd_{secrets.token_hex(8)}.{secrets.token_urlsafe(32)}"


def test_invented_keys_are_recorded_once_and_summed_up(client: TestClient, db: Database, fixed_clock) -> None:  # noqa: ANN001
    """400 requests with invented keys from one address write two entries, not 400: the first refusal of
    each kind is recorded, the rest counted; past 100 refusals a minute the address gets 429 unchecked. When
    the minute is over, one summary per kind accounts for every request."""
    for _ in range(400):
        r = client.get(ME, headers={"X-Api-Key": _invented_key()})
        assert r.status_code in (401, 429)
    assert [d["code"] for d in _refusals(db)] == ["API_KEY_INVALID", "AUTH_THROTTLED"]
    assert (r.status_code, r.json()["error"]) == (429, "AUTH_THROTTLED")
    assert r.headers["Retry-After"] == str(r.json()["detail"]["retry_after"])

    clock.set_clock(lambda: fixed_clock + timedelta(seconds=61))
    assert client.get(ME, headers={"X-Api-Key": _invented_key()}).status_code == 401  # the next one is recorded
    guards(client.app.state).flush(db)  # as the server does every few seconds
    refusals = _refusals(db)
    summaries = [d for d in refusals if "repeated" in d]
    assert sorted((d["code"], d["repeated"]) for d in summaries) == [("API_KEY_INVALID", 99), ("AUTH_THROTTLED", 299)]
    assert sum(d.get("repeated", 1) for d in refusals) == 401
    invalid = next(d for d in summaries if d["code"] == "API_KEY_INVALID")
    assert invalid["client"] == "testclient" and invalid["claimed_keys"] == 99


def test_a_real_credentials_refusals_stay_individual(client: TestClient, db: Database) -> None:
    """Refusals of a real credential are the security officer's business: each is recorded (up to ten a
    minute per credential, code and address), with its path, even while invented keys are being summed up."""
    token = _issue(db)
    with db.session() as s:
        svc.change_credential_status(s, OPERATOR, BANK_CODE, token[4:20], "suspend", "排查")
    for i in range(6):
        client.get(ME, headers={"X-Api-Key": _invented_key()})
        assert client.get(f"{ME}?n={i}", headers={"X-Api-Key": token}).json()["error"] == "CREDENTIAL_SUSPENDED"
    suspended = [d for d in _refusals(db) if d["code"] == "CREDENTIAL_SUSPENDED"]
    assert len(suspended) == 6 and all(d["path"] == ME for d in suspended)
    assert [d["code"] for d in _refusals(db)].count("API_KEY_INVALID") == 1
