"""SM3 / HMAC-SM3 / KDF and SM4: the standards' known answers, and OpenSSL's SM4 checked against an
independent pure-Python SM4."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyidai.kit.crypto import sm3, sm4, sm4_ref
from xinyidai.kit.crypto.errors import CryptoError, DecryptionFailed
from xinyidai.kit.errors import DomainError

# --- SM3 (GM/T 0004-2012 Appendix A) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
        (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
    ],
)
def test_sm3_standard_vectors(message: bytes, expected: str) -> None:
    assert sm3.hexdigest(message) == expected
    assert sm3.digest(message) == bytes.fromhex(expected)
    streamed = sm3.new(message[:5])
    streamed.update(message[5:])
    assert streamed.hexdigest() == expected


def test_hmac_sm3_matches_the_rfc2104_construction() -> None:
    # OpenSSL's HMAC (string digest name) against Python's generic HMAC over hashlib's SM3. The
    # constructor must accept data: hmac hashes keys longer than a block with digestmod(key).
    for key in (b"", b"k", b"x" * 64, b"y" * 100):
        data = b"credit report batch 2026-11"
        generic = hmac.new(key, data, digestmod=lambda d=b"": hashlib.new("sm3", d)).digest()
        assert sm3.hmac_sm3(key, data) == generic


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_hmac_sm3_matches_openssl_cli() -> None:
    out = subprocess.run(
        ["openssl", "dgst", "-sm3", "-hmac", "secret-key"], input=b"abc", capture_output=True, check=True
    ).stdout.decode()
    assert out.strip().endswith(sm3.hmac_sm3(b"secret-key", b"abc").hex())


def test_kdf_is_counter_mode_sm3() -> None:
    z = bytes(range(64))
    out = sm3.kdf(z, 70)
    assert len(out) == 70
    assert out[:32] == sm3.digest(z + (1).to_bytes(4, "big"))
    assert out[32:64] == sm3.digest(z + (2).to_bytes(4, "big"))
    assert out[64:] == sm3.digest(z + (3).to_bytes(4, "big"))[:6]
    assert sm3.kdf(z, 19) == out[:19]
    assert sm3.kdf(z, 0) == b""
    # The KDF's known answer is part of the SM2 encryption vector in test_crypto_sm2.py.


# --- SM4 (GB/T 32907-2016 Appendix A; GM/T 0002-2012) -----------------------------------------------

KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
ONE = "681edf34d206965e86b3e94f536e4246"
MILLION = "595298c7c6fd271f0402f804c33d3f66"


def test_sm4_pure_reference_standard_example() -> None:
    assert sm4_ref.encrypt_block(KEY, KEY).hex() == ONE
    assert sm4_ref.decrypt_block(KEY, bytes.fromhex(ONE)) == KEY
    # The standard's worked example also lists the round keys.
    assert sm4_ref.round_keys(KEY)[:4] == [0xF12186F9, 0x41662B61, 0x5A6AB19A, 0x7BA92077]
    assert sorted(sm4_ref.SBOX) == list(range(256))  # the S-box is a permutation


def test_sm4_openssl_standard_example() -> None:
    assert sm4.encrypt_block(KEY, KEY).hex() == ONE


def test_sm4_openssl_million_encryptions() -> None:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    update = Cipher(algorithms.SM4(KEY), modes.ECB()).encryptor().update
    block = KEY
    for _ in range(1_000_000):
        block = update(block)
    assert block.hex() == MILLION


@pytest.mark.slow
def test_sm4_pure_reference_million_encryptions() -> None:
    # About 20 s of pure Python: the independent implementation reaches the same answer.
    assert sm4_ref.SM4Ref(KEY).encrypt_repeated(KEY, 1_000_000).hex() == MILLION


def test_sm4_ref_repeated_matches_single_steps() -> None:
    ref = sm4_ref.SM4Ref(KEY)
    block = KEY
    for _ in range(5):
        block = ref.encrypt(block)
    assert ref.encrypt_repeated(KEY, 5) == block
    assert "0123" not in repr(ref)


@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=16, max_size=16), block=st.binary(min_size=16, max_size=16))
def test_sm4_pure_reference_agrees_with_openssl(key: bytes, block: bytes) -> None:
    ct = sm4_ref.encrypt_block(key, block)
    assert ct == sm4.encrypt_block(key, block)
    assert sm4_ref.decrypt_block(key, ct) == block


# --- SM4-GCM AEAD -----------------------------------------------------------------------------------


def test_sm4_gcm_rfc8998_vector() -> None:
    # RFC 8998 Appendix A.1 (SM4-GCM as used in TLS 1.3 with the SM cipher suites).
    nonce = bytes.fromhex("00001234567800000000ABCD")
    aad = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    plaintext = bytes.fromhex(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
        "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
    )
    expected = bytes.fromhex(
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
        "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
        "83DE3541E4C2B58177E065A9BF7B62EC"
    )
    blob = sm4.seal_with_nonce(KEY, nonce, plaintext, aad)
    assert blob == nonce + expected
    assert sm4.open_(KEY, blob, aad) == plaintext


@settings(max_examples=50, deadline=None)
@given(plaintext=st.binary(max_size=300), aad=st.binary(max_size=40), data=st.data())
def test_sm4_seal_round_trip_and_any_flipped_bit_fails(plaintext: bytes, aad: bytes, data: st.DataObject) -> None:
    key = bytes(range(16))
    blob = sm4.seal(key, plaintext, aad)
    assert len(blob) == len(plaintext) + sm4.NONCE_SIZE + sm4.TAG_SIZE
    assert sm4.open_(key, blob, aad) == plaintext
    bit = data.draw(st.integers(0, len(blob) * 8 - 1))
    damaged = bytearray(blob)
    damaged[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(DecryptionFailed):
        sm4.open_(key, bytes(damaged), aad)
    with pytest.raises(DecryptionFailed):
        sm4.open_(key, blob, aad + b"!")


def test_sm4_seal_uses_fresh_nonces_and_checks_inputs() -> None:
    key = bytes(16)
    assert sm4.seal(key, b"same") != sm4.seal(key, b"same")
    with pytest.raises(DecryptionFailed) as exc:
        sm4.open_(key, b"short")
    assert isinstance(exc.value, DomainError) and exc.value.code == "CRYPTO_DECRYPTION_FAILED"
    assert "解密失败" in exc.value.message
    with pytest.raises(CryptoError) as bad:
        sm4.seal(bytes(32), b"x")
    assert bad.value.code == "CRYPTO_BAD_KEY_SIZE"
    with pytest.raises(DecryptionFailed):
        sm4.open_(bytes(range(16)), sm4.seal(key, b"x"))
