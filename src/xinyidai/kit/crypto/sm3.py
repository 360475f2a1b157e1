"""SM3 (GB/T 32905, GM/T 0004), HMAC-SM3 and the SM2 key-derivation function (GM/T 0003.4 §5.4.3).

The hash itself is OpenSSL's C implementation through `hashlib`; this module only adds the two
constructions built on it that the SM suite needs.
"""

from __future__ import annotations

import hashlib
import hmac

from xinyidai.kit.digest import sm3_hex, sm3_stream

DIGEST_SIZE = 32

__all__ = ["DIGEST_SIZE", "digest", "hexdigest", "hmac_sm3", "kdf", "new"]


def new(data: bytes = b""):  # noqa: ANN201 - hashlib's hash object type is private
    """A streaming SM3 object (`update`, `digest`) for data that does not fit in memory."""
    h = sm3_stream()
    if data:
        h.update(data)
    return h


def digest(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


def hexdigest(data: bytes) -> str:
    return sm3_hex(data)


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC (RFC 2104) over SM3. The string digest name keeps the whole MAC inside OpenSSL."""
    return hmac.digest(key, data, "sm3")


def kdf(z: bytes, length: int) -> bytes:
    """GM/T 0003 KDF: SM3(Z ‖ ct) for ct = 1, 2, … (32-bit big-endian), concatenated and truncated."""
    if length < 0:
        raise ValueError("length must be non-negative")
    blocks = -(-length // DIGEST_SIZE)
    base = hashlib.new("sm3", z)
    out = bytearray()
    for counter in range(1, blocks + 1):
        h = base.copy()  # Z is hashed once; each block only adds its counter
        h.update(counter.to_bytes(4, "big"))
        out += h.digest()
    return bytes(out[:length])
