"""The worked example in the OpenAPI document (request_auth.OPENAPI_DESCRIPTION) is true: recomputed from
its own inputs with the node's code and with the client's, every stated value comes out the same."""

from __future__ import annotations

import re
from urllib.parse import unquote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from xinyidai.client import signing
from xinyidai.institutions import signing_keys
from xinyidai.institutions.request_auth import OPENAPI_DESCRIPTION as DOC
from xinyidai.institutions.request_auth import canonical_request
from xinyidai.kit.crypto import sm2, sm3


def _one(pattern: str) -> str:
    found = re.findall(pattern, DOC, re.S)
    assert len(found) == 1, f"{pattern!r} found {len(found)} times"
    return found[0]


def _example() -> dict[str, str]:
    method, target = re.search(r"请求行：`(\w+) ([^`]+)`", DOC).groups()
    size, body = re.search(r"请求体（(\d+) 字节，无换行）：`([^`]+)`", DOC).groups()
    path, _, query = target.partition("?")
    return {"method": method, "path": path, "query": query, "body": body, "body_size": size,
            "key_id": _one(r"`X-XYD-Key-Id: ([0-9a-f]+)`"), "timestamp": _one(r"`X-XYD-Timestamp: (\d+)`"),
            "nonce": _one(r"`X-XYD-Nonce: ([A-Za-z0-9_-]+)`"),
            "canonical": _one(r"```text\n(.*?)\n```"), "canonical_size": _one(r"规范串（(\d+) 字节）")}


def test_the_canonical_string_of_the_example() -> None:
    ex = _example()
    body = ex["body"].encode()
    assert len(body) == int(ex["body_size"])
    expected = ex["canonical"].encode()
    assert len(expected) == int(ex["canonical_size"])
    decoded_path = unquote(ex["path"], errors="strict")
    assert decoded_path == "/api/v1/示例/信用 报告"
    assert canonical_request(ex["method"], decoded_path, ex["query"], body, ex["timestamp"], ex["nonce"]) == expected
    assert signing.canonical_string(ex["method"], decoded_path, signing.parse_query(ex["query"]), body,
                                    ex["timestamp"], ex["nonce"]) == expected
    assert expected.split(b"\n")[4].decode() == sm3.hexdigest(body)
    assert sm3.hexdigest(b"") in DOC  # the digest of no body, as stated


def test_the_sm2_example() -> None:
    message = _example()["canonical"].encode()
    key = sm2.PrivateKey(int(_one(r"私钥 d：`([0-9a-f]{64})`"), 16))
    public = re.findall(r"公钥（登记用）：`([0-9a-f]+)`", DOC)[0]
    assert key.public_key.to_hex() == public
    assert sm2.z_digest(key.public_key).hex() == _one(r"Z：`([0-9a-f]{64})`")
    assert sm2.message_digest(key.public_key, message).hex() == _one(r"e = SM3\(Z ‖ 规范串\)：`([0-9a-f]{64})`")
    sig = sm2.sign(key, message, _k=int(_one(r"随机数 k：`([0-9a-f]{64})`"), 16))
    der, raw = _one(r"`X-XYD-Signature`（DER）：`([0-9a-f]+)`"), _one(r"r‖s 形式：`([0-9a-f]+)`")
    assert (sig.to_der().hex(), sig.to_raw().hex()) == (der, raw)
    for form in (der, raw):
        assert signing_keys.verify("sm2", public, message, bytes.fromhex(form))
    assert not signing_keys.verify("sm2", public, message.replace(b"POST", b"GET"), bytes.fromhex(der))


def test_the_ed25519_example() -> None:
    message = _example()["canonical"].encode()
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(_one(r"私钥种子：`([0-9a-f]{64})`")))
    public = re.findall(r"公钥（登记用）：`([0-9a-f]+)`", DOC)[1]
    assert key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex() == public
    signature = re.findall(r"`X-XYD-Signature`：`([0-9a-f]+)`", DOC)
    assert signature == [key.sign(message).hex()]
    assert signing_keys.verify("ed25519", public, message, key.sign(message))
