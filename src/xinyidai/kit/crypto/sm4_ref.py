"""A small pure-Python SM4 block cipher (GB/T 32907), written from the standard's description.

Not used to protect data: it exists so the tests can check the standard's known answers, and
OpenSSL's SM4, against a second implementation that shares no code with OpenSSL. It is slow
(about 20 µs a block) and makes no attempt at constant time.
"""

from __future__ import annotations

from functools import cache

# The S-box, GB/T 32907 §6.2 Table 1, row by row.
SBOX = bytes.fromhex(
    "d690e9fecce13db716b614c228fb2c05"
    "2b679a762abe04c3aa44132649860699"
    "9c4250f491ef987a33540b43edcfac62"
    "e4b31ca9c908e89580df94fa758f3fa6"
    "4707a7fcf37317ba83593c19e6854fa8"
    "686b81b27164da8bf8eb0f4b70569d35"
    "1e240e5e6358d1a225227c3b01217887"
    "d40046579fd327524c3602e7a0c4c89e"
    "eabf8ad240c738b5a3f7f2cef96115a1"
    "e0ae5da49b341a55ad933230f58cb1e3"
    "1df6e22e8266ca60c02923ab0d534e6f"
    "d5db3745defd8e2f03ff6a726d6c5b51"
    "8d1baf92bbddbc7f11d95c411f105ad8"
    "0ac13188a5cd7bbd2d74d012b8e5b4b0"
    "8969974a0c96777e65b9f109c56ec684"
    "18f07dec3adc4d2079ee5f3ed7cb3948"
)
FK = (0xA3B1BAC6, 0x56AA3350, 0x677D9197, 0xB27022DC)
# CK_i = (ck_i0, ck_i1, ck_i2, ck_i3) with ck_ij = (4i + j) · 7 mod 256 (§7.3).
CK = tuple(
    int.from_bytes(bytes(((4 * i + j) * 7) % 256 for j in range(4)), "big") for i in range(32)
)
_M32 = 0xFFFFFFFF


def _rotl(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & _M32


def _tau(x: int) -> int:
    """The S-box applied to each of the four bytes of a word."""
    return int.from_bytes(bytes(SBOX[b] for b in x.to_bytes(4, "big")), "big")


def _l_round(b: int) -> int:
    return b ^ _rotl(b, 2) ^ _rotl(b, 10) ^ _rotl(b, 18) ^ _rotl(b, 24)


def _l_key(b: int) -> int:
    return b ^ _rotl(b, 13) ^ _rotl(b, 23)


@cache
def _tables() -> tuple[list[int], list[int], list[int], list[int]]:
    """T = L∘τ is linear over the four bytes, so it splits into four 256-entry lookups."""
    t0 = [_l_round(SBOX[i] << 24) for i in range(256)]
    return t0, [_rotl(v, 24) for v in t0], [_rotl(v, 16) for v in t0], [_rotl(v, 8) for v in t0]


def round_keys(key: bytes) -> list[int]:
    """The 32 round keys rk_0 … rk_31 (§7.3)."""
    if len(key) != 16:
        raise ValueError("SM4 key must be 16 bytes")
    k = [int.from_bytes(key[4 * i : 4 * i + 4], "big") ^ FK[i] for i in range(4)]
    for i in range(32):
        k.append(k[i] ^ _l_key(_tau(k[i + 1] ^ k[i + 2] ^ k[i + 3] ^ CK[i])))
    return k[4:]


def _crypt(rk: list[int] | tuple[int, ...], block: bytes) -> bytes:
    if len(block) != 16:
        raise ValueError("SM4 block must be 16 bytes")
    t0, t1, t2, t3 = _tables()
    x0, x1, x2, x3 = (int.from_bytes(block[i : i + 4], "big") for i in range(0, 16, 4))
    for r in rk:
        a = x1 ^ x2 ^ x3 ^ r
        x0, x1, x2, x3 = x1, x2, x3, x0 ^ t0[a >> 24] ^ t1[(a >> 16) & 0xFF] ^ t2[(a >> 8) & 0xFF] ^ t3[a & 0xFF]
    # The reverse transform R: output (X35, X34, X33, X32).
    return b"".join(v.to_bytes(4, "big") for v in (x3, x2, x1, x0))


def encrypt_block(key: bytes, block: bytes) -> bytes:
    return _crypt(round_keys(key), block)


def decrypt_block(key: bytes, block: bytes) -> bytes:
    """Decryption is the same network with the round keys in reverse order (§7.2)."""
    return _crypt(round_keys(key)[::-1], block)


class SM4Ref:
    """Round keys expanded once, for many blocks under one key (the million-round known answer)."""

    def __init__(self, key: bytes) -> None:
        self._enc = tuple(round_keys(key))
        self._dec = self._enc[::-1]

    def __repr__(self) -> str:
        return "SM4Ref(<key hidden>)"

    def encrypt(self, block: bytes) -> bytes:
        return _crypt(self._enc, block)

    def decrypt(self, block: bytes) -> bytes:
        return _crypt(self._dec, block)

    def encrypt_repeated(self, block: bytes, times: int) -> bytes:
        """Encrypt `times` times, feeding each ciphertext back in, without leaving the word domain."""
        t0, t1, t2, t3 = _tables()
        rk = self._enc
        x0, x1, x2, x3 = (int.from_bytes(block[i : i + 4], "big") for i in range(0, 16, 4))
        for _ in range(times):
            for r in rk:
                a = x1 ^ x2 ^ x3 ^ r
                x0, x1, x2, x3 = x1, x2, x3, x0 ^ t0[a >> 24] ^ t1[(a >> 16) & 0xFF] ^ t2[(a >> 8) & 0xFF] ^ t3[a & 0xFF]
            x0, x1, x2, x3 = x3, x2, x1, x0
        return b"".join(v.to_bytes(4, "big") for v in (x0, x1, x2, x3))
