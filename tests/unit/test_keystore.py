"""Node keys at rest: encrypted key file, passphrase sources, and the errors an operator sees."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from xinyidai.kit.crypto import (
    Identity,
    KeystoreError,
    KeystoreTampered,
    WrongPassphrase,
    get_suite,
    keystore,
)

FAST = 2**10  # scrypt cost for tests; the default (2**17) is exercised once below


@pytest.fixture(autouse=True)
def _no_env_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(keystore.ENV_PASSPHRASE, raising=False)


@pytest.fixture(params=["sm", "intl"])
def identity(request: pytest.FixtureRequest) -> Identity:
    return get_suite(request.param).generate_identity()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _same(a: Identity, b: Identity) -> bool:
    return a.suite == b.suite and a.to_bytes() == b.to_bytes()


def test_round_trip_and_file_shape(tmp_path: Path, identity: Identity) -> None:
    path = tmp_path / "keys" / "node.key"
    keystore.write_keyfile(path, identity, "正确的口令 horse", scrypt_n=FAST)
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    assert _same(keystore.read_keyfile(path, "正确的口令 horse"), identity)
    raw = path.read_bytes()
    header_line, body_line = raw.rstrip(b"\n").split(b"\n")
    header = json.loads(header_line)
    assert header["suite"] == identity.suite and header["public"] == identity.public_bundle()
    assert header["key_id"] == identity.key_id and header["kdf"]["name"] == "scrypt"
    assert keystore.read_header(path) == {
        "suite": identity.suite, "public": identity.public_bundle(), "key_id": identity.key_id
    }
    for secret in json.loads(identity.to_bytes()).values():
        if isinstance(secret, str) and len(secret) == 64:
            assert secret.encode() not in raw.lower()
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_wrong_passphrase(tmp_path: Path, identity: Identity) -> None:
    path = tmp_path / "node.key"
    keystore.write_keyfile(path, identity, "right", scrypt_n=FAST)
    with pytest.raises(WrongPassphrase) as exc:
        keystore.read_keyfile(path, "wrong")
    assert exc.value.code == "KEYSTORE_BAD_PASSPHRASE" and "口令错误" in exc.value.message
    with pytest.raises(KeystoreError) as empty:
        keystore.read_keyfile(path, "")
    assert empty.value.code == "KEYSTORE_EMPTY_PASSPHRASE"


def test_unicode_passphrase_is_normalized(tmp_path: Path, identity: Identity) -> None:
    path = tmp_path / "node.key"
    keystore.write_keyfile(path, identity, "caf\u00e9", scrypt_n=FAST)  # composed é
    assert _same(keystore.read_keyfile(path, "cafe\u0301"), identity)  # decomposed e + ◌́


def _tamper_header(path: Path, change: dict) -> None:
    header_line, body = path.read_bytes().split(b"\n", 1)
    header = json.loads(header_line)
    for key, value in change.items():
        if isinstance(value, dict):
            header[key].update(value)
        else:
            header[key] = value
    path.write_bytes(json.dumps(header, sort_keys=True, separators=(",", ":")).encode() + b"\n" + body)


def test_tampering_is_detected(tmp_path: Path, identity: Identity) -> None:
    other = get_suite(identity.suite).generate_identity()
    path = tmp_path / "node.key"
    cases = [
        {"public": other.public_bundle()},  # swap in someone else's public key
        {"key_id": other.key_id},
        {"version": 1, "format": "xinyidai-keystore", "note": "x"},  # any edit changes the AAD
    ]
    for change in cases:
        path.unlink(missing_ok=True)
        keystore.write_keyfile(path, identity, "pw", scrypt_n=FAST)
        _tamper_header(path, change)
        with pytest.raises(KeystoreTampered) as exc:
            keystore.read_keyfile(path, "pw")
        assert exc.value.code == "KEYSTORE_TAMPERED"
    # A changed salt or check value looks like a wrong passphrase: the derived key no longer matches.
    path.unlink()
    keystore.write_keyfile(path, identity, "pw", scrypt_n=FAST)
    _tamper_header(path, {"kdf": {"salt": "AAAAAAAAAAAAAAAAAAAAAA=="}})
    with pytest.raises(WrongPassphrase):
        keystore.read_keyfile(path, "pw")


def test_damaged_files(tmp_path: Path, identity: Identity) -> None:
    path = tmp_path / "node.key"
    keystore.write_keyfile(path, identity, "pw", scrypt_n=FAST)
    good = path.read_bytes()
    header_line, body_line = good.rstrip(b"\n").split(b"\n")
    body = bytearray(base64.b64decode(body_line))
    body[20] ^= 0x01
    damaged = [
        header_line + b"\n" + base64.b64encode(bytes(body)) + b"\n",  # ciphertext bit flip
        good[: len(good) // 2],  # truncated
        b"",
        b"garbage\nmore garbage\n",
        header_line + b"\n",
        good + b"extra line\n",
    ]
    for data in damaged:
        path.write_bytes(data)
        with pytest.raises(KeystoreTampered):
            keystore.read_keyfile(path, "pw")
    with pytest.raises(KeystoreError) as missing:
        keystore.read_keyfile(tmp_path / "absent.key", "pw")
    assert missing.value.code == "KEYSTORE_NOT_FOUND"


def test_forged_kdf_cost_is_refused_before_running_it(tmp_path: Path, identity: Identity) -> None:
    path = tmp_path / "node.key"
    for kdf in ({"n": 2**30}, {"n": 1000}, {"r": 10**6}, {"n": "1024"}, {"name": "pbkdf2"}):
        path.unlink(missing_ok=True)
        keystore.write_keyfile(path, identity, "pw", scrypt_n=FAST)
        _tamper_header(path, {"kdf": kdf})
        with pytest.raises(KeystoreTampered):
            keystore.read_keyfile(path, "pw")


def test_never_overwrites(tmp_path: Path, identity: Identity) -> None:
    path = tmp_path / "node.key"
    keystore.write_keyfile(path, identity, "pw", scrypt_n=FAST)
    with pytest.raises(KeystoreError) as exc:
        keystore.write_keyfile(path, get_suite(identity.suite).generate_identity(), "pw", scrypt_n=FAST)
    assert exc.value.code == "KEYSTORE_EXISTS"
    assert _same(keystore.read_keyfile(path, "pw"), identity)


def test_default_kdf_cost() -> None:
    # One real run at the default cost also proves scrypt's memory limit is set high enough for it.
    data = keystore.encrypt_identity(get_suite("sm").generate_identity(), "pw")
    assert json.loads(data.split(b"\n")[0])["kdf"] | {"salt": ""} == {
        "name": "scrypt", "n": 2**17, "r": 8, "p": 1, "salt": ""
    }


# --- load_or_create_identity -----------------------------------------------------------------------


def test_first_run_generates_key_and_passphrase_file(tmp_path: Path) -> None:
    first = keystore.load_or_create_identity(tmp_path, "sm", scrypt_n=FAST)
    keys = tmp_path / "keys"
    assert sorted(p.name for p in keys.iterdir()) == ["node.key", "passphrase"]
    assert _mode(keys) == 0o700 and _mode(keys / "node.key") == 0o600 and _mode(keys / "passphrase") == 0o600
    assert len((keys / "passphrase").read_text().strip()) >= 40
    second = keystore.load_or_create_identity(tmp_path, "sm")
    assert _same(first, second)
    assert _same(keystore.read_keyfile(keys / "node.key", (keys / "passphrase").read_text().strip()), first)


def test_env_passphrase_wins_and_no_file_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(keystore.ENV_PASSPHRASE, "from-the-environment")
    first = keystore.load_or_create_identity(tmp_path, "intl", scrypt_n=FAST)
    assert not (tmp_path / "keys" / "passphrase").exists()
    assert _same(keystore.read_keyfile(tmp_path / "keys" / "node.key", "from-the-environment"), first)
    assert _same(keystore.load_or_create_identity(tmp_path, "intl"), first)
    monkeypatch.setenv(keystore.ENV_PASSPHRASE, "changed")
    with pytest.raises(WrongPassphrase):
        keystore.load_or_create_identity(tmp_path, "intl")


def test_explicit_passphrase(tmp_path: Path) -> None:
    first = keystore.load_or_create_identity(tmp_path, "sm", "given", scrypt_n=FAST)
    assert not (tmp_path / "keys" / "passphrase").exists()
    assert _same(keystore.load_or_create_identity(tmp_path, "sm", "given"), first)


def test_missing_passphrase_is_a_clear_error(tmp_path: Path) -> None:
    keystore.load_or_create_identity(tmp_path, "sm", scrypt_n=FAST)
    os.remove(tmp_path / "keys" / "passphrase")
    with pytest.raises(KeystoreError) as exc:
        keystore.load_or_create_identity(tmp_path, "sm")
    assert exc.value.code == "KEYSTORE_NO_PASSPHRASE"
    assert keystore.ENV_PASSPHRASE in exc.value.message


def test_suite_mismatch_is_not_silently_replaced(tmp_path: Path) -> None:
    first = keystore.load_or_create_identity(tmp_path, "sm", scrypt_n=FAST)
    with pytest.raises(KeystoreError) as exc:
        keystore.load_or_create_identity(tmp_path, "intl")
    assert exc.value.code == "KEYSTORE_SUITE_MISMATCH"
    assert _same(keystore.load_or_create_identity(tmp_path, "sm"), first)


def test_lost_race_uses_the_winners_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    winner = keystore.load_or_create_identity(tmp_path, "sm", "pw", scrypt_n=FAST)
    # Simulate the other process writing between our existence check and our write.
    real_exists = Path.exists
    calls = {"n": 0}

    def exists_once_false(self: Path) -> bool:
        if self.name == "node.key" and calls["n"] == 0:
            calls["n"] += 1
            return False
        return real_exists(self)

    monkeypatch.setattr(Path, "exists", exists_once_false)
    assert _same(keystore.load_or_create_identity(tmp_path, "sm", "pw", scrypt_n=FAST), winner)
