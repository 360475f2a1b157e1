"""Typed crypto errors: codes for programs, Chinese messages for people, never key material in either.

They are `DomainError`s so the web layer renders them in the one error shape every response uses.
"""

from __future__ import annotations

from xinyidai.kit.errors import DomainError


class CryptoError(DomainError):
    code = "CRYPTO_ERROR"
    status = 400
    message = "密码运算失败"


class InvalidKey(CryptoError):
    code = "CRYPTO_INVALID_KEY"
    message = "密钥或公钥格式无效"


class BadSignature(CryptoError):
    code = "CRYPTO_BAD_SIGNATURE"
    status = 401
    message = "签名验证失败：数据可能被篡改，或签名者不是所声称的节点"


class DecryptionFailed(CryptoError):
    code = "CRYPTO_DECRYPTION_FAILED"
    message = "解密失败：密文已损坏、被篡改，或不是发给本节点的"


class KeystoreError(CryptoError):
    """The node's own key file is unusable: an operator problem, not a client one."""

    code = "KEYSTORE_ERROR"
    status = 500
    message = "节点密钥文件无法使用"


class WrongPassphrase(KeystoreError):
    code = "KEYSTORE_BAD_PASSPHRASE"
    message = "节点密钥文件口令错误（请检查环境变量 XINYIDAI_KEY_PASSPHRASE 或口令文件）"


class KeystoreTampered(KeystoreError):
    code = "KEYSTORE_TAMPERED"
    message = "节点密钥文件已损坏或被篡改"
