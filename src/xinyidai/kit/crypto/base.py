"""The crypto `Suite` interface, and what both implementations share: `Identity`, public bundles, canonical JSON.

* `sm` (default): SM2 signatures and key wrapping, SM3 digests and HMAC, SM4-GCM — the Chinese
  national algorithms that regulated counterparties (banks, government platforms) expect.
* `intl`: Ed25519, SHA-256 and HMAC-SHA256, X25519 + HKDF-SHA256 and AES-256-GCM.

Callers hold an `Identity` (private keys, never shown in a repr) and exchange *public bundles*, plain
JSON-able dicts such as `{"suite": "sm", "sign": "04…", "enc": "04…"}`, identified by `key_id`.
Signing and encryption keys are separate pairs in both suites, so a key used to decrypt never signs.
"""

from __future__ import annotations

import json
import secrets
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from xinyidai.kit.crypto.errors import BadSignature, CryptoError, InvalidKey

PublicBundle = dict[str, str]


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """One byte string per value: sorted keys, no spaces — what fingerprints and AADs are computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


class Identity:
    """A node's (or bank's) private keys for one suite: a signing key and a decryption key.

    The key objects are suite-specific and opaque here. Neither repr nor str shows private material.
    """

    __slots__ = ("suite", "_impl", "_sign_key", "_enc_key", "_bundle")

    def __init__(self, impl: Suite, sign_key: Any, enc_key: Any, bundle: Mapping[str, str]) -> None:
        self.suite = impl.name
        self._impl = impl  # the suite that made it, which knows how to name and dump its keys
        self._sign_key = sign_key
        self._enc_key = enc_key
        self._bundle = dict(bundle)

    def public_bundle(self) -> PublicBundle:
        return dict(self._bundle)

    @property
    def key_id(self) -> str:
        return self._impl.key_id(self._bundle)

    def to_bytes(self) -> bytes:
        """The private keys, serialized (JSON). Secret: store only encrypted (see `keystore`)."""
        return self._impl.dump_identity(self)

    def __repr__(self) -> str:
        return f"Identity(suite={self.suite!r}, key_id={self.key_id!r}, private=<hidden>)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        # Pickling would put private keys into caches or task queues unencrypted; use to_bytes knowingly.
        raise TypeError("Identity 不可序列化为 pickle；请使用 to_bytes() 并加密保存")


class Suite(ABC):
    """What the rest of the platform may ask of cryptography. Get one with `get_suite(name)`."""

    name: ClassVar[str]
    key_size: ClassVar[int]  # bytes of a symmetric key for `seal` / `open_`
    digest_size: ClassVar[int]

    # --- identities and public bundles

    @abstractmethod
    def generate_identity(self) -> Identity: ...

    @abstractmethod
    def normalize_bundle(self, public_bundle: Mapping[str, str]) -> PublicBundle:
        """Validate a public bundle and return its canonical form; raises `InvalidKey`."""

    def key_id(self, public_bundle: Mapping[str, str]) -> str:
        """Short fingerprint: first 128 bits of the suite digest of the canonical bundle, hex."""
        return self.hexdigest(canonical_json(self.normalize_bundle(public_bundle)))[:32]

    @abstractmethod
    def dump_identity(self, identity: Identity) -> bytes: ...

    @abstractmethod
    def load_identity(self, data: bytes) -> Identity:
        """Inverse of `dump_identity`; raises `InvalidKey`."""

    # --- digests and MACs

    @abstractmethod
    def digest(self, data: bytes) -> bytes: ...

    def hexdigest(self, data: bytes) -> str:
        return self.digest(data).hex()

    @abstractmethod
    def mac(self, key: bytes, data: bytes) -> bytes: ...

    # --- signatures

    @abstractmethod
    def sign(self, identity: Identity, message: bytes) -> bytes: ...

    @abstractmethod
    def verify(self, public_bundle: Mapping[str, str], message: bytes, signature: bytes) -> bool:
        """True only for a valid signature. A wrong or malformed signature gives False, never an
        exception; only a malformed *bundle* raises `InvalidKey`."""

    def require_signature(self, public_bundle: Mapping[str, str], message: bytes, signature: bytes) -> None:
        """`verify`, raising `BadSignature` instead of returning False."""
        if not self.verify(public_bundle, message, signature):
            raise BadSignature()

    # --- symmetric authenticated encryption

    def new_key(self) -> bytes:
        return secrets.token_bytes(self.key_size)

    @abstractmethod
    def seal(self, key: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        """nonce ‖ ciphertext ‖ tag; `aad` is authenticated, not encrypted, and not included."""

    @abstractmethod
    def open_(self, key: bytes, blob: bytes, aad: bytes = b"") -> bytes:
        """Inverse of `seal`; raises `DecryptionFailed`."""

    # --- encryption to a recipient

    @abstractmethod
    def seal_for(self, public_bundle: Mapping[str, str], plaintext: bytes, aad: bytes = b"") -> bytes:
        """Encrypt for the holder of the bundle's `enc` key: a fresh symmetric key wrapped for them."""

    @abstractmethod
    def open_sealed(self, identity: Identity, blob: bytes, aad: bytes = b"") -> bytes:
        """Inverse of `seal_for`; raises `DecryptionFailed` for anything wrong."""

    # --- helpers for implementations

    def _own(self, identity: Identity) -> None:
        if identity.suite != self.name:
            raise CryptoError(f"密钥属于 {identity.suite} 套件，不能用于 {self.name} 套件", code="CRYPTO_SUITE_MISMATCH")

    def _bundle_fields(self, public_bundle: Mapping[str, str]) -> tuple[str, str]:
        if not isinstance(public_bundle, Mapping) or public_bundle.get("suite") != self.name:
            raise InvalidKey(f"公钥包不属于 {self.name} 套件")
        sign, enc = public_bundle.get("sign"), public_bundle.get("enc")
        if not isinstance(sign, str) or not isinstance(enc, str) or set(public_bundle) != {"suite", "sign", "enc"}:
            raise InvalidKey("公钥包应恰好包含 suite、sign、enc 三项")
        return sign, enc

    def _identity_fields(self, data: bytes) -> tuple[str, str]:
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise InvalidKey("私钥数据格式无效") from None
        if not isinstance(doc, dict) or doc.get("suite") != self.name or doc.get("v") != 1:
            raise InvalidKey(f"私钥数据不属于 {self.name} 套件")
        sign, enc = doc.get("sign"), doc.get("enc")
        if not isinstance(sign, str) or not isinstance(enc, str):
            raise InvalidKey("私钥数据格式无效")
        return sign, enc

    def _dump_fields(self, sign: bytes, enc: bytes) -> bytes:
        return canonical_json({"v": 1, "suite": self.name, "sign": sign.hex(), "enc": enc.hex()})

    def __repr__(self) -> str:
        return f"<Suite {self.name}>"
