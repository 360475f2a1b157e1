"""SM3 digests (GB/T 32905) through OpenSSL's C implementation in hashlib."""

from __future__ import annotations

import hashlib


def sm3_hex(data: bytes) -> str:
    return hashlib.new("sm3", data).hexdigest()


def sm3_stream():  # noqa: ANN201 - hashlib's hash object type is private
    return hashlib.new("sm3")
