"""An institution's private signing key: SM2 (the national algorithm, the default) or Ed25519.

SM2 keys read and write the PEM OpenSSL uses (`openssl genpkey -algorithm SM2` writes PKCS#8
"PRIVATE KEY"; "EC PRIVATE KEY" / "SM2 PRIVATE KEY" SEC1 are read too); signatures are DER over SM3(Z‖M)
with the default user ID 1234567812345678. Ed25519 goes through `cryptography` (OpenSSL). Private keys are
never sent anywhere: the platform is given `public_hex` (or `public_pem`) once, by its operator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from xinyidai.kit.crypto import sm2


class SigningKey(Protocol):
    kind: str

    def sign(self, message: bytes) -> bytes: ...

    @property
    def public_hex(self) -> str: ...


class SM2Key:
    """An SM2 private key on curve sm2p256v1."""

    kind = "sm2"

    def __init__(self, key: sm2.PrivateKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> SM2Key:
        return cls(sm2.PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: str | bytes) -> SM2Key:
        return cls(sm2.PrivateKey.from_pem(pem))

    @classmethod
    def load(cls, path: str | Path) -> SM2Key:
        return cls.from_pem(Path(path).read_bytes())

    def to_pem(self) -> str:
        """PKCS#8, unencrypted: keep the file readable by the signing service only."""
        return self._key.to_pem()

    @property
    def public_hex(self) -> str:
        """The uncompressed point 04‖x‖y, lower-case hex (130 digits): what the platform stores."""
        return self._key.public_key.to_hex()

    @property
    def public_pem(self) -> str:
        return self._key.public_key.to_pem()

    def sign(self, message: bytes) -> bytes:
        """DER signature over SM3(Z‖message), Z with user ID 1234567812345678 (GM/T 0009)."""
        return sm2.sign(self._key, message).to_der()

    def __repr__(self) -> str:
        return f"SM2Key(public={self.public_hex[:18]}…)"


class Ed25519Key:
    """An Ed25519 private key (RFC 8032)."""

    kind = "ed25519"

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> Ed25519Key:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: str | bytes) -> Ed25519Key:
        key = serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("PEM 中的私钥不是 Ed25519 私钥")
        return cls(key)

    @classmethod
    def load(cls, path: str | Path) -> Ed25519Key:
        return cls.from_pem(Path(path).read_bytes())

    def to_pem(self) -> str:
        return self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()).decode("ascii")

    @property
    def public_hex(self) -> str:
        """The 32 raw public-key bytes, lower-case hex (64 digits)."""
        return self._key.public_key().public_bytes(serialization.Encoding.Raw,
                                                   serialization.PublicFormat.Raw).hex()

    @property
    def public_pem(self) -> str:
        return self._key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"Ed25519Key(public={self.public_hex[:16]}…)"
