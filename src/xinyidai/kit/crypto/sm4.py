"""SM4 (GB/T 32907, GM/T 0002) authenticated encryption: SM4-GCM through OpenSSL via `cryptography`.

`seal` returns nonce ‖ ciphertext ‖ tag with a fresh random 96-bit nonce (RFC 8998 uses SM4-GCM the
same way). Random nonces are safe up to about 2³² messages under one key; the suite uses a fresh key
per sealed-for-recipient message and the keystore one per file, far below that.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from xinyidai.kit.crypto.errors import CryptoError, DecryptionFailed

KEY_SIZE = 16
BLOCK_SIZE = 16
NONCE_SIZE = 12
TAG_SIZE = 16


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise CryptoError("SM4 密钥必须为 16 字节", code="CRYPTO_BAD_KEY_SIZE")


def seal_with_nonce(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """SM4-GCM with a caller-chosen nonce: only for known-answer tests. Use `seal`."""
    _check_key(key)
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    if aad:
        enc.authenticate_additional_data(aad)
    body = enc.update(plaintext) + enc.finalize()
    return nonce + body + enc.tag


def seal(key: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """Encrypt and authenticate `plaintext`, and authenticate `aad`: nonce ‖ ct ‖ tag."""
    return seal_with_nonce(key, secrets.token_bytes(NONCE_SIZE), plaintext, aad)


def open_(key: bytes, blob: bytes, aad: bytes = b"") -> bytes:
    """Inverse of `seal`; any change to blob, aad or key raises `DecryptionFailed`."""
    _check_key(key)
    if len(blob) < NONCE_SIZE + TAG_SIZE:
        raise DecryptionFailed()
    nonce, body, tag = blob[:NONCE_SIZE], blob[NONCE_SIZE:-TAG_SIZE], blob[-TAG_SIZE:]
    dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    if aad:
        dec.authenticate_additional_data(aad)
    try:
        return dec.update(body) + dec.finalize()
    except InvalidTag:
        raise DecryptionFailed() from None


def encrypt_block(key: bytes, block: bytes) -> bytes:
    """One raw SM4 block (ECB) through OpenSSL — a primitive for tests and known-answer checks."""
    _check_key(key)
    if len(block) != BLOCK_SIZE:
        raise ValueError("SM4 block must be 16 bytes")
    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()
