"""The `intl` suite: Ed25519, SHA-256 / HMAC-SHA256, AES-256-GCM, X25519 + HKDF-SHA256 — all OpenSSL
through `cryptography`.

`seal_for` blob: 0x01 ‖ ephemeral X25519 public key (32) ‖ AES-256-GCM(nonce‖ct‖tag), the key being
HKDF-SHA256(ECDH(ephemeral, recipient), info = label ‖ ephemeral ‖ recipient). Binding both public
keys into the derivation keeps a blob from being re-targeted; the header is also in the GCM AAD.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from functools import lru_cache

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from xinyidai.kit.crypto.base import Identity, PublicBundle, Suite
from xinyidai.kit.crypto.errors import CryptoError, DecryptionFailed, InvalidKey

_VERSION = b"\x01"
_LABEL = b"xinyidai/intl/seal_for/v1"
_NONCE = 12
_TAG = 16
_RAW = 32
_HEADER = len(_VERSION) + _RAW


def _raw_hex(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise InvalidKey("公钥不是有效的十六进制") from None
    if len(raw) != _RAW:
        raise InvalidKey("Ed25519 / X25519 公钥应为 32 字节")
    return raw


@lru_cache(maxsize=1024)
def _ed_public(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_raw_hex(text))


@lru_cache(maxsize=1024)
def _x_public(text: str) -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(_raw_hex(text))


def _pub_raw(key: Ed25519PublicKey | X25519PublicKey) -> bytes:
    return key.public_bytes_raw()


class IntlSuite(Suite):
    name = "intl"
    key_size = 32
    digest_size = 32

    def _identity(self, sign: Ed25519PrivateKey, enc: X25519PrivateKey) -> Identity:
        bundle = {
            "suite": self.name,
            "sign": _pub_raw(sign.public_key()).hex(),
            "enc": _pub_raw(enc.public_key()).hex(),
        }
        return Identity(self, sign, enc, bundle)

    def generate_identity(self) -> Identity:
        return self._identity(Ed25519PrivateKey.generate(), X25519PrivateKey.generate())

    def normalize_bundle(self, public_bundle: Mapping[str, str]) -> PublicBundle:
        sign, enc = self._bundle_fields(public_bundle)
        return {"suite": self.name, "sign": _raw_hex(sign).hex(), "enc": _raw_hex(enc).hex()}

    def dump_identity(self, identity: Identity) -> bytes:
        self._own(identity)
        return self._dump_fields(identity._sign_key.private_bytes_raw(), identity._enc_key.private_bytes_raw())

    def load_identity(self, data: bytes) -> Identity:
        sign, enc = self._identity_fields(data)
        try:
            return self._identity(
                Ed25519PrivateKey.from_private_bytes(bytes.fromhex(sign)),
                X25519PrivateKey.from_private_bytes(bytes.fromhex(enc)),
            )
        except ValueError:
            raise InvalidKey("私钥数据格式无效") from None

    def digest(self, data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    def mac(self, key: bytes, data: bytes) -> bytes:
        return hmac.digest(key, data, "sha256")

    def sign(self, identity: Identity, message: bytes) -> bytes:
        self._own(identity)
        return identity._sign_key.sign(message)

    def verify(self, public_bundle: Mapping[str, str], message: bytes, signature: bytes) -> bool:
        sign_hex, _ = self._bundle_fields(public_bundle)
        public = _ed_public(sign_hex.lower())
        try:
            public.verify(bytes(signature), message)
        except (InvalidSignature, TypeError, ValueError):
            return False
        return True

    def _aead(self, key: bytes) -> AESGCM:
        if len(key) != self.key_size:
            raise CryptoError("AES-256-GCM 密钥必须为 32 字节", code="CRYPTO_BAD_KEY_SIZE")
        return AESGCM(key)

    def seal(self, key: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        return nonce + self._aead(key).encrypt(nonce, plaintext, aad)

    def open_(self, key: bytes, blob: bytes, aad: bytes = b"") -> bytes:
        aead = self._aead(key)
        if len(blob) < _NONCE + _TAG:
            raise DecryptionFailed()
        try:
            return aead.decrypt(blob[:_NONCE], blob[_NONCE:], aad)
        except InvalidTag:
            raise DecryptionFailed() from None

    @staticmethod
    def _derive(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
        return HKDF(hashes.SHA256(), 32, salt=None, info=_LABEL + ephemeral + recipient).derive(shared)

    def seal_for(self, public_bundle: Mapping[str, str], plaintext: bytes, aad: bytes = b"") -> bytes:
        _, enc_hex = self._bundle_fields(public_bundle)
        recipient = _x_public(enc_hex.lower())
        ephemeral = X25519PrivateKey.generate()
        eph_raw = _pub_raw(ephemeral.public_key())
        key = self._derive(ephemeral.exchange(recipient), eph_raw, _pub_raw(recipient))
        header = _VERSION + eph_raw
        return header + self.seal(key, plaintext, header + aad)

    def open_sealed(self, identity: Identity, blob: bytes, aad: bytes = b"") -> bytes:
        self._own(identity)
        if len(blob) < _HEADER + _NONCE + _TAG or blob[:1] != _VERSION:
            raise DecryptionFailed()
        header = blob[:_HEADER]
        eph_raw = header[1:]
        try:
            # cryptography refuses low-order points (an all-zero shared secret) with ValueError.
            shared = identity._enc_key.exchange(X25519PublicKey.from_public_bytes(eph_raw))
        except ValueError:
            raise DecryptionFailed() from None
        key = self._derive(shared, eph_raw, _pub_raw(identity._enc_key.public_key()))
        return self.open_(key, blob[_HEADER:], header + aad)
