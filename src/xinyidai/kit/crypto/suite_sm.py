"""The `sm` suite: SM2 signatures (DER, default user ID), SM3 / HMAC-SM3, SM4-GCM, SM2-wrapped SM4 keys.

`seal_for` blob: 0x01 ‖ SM2(C1‖C3‖C2) of a fresh 16-byte SM4 key (113 bytes) ‖ SM4-GCM(nonce‖ct‖tag).
The version byte and wrapped key are part of the GCM AAD, so neither can be swapped without detection.
"""

from __future__ import annotations

from collections.abc import Mapping

from xinyidai.kit.crypto import der, sm2, sm3, sm4
from xinyidai.kit.crypto.base import Identity, PublicBundle, Suite
from xinyidai.kit.crypto.errors import DecryptionFailed, InvalidKey

_VERSION = b"\x01"
_WRAPPED = 65 + sm3.DIGEST_SIZE + sm4.KEY_SIZE  # C1 ‖ C3 ‖ C2 for a 16-byte key
_HEADER = len(_VERSION) + _WRAPPED


class SMSuite(Suite):
    name = "sm"
    key_size = sm4.KEY_SIZE
    digest_size = sm3.DIGEST_SIZE

    def _identity(self, sign: sm2.PrivateKey, enc: sm2.PrivateKey) -> Identity:
        bundle = {"suite": self.name, "sign": sign.public_key.to_hex(), "enc": enc.public_key.to_hex()}
        return Identity(self, sign, enc, bundle)

    def generate_identity(self) -> Identity:
        return self._identity(sm2.PrivateKey.generate(), sm2.PrivateKey.generate())

    def normalize_bundle(self, public_bundle: Mapping[str, str]) -> PublicBundle:
        sign, enc = self._bundle_fields(public_bundle)
        return {
            "suite": self.name,
            "sign": sm2.PublicKey.from_hex(sign).to_hex(),
            "enc": sm2.PublicKey.from_hex(enc).to_hex(),
        }

    def dump_identity(self, identity: Identity) -> bytes:
        self._own(identity)
        return self._dump_fields(identity._sign_key.to_bytes(), identity._enc_key.to_bytes())

    def load_identity(self, data: bytes) -> Identity:
        sign, enc = self._identity_fields(data)
        try:
            return self._identity(
                sm2.PrivateKey.from_bytes(bytes.fromhex(sign)), sm2.PrivateKey.from_bytes(bytes.fromhex(enc))
            )
        except ValueError:
            raise InvalidKey("私钥数据格式无效") from None

    def digest(self, data: bytes) -> bytes:
        return sm3.digest(data)

    def mac(self, key: bytes, data: bytes) -> bytes:
        return sm3.hmac_sm3(key, data)

    def sign(self, identity: Identity, message: bytes) -> bytes:
        self._own(identity)
        return sm2.sign(identity._sign_key, message).to_der()

    def verify(self, public_bundle: Mapping[str, str], message: bytes, signature: bytes) -> bool:
        sign_hex, _ = self._bundle_fields(public_bundle)
        public = sm2.PublicKey.from_hex(sign_hex)
        try:
            sig = sm2.Signature.from_der(bytes(signature))
        except (der.DERError, TypeError, ValueError):
            return False
        return sm2.verify(public, message, sig)

    def seal(self, key: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        return sm4.seal(key, plaintext, aad)

    def open_(self, key: bytes, blob: bytes, aad: bytes = b"") -> bytes:
        return sm4.open_(key, blob, aad)

    def seal_for(self, public_bundle: Mapping[str, str], plaintext: bytes, aad: bytes = b"") -> bytes:
        _, enc_hex = self._bundle_fields(public_bundle)
        recipient = sm2.PublicKey.from_hex(enc_hex)
        key = self.new_key()
        header = _VERSION + sm2.encrypt(recipient, key)
        return header + sm4.seal(key, plaintext, header + aad)

    def open_sealed(self, identity: Identity, blob: bytes, aad: bytes = b"") -> bytes:
        self._own(identity)
        if len(blob) < _HEADER + sm4.NONCE_SIZE + sm4.TAG_SIZE or blob[:1] != _VERSION:
            raise DecryptionFailed()
        header = blob[:_HEADER]
        key = sm2.decrypt(identity._enc_key, header[1:])
        return sm4.open_(key, blob[_HEADER:], header + aad)
