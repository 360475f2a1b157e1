"""The `Suite` interface, run identically against both suites."""

from __future__ import annotations

import hashlib
import hmac
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyidai.kit.crypto import (
    BadSignature,
    CryptoError,
    DecryptionFailed,
    Identity,
    InvalidKey,
    Suite,
    get_suite,
    load_identity,
)
from xinyidai.kit.errors import DomainError

SUITE_NAMES = ["sm", "intl"]


@pytest.fixture(scope="module", params=SUITE_NAMES)
def suite(request: pytest.FixtureRequest) -> Suite:
    return get_suite(request.param)


@pytest.fixture(scope="module")
def alice(suite: Suite) -> Identity:
    return suite.generate_identity()


@pytest.fixture(scope="module")
def bob(suite: Suite) -> Identity:
    return suite.generate_identity()


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def test_get_suite() -> None:
    assert get_suite().name == "sm"
    assert get_suite("intl").name == "intl"
    assert get_suite("sm") is get_suite("sm")
    with pytest.raises(CryptoError) as exc:
        get_suite("rsa")
    assert exc.value.code == "CRYPTO_UNKNOWN_SUITE"


def test_public_bundle_and_key_id(suite: Suite, alice: Identity, bob: Identity) -> None:
    bundle = alice.public_bundle()
    assert set(bundle) == {"suite", "sign", "enc"} and bundle["suite"] == suite.name
    assert bundle["sign"] != bundle["enc"]  # separate signing and encryption keys
    kid = suite.key_id(bundle)
    assert len(kid) == 32 and int(kid, 16) >= 0
    assert kid == alice.key_id != bob.key_id
    # The fingerprint is of the canonical bundle: letter case and key order do not change it.
    shuffled = {"enc": bundle["enc"].upper(), "sign": bundle["sign"].upper(), "suite": suite.name}
    assert suite.key_id(shuffled) == kid
    assert suite.normalize_bundle(shuffled) == bundle
    bundle["sign"] = "00"  # the returned dict is a copy
    assert alice.public_bundle()["sign"] != "00"


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"suite": "other", "sign": "00", "enc": "00"},
        {"suite": "SUITE", "sign": "zz", "enc": "zz"},
        {"suite": "SUITE", "sign": "0102", "enc": "0102"},
        {"suite": "SUITE", "sign": "SIGN", "enc": "ENC", "extra": "x"},
    ],
)
def test_malformed_bundles_raise_invalid_key(suite: Suite, alice: Identity, bad: dict[str, str]) -> None:
    good = alice.public_bundle()
    bad = {k: v.replace("SUITE", suite.name).replace("SIGN", good["sign"]).replace("ENC", good["enc"])
           for k, v in bad.items()}
    for call in (lambda: suite.key_id(bad), lambda: suite.verify(bad, b"m", b"s"),
                 lambda: suite.seal_for(bad, b"m")):
        with pytest.raises(InvalidKey):
            call()


def test_digest_and_mac(suite: Suite) -> None:
    name = {"sm": "sm3", "intl": "sha256"}[suite.name]
    assert suite.digest(b"abc") == hashlib.new(name, b"abc").digest()
    assert suite.hexdigest(b"abc") == hashlib.new(name, b"abc").hexdigest()
    assert suite.digest_size == len(suite.digest(b""))
    assert suite.mac(b"key", b"data") == hmac.new(b"key", b"data", lambda d=b"": hashlib.new(name, d)).digest()
    if suite.name == "sm":
        assert suite.hexdigest(b"abc") == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


@settings(max_examples=15, deadline=None)
@given(message=st.binary(max_size=300), data=st.data())
def test_sign_verify(suite: Suite, alice: Identity, bob: Identity, message: bytes, data: st.DataObject) -> None:
    bundle = alice.public_bundle()
    sig = suite.sign(alice, message)
    assert suite.verify(bundle, message, sig)
    suite.require_signature(bundle, message, sig)
    assert not suite.verify(bob.public_bundle(), message, sig)
    assert not suite.verify(bundle, message + b"\x00", sig)
    bit = data.draw(st.integers(0, 64 * 8 - 1))  # Ed25519: 64 bytes; SM2 DER: 70–72
    assert not suite.verify(bundle, message, _flip(sig, bit))
    if message:
        bit = data.draw(st.integers(0, len(message) * 8 - 1))
        assert not suite.verify(bundle, _flip(message, bit), sig)


def test_verify_never_raises_on_bad_signatures(suite: Suite, alice: Identity) -> None:
    bundle = alice.public_bundle()
    for junk in (b"", b"\x00", b"\x30\x00", b"x" * 64, b"x" * 1000, bytearray(b"\x30\x06\x02\x01\x01\x02\x01\x01")):
        assert suite.verify(bundle, b"m", junk) is False
    with pytest.raises(BadSignature) as exc:
        suite.require_signature(bundle, b"m", b"junk")
    assert isinstance(exc.value, DomainError)
    assert exc.value.code == "CRYPTO_BAD_SIGNATURE" and exc.value.status == 401
    assert "签名验证失败" in exc.value.message


def test_symmetric_seal(suite: Suite) -> None:
    key = suite.new_key()
    assert len(key) == suite.key_size
    blob = suite.seal(key, b"payload", b"header")
    assert suite.open_(key, blob, b"header") == b"payload"
    assert suite.seal(key, b"payload", b"header") != blob  # fresh nonce each time
    for bad in (lambda: suite.open_(key, blob, b"other"), lambda: suite.open_(suite.new_key(), blob, b"header"),
                lambda: suite.open_(key, blob[:-1], b"header"), lambda: suite.open_(key, b"", b"header")):
        with pytest.raises(DecryptionFailed):
            bad()
    with pytest.raises(CryptoError) as exc:
        suite.seal(b"short", b"x")
    assert exc.value.code == "CRYPTO_BAD_KEY_SIZE"


@settings(max_examples=10, deadline=None)
@given(plaintext=st.binary(max_size=500), aad=st.binary(max_size=50), data=st.data())
def test_seal_for_round_trip_and_tampering(
    suite: Suite, alice: Identity, bob: Identity, plaintext: bytes, aad: bytes, data: st.DataObject
) -> None:
    blob = suite.seal_for(bob.public_bundle(), plaintext, aad)
    assert suite.open_sealed(bob, blob, aad) == plaintext
    bit = data.draw(st.integers(0, len(blob) * 8 - 1))
    with pytest.raises(DecryptionFailed):
        suite.open_sealed(bob, _flip(blob, bit), aad)
    with pytest.raises(DecryptionFailed):
        suite.open_sealed(alice, blob, aad)  # not the recipient
    with pytest.raises(DecryptionFailed):
        suite.open_sealed(bob, blob, aad + b"x")


def test_seal_for_large_payload_and_malformed_blobs(suite: Suite, bob: Identity) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    blob = suite.seal_for(bob.public_bundle(), payload, b"batch-1")
    assert suite.open_sealed(bob, blob, b"batch-1") == payload
    for bad in (b"", b"\x01", blob[:60], b"\x02" + blob[1:], blob[:-16]):
        with pytest.raises(DecryptionFailed):
            suite.open_sealed(bob, bad, b"batch-1")


def test_identity_serialization(suite: Suite, alice: Identity) -> None:
    data = alice.to_bytes()
    again = load_identity(data)
    assert again.suite == suite.name and again.public_bundle() == alice.public_bundle()
    assert suite.load_identity(data).key_id == alice.key_id
    # The reloaded identity really holds the private keys.
    assert suite.verify(alice.public_bundle(), b"m", suite.sign(again, b"m"))
    assert suite.open_sealed(again, suite.seal_for(alice.public_bundle(), b"s")) == b"s"
    for junk in (b"", b"{}", b"[]", b"not json", b'{"suite":"sm","v":1,"sign":"zz","enc":"zz"}',
                 b'{"suite":"intl","v":1,"sign":"00","enc":"00"}'):
        with pytest.raises(InvalidKey):
            load_identity(junk)


def test_identity_never_shows_private_material(suite: Suite, alice: Identity) -> None:
    import json

    secrets_hex = json.loads(alice.to_bytes())
    text = repr(alice) + str(alice) + f"{alice}" + repr(alice.public_bundle())
    for field in ("sign", "enc"):
        assert secrets_hex[field] not in text.lower()
    assert "hidden" in repr(alice) and alice.key_id in repr(alice)
    with pytest.raises(TypeError):
        pickle.dumps(alice)


def test_identities_and_bundles_do_not_cross_suites() -> None:
    sm, intl = get_suite("sm"), get_suite("intl")
    sm_id, intl_id = sm.generate_identity(), intl.generate_identity()
    with pytest.raises(CryptoError) as exc:
        intl.sign(sm_id, b"m")
    assert exc.value.code == "CRYPTO_SUITE_MISMATCH"
    with pytest.raises(CryptoError):
        sm.open_sealed(intl_id, b"x" * 200)
    with pytest.raises(InvalidKey):
        sm.verify(intl_id.public_bundle(), b"m", intl.sign(intl_id, b"m"))
    with pytest.raises(InvalidKey):
        sm.load_identity(intl_id.to_bytes())
