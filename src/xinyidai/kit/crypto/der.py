"""The little DER (X.690) the SM2 key, signature and ciphertext formats need — strict on input.

Strict means: definite minimal lengths, minimal non-negative INTEGERs, no trailing bytes. A lax
parser would let one signature have several encodings (malleability) and hide garbage in key files.
"""

from __future__ import annotations

INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
OID = 0x06
SEQUENCE = 0x30


class DERError(ValueError):
    """Malformed or non-canonical DER; callers turn it into their own typed error."""


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _length(len(content)) + content


def integer(value: int) -> bytes:
    if value < 0:
        raise ValueError("only non-negative INTEGERs are needed here")
    # One extra byte when the top bit is set, so the value does not read as negative.
    return tlv(INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def octet_string(data: bytes) -> bytes:
    return tlv(OCTET_STRING, data)


def bit_string(data: bytes) -> bytes:
    return tlv(BIT_STRING, b"\x00" + data)


def sequence(*parts: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(parts))


def explicit(number: int, content: bytes) -> bytes:
    """A constructed context-specific tag [number] around one encoded value."""
    return tlv(0xA0 | number, content)


def oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return tlv(OID, bytes(body))


def read(data: bytes, pos: int = 0) -> tuple[int, bytes, int]:
    """One TLV at `pos`: (tag, content, position after it)."""
    if pos + 2 > len(data):
        raise DERError("truncated")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DERError("multi-byte tags are not used here")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise DERError("bad length")
        length = int.from_bytes(data[pos : pos + count], "big")
        if length < 0x80 or data[pos] == 0:
            raise DERError("non-minimal length")
        pos += count
    end = pos + length
    if end > len(data):
        raise DERError("truncated")
    return tag, data[pos:end], end


def read_all(data: bytes, tag: int) -> bytes:
    """The content of `data`, which must be exactly one TLV with `tag`."""
    got, content, end = read(data)
    if got != tag or end != len(data):
        raise DERError("unexpected structure")
    return content


def items(content: bytes) -> list[tuple[int, bytes]]:
    """The (tag, content) pairs inside a constructed value."""
    out = []
    pos = 0
    while pos < len(content):
        tag, body, pos = read(content, pos)
        out.append((tag, body))
    return out


def parse_integer(content: bytes) -> int:
    if not content:
        raise DERError("empty INTEGER")
    if content[0] & 0x80:
        raise DERError("negative INTEGER")
    if len(content) > 1 and content[0] == 0 and not content[1] & 0x80:
        raise DERError("non-minimal INTEGER")
    return int.from_bytes(content, "big")


def parse_oid(content: bytes) -> str:
    if not content or content[-1] & 0x80:
        raise DERError("bad OID")
    arcs: list[int] = []
    value = 0
    for byte in content:
        if value == 0 and byte == 0x80:
            raise DERError("non-minimal OID arc")
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(a) for a in head + arcs[1:])


def parse_bit_string(content: bytes) -> bytes:
    if not content or content[0] != 0:
        raise DERError("only whole-byte BIT STRINGs are used here")
    return content[1:]
