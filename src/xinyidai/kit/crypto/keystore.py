"""A node's private keys at rest: one file outside the database, encrypted under a passphrase.

File (`var/keys/node.key`, mode 0600), two lines:

    {"check":…,"format":"xinyidai-keystore","kdf":{…},"key_id":…,"public":{…},"suite":"sm","version":1}
    <base64 of the suite AEAD (nonce ‖ ct ‖ tag) of Identity.to_bytes(), AAD = the exact first line>

The header is readable without the passphrase (suite, public bundle, key id) and authenticated by the
AEAD, so editing any of it is detected. The key comes from scrypt(passphrase, salt); a short check
value derived alongside it tells a wrong passphrase apart from a damaged file, and gives an attacker
nothing the ciphertext does not already (both need the same scrypt work per guess).

The passphrase comes from the caller; `load_or_create_identity` takes it from the environment variable
XINYIDAI_KEY_PASSPHRASE or else from a generated file `var/keys/passphrase` (0600) — then the
protection is file permissions plus keeping the key out of database dumps and backups of the database.

Rotation (`create_rotated`, `switch_current`): a new key goes to its own file `node-<key id>.key` under the
same passphrase, and the one-line pointer file `current` (written atomically) names the file in use; with
no pointer, `node.key` is. Earlier key files are never deleted: envelopes sealed to them still open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import unicodedata
from pathlib import Path
from typing import Any

from xinyidai.kit.crypto.errors import CryptoError, KeystoreError, KeystoreTampered, WrongPassphrase
from xinyidai.kit.crypto.suite import DEFAULT_SUITE, SUITES, Identity, canonical_json, get_suite

ENV_PASSPHRASE = "XINYIDAI_KEY_PASSPHRASE"
KEY_FILE = "node.key"
PASSPHRASE_FILE = "passphrase"
CURRENT_FILE = "current"
_ROTATED_NAME = re.compile(r"node-[0-9a-f]{32}\.key")
FORMAT = "xinyidai-keystore"

# OWASP's minimum for scrypt: 128 MiB, ~0.6 s here — paid once when a process loads its key.
SCRYPT_N = 2**17
SCRYPT_R = 8
SCRYPT_P = 1
_MAX_WORK = 2**23  # n·r·p cap (1 GiB of scrypt memory): a forged header must not exhaust memory
_CHECK_LABEL = b"xinyidai keystore passphrase check"


def _passphrase_bytes(passphrase: str | bytes) -> bytes:
    if isinstance(passphrase, str):
        # The same Chinese passphrase typed on different systems may arrive composed or decomposed.
        passphrase = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    if not passphrase:
        raise KeystoreError("密钥文件口令不能为空", code="KEYSTORE_EMPTY_PASSPHRASE")
    return passphrase


def _derive(passphrase: bytes, kdf: dict[str, Any], key_size: int) -> tuple[bytes, bytes]:
    """(AEAD key, check value) from one scrypt run."""
    salt = base64.b64decode(kdf["salt"])
    n, r, p = kdf["n"], kdf["r"], kdf["p"]
    dk = hashlib.scrypt(passphrase, salt=salt, n=n, r=r, p=p, dklen=64, maxmem=129 * n * r * p + (1 << 20))
    return dk[:key_size], hmac.digest(dk[32:], _CHECK_LABEL, "sha256")[:16]


def encrypt_identity(identity: Identity, passphrase: str | bytes, *, scrypt_n: int = SCRYPT_N) -> bytes:
    """The key-file bytes for `identity` (see the module docstring)."""
    suite = get_suite(identity.suite)
    kdf = {"name": "scrypt", "n": scrypt_n, "r": SCRYPT_R, "p": SCRYPT_P,
           "salt": base64.b64encode(secrets.token_bytes(16)).decode("ascii")}
    key, check = _derive(_passphrase_bytes(passphrase), kdf, suite.key_size)
    header = canonical_json({
        "format": FORMAT,
        "version": 1,
        "suite": suite.name,
        "kdf": kdf,
        "check": check.hex(),
        "public": identity.public_bundle(),
        "key_id": identity.key_id,
    })
    body = suite.seal(key, identity.to_bytes(), header)
    return header + b"\n" + base64.b64encode(body) + b"\n"


def _parse(data: bytes) -> tuple[bytes, dict[str, Any], bytes]:
    try:
        header_line, body_line = data.rstrip(b"\n").split(b"\n")
        header = json.loads(header_line)
        body = base64.b64decode(body_line, validate=True)
        kdf = header["kdf"]
        ok = (
            header.get("format") == FORMAT
            and header.get("version") == 1
            and header.get("suite") in SUITES
            and kdf.get("name") == "scrypt"
            and all(type(kdf.get(f)) is int and kdf[f] > 0 for f in ("n", "r", "p"))
            and kdf["n"] & (kdf["n"] - 1) == 0 and kdf["n"] * kdf["r"] * kdf["p"] <= _MAX_WORK
            and isinstance(kdf.get("salt"), str) and isinstance(header.get("check"), str)
            and isinstance(header.get("public"), dict)
        )
        base64.b64decode(kdf["salt"], validate=True)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        ok = False
    if not ok:
        raise KeystoreTampered("节点密钥文件格式无效或已损坏")
    return header_line, header, body


def decrypt_identity(data: bytes, passphrase: str | bytes) -> Identity:
    """Inverse of `encrypt_identity`; raises `WrongPassphrase` or `KeystoreTampered`."""
    header_line, header, body = _parse(data)
    suite = get_suite(header["suite"])
    key, check = _derive(_passphrase_bytes(passphrase), header["kdf"], suite.key_size)
    if not hmac.compare_digest(check.hex(), header["check"]):
        raise WrongPassphrase()
    try:
        identity = suite.load_identity(suite.open_(key, body, header_line))
    except CryptoError:
        raise KeystoreTampered() from None
    if identity.public_bundle() != header["public"] or identity.key_id != header.get("key_id"):
        raise KeystoreTampered()
    return identity


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The public part of a key file — suite, public bundle, key id — without the passphrase.

    Authenticated only once the file is decrypted; use it to display, not to trust.
    """
    _, header, _ = _parse(_read(Path(path)))
    return {"suite": header["suite"], "public": header["public"], "key_id": header.get("key_id")}


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeystoreError(f"找不到节点密钥文件：{path}", code="KEYSTORE_NOT_FOUND") from None


def read_keyfile(path: str | os.PathLike[str], passphrase: str | bytes) -> Identity:
    return decrypt_identity(_read(Path(path)), passphrase)


def _write_new(path: Path, data: bytes) -> bool:
    """Write `data` to `path` (0600) only if it does not exist yet; atomic, so no reader ever sees a
    half-written file. False when another process got there first."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)  # fails if the target exists, unlike rename
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def write_keyfile(
    path: str | os.PathLike[str], identity: Identity, passphrase: str | bytes, *, scrypt_n: int = SCRYPT_N
) -> None:
    """Write a new key file (0600). Refuses to overwrite one: losing a node key is not undoable."""
    path = Path(path)
    _ensure_dir(path.parent)
    if not _write_new(path, encrypt_identity(identity, passphrase, scrypt_n=scrypt_n)):
        raise KeystoreError(f"节点密钥文件已存在，不会覆盖：{path}", code="KEYSTORE_EXISTS")


def _ensure_dir(directory: Path) -> None:
    if not directory.is_dir():
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)


def _passphrase_from_file(path: Path) -> str:
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise KeystoreError(f"口令文件为空：{path}", code="KEYSTORE_EMPTY_PASSPHRASE")
    return text


def _passphrase_file(path: Path) -> str:
    """The generated passphrase, creating it (0600) on first use."""
    if not path.exists():
        _write_new(path, (secrets.token_urlsafe(32) + "\n").encode("ascii"))
    return _passphrase_from_file(path)


def current_key_file(keys_dir: str | os.PathLike[str]) -> Path:
    """The key file in use: the one the pointer file names, else `node.key`."""
    keys = Path(keys_dir)
    try:
        name = (keys / CURRENT_FILE).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return keys / KEY_FILE
    except (OSError, UnicodeDecodeError):
        name = ""
    if name != KEY_FILE and not _ROTATED_NAME.fullmatch(name):
        raise KeystoreTampered(f"节点密钥指针文件无效：{keys / CURRENT_FILE}")
    return keys / name


def key_files(keys_dir: str | os.PathLike[str]) -> list[Path]:
    """Every key file of the node, the first one (`node.key`) first, then rotated ones by age."""
    keys = Path(keys_dir)
    rotated = sorted((p for p in keys.glob("node-*.key") if _ROTATED_NAME.fullmatch(p.name)),
                     key=lambda p: p.stat().st_mtime_ns)
    return ([keys / KEY_FILE] if (keys / KEY_FILE).exists() else []) + rotated


def resolve_passphrase(keys_dir: str | os.PathLike[str], passphrase: str | bytes | None = None) -> str | bytes:
    """The argument, else $XINYIDAI_KEY_PASSPHRASE, else the passphrase file (which must exist)."""
    if passphrase is None:
        passphrase = os.environ.get(ENV_PASSPHRASE) or None
    if passphrase is None:
        pass_path = Path(keys_dir) / PASSPHRASE_FILE
        if not pass_path.exists():
            raise KeystoreError(
                f"缺少节点密钥口令：请设置环境变量 {ENV_PASSPHRASE}，或提供口令文件 {pass_path}",
                code="KEYSTORE_NO_PASSPHRASE",
            )
        passphrase = _passphrase_from_file(pass_path)
    return passphrase


def create_rotated(keys_dir: str | os.PathLike[str], current: Identity, passphrase: str | bytes, *,
                   scrypt_n: int = SCRYPT_N) -> tuple[Identity, Path]:
    """A new identity of `current`'s suite, stored in its own key file under the same passphrase; not in use
    until `switch_current` names it (so it can be published and announced first)."""
    identity = get_suite(current.suite).generate_identity()
    path = Path(keys_dir) / f"node-{identity.key_id}.key"
    write_keyfile(path, identity, passphrase, scrypt_n=scrypt_n)
    return identity, path


def switch_current(keys_dir: str | os.PathLike[str], key_file: Path) -> None:
    """Point `current` at `key_file` (atomically: a reader sees the old name or the new, never half)."""
    keys = Path(keys_dir)
    if key_file.parent.resolve() != keys.resolve() or not key_file.exists():
        raise KeystoreError(f"密钥文件不在密钥目录中：{key_file}", code="KEYSTORE_NOT_FOUND")
    tmp = keys / f".{CURRENT_FILE}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(key_file.name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, keys / CURRENT_FILE)
    finally:
        tmp.unlink(missing_ok=True)


def load_or_create_identity(
    var_dir: str | os.PathLike[str],
    suite_name: str = DEFAULT_SUITE,
    passphrase: str | bytes | None = None,
    *,
    scrypt_n: int = SCRYPT_N,
) -> Identity:
    """The node's identity from its current key file (`var_dir/keys/node.key`, or the rotated one the
    pointer file names), generating and storing one on first run.

    Passphrase: the argument, else $XINYIDAI_KEY_PASSPHRASE, else the file `var_dir/keys/passphrase`
    (generated with the key when neither is given). An existing key of another suite is an error,
    not silently replaced.
    """
    keys = Path(var_dir) / "keys"
    key_path, pass_path = current_key_file(keys), keys / PASSPHRASE_FILE
    if passphrase is None:
        passphrase = os.environ.get(ENV_PASSPHRASE) or None
    if not key_path.exists() and key_path.name == KEY_FILE:
        suite = get_suite(suite_name)
        _ensure_dir(keys)
        secret = passphrase if passphrase is not None else _passphrase_file(pass_path)
        identity = suite.generate_identity()
        if _write_new(key_path, encrypt_identity(identity, secret, scrypt_n=scrypt_n)):
            return identity
        # Another process created the key meanwhile: fall through and use theirs.
    identity = read_keyfile(key_path, resolve_passphrase(keys, passphrase))
    if identity.suite != suite_name:
        raise KeystoreError(
            f"节点密钥属于 {identity.suite} 套件，但配置要求 {suite_name} 套件；更换套件需要新密钥并通知对端",
            code="KEYSTORE_SUITE_MISMATCH",
        )
    return identity
