"""SM2: the standard's worked examples, the group arithmetic against a naive reference, properties,
and interoperability with OpenSSL's independent implementation through its command line."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyidai.kit.crypto import der as _der
from xinyidai.kit.crypto import get_suite, sm2
from xinyidai.kit.crypto.errors import DecryptionFailed, InvalidKey

# GB/T 32918 (GM/T 0003.5-2012) examples on the recommended curve.
D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
PUB_X = 0x09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020
PUB_Y = 0xCCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13
K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
Z_A = "b2e14c5c79c6df5b85f4fe7ed8db7a262b9da7e07ccb0ea9f4747b8ccda8a4f3"
E = "f0b43e94ba45accaace692ed534382eb17e6ab5a19ce7b31f4486fdfc0d28640"
R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA
ENC_C1 = (  # 04 ‖ x1 ‖ y1; x1 itself happens to begin with 04
    "04" "04ebfc718e8d1798620432268e77feb6415e2ede0e073c0f4f640ecd2e149a73"
    "e858f9d81e5430a57b36daab8f950a3c64e6ee6a63094d99283aff767e124df0"
)
ENC_C3 = "59983c18f809e262923c53aec295d30383b54e39d609d160afcb1908d0bd8766"
ENC_C2 = "21886ca989ca9c7d58087307ca93092d651efa"


@pytest.fixture(scope="module")
def vector_key() -> sm2.PrivateKey:
    return sm2.PrivateKey(D)


@pytest.fixture(scope="module")
def key() -> sm2.PrivateKey:
    return sm2.PrivateKey.generate()


# --- a naive affine reference, to check the Jacobian / table / wNAF code against ---------------------


def _ref_add(p1: tuple[int, int] | None, p2: tuple[int, int] | None) -> tuple[int, int] | None:
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2 and (y1 + y2) % sm2.P == 0:
        return None
    tangent = (3 * x1 * x1 + sm2.A) * pow(2 * y1, -1, sm2.P)
    lam = tangent if p1 == p2 else (y2 - y1) * pow(x2 - x1, -1, sm2.P)
    x3 = (lam * lam - x1 - x2) % sm2.P
    return x3, (lam * (x1 - x3) - y1) % sm2.P


def _ref_mul(k: int, point: tuple[int, int]) -> tuple[int, int] | None:
    acc = None
    for bit in bin(k)[2:]:
        acc = _ref_add(acc, acc)
        if bit == "1":
            acc = _ref_add(acc, point)
    return acc


G = (sm2.GX, sm2.GY)


def test_curve_sanity() -> None:
    assert sm2.on_curve(sm2.GX, sm2.GY)
    assert sm2.P % 4 == 3
    assert sm2._to_affine(sm2._mul(sm2.N, *G)) is None  # n·G = O
    assert sm2._to_affine(sm2._mul_g(sm2.N - 1)) == (sm2.GX, sm2.P - sm2.GY)  # (n−1)·G = −G


@settings(max_examples=20, deadline=None)
@given(k=st.integers(1, sm2.N - 1))
def test_scalar_multiplication_matches_naive_reference(k: int) -> None:
    expected = _ref_mul(k, G)
    assert sm2._to_affine(sm2._mul_g(k)) == expected
    assert sm2._to_affine(sm2._mul(k, *G)) == expected
    q = _ref_mul(7, G)
    assert q is not None
    expected_q = _ref_mul(k, q)
    assert sm2._to_affine(sm2._mul(k, *q)) == expected_q
    pub = sm2.PublicKey(*q)
    assert sm2._to_affine(pub._multiply(k)) == expected_q  # first use: wNAF
    assert sm2._to_affine(pub._multiply(k)) == expected_q  # then the comb table
    assert pub._comb is not None


@pytest.mark.parametrize(
    "k",
    # 0x1FF and 2**17 − 1 make the fixed-base sum (which starts at G) meet a table point: the doubling case.
    [1, 2, 3, 15, 16, 17, 255, 256, 0x1FF, 2**17 - 1, 2**52 - 1, 2**52, 2**208 + 1, 2**255, sm2.N - 2, sm2.N - 1],
)
def test_scalar_multiplication_edge_scalars(k: int) -> None:
    expected = _ref_mul(k, G)
    assert sm2._to_affine(sm2._mul_g(k)) == expected
    assert sm2._to_affine(sm2._mul(k, *G)) == expected
    assert sm2._to_affine(sm2._mul_comb(k, sm2._comb_table(*G))) == expected


# --- the standard's worked examples ------------------------------------------------------------------


def test_signature_example(vector_key: sm2.PrivateKey) -> None:
    pub = vector_key.public_key
    assert (pub.x, pub.y) == (PUB_X, PUB_Y)
    assert sm2.z_digest(pub).hex() == Z_A
    assert sm2.message_digest(pub, b"message digest").hex() == E
    sig = sm2.sign(vector_key, b"message digest", _k=K)
    assert sig == (R, S)
    assert sm2.verify(pub, b"message digest", sig)
    assert sm2.Signature.from_der(sig.to_der()) == sig
    assert sm2.Signature.from_raw(sig.to_raw()) == sig
    assert sig.to_der().hex() == "3046022100" + f"{R:064x}" + "022100" + f"{S:064x}"


def test_encryption_example(vector_key: sm2.PrivateKey) -> None:
    ct = sm2.encrypt(vector_key.public_key, b"encryption standard", _k=K)
    assert ct.hex() == ENC_C1 + ENC_C3 + ENC_C2
    assert sm2.decrypt(vector_key, ct) == b"encryption standard"
    # The same ciphertext in GM/T 0009 DER, as OpenSSL's own test suite spells it.
    der = sm2.ciphertext_to_der(ct)
    assert der.hex() == (
        "307c022004ebfc718e8d1798620432268e77feb6415e2ede0e073c0f4f640ecd2e149a73022100e858f9d81e5430a5"
        "7b36daab8f950a3c64e6ee6a63094d99283aff767e124df0042059983c18f809e262923c53aec295d30383b54e39d6"
        "09d160afcb1908d0bd8766041321886ca989ca9c7d58087307ca93092d651efa"
    )
    assert sm2.ciphertext_from_der(der) == ct


# --- properties --------------------------------------------------------------------------------------


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@settings(max_examples=25, deadline=None)
@given(message=st.binary(max_size=200), data=st.data())
def test_sign_verify_round_trip_and_any_flipped_bit_fails(
    key: sm2.PrivateKey, message: bytes, data: st.DataObject
) -> None:
    pub = key.public_key
    sig = sm2.sign(key, message)
    assert sm2.verify(pub, message, sig)
    if message:
        bit = data.draw(st.integers(0, len(message) * 8 - 1))
        assert not sm2.verify(pub, _flip(message, bit), sig)
    raw = sig.to_raw()
    bit = data.draw(st.integers(0, 511))
    assert not sm2.verify(pub, message, sm2.Signature.from_raw(_flip(raw, bit)))
    # Through the suite: a flipped bit in the DER signature either breaks the encoding or the value.
    suite, bundle = get_suite("sm"), {"suite": "sm", "sign": pub.to_hex(), "enc": pub.to_hex()}
    der = sig.to_der()  # 70–72 bytes: the random signature fixes its length, so draw then reduce
    bit = data.draw(st.integers(0, 72 * 8 - 1)) % (len(der) * 8)
    assert not suite.verify(bundle, message, _flip(der, bit))
    assert not sm2.verify(pub, message, sig, uid=b"another-user-id")


def test_verify_rejects_out_of_range_and_foreign_signatures(key: sm2.PrivateKey) -> None:
    pub = key.public_key
    sig = sm2.sign(key, b"m")
    for bad in [(0, sig.s), (sig.r, 0), (sm2.N, sig.s), (sig.r, sm2.N), (sig.r + sm2.N, sig.s), (1, sm2.N - 1)]:
        assert not sm2.verify(pub, b"m", sm2.Signature(*bad))
    assert not sm2.verify(sm2.PrivateKey.generate().public_key, b"m", sig)


def test_signature_der_is_strict(key: sm2.PrivateKey) -> None:
    sig = sm2.Signature(0x1234, 0x80)
    assert sig.to_der().hex() == "30080202123402020080"
    assert sm2.Signature.from_der(sig.to_der()) == sig
    for bad in [
        "30090203001234" "02020080",  # r with a needless leading zero
        "30080202123402028000",  # negative s
        "3009" "02021234" "02020080" "00",  # a trailing byte inside the SEQUENCE
        "308108" "02021234" "02020080",  # non-minimal length
        "30080202123402020080" + "00",  # a trailing byte after it
        "3004020212340000",  # not two INTEGERs
    ]:
        with pytest.raises(_der.DERError):
            sm2.Signature.from_der(bytes.fromhex(bad))


@settings(max_examples=15, deadline=None)
@given(plaintext=st.binary(min_size=1, max_size=100), data=st.data())
def test_encrypt_round_trip_and_tampering(key: sm2.PrivateKey, plaintext: bytes, data: st.DataObject) -> None:
    ct = sm2.encrypt(key.public_key, plaintext)
    assert len(ct) == 65 + 32 + len(plaintext)
    assert sm2.decrypt(key, ct) == plaintext
    bit = data.draw(st.integers(8, len(ct) * 8 - 1))  # any bit after the 04 marker
    with pytest.raises(DecryptionFailed):
        sm2.decrypt(key, _flip(ct, bit))


def test_decrypt_rejects_malformed_input(key: sm2.PrivateKey) -> None:
    ct = sm2.encrypt(key.public_key, b"sixteen byte key")
    for bad in (b"", ct[:97], b"\x02" + ct[1:], ct[:1] + bytes(64) + ct[65:]):
        with pytest.raises(DecryptionFailed):
            sm2.decrypt(key, bad)
    with pytest.raises(DecryptionFailed):
        sm2.decrypt(sm2.PrivateKey.generate(), ct)
    with pytest.raises(DecryptionFailed):
        sm2.ciphertext_from_der(b"\x30\x00")
    with pytest.raises(ValueError):
        sm2.encrypt(key.public_key, b"")


def test_key_encodings_round_trip(key: sm2.PrivateKey) -> None:
    pub = key.public_key
    assert len(pub.to_hex()) == 130 and pub.to_hex().startswith("04")
    assert sm2.PublicKey.from_hex(pub.to_hex().upper()) == pub
    assert sm2.PublicKey.from_bytes(pub.to_bytes(compressed=True)) == pub
    assert sm2.PublicKey.from_pem(pub.to_pem()) == pub
    assert sm2.PrivateKey.from_pem(key.to_pem()) == key
    assert sm2.PrivateKey.from_pem(key.to_sec1_pem()) == key
    assert sm2.PrivateKey.from_bytes(key.to_bytes()) == key


def test_invalid_keys_are_refused(key: sm2.PrivateKey) -> None:
    with pytest.raises(InvalidKey):
        sm2.PublicKey(sm2.GX, sm2.GY + 1)
    with pytest.raises(InvalidKey):
        sm2.PublicKey.from_hex("04" + "00" * 64)
    with pytest.raises(InvalidKey):
        sm2.PublicKey.from_hex("not hex")
    # A compressed key whose x has no point on the curve (x³ + ax + b is not a square mod p).
    x = next(x for x in range(1, 100) if pow((x**3 + sm2.A * x + sm2.B) % sm2.P, (sm2.P - 1) // 2, sm2.P) != 1)
    with pytest.raises(InvalidKey):
        sm2.PublicKey.from_bytes(b"\x02" + x.to_bytes(32, "big"))
    for d in (0, sm2.N - 1, sm2.N):
        with pytest.raises(InvalidKey):
            sm2.PrivateKey(d)
    with pytest.raises(InvalidKey):
        sm2.PrivateKey.from_pem(key.public_key.to_pem())
    with pytest.raises(InvalidKey):
        sm2.PublicKey.from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")


def test_private_key_repr_hides_the_secret(key: sm2.PrivateKey) -> None:
    text = repr(key) + str(key)
    assert key.to_bytes().hex() not in text.lower()
    assert f"{key._d:x}" not in text.lower()
    assert "hidden" in text


# --- interoperability with OpenSSL ---------------------------------------------------------------------

OPENSSL = shutil.which("openssl")


def _openssl_has_sm2() -> bool:
    if OPENSSL is None:
        return False
    probe = subprocess.run([OPENSSL, "ecparam", "-name", "SM2"], capture_output=True)
    return probe.returncode == 0


needs_openssl = pytest.mark.skipif(
    not _openssl_has_sm2(), reason="openssl CLI with SM2 support (OpenSSL ≥ 1.1.1) not available"
)


def _ssl(*args: str, data: bytes | None = None) -> bytes:
    assert OPENSSL is not None
    done = subprocess.run([OPENSSL, *args], input=data, capture_output=True)
    if done.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout


@pytest.fixture(scope="module")
def ossl_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A key pair generated by OpenSSL: (private PEM path, public PEM path)."""
    if not _openssl_has_sm2():
        pytest.skip("openssl CLI with SM2 support not available")
    d = tmp_path_factory.mktemp("ossl")
    priv, pub = d / "key.pem", d / "pub.pem"
    _ssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", str(priv))
    _ssl("pkey", "-in", str(priv), "-pubout", "-out", str(pub))
    return priv, pub


@needs_openssl
def test_curve_parameters_match_openssl() -> None:
    der = _ssl("ecparam", "-name", "SM2", "-param_enc", "explicit", "-outform", "DER")
    version, field, curve, base, order, cofactor = _der.items(_der.read_all(der, _der.SEQUENCE))
    assert _der.parse_integer(version[1]) == 1
    assert _der.parse_integer(_der.items(field[1])[1][1]) == sm2.P
    a, b = _der.items(curve[1])[:2]
    assert (int.from_bytes(a[1], "big"), int.from_bytes(b[1], "big")) == (sm2.A, sm2.B)
    assert base[1] == b"\x04" + sm2.GX.to_bytes(32, "big") + sm2.GY.to_bytes(32, "big")
    assert (_der.parse_integer(order[1]), _der.parse_integer(cofactor[1])) == (sm2.N, 1)


@needs_openssl
def test_openssl_confirms_the_standard_vectors(tmp_path: Path, vector_key: sm2.PrivateKey) -> None:
    """OpenSSL, independently, verifies the example signature and decrypts the example ciphertext."""
    (tmp_path / "k.pem").write_text(vector_key.to_pem())
    (tmp_path / "p.pem").write_text(vector_key.public_key.to_pem())
    (tmp_path / "m").write_bytes(b"message digest")
    (tmp_path / "sig").write_bytes(sm2.Signature(R, S).to_der())
    out = _ssl("pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "p.pem"), "-rawin", "-digest", "sm3",
               "-in", str(tmp_path / "m"), "-sigfile", str(tmp_path / "sig"),
               "-pkeyopt", "distid:1234567812345678")
    assert b"Signature Verified Successfully" in out
    ct = bytes.fromhex(ENC_C1 + ENC_C3 + ENC_C2)
    (tmp_path / "c").write_bytes(sm2.ciphertext_to_der(ct))
    plain = _ssl("pkeyutl", "-decrypt", "-inkey", str(tmp_path / "k.pem"), "-in", str(tmp_path / "c"))
    assert plain == b"encryption standard"
    # OpenSSL derives the same public key from our PKCS#8 file.
    assert _ssl("pkey", "-in", str(tmp_path / "k.pem"), "-pubout").decode() == vector_key.public_key.to_pem()


@needs_openssl
def test_openssl_generated_key_imports(ossl_key: tuple[Path, Path], tmp_path: Path) -> None:
    priv_path, pub_path = ossl_key
    priv = sm2.PrivateKey.from_pem(priv_path.read_text())
    pub = sm2.PublicKey.from_pem(pub_path.read_text())
    assert priv.public_key == pub
    assert pub.to_pem() == pub_path.read_text()  # byte-identical SubjectPublicKeyInfo
    # `ecparam -genkey` (EC PARAMETERS block first) and `ec` (OpenSSL 3 labels it SM2 PRIVATE KEY).
    ecparam = _ssl("ecparam", "-name", "SM2", "-genkey").decode()
    assert sm2.PrivateKey.from_pem(ecparam).public_key == sm2.PublicKey.from_pem(
        _ssl("pkey", "-pubout", data=ecparam.encode())
    )
    sec1 = _ssl("ec", "-in", str(priv_path)).decode()
    assert sm2.PrivateKey.from_pem(sec1) == priv


@needs_openssl
@pytest.mark.parametrize("uid", ["1234567812345678", "bank-api@example.cn"])
def test_openssl_signatures_verify_here(ossl_key: tuple[Path, Path], tmp_path: Path, uid: str) -> None:
    priv_path, pub_path = ossl_key
    pub = sm2.PublicKey.from_pem(pub_path.read_text())
    msg = "信易贷 batch 2026-11-15 #42".encode() * 3
    (tmp_path / "m").write_bytes(msg)
    sig_pkeyutl = _ssl("pkeyutl", "-sign", "-inkey", str(priv_path), "-rawin", "-digest", "sm3",
                       "-in", str(tmp_path / "m"), "-pkeyopt", f"distid:{uid}")
    sig_dgst = _ssl("dgst", "-sm3", "-sign", str(priv_path), "-sigopt", f"distid:{uid}", str(tmp_path / "m"))
    for der in (sig_pkeyutl, sig_dgst):
        sig = sm2.Signature.from_der(der)
        assert sm2.verify(pub, msg, sig, uid=uid.encode())
        assert not sm2.verify(pub, msg + b"x", sig, uid=uid.encode())


@needs_openssl
@pytest.mark.parametrize("uid", ["1234567812345678", "bank-api@example.cn"])
def test_our_signatures_verify_in_openssl(ossl_key: tuple[Path, Path], tmp_path: Path, uid: str) -> None:
    priv_path, pub_path = ossl_key
    priv = sm2.PrivateKey.from_pem(priv_path.read_text())
    msg = b"receipt: 1000 rows accepted"
    (tmp_path / "m").write_bytes(msg)
    (tmp_path / "sig").write_bytes(sm2.sign(priv, msg, uid=uid.encode()).to_der())
    out = _ssl("pkeyutl", "-verify", "-pubin", "-inkey", str(pub_path), "-rawin", "-digest", "sm3",
               "-in", str(tmp_path / "m"), "-sigfile", str(tmp_path / "sig"), "-pkeyopt", f"distid:{uid}")
    assert b"Signature Verified Successfully" in out
    out = _ssl("dgst", "-sm3", "-verify", str(pub_path), "-sigopt", f"distid:{uid}",
               "-signature", str(tmp_path / "sig"), str(tmp_path / "m"))
    assert b"Verified OK" in out


@needs_openssl
def test_suite_signature_verifies_in_openssl(tmp_path: Path) -> None:
    suite = get_suite("sm")
    identity = suite.generate_identity()
    pub = sm2.PublicKey.from_hex(identity.public_bundle()["sign"])
    (tmp_path / "p.pem").write_text(pub.to_pem())
    (tmp_path / "m").write_bytes(b"audit checkpoint 7")
    (tmp_path / "sig").write_bytes(suite.sign(identity, b"audit checkpoint 7"))
    out = _ssl("pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "p.pem"), "-rawin", "-digest", "sm3",
               "-in", str(tmp_path / "m"), "-sigfile", str(tmp_path / "sig"),
               "-pkeyopt", "distid:1234567812345678")
    assert b"Signature Verified Successfully" in out


@needs_openssl
def test_openssl_encryption_decrypts_here(ossl_key: tuple[Path, Path], tmp_path: Path) -> None:
    priv_path, pub_path = ossl_key
    priv = sm2.PrivateKey.from_pem(priv_path.read_text())
    for plain in (b"k", bytes(range(16)), "授信额度 500 万元".encode() * 10):
        (tmp_path / "m").write_bytes(plain)
        der = _ssl("pkeyutl", "-encrypt", "-pubin", "-inkey", str(pub_path), "-in", str(tmp_path / "m"))
        assert sm2.decrypt(priv, sm2.ciphertext_from_der(der)) == plain


@needs_openssl
def test_our_encryption_decrypts_in_openssl(ossl_key: tuple[Path, Path], tmp_path: Path) -> None:
    priv_path, pub_path = ossl_key
    pub = sm2.PublicKey.from_pem(pub_path.read_text())
    for plain in (b"k", bytes(range(16)), "授信额度 500 万元".encode() * 10):
        (tmp_path / "c").write_bytes(sm2.ciphertext_to_der(sm2.encrypt(pub, plain)))
        assert _ssl("pkeyutl", "-decrypt", "-inkey", str(priv_path), "-in", str(tmp_path / "c")) == plain


@needs_openssl
def test_non_sm2_keys_are_refused(tmp_path: Path) -> None:
    p256 = _ssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256").decode()
    with pytest.raises(InvalidKey):
        sm2.PrivateKey.from_pem(p256)
    with pytest.raises(InvalidKey):
        sm2.PublicKey.from_pem(_ssl("pkey", "-pubout", data=p256.encode()))
