"""Cryptography for the credit-service network: signatures between nodes, encryption to a node,
receipts, audit checkpoints, bank request signing, and node keys at rest.

Two suites behind one interface (`suite.Suite`): `sm` — SM2/SM3/SM4, the default — and `intl` —
Ed25519/SHA-256/AES-GCM. Start with `get_suite()`; keys on disk go through `keystore`.
"""

from __future__ import annotations

from xinyidai.kit.crypto.errors import (
    BadSignature,
    CryptoError,
    DecryptionFailed,
    InvalidKey,
    KeystoreError,
    KeystoreTampered,
    WrongPassphrase,
)
from xinyidai.kit.crypto.suite import DEFAULT_SUITE, SUITES, Identity, Suite, get_suite, load_identity

__all__ = [
    "DEFAULT_SUITE",
    "SUITES",
    "BadSignature",
    "CryptoError",
    "DecryptionFailed",
    "Identity",
    "InvalidKey",
    "KeystoreError",
    "KeystoreTampered",
    "Suite",
    "WrongPassphrase",
    "get_suite",
    "load_identity",
]
