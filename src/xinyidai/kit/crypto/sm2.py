"""SM2 (GB/T 32918, GM/T 0003) on the recommended curve sm2p256v1, in pure Python.

Why pure Python: `cryptography` does not expose SM2, and the project adds no dependency. What is here:

* key generation (`secrets`), keys as raw bytes, 04‖x‖y hex, and PEM/DER that OpenSSL reads and
  writes (PKCS#8, SEC1 and SubjectPublicKeyInfo with curve OID 1.2.156.10197.1.301);
* signatures over SM3(Z‖M) with the user-identity hash Z (default ID "1234567812345678"),
  as DER (SEQUENCE of two INTEGERs, what OpenSSL writes) or raw r‖s;
* public-key encryption in C1‖C3‖C2 order (GM/T 0003.4-2012 as revised), and OpenSSL's DER form.

Speed comes from Jacobian coordinates with a = −3 doubling, a fixed-base table of G (32 windows of
8 bits, built once on first use, ~0.1 s), width-5 wNAF for points seen once, and a small comb table
kept on a `PublicKey` from its second use (peers' keys are verified again and again; the suite caches
`PublicKey` objects by hex). Inversions use `pow(x, -1, p)`.

Limitation — side channels: Python integer arithmetic is not constant-time. The fixed-base
multiplication used for signing nonces does a fixed number of additions (so short nonces are not
faster), but operand-dependent timing inside CPython remains. Verification and encryption handle only
public values. Acceptable for keys on a server the operator controls; not for a setting where an
attacker can precisely time very many private-key operations (co-tenant on the same CPU, say).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
from functools import cache, lru_cache
from typing import NamedTuple

from xinyidai.kit.crypto import der, sm3
from xinyidai.kit.crypto.errors import DecryptionFailed, InvalidKey

# Recommended curve parameters, GB/T 32918.5 §3 (checked against OpenSSL's explicit parameters in tests).
P = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFF_00000000_FFFFFFFF_FFFFFFFF
A = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFF_00000000_FFFFFFFF_FFFFFFFC
B = 0x28E9FA9E_9D9F5E34_4D5A9E4B_CF6509A7_F39789F5_15AB8F92_DDBCBD41_4D940E93
N = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_7203DF6B_21C6052B_53BBF409_39D54123
GX = 0x32C4AE2C_1F198119_5F990446_6A39C994_8FE30BBF_F2660BE1_715A4589_334C74C7
GY = 0xBC3736A2_F4F6779C_59BDCEE3_6B692153_D0A9877C_C62A4740_02DF32E5_2139F0A0

DEFAULT_UID = b"1234567812345678"
OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_SM2 = "1.2.156.10197.1.301"

_INF = (1, 1, 0)  # the point at infinity in Jacobian coordinates: Z = 0
_WINDOW = 8  # fixed-base window, bits
_WNAF = 5  # variable-base wNAF width (points seen once: ciphertext C1 on decryption)
_TEETH = 5  # comb for a public key used repeatedly (a peer's key): 31 points, 52 doublings
_COLS = -(-256 // _TEETH)

Jacobian = tuple[int, int, int]


# --- field and group arithmetic -------------------------------------------------------------------


def _double(x1: int, y1: int, z1: int) -> Jacobian:
    """2·P in Jacobian coordinates; a = −3 lets 3(X−Z²)(X+Z²) replace 3X² + aZ⁴."""
    if not z1:
        return _INF
    p = P
    delta = z1 * z1 % p
    gamma = y1 * y1 % p
    beta = x1 * gamma % p
    alpha = 3 * (x1 - delta) * (x1 + delta) % p
    x3 = (alpha * alpha - 8 * beta) % p
    return x3, (alpha * (4 * beta - x3) - 8 * gamma * gamma) % p, 2 * y1 * z1 % p


def _add_affine(x1: int, y1: int, z1: int, x2: int, y2: int) -> Jacobian:
    """P (Jacobian) + Q (affine, not infinity): the cheaper "mixed" addition."""
    if not z1:
        return x2, y2, 1
    p = P
    z1z1 = z1 * z1 % p
    h = (x2 * z1z1 - x1) % p
    r = (y2 * z1 * z1z1 - y1) % p
    if not h:
        return _double(x1, y1, z1) if not r else _INF
    hh = h * h % p
    hhh = h * hh % p
    v = x1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    return x3, (r * (v - x3) - y1 * hhh) % p, z1 * h % p


def _add(x1: int, y1: int, z1: int, x2: int, y2: int, z2: int) -> Jacobian:
    if not z1:
        return x2, y2, z2
    if not z2:
        return x1, y1, z1
    p = P
    z1z1 = z1 * z1 % p
    z2z2 = z2 * z2 % p
    u1 = x1 * z2z2 % p
    s1 = y1 * z2 * z2z2 % p
    h = (x2 * z1z1 - u1) % p
    r = (y2 * z1 * z1z1 - s1) % p
    if not h:
        return _double(x1, y1, z1) if not r else _INF
    hh = h * h % p
    hhh = h * hh % p
    v = u1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    return x3, (r * (v - x3) - s1 * hhh) % p, z1 * z2 * h % p


def _to_affine(pt: Jacobian) -> tuple[int, int] | None:
    x, y, z = pt
    if not z:
        return None
    zi = pow(z, -1, P)
    zi2 = zi * zi % P
    return x * zi2 % P, y * zi2 * zi % P


def _batch_to_affine(points: list[Jacobian]) -> list[tuple[int, int]]:
    """Many points to affine with one inversion (Montgomery's trick); none may be infinity."""
    p = P
    prefix = []
    acc = 1
    for _, _, z in points:
        prefix.append(acc)
        acc = acc * z % p
    inv = pow(acc, -1, p)
    out: list[tuple[int, int]] = [(0, 0)] * len(points)
    for i in range(len(points) - 1, -1, -1):
        x, y, z = points[i]
        zi = inv * prefix[i] % p
        inv = inv * z % p
        zi2 = zi * zi % p
        out[i] = (x * zi2 % p, y * zi2 * zi % p)
    return out


def on_curve(x: int, y: int) -> bool:
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


@cache
def _g_table() -> list[list[tuple[int, int]]]:
    """table[i][j] = j · 2^(8i) · G (affine), j = 0 … 255 (entry 0 unused): k·G is ≤ 32 additions."""
    size = 1 << _WINDOW
    table = []
    bx, by = GX, GY
    for _ in range(256 // _WINDOW):
        row = [(bx, by, 1)]
        for _ in range(size - 2):
            row.append(_add_affine(*row[-1], bx, by))
        affine = _batch_to_affine(row)
        table.append([(0, 0), *affine])
        # 2^8 · base = 2 · (128 · base), the next window's base.
        nxt = _to_affine(_double(*row[size // 2 - 1]))
        assert nxt is not None
        bx, by = nxt
    return table


def _mul_g(k: int) -> Jacobian:
    """k·G with the fixed-base table, 0 ≤ k < N.

    Always 33 additions of full cost: the sum starts at G (taken off at the end) rather than at
    infinity, and a zero byte adds into a throw-away sum. Otherwise a signing nonce with leading
    zero bytes would be measurably faster — the leak lattice attacks on (EC)DSA-style nonces use.
    """
    table = _g_table()
    x, y, z = GX, GY, 1
    (wx, wy), wz = table[0][2], 1  # the throw-away sum, from 2G so it never meets a doubling case
    for i, byte in enumerate(k.to_bytes(32, "little")):
        if byte:
            qx, qy = table[i][byte]
            x, y, z = _add_affine(x, y, z, qx, qy)
        else:
            qx, qy = table[i][1]
            wx, wy, wz = _add_affine(wx, wy, wz, qx, qy)
    return _add_affine(x, y, z, GX, P - GY)


def _wnaf(k: int) -> list[int]:
    """Width-w non-adjacent form, least significant digit first; digits odd or zero, |d| < 2^(w−1)."""
    digits = []
    full, half = 1 << _WNAF, 1 << (_WNAF - 1)
    while k:
        if k & 1:
            d = k & (full - 1)
            if d >= half:
                d -= full
            k -= d
        else:
            d = 0
        digits.append(d)
        k >>= 1
    return digits


def _mul(k: int, px: int, py: int) -> Jacobian:
    """k·P for an arbitrary affine point P (wNAF with the odd multiples P, 3P, …, 15P)."""
    twice = _to_affine(_double(px, py, 1))
    assert twice is not None  # the group has odd order: 2P is never infinity
    odd = [(px, py, 1)]
    for _ in range((1 << (_WNAF - 2)) - 1):
        odd.append(_add_affine(*odd[-1], *twice))
    pre = _batch_to_affine(odd)
    p = P
    x, y, z = _INF
    for d in reversed(_wnaf(k)):
        x, y, z = _double(x, y, z)
        if d > 0:
            qx, qy = pre[d >> 1]
            x, y, z = _add_affine(x, y, z, qx, qy)
        elif d < 0:
            qx, qy = pre[(-d) >> 1]
            x, y, z = _add_affine(x, y, z, qx, p - qy)
    return x, y, z


def _comb_table(px: int, py: int) -> list[tuple[int, int]]:
    """Lim–Lee comb for P: table[m] = Σ_{bit j of m} 2^(j·52)·P (affine), m = 1 … 31.

    Building it costs about one wNAF multiplication (208 doublings); then each k·P is 52 doublings
    and ≤ 52 additions instead of 256 and ~43.
    """
    bases = [(px, py, 1)]
    for _ in range(_TEETH - 1):
        x, y, z = bases[-1]
        for _ in range(_COLS):
            x, y, z = _double(x, y, z)
        bases.append((x, y, z))
    affine_bases = _batch_to_affine(bases)
    rows: list[Jacobian] = [_INF]
    for m in range(1, 1 << _TEETH):
        top = m.bit_length() - 1
        rest = m ^ (1 << top)
        bx, by = affine_bases[top]
        rows.append(_add_affine(*rows[rest], bx, by) if rest else (bx, by, 1))
    return [(0, 0), *_batch_to_affine(rows[1:])]


def _mul_comb(k: int, table: list[tuple[int, int]]) -> Jacobian:
    mask = (1 << _COLS) - 1
    chunks = [(k >> (j * _COLS)) & mask for j in range(_TEETH - 1, -1, -1)]  # highest tooth first
    x, y, z = _INF
    for i in range(_COLS - 1, -1, -1):
        x, y, z = _double(x, y, z)
        m = 0
        for chunk in chunks:
            m = (m << 1) | ((chunk >> i) & 1)
        if m:
            qx, qy = table[m]
            x, y, z = _add_affine(x, y, z, qx, qy)
    return x, y, z


# --- keys ------------------------------------------------------------------------------------------


def _int32(v: int) -> bytes:
    return v.to_bytes(32, "big")


class PublicKey:
    """A point on sm2p256v1, validated on construction (on the curve; cofactor 1 makes that enough)."""

    __slots__ = ("x", "y", "_used", "_comb")

    def __init__(self, x: int, y: int) -> None:
        if not on_curve(x, y):
            raise InvalidKey("SM2 公钥不是曲线上的有效点")
        self.x = x
        self.y = y
        self._used = False
        self._comb: list[tuple[int, int]] | None = None

    def _multiply(self, k: int) -> Jacobian:
        """k·self: wNAF the first time; from the second, a comb table kept with the key (~6 KB of
        public data), since a key used twice — a peer's, a bank's — is likely to be used many times."""
        if self._comb is None:
            if not self._used:
                self._used = True
                return _mul(k, self.x, self.y)
            self._comb = _comb_table(self.x, self.y)
        return _mul_comb(k, self._comb)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and (self.x, self.y) == (other.x, other.y)

    def __hash__(self) -> int:
        return hash((self.x, self.y))

    def __repr__(self) -> str:
        return f"sm2.PublicKey({self.to_hex()[:18]}…)"

    # raw points

    def to_bytes(self, *, compressed: bool = False) -> bytes:
        if compressed:
            return bytes([2 | (self.y & 1)]) + _int32(self.x)
        return b"\x04" + _int32(self.x) + _int32(self.y)

    def to_hex(self) -> str:
        """Uncompressed 04‖x‖y, lower-case hex (130 characters)."""
        return self.to_bytes().hex()

    @classmethod
    def from_bytes(cls, data: bytes) -> PublicKey:
        """04‖x‖y, or a compressed 02/03‖x."""
        if len(data) == 65 and data[0] == 4:
            return cls(int.from_bytes(data[1:33], "big"), int.from_bytes(data[33:], "big"))
        if len(data) == 33 and data[0] in (2, 3):
            x = int.from_bytes(data[1:], "big")
            if x >= P:
                raise InvalidKey("SM2 公钥不是曲线上的有效点")
            rhs = (x * x * x + A * x + B) % P
            y = pow(rhs, (P + 1) // 4, P)  # P ≡ 3 (mod 4)
            if y & 1 != data[0] & 1:
                y = P - y
            return cls(x, y)
        raise InvalidKey("SM2 公钥应为 65 字节未压缩格式（04‖x‖y）或 33 字节压缩格式")

    @classmethod
    def from_hex(cls, text: str) -> PublicKey:
        return _public_from_hex(text.strip().lower())

    # DER / PEM (SubjectPublicKeyInfo)

    def to_der(self) -> bytes:
        return der.sequence(
            der.sequence(der.oid(OID_EC_PUBLIC_KEY), der.oid(OID_SM2)), der.bit_string(self.to_bytes())
        )

    def to_pem(self) -> str:
        return _pem_wrap("PUBLIC KEY", self.to_der())

    @classmethod
    def from_der(cls, data: bytes) -> PublicKey:
        try:
            parts = der.items(der.read_all(data, der.SEQUENCE))
            if len(parts) != 2 or parts[0][0] != der.SEQUENCE or parts[1][0] != der.BIT_STRING:
                raise der.DERError("not a SubjectPublicKeyInfo")
            _check_algorithm(parts[0][1])
            return cls.from_bytes(der.parse_bit_string(parts[1][1]))
        except der.DERError:
            raise InvalidKey("SM2 公钥 DER 编码无效") from None

    @classmethod
    def from_pem(cls, text: str | bytes) -> PublicKey:
        label, der = _pem_unwrap(text)
        if label != "PUBLIC KEY":
            raise InvalidKey("应为 PUBLIC KEY 格式的 PEM")
        return cls.from_der(der)


@lru_cache(maxsize=1024)
def _public_from_hex(text: str) -> PublicKey:
    """Bundles carry keys as hex and verifiers see the same few peers again and again."""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise InvalidKey("SM2 公钥不是有效的十六进制") from None
    return PublicKey.from_bytes(raw)


class PrivateKey:
    """An SM2 private key d ∈ [1, n−2]. Its repr never shows d."""

    __slots__ = ("_d", "_public", "_inv1d")

    def __init__(self, d: int) -> None:
        if not 1 <= d <= N - 2:  # (1 + d) must be invertible mod n for signing
            raise InvalidKey("SM2 私钥超出有效范围")
        self._d = d
        xy = _to_affine(_mul_g(d))
        assert xy is not None
        self._public = PublicKey(*xy)
        self._inv1d = pow(1 + d, -1, N)

    @classmethod
    def generate(cls) -> PrivateKey:
        return cls(secrets.randbelow(N - 2) + 1)

    @property
    def public_key(self) -> PublicKey:
        return self._public

    def __repr__(self) -> str:
        return f"sm2.PrivateKey(<hidden>, public={self._public.to_hex()[:18]}…)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrivateKey) and hmac.compare_digest(self.to_bytes(), other.to_bytes())

    def __hash__(self) -> int:
        return hash(self._public)

    def to_bytes(self) -> bytes:
        return _int32(self._d)

    @classmethod
    def from_bytes(cls, data: bytes) -> PrivateKey:
        if len(data) != 32:
            raise InvalidKey("SM2 私钥应为 32 字节")
        return cls(int.from_bytes(data, "big"))

    # DER / PEM

    def _ec_private_key(self, *, with_params: bool) -> bytes:
        """SEC1 ECPrivateKey; PKCS#8 leaves the curve to its AlgorithmIdentifier, as OpenSSL does."""
        params = der.explicit(0, der.oid(OID_SM2)) if with_params else b""
        public = der.explicit(1, der.bit_string(self._public.to_bytes()))
        return der.sequence(der.integer(1), der.octet_string(self.to_bytes()), params, public)

    def to_der(self) -> bytes:
        """PKCS#8 PrivateKeyInfo (unencrypted: the keystore encrypts the whole identity)."""
        return der.sequence(
            der.integer(0),
            der.sequence(der.oid(OID_EC_PUBLIC_KEY), der.oid(OID_SM2)),
            der.octet_string(self._ec_private_key(with_params=False)),
        )

    def to_pem(self) -> str:
        return _pem_wrap("PRIVATE KEY", self.to_der())

    def to_sec1_pem(self) -> str:
        return _pem_wrap("EC PRIVATE KEY", self._ec_private_key(with_params=True))

    @classmethod
    def from_der(cls, data: bytes) -> PrivateKey:
        """PKCS#8 PrivateKeyInfo or a bare SEC1 ECPrivateKey."""
        try:
            parts = der.items(der.read_all(data, der.SEQUENCE))
            if len(parts) == 3 and parts[1][0] == der.SEQUENCE:  # PKCS#8
                if parts[0][0] != der.INTEGER or der.parse_integer(parts[0][1]) != 0:
                    raise der.DERError("unsupported PKCS#8 version")
                _check_algorithm(parts[1][1])
                if parts[2][0] != der.OCTET_STRING:
                    raise der.DERError("bad PKCS#8")
                return cls._from_sec1(parts[2][1])
            return cls._from_sec1(data)
        except der.DERError:
            raise InvalidKey("SM2 私钥 DER 编码无效") from None

    @classmethod
    def _from_sec1(cls, data: bytes) -> PrivateKey:
        parts = der.items(der.read_all(data, der.SEQUENCE))
        if len(parts) < 2 or parts[0] != (der.INTEGER, b"\x01") or parts[1][0] != der.OCTET_STRING:
            raise der.DERError("not an ECPrivateKey")
        key = cls.from_bytes(parts[1][1].rjust(32, b"\x00"))
        for tag, content in parts[2:]:
            if tag == 0xA0 and der.parse_oid(der.read_all(content, der.OID)) != OID_SM2:
                raise InvalidKey("不是 SM2 曲线上的密钥")
            if tag == 0xA1:
                stored = PublicKey.from_bytes(der.parse_bit_string(der.read_all(content, der.BIT_STRING)))
                if stored != key.public_key:
                    raise InvalidKey("私钥文件中的公钥与私钥不匹配")
        return key

    @classmethod
    def from_pem(cls, text: str | bytes) -> PrivateKey:
        label, der = _pem_unwrap(text)
        # "SM2 PRIVATE KEY" is what OpenSSL 3 `openssl ec` writes for the same SEC1 structure.
        if label not in ("PRIVATE KEY", "EC PRIVATE KEY", "SM2 PRIVATE KEY"):
            raise InvalidKey("应为 PRIVATE KEY 或 EC PRIVATE KEY 格式的 PEM（不支持加密的 PEM）")
        return cls.from_der(der)


def _check_algorithm(content: bytes) -> None:
    """AlgorithmIdentifier: id-ecPublicKey (or OpenSSL 1.1's SM2 OID) with the SM2 named curve."""
    parts = der.items(content)
    if not parts or parts[0][0] != der.OID:
        raise der.DERError("bad AlgorithmIdentifier")
    algorithm = der.parse_oid(parts[0][1])
    curve = der.parse_oid(parts[1][1]) if len(parts) > 1 and parts[1][0] == der.OID else None
    if algorithm not in (OID_EC_PUBLIC_KEY, OID_SM2) or (algorithm == OID_EC_PUBLIC_KEY and curve != OID_SM2):
        raise InvalidKey("不是 SM2 曲线（1.2.156.10197.1.301）上的密钥")


def _pem_wrap(label: str, der: bytes) -> str:
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)


def _pem_unwrap(text: str | bytes) -> tuple[str, bytes]:
    """The first key block; `openssl ecparam -genkey` puts an EC (or SM2) PARAMETERS block before it."""
    if isinstance(text, bytes):
        text = text.decode("ascii", errors="replace")
    for match in _PEM_BLOCK.finditer(text):
        label, body = match.group(1), match.group(2)
        if label.endswith(" PARAMETERS"):
            continue
        if ":" in body:  # legacy encrypted PEM headers (Proc-Type, DEK-Info)
            raise InvalidKey("不支持加密的 PEM，请先解密")
        try:
            return label, base64.b64decode("".join(body.split()), validate=True)
        except binascii.Error:
            raise InvalidKey("PEM 内容不是有效的 Base64") from None
    raise InvalidKey("不是 PEM 格式")


# --- signatures ------------------------------------------------------------------------------------


class Signature(NamedTuple):
    r: int
    s: int

    def to_der(self) -> bytes:
        return der.sequence(der.integer(self.r), der.integer(self.s))

    def to_raw(self) -> bytes:
        """r‖s, 64 bytes."""
        return _int32(self.r) + _int32(self.s)

    @classmethod
    def from_der(cls, data: bytes) -> Signature:
        """Strict DER: a second encoding of the same (r, s) is rejected, not accepted."""
        parts = der.items(der.read_all(data, der.SEQUENCE))
        if len(parts) != 2 or parts[0][0] != der.INTEGER or parts[1][0] != der.INTEGER:
            raise der.DERError("not an SM2 signature")
        return cls(der.parse_integer(parts[0][1]), der.parse_integer(parts[1][1]))

    @classmethod
    def from_raw(cls, data: bytes) -> Signature:
        if len(data) != 64:
            raise ValueError("raw SM2 signature must be 64 bytes")
        return cls(int.from_bytes(data[:32], "big"), int.from_bytes(data[32:], "big"))


def z_digest(public_key: PublicKey, uid: bytes = DEFAULT_UID) -> bytes:
    """Z_A = SM3(ENTL_A ‖ ID_A ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A), ENTL_A the ID length in bits (16-bit)."""
    if len(uid) * 8 > 0xFFFF:
        raise ValueError("SM2 user ID is too long")
    return sm3.digest(
        (len(uid) * 8).to_bytes(2, "big")
        + uid
        + b"".join(_int32(v) for v in (A, B, GX, GY, public_key.x, public_key.y))
    )


def message_digest(public_key: PublicKey, message: bytes, uid: bytes = DEFAULT_UID) -> bytes:
    """e = SM3(Z_A ‖ M), the value actually signed."""
    h = sm3.new(z_digest(public_key, uid))
    h.update(message)
    return h.digest()


def sign_digest(private_key: PrivateKey, e: bytes, *, _k: int | None = None) -> Signature:
    """Sign a precomputed e = SM3(Z‖M). `_k` fixes the nonce: for known-answer tests only."""
    d = private_key._d
    ev = int.from_bytes(e, "big")
    while True:
        k = _k if _k is not None else secrets.randbelow(N - 1) + 1
        xy = _to_affine(_mul_g(k))
        assert xy is not None
        r = (ev + xy[0]) % N
        s = private_key._inv1d * (k - r * d) % N if r and r + k != N else 0
        if s:
            return Signature(r, s)
        if _k is not None:
            raise ValueError("the fixed test nonce gives a degenerate signature")


def verify_digest(public_key: PublicKey, e: bytes, signature: Signature) -> bool:
    r, s = signature
    if not (1 <= r < N and 1 <= s < N):
        return False
    t = (r + s) % N
    if not t:
        return False
    point = _to_affine(_add(*_mul_g(s), *public_key._multiply(t)))
    return point is not None and (int.from_bytes(e, "big") + point[0]) % N == r


def sign(private_key: PrivateKey, message: bytes, *, uid: bytes = DEFAULT_UID, _k: int | None = None) -> Signature:
    return sign_digest(private_key, message_digest(private_key.public_key, message, uid), _k=_k)


def verify(public_key: PublicKey, message: bytes, signature: Signature, *, uid: bytes = DEFAULT_UID) -> bool:
    """True only for a valid signature; never raises on a wrong one."""
    return verify_digest(public_key, message_digest(public_key, message, uid), signature)


# --- encryption ------------------------------------------------------------------------------------

_C1 = 65
_C3 = sm3.DIGEST_SIZE


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def encrypt(public_key: PublicKey, plaintext: bytes, *, _k: int | None = None) -> bytes:
    """C1 ‖ C3 ‖ C2: C1 = k·G uncompressed, C3 = SM3(x2 ‖ M ‖ y2), C2 = M ⊕ KDF(x2 ‖ y2, |M|).

    For short secrets (a symmetric key); the cost is two scalar multiplications whatever the size.
    `_k` fixes the ephemeral scalar: for known-answer tests only.
    """
    if not plaintext:
        raise ValueError("SM2 encryption needs a non-empty plaintext")
    while True:
        k = _k if _k is not None else secrets.randbelow(N - 1) + 1
        c1 = _to_affine(_mul_g(k))
        shared = _to_affine(public_key._multiply(k))
        assert c1 is not None and shared is not None
        x2, y2 = _int32(shared[0]), _int32(shared[1])
        t = sm3.kdf(x2 + y2, len(plaintext))
        if any(t):
            break
        if _k is not None:
            raise ValueError("the fixed test nonce gives an all-zero key stream")
    c3 = sm3.digest(x2 + plaintext + y2)
    return b"\x04" + _int32(c1[0]) + _int32(c1[1]) + c3 + _xor(plaintext, t)


def decrypt(private_key: PrivateKey, ciphertext: bytes) -> bytes:
    """Inverse of `encrypt`; any malformed or altered ciphertext raises `DecryptionFailed`."""
    if len(ciphertext) <= _C1 + _C3 or ciphertext[0] != 4:
        raise DecryptionFailed()
    x1, y1 = int.from_bytes(ciphertext[1:33], "big"), int.from_bytes(ciphertext[33:65], "big")
    if not on_curve(x1, y1):
        raise DecryptionFailed()
    c3, c2 = ciphertext[_C1 : _C1 + _C3], ciphertext[_C1 + _C3 :]
    shared = _to_affine(_mul(private_key._d, x1, y1))
    assert shared is not None
    x2, y2 = _int32(shared[0]), _int32(shared[1])
    t = sm3.kdf(x2 + y2, len(c2))
    if not any(t):
        raise DecryptionFailed()
    plaintext = _xor(c2, t)
    if not hmac.compare_digest(sm3.digest(x2 + plaintext + y2), c3):
        raise DecryptionFailed()
    return plaintext


def ciphertext_to_der(ciphertext: bytes) -> bytes:
    """C1‖C3‖C2 → GM/T 0009 SM2Cipher (SEQUENCE {x, y INTEGER, hash, ciphertext OCTET STRING}), as OpenSSL."""
    if len(ciphertext) <= _C1 + _C3 or ciphertext[0] != 4:
        raise ValueError("not a C1C3C2 SM2 ciphertext")
    return der.sequence(
        der.integer(int.from_bytes(ciphertext[1:33], "big")),
        der.integer(int.from_bytes(ciphertext[33:65], "big")),
        der.octet_string(ciphertext[_C1 : _C1 + _C3]),
        der.octet_string(ciphertext[_C1 + _C3 :]),
    )


def ciphertext_from_der(data: bytes) -> bytes:
    """GM/T 0009 SM2Cipher (OpenSSL's `pkeyutl -encrypt` output) → C1‖C3‖C2."""
    try:
        parts = der.items(der.read_all(data, der.SEQUENCE))
        tags = [tag for tag, _ in parts]
        if tags != [der.INTEGER, der.INTEGER, der.OCTET_STRING, der.OCTET_STRING]:
            raise der.DERError("not an SM2Cipher")
        x, y = der.parse_integer(parts[0][1]), der.parse_integer(parts[1][1])
        if x >= P or y >= P or len(parts[2][1]) != _C3:
            raise der.DERError("bad SM2Cipher fields")
    except der.DERError:
        raise DecryptionFailed() from None
    return b"\x04" + _int32(x) + _int32(y) + parts[2][1] + parts[3][1]
