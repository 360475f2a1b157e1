"""The crypto `Suite`: one small interface (`base`), two algorithm families behind it (`suite_sm`,
`suite_intl`); callers ask this module for a suite by name and need not know which module implements it.

* `sm` (default): SM2 signatures and key wrapping, SM3 digests and HMAC, SM4-GCM — the Chinese
  national algorithms that regulated counterparties (banks, government platforms) expect.
* `intl`: Ed25519, SHA-256 and HMAC-SHA256, X25519 + HKDF-SHA256 and AES-256-GCM.
"""

from __future__ import annotations

import json

from xinyidai.kit.crypto.base import Identity, PublicBundle, Suite, canonical_json
from xinyidai.kit.crypto.errors import CryptoError, InvalidKey
from xinyidai.kit.crypto.suite_intl import IntlSuite
from xinyidai.kit.crypto.suite_sm import SMSuite

DEFAULT_SUITE = "sm"
SUITES = ("sm", "intl")
_IMPLEMENTATIONS: dict[str, type[Suite]] = {"sm": SMSuite, "intl": IntlSuite}
_instances: dict[str, Suite] = {}


def get_suite(name: str = DEFAULT_SUITE) -> Suite:
    """The suite called `name` ("sm" or "intl"); raises `CryptoError` for any other name."""
    suite = _instances.get(name)
    if suite is None:
        if name not in _IMPLEMENTATIONS:
            raise CryptoError(f"未知的密码套件：{name!r}（可选 sm、intl）", code="CRYPTO_UNKNOWN_SUITE")
        suite = _instances[name] = _IMPLEMENTATIONS[name]()
    return suite


def load_identity(data: bytes) -> Identity:
    """An identity serialized by `Identity.to_bytes`, whatever its suite."""
    try:
        name = json.loads(data).get("suite")
    except (ValueError, UnicodeDecodeError, AttributeError):
        raise InvalidKey("私钥数据格式无效") from None
    if name not in SUITES:
        raise InvalidKey("私钥数据的套件未知")
    return get_suite(name).load_identity(data)


__all__ = ["DEFAULT_SUITE", "SUITES", "Identity", "PublicBundle", "Suite", "canonical_json", "get_suite",
           "load_identity"]
