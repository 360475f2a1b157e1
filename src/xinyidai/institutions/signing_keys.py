"""Institutions' request-signing keys: their accepted forms and signature verification.

A bank registers a bare *signing* public key (SM2 or Ed25519). The crypto `Suite` works with node public
bundles (a signing and an encryption key together), so this module goes to the same primitives the suites
use — `kit.crypto.sm2` for SM2 and OpenSSL's Ed25519 through `cryptography` — with one signing key only.

Stored form: lower-case hex, always — SM2 as the uncompressed point 04‖x‖y (130 digits), Ed25519 as its
32 raw bytes (64 digits). PEM (SubjectPublicKeyInfo) is accepted on registration and converted.

Signatures travel as hex: SM2 as DER (what OpenSSL and GmSSL write) or raw r‖s (64 bytes), computed with
the default user ID "1234567812345678" (GM/T 0009); Ed25519 as its 64 bytes.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from xinyidai.kit.crypto import sm2
from xinyidai.kit.crypto.errors import CryptoError
from xinyidai.kit.errors import InvalidInput

KINDS = ("sm2", "ed25519")


def _bad(message: str) -> InvalidInput:
    return InvalidInput(message, code="BAD_PUBLIC_KEY")


def normalise_public_key(kind: str, public_key: str) -> str:
    """Validate a signing public key (hex or PEM) and return its stored hex form; raises InvalidInput."""
    if kind not in KINDS:
        raise InvalidInput(f"签名密钥类型必须是 {'、'.join(KINDS)} 之一", code="BAD_CREDENTIAL_KIND")
    text = (public_key or "").strip()
    if len(text) > 2000:
        raise _bad("公钥过长")
    if text.startswith("-----BEGIN"):
        return _from_pem(kind, text)
    hexed = text.lower().removeprefix("0x")
    for ch in ": \r\n\t":
        hexed = hexed.replace(ch, "")
    try:
        raw = bytes.fromhex(hexed)
    except ValueError:
        raise _bad("公钥应为十六进制或 PEM 格式") from None
    if kind == "sm2":
        if len(raw) == 64:  # x‖y without the 04 marker
            raw = b"\x04" + raw
        try:
            return sm2.PublicKey.from_bytes(raw).to_hex()
        except CryptoError:
            raise _bad("SM2 公钥应为曲线上的有效点：未压缩 04‖x‖y（130 位十六进制）或压缩格式") from None
    if len(raw) != 32:
        raise _bad("Ed25519 公钥应为 32 字节（64 位十六进制）")
    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise _bad("Ed25519 公钥无效") from None
    return raw.hex()


def _from_pem(kind: str, text: str) -> str:
    if kind == "sm2":
        try:
            return sm2.PublicKey.from_pem(text).to_hex()
        except (CryptoError, ValueError):
            raise _bad("SM2 公钥 PEM 无效（应为 SubjectPublicKeyInfo，曲线 sm2p256v1）") from None
    try:
        key = serialization.load_pem_public_key(text.encode())
    except (ValueError, TypeError):
        raise _bad("Ed25519 公钥 PEM 无效") from None
    if not isinstance(key, Ed25519PublicKey):
        raise _bad("PEM 中的公钥不是 Ed25519 公钥")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def verify(kind: str, public_key_hex: str, message: bytes, signature: bytes) -> bool:
    """True only for a valid signature; any malformed key or signature gives False, never an exception."""
    try:
        if kind == "sm2":
            key = sm2.PublicKey.from_hex(public_key_hex)
            if len(signature) == 64:
                sig = sm2.Signature.from_raw(signature)
            else:
                sig = sm2.Signature.from_der(signature)
            return sm2.verify(key, message, sig)
        if kind == "ed25519":
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex)).verify(signature, message)
            return True
    except (InvalidSignature, CryptoError, ValueError, TypeError):
        return False
    return False
