"""A second, independent implementation of the signing specification: the canonical string written by hand
from the OpenAPI text, SM3 and SM2/Ed25519 from the OpenSSL command line, sent with plain httpx — and the
node accepts it. The other way round, OpenSSL verifies what the client signs, and the client reads the keys
OpenSSL writes."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.client.conftest import Live
from xinyidai.client import SM2Key, signing

pytestmark = pytest.mark.slow
OPENSSL = shutil.which("openssl")
if OPENSSL is None and not os.environ.get("CI"):
    pytest.skip("openssl is not installed here", allow_module_level=True)
UID = "distid:1234567812345678"


def openssl(*args: str, data: bytes | None = None) -> bytes:
    assert OPENSSL, "openssl must be installed where CI runs"
    r = subprocess.run([OPENSSL, *args], input=data, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r.stdout


def by_hand(text: str) -> str:
    """Percent-encode every UTF-8 byte, as the spec says for anything outside A–Z a–z 0–9 - _ . ~."""
    return "".join(f"%{b:02X}" for b in text.encode())


def sm3_hex(path: Path) -> str:
    return openssl("dgst", "-sm3", "-r", str(path)).split()[0].decode()


def sign_and_send(live: Live, tmp: Path, key_pem: Path, key_id: str, method: str, path: str, query: str,
                  raw_query: str, body: bytes, *, sm2: bool) -> httpx.Response:
    (tmp / "body").write_bytes(body)
    ts, nonce = str(int(time.time())), "openssl-" + secrets.token_hex(8)
    canonical = "\n".join(["XYD-SIG-V1", method, path, query, sm3_hex(tmp / "body"), ts, nonce])
    (tmp / "canonical").write_bytes(canonical.encode())
    extra = ["-digest", "sm3", "-pkeyopt", UID] if sm2 else []
    signature = openssl("pkeyutl", "-sign", "-rawin", *extra, "-inkey", str(key_pem), "-in", str(tmp / "canonical"))
    headers = {"X-XYD-Key-Id": key_id, "X-XYD-Timestamp": ts, "X-XYD-Nonce": nonce,
               "X-XYD-Signature": signature.hex(), "X-Request-Id": nonce}
    if body:
        headers["Content-Type"] = "application/json"
    url = live.url + path + ("?" + raw_query if raw_query else "")
    return httpx.request(method, url, content=body or None, headers=headers, timeout=30)


@pytest.mark.parametrize("suite", ["sm2", "ed25519"])
def test_the_node_accepts_requests_signed_by_openssl(live: Live, tmp_path: Path, suite: str) -> None:
    key_pem = tmp_path / "key.pem"
    key_pem.write_text((live.sm2 if suite == "sm2" else live.ed).to_pem())  # OpenSSL reads the client's PEM
    key_id = live.sm2_id if suite == "sm2" else live.ed_id
    # a GET with Chinese in the query, sent raw (UTF-8 bytes percent-encoded by hand)
    got = sign_and_send(live, tmp_path, key_pem, key_id, "GET", f"/api/v1/access/entities/{live.entity}/records/tax",
                        "purpose=" + by_hand("贷前审查"), "purpose=" + by_hand("贷前审查"), b"", sm2=suite == "sm2")
    assert got.status_code == 200, got.text
    assert got.json()["category"] == "tax"
    # a POST with a JSON body and no query: the fourth line is empty
    body = json.dumps({"claims": [{"category": "tax", "op": "exists"}]}, ensure_ascii=False).encode()
    got = sign_and_send(live, tmp_path, key_pem, key_id, "POST", f"/api/v1/access/entities/{live.entity}/verifications",
                        "", "", body, sm2=suite == "sm2")
    assert got.status_code == 200, got.text
    assert got.json()["results"][0]["outcome"]
    # a signature over another query than the one sent is refused
    got = sign_and_send(live, tmp_path, key_pem, key_id, "GET", "/api/v1/institutions/me", "a=1", "a=2", b"",
                        sm2=suite == "sm2")
    assert (got.status_code, got.json()["error"]) == (401, "SIGNATURE_INVALID")


def test_openssl_verifies_what_the_client_signs_and_keys_cross_over(tmp_path: Path) -> None:
    openssl("genpkey", "-algorithm", "SM2", "-out", str(tmp_path / "sm2.pem"))
    openssl("pkey", "-in", str(tmp_path / "sm2.pem"), "-pubout", "-out", str(tmp_path / "sm2.pub.pem"))
    key = SM2Key.load(tmp_path / "sm2.pem")  # the client reads OpenSSL's PKCS#8
    spki = openssl("pkey", "-in", str(tmp_path / "sm2.pem"), "-pubout", "-outform", "DER")
    assert spki.hex().endswith(key.public_hex)  # the SubjectPublicKeyInfo ends with the point 04‖x‖y
    assert key.public_pem.split() == (tmp_path / "sm2.pub.pem").read_text().split()
    message = signing.canonical_string("GET", "/api/v1/市场/产品", [("q", "信用 贷"), ("a", "1/2")], b"",
                                       "1794722400", "client-nonce-0001")
    (tmp_path / "m").write_bytes(message)
    (tmp_path / "sig").write_bytes(key.sign(message))
    out = openssl("pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pkeyopt", UID, "-pubin",
                  "-inkey", str(tmp_path / "sm2.pub.pem"), "-in", str(tmp_path / "m"), "-sigfile", str(tmp_path / "sig"))
    assert b"Signature Verified Successfully" in out
    (tmp_path / "m").write_bytes(message + b" ")
    r = subprocess.run([OPENSSL or "openssl", "pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pkeyopt", UID,
                        "-pubin", "-inkey", str(tmp_path / "sm2.pub.pem"), "-in", str(tmp_path / "m"),
                        "-sigfile", str(tmp_path / "sig")], capture_output=True)
    assert r.returncode != 0  # the check can fail
    # the body digest line is OpenSSL's SM3
    (tmp_path / "body").write_bytes("{\"金额\":1}".encode())
    assert signing.body_digest((tmp_path / "body").read_bytes()) == sm3_hex(tmp_path / "body")
