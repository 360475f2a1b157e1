"""The node's own key as the rest of the code needs it: a `Signer` for audit checkpoints and verification
receipts, and a verifier of signatures made by any suite's key.

The identity is loaded once per process from the encrypted key file under the var directory (created on
first start); the private key never leaves the `Identity` object.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

from xinyidai.kit.audit import Signer
from xinyidai.kit.crypto.keystore import load_or_create_identity
from xinyidai.kit.crypto.suite import Identity, get_suite


def signer_for(identity: Identity) -> Signer:
    suite = get_suite(identity.suite)
    return Signer(suite=identity.suite, key_id=identity.key_id, public_key=dict(identity.public_bundle()),
                  sign=lambda message: suite.sign(identity, message))


_cache: dict[tuple[str, str], Identity] = {}
_lock = threading.Lock()


def node_identity(var_dir: Path, suite_name: str) -> Identity:
    """This node's identity, unsealed once per process (scrypt costs ~0.5 s and 128 MiB)."""
    key = (str(Path(var_dir).resolve()), suite_name)
    with _lock:
        if key not in _cache:
            _cache[key] = load_or_create_identity(var_dir, suite_name)
        return _cache[key]


def node_signer(var_dir: Path, suite_name: str) -> Signer:
    return signer_for(node_identity(var_dir, suite_name))


def verify_signature(suite_name: str, public_bundle: Mapping[str, str], message: bytes, signature: bytes) -> bool:
    """True only for a valid signature by that key; any malformed input is simply not valid."""
    try:
        return get_suite(suite_name).verify(public_bundle, message, signature)
    except Exception:  # noqa: BLE001 - a verifier answers yes or no
        return False
