"""The canonical string of a signed request, written from the specification in the node's OpenAPI document
(the "金融机构的接口认证" part) and deliberately not imported from the server: the tests compare the two.

    XYD-SIG-V1 \\n METHOD \\n path \\n query \\n SM3(body) hex \\n timestamp \\n nonce

Percent-encoding keeps A–Z a–z 0–9 - _ . ~ (and "/" in the path) and writes every other UTF-8 byte as %XX
in upper-case hex. The query is decoded as a form (`+` is a space), each key and value encoded again, the
pairs sorted by (encoded key, encoded value) and joined with "&".
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from xinyidai.kit.crypto import sm3

VERSION = "XYD-SIG-V1"
H_KEY_ID = "X-XYD-Key-Id"
H_TIMESTAMP = "X-XYD-Timestamp"
H_NONCE = "X-XYD-Nonce"
H_SIGNATURE = "X-XYD-Signature"
H_API_KEY = "X-Api-Key"
H_REQUEST_ID = "X-Request-Id"

_KEEP = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_HEX = "0123456789ABCDEF"


def percent_encode(text: str, *, keep_slash: bool = False) -> str:
    """Every UTF-8 byte outside the unreserved set (and "/" when `keep_slash`) as %XX."""
    out = []
    for b in text.encode("utf-8"):
        if b in _KEEP or (keep_slash and b == 0x2F):
            out.append(chr(b))
        else:
            out.append("%" + _HEX[b >> 4] + _HEX[b & 15])
    return "".join(out)


def _unhex(c: int) -> int | None:
    if 48 <= c <= 57:
        return c - 48
    if 65 <= c <= 70 or 97 <= c <= 102:
        return (c | 32) - 87
    return None


def form_decode(text: str) -> str:
    """One query key or value as a form decodes it: "+" is a space, %XX a byte (a stray "%" stays), the
    bytes UTF-8 (an invalid sequence becomes U+FFFD)."""
    raw = text.replace("+", " ").encode("utf-8")
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw[i] == 0x25 and i + 2 < len(raw):
            hi, lo = _unhex(raw[i + 1]), _unhex(raw[i + 2])
            if hi is not None and lo is not None:
                out.append(hi * 16 + lo)
                i += 3
                continue
        out.append(raw[i])
        i += 1
    return out.decode("utf-8", errors="replace")


def parse_query(query: str) -> list[tuple[str, str]]:
    """A raw query string's parameters, decoded; empty parts are skipped, a part without "=" has value ""."""
    pairs = []
    for part in (query or "").split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((form_decode(key), form_decode(value)))
    return pairs


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    encoded = sorted((percent_encode(k), percent_encode(v)) for k, v in params)
    return "&".join(f"{k}={v}" for k, v in encoded)


def encode_query(params: Iterable[tuple[str, str]]) -> str:
    """The query string to send for decoded parameters (in the given order): what the server decodes back."""
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in params)


def body_digest(body: bytes) -> str:
    return sm3.hexdigest(body)


def canonical_string(method: str, path: str, params: Iterable[tuple[str, str]], body: bytes, timestamp: str,
                     nonce: str) -> bytes:
    """The bytes the signature covers: `path` decoded (as the server's router sees it), `params` decoded."""
    lines = [VERSION, method.upper(), percent_encode(path, keep_slash=True), canonical_query(params),
             body_digest(body), timestamp, nonce]
    return "\n".join(lines).encode("utf-8")


def new_nonce() -> str:
    """24 characters of A–Z a–z 0–9 _ - (144 random bits)."""
    return secrets.token_urlsafe(18)


@dataclass(frozen=True)
class SignedHeaders:
    key_id: str
    timestamp: str
    nonce: str
    signature: str

    def as_dict(self) -> dict[str, str]:
        return {H_KEY_ID: self.key_id, H_TIMESTAMP: self.timestamp, H_NONCE: self.nonce,
                H_SIGNATURE: self.signature}
