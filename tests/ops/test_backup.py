"""`xinyidai backup` / `xinyidai restore`: a backup taken while the node writes restores into a fresh directory
with an intact audit chain and the counts its manifest states; every refusal is typed and leaves nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest
import typer
from sqlalchemy import text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from xinyidai.config import Settings
from xinyidai.kit import audit, migrate
from xinyidai.kit.crypto.keystore import load_or_create_identity
from xinyidai.kit.db import Database
from xinyidai.kit.node_key import anchors_for, signer_for
from xinyidai.network.models import RelayCursor
from xinyidai.ops import cli as ops_cli
from xinyidai.ops.backup import (
    ENV_PASSPHRASE,
    BackupError,
    create_backup,
    database_facts,
    restore_backup,
)

FAST = 2**10  # scrypt cost for tests
KEY_PASS = "node-key-passphrase"
BACKUP_PASS = "备份口令 correct horse"
ENV = {ENV_PASSPHRASE: BACKUP_PASS}
NODE = "CN-230000"
PG_URL = os.environ.get("XINYIDAI_TEST_DATABASE_URL", "")


def _settings(var: Path, url: str = "", code: str = NODE) -> Settings:
    return Settings(var_dir=var, database_url=url or f"sqlite:///{var / 'node.db'}", node_code=code)


@pytest.fixture
def node(tmp_path: Path, _sqlite_template: Path) -> Settings:
    """A node: a migrated SQLite database with audit entries, checkpoints and relay cursors, and its key."""
    var = tmp_path / "node" / "var"
    var.mkdir(parents=True)
    shutil.copy(_sqlite_template, var / "node.db")
    s = _settings(var)
    identity = load_or_create_identity(var, "sm", KEY_PASS, scrypt_n=FAST)
    signer = signer_for(identity, var)
    db = Database(s.resolved_database_url)
    with db.session() as sess:
        for i in range(30):
            audit.record(sess, "tester", "test.write", f"t{i}", n=i)
        audit.make_checkpoint(sess, signer)
        sess.add_all([RelayCursor(peer="CN", direction="up", last_id=42),
                      RelayCursor(peer="CN-230100", direction="down", last_id=7)])
    db.dispose()
    return s


def _writer(s: Settings, stop: threading.Event, written: list[int]) -> None:
    """Audit entries in a loop, one transaction each, and a signed checkpoint every tenth."""
    identity = load_or_create_identity(s.var_dir, "sm", KEY_PASS)
    signer = signer_for(identity, s.var_dir)
    db = Database(s.resolved_database_url)
    try:
        i = 0
        while not stop.is_set():
            with db.write_lock, db.session() as sess:
                audit.record(sess, "writer", "test.load", f"w{i}", n=i)
                if i % 10 == 9:
                    audit.make_checkpoint(sess, signer)
            written.append(i)
            i += 1
    finally:
        db.dispose()


def _facts(url: str) -> dict:
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            return database_facts(conn)
    finally:
        db.dispose()


def test_backup_under_load_restores_into_a_fresh_directory(node: Settings, tmp_path: Path) -> None:
    stop, written = threading.Event(), []
    t = threading.Thread(target=_writer, args=(node, stop, written), daemon=True)
    t.start()
    try:
        while len(written) < 40:
            t.join(0.01)
        result = create_backup(node, tmp_path / "backup", env=ENV, scrypt_n=FAST)
        before = len(written)
        while len(written) < before + 20:  # the node goes on writing after the backup
            t.join(0.01)
    finally:
        stop.set()
        t.join(30)
    m = result.manifest
    assert sorted(os.listdir(result.path)) == ["database.sqlite", "keys.sealed", "manifest.json"]
    assert m["node_code"] == NODE and m["node_role"] == "provincial"
    assert m["schema_revision"] == migrate.current_revision(Database(node.resolved_database_url).engine)
    assert m["audit_head"]["count"] >= 70 and m["audit_head"]["checkpoint_seq"] >= 1
    assert m["row_counts"]["audit_events"] == m["audit_head"]["count"]
    assert m["relay_cursors"] == [{"peer": "CN", "direction": "up", "last_id": 42},
                                  {"peer": "CN-230100", "direction": "down", "last_id": 7}]
    assert set(m["files"]) == {"database.sqlite", "keys.sealed"}
    assert b"node-key-passphrase" not in (result.path / "keys.sealed").read_bytes()
    # The live node is ahead of the backup now.
    assert _facts(node.resolved_database_url)["audit_head"]["count"] > m["audit_head"]["count"]

    fresh = _settings(tmp_path / "fresh" / "var")
    restored = restore_backup(fresh, result.path, env=ENV)
    assert restored.entries == m["audit_head"]["count"] and restored.checkpoints == m["audit_head"]["checkpoint_seq"]
    assert restored.keys == fresh.var_dir / "keys" and restored.set_aside == []
    facts = _facts(fresh.resolved_database_url)
    assert facts["row_counts"] == m["row_counts"]
    assert facts["audit_head"] == m["audit_head"]
    assert facts["relay_cursors"] == m["relay_cursors"]
    assert facts["schema_revision"] == m["schema_revision"]
    db = Database(fresh.resolved_database_url)
    with db.session() as sess:
        report = audit.verify_chain(sess, anchors_for(fresh.var_dir))
    db.dispose()
    assert report.intact, report.breaks
    # The node key came back and opens with the node's passphrase.
    original = load_or_create_identity(node.var_dir, "sm", KEY_PASS)
    assert load_or_create_identity(fresh.var_dir, "sm", KEY_PASS).key_id == original.key_id
    assert not [p for p in fresh.var_dir.iterdir() if p.name.startswith(".restore-")]


def test_tar_backup_and_the_commands(node: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = typer.Typer()
    app.command("backup")(ops_cli.backup)
    app.command("restore")(ops_cli.restore)
    for k in list(os.environ):
        if k.startswith("XINYIDAI_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("XINYIDAI_VAR_DIR", str(node.var_dir))
    monkeypatch.setenv("XINYIDAI_DATABASE_URL", node.resolved_database_url)
    monkeypatch.setenv("XINYIDAI_NODE_CODE", NODE)
    monkeypatch.setenv(ENV_PASSPHRASE, BACKUP_PASS)
    runner = CliRunner()
    out = tmp_path / "node.tar"
    r = runner.invoke(app, ["backup", str(out)])
    assert r.exit_code == 0, r.output
    assert "已备份节点 CN-230000" in r.output and "清单 SM3" in r.output
    assert tarfile.is_tarfile(out)

    fresh = tmp_path / "fresh" / "var"
    monkeypatch.setenv("XINYIDAI_VAR_DIR", str(fresh))
    monkeypatch.setenv("XINYIDAI_DATABASE_URL", f"sqlite:///{fresh / 'node.db'}")
    r = runner.invoke(app, ["restore", str(out)])
    assert r.exit_code == 0, r.output
    assert "审计链完整：30 条记录、1 个签名检查点" in r.output and "中继游标：2 个" in r.output
    # Again into the same place: refused, with its code, unless --force.
    r = runner.invoke(app, ["restore", str(out)])
    assert r.exit_code == 1 and "BACKUP_TARGET_NOT_EMPTY" in r.output
    r = runner.invoke(app, ["restore", str(out), "--force"])
    assert r.exit_code == 0, r.output
    assert "原有文件已改名保留" in r.output
    assert len(list(fresh.glob("node.db.before-restore-*"))) == 1
    assert len(list(fresh.glob("keys.before-restore-*"))) == 1


@pytest.fixture
def backup(node: Settings, tmp_path: Path) -> Path:
    return create_backup(node, tmp_path / "backup", env=ENV, scrypt_n=FAST).path


def _refused(code: str, target: Settings, source: Path, env: dict | None = None, **kw: object) -> BackupError:
    with pytest.raises(BackupError) as caught:
        restore_backup(target, source, env=ENV if env is None else env, **kw)  # type: ignore[arg-type]
    assert caught.value.code == code, caught.value.message
    assert caught.value.message and not caught.value.message.isascii()  # a Chinese message
    return caught.value


def _untouched(target: Settings) -> None:
    assert not (target.var_dir / "keys").exists()
    assert not (target.var_dir / "node.db").exists()


def test_refuses_another_nodes_backup(backup: Path, tmp_path: Path) -> None:
    target = _settings(tmp_path / "other" / "var", code="CN-230100")
    _refused("BACKUP_OTHER_NODE", target, backup)
    _untouched(target)


@pytest.mark.parametrize("name", ["database.sqlite", "keys.sealed"])
def test_refuses_a_tampered_file(backup: Path, tmp_path: Path, name: str) -> None:
    path = backup / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    target = _settings(tmp_path / "fresh" / "var")
    err = _refused("BACKUP_CORRUPT", target, backup)
    assert any(name in line for line in err.detail)
    _untouched(target)


def test_refuses_a_manifest_that_lost_a_file(backup: Path, tmp_path: Path) -> None:
    (backup / "keys.sealed").unlink()
    _refused("BACKUP_CORRUPT", _settings(tmp_path / "fresh" / "var"), backup)
    manifest = backup / "manifest.json"
    manifest.write_text("{not json", encoding="utf-8")
    _refused("BACKUP_CORRUPT", _settings(tmp_path / "fresh" / "var"), backup)


def test_missing_passphrase_refuses_backup_and_restore(node: Settings, backup: Path, tmp_path: Path) -> None:
    with pytest.raises(BackupError) as caught:
        create_backup(node, tmp_path / "nopass", env={}, scrypt_n=FAST)
    assert caught.value.code == "BACKUP_NO_PASSPHRASE" and ENV_PASSPHRASE in caught.value.message
    assert not (tmp_path / "nopass").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    target = _settings(tmp_path / "fresh" / "var")
    _refused("BACKUP_NO_PASSPHRASE", target, backup, env={})
    _untouched(target)


def test_wrong_passphrase_fails_cleanly(backup: Path, tmp_path: Path) -> None:
    target = _settings(tmp_path / "fresh" / "var")
    _refused("BACKUP_WRONG_PASSPHRASE", target, backup, env={ENV_PASSPHRASE: "not the right one"})
    _untouched(target)


def test_refuses_a_non_empty_target(node: Settings, backup: Path, tmp_path: Path, _sqlite_template: Path) -> None:
    var = tmp_path / "busy" / "var"
    var.mkdir(parents=True)
    shutil.copy(_sqlite_template, var / "node.db")
    target = _settings(var)
    db = Database(target.resolved_database_url)
    with db.session() as sess:
        audit.record(sess, "someone", "already.here")
    db.dispose()
    err = _refused("BACKUP_TARGET_NOT_EMPTY", target, backup)
    assert any("node.db" in line for line in err.detail)
    assert _facts(target.resolved_database_url)["audit_head"]["count"] == 1  # untouched
    assert not (var / "keys").exists()
    restored = restore_backup(target, backup, env=ENV, force=True)
    assert len(restored.set_aside) == 1 and restored.set_aside[0].name.startswith("node.db.before-restore-")
    assert restored.keys == var / "keys"
    assert _facts(target.resolved_database_url)["row_counts"] == restored.manifest["row_counts"]


def test_refuses_a_target_that_has_keys(backup: Path, tmp_path: Path) -> None:
    var = tmp_path / "keyed" / "var"
    load_or_create_identity(var, "sm", "another-key", scrypt_n=FAST)
    before = sorted(p.name for p in (var / "keys").iterdir())
    err = _refused("BACKUP_TARGET_NOT_EMPTY", _settings(var), backup)
    assert any("keys" in line for line in err.detail)
    assert sorted(p.name for p in (var / "keys").iterdir()) == before
    assert not (var / "node.db").exists()


def test_a_just_migrated_database_counts_as_empty(backup: Path, tmp_path: Path, _sqlite_template: Path) -> None:
    var = tmp_path / "new" / "var"
    var.mkdir(parents=True)
    shutil.copy(_sqlite_template, var / "node.db")  # `xinyidai db upgrade` run, nothing written yet
    restored = restore_backup(_settings(var), backup, env=ENV)
    assert restored.entries == 30 and len(restored.set_aside) == 1


def test_a_backup_without_keys_needs_no_passphrase(node: Settings, tmp_path: Path) -> None:
    result = create_backup(node, tmp_path / "nokeys", include_keys=False, env={})
    assert result.manifest["keys"] is None and set(result.manifest["files"]) == {"database.sqlite"}
    # Restored beside the node's own keys (another database file): the checkpoints verify against them.
    target = _settings(node.var_dir, f"sqlite:///{tmp_path / 'second' / 'node.db'}")
    restored = restore_backup(target, result.path, env={})
    assert restored.keys is None and restored.checkpoints == 1
    assert _facts(target.resolved_database_url)["row_counts"] == result.manifest["row_counts"]


def test_a_restore_that_does_not_verify_changes_nothing(node: Settings, tmp_path: Path) -> None:
    """A journal ahead of the database (keys taken from a later moment) fails verification: nothing moves."""
    result = create_backup(node, tmp_path / "backup", env=ENV, scrypt_n=FAST)
    db = Database(node.resolved_database_url)
    with db.session() as sess:
        audit.record(sess, "tester", "test.late")
        audit.make_checkpoint(sess, signer_for(load_or_create_identity(node.var_dir, "sm", KEY_PASS), node.var_dir))
    db.dispose()
    later = create_backup(node, tmp_path / "later", env=ENV, scrypt_n=FAST)
    # Splice the later keys (whose journal names checkpoint 2) into the earlier backup and fix its digest.
    shutil.copy(later.path / "keys.sealed", result.path / "keys.sealed")
    manifest = json.loads((result.path / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["keys.sealed"] = later.manifest["files"]["keys.sealed"]
    (result.path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    target = _settings(tmp_path / "fresh" / "var")
    err = _refused("BACKUP_VERIFY_FAILED", target, result.path)
    assert any("AUDIT_CHECKPOINT_MISSING" in line for line in err.detail)
    _untouched(target)
    assert not [p for p in target.var_dir.iterdir() if p.name != "keys"]


@pytest.mark.skipif(not PG_URL.startswith("postgresql") or shutil.which("pg_dump") is None,
                    reason="needs XINYIDAI_TEST_DATABASE_URL (PostgreSQL) and pg_dump on PATH")
def test_postgresql_backup_under_load_and_restore(tmp_path: Path, _pg_ready: bool,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    var = tmp_path / "pg" / "var"
    s = _settings(var, PG_URL)
    db = Database(PG_URL)
    with db.engine.begin() as conn:
        tables = ", ".join(f'"{t}"' for t in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )).scalars())
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        conn.execute(text("INSERT INTO audit_head (id, last_id, digest, count) VALUES (1, 0, :g, 0)"),
                     {"g": audit.GENESIS})
    identity = load_or_create_identity(var, "sm", KEY_PASS, scrypt_n=FAST)
    with db.session() as sess:
        for i in range(20):
            audit.record(sess, "tester", "test.write", f"t{i}")
        audit.make_checkpoint(sess, signer_for(identity, var))
        sess.add(RelayCursor(peer="CN", direction="up", last_id=5))
    db.dispose()
    calls: list[tuple[list[str], dict]] = []
    real_run = subprocess.run

    def spy(args: list[str], **kw: object) -> subprocess.CompletedProcess:
        calls.append((list(args), dict(kw.get("env") or {})))  # type: ignore[call-overload]
        return real_run(args, **kw)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "run", spy)
    stop, written = threading.Event(), []
    t = threading.Thread(target=_writer, args=(s, stop, written), daemon=True)
    t.start()
    try:
        while len(written) < 30:
            t.join(0.01)
        result = create_backup(s, tmp_path / "pgbackup", env=ENV, scrypt_n=FAST)
    finally:
        stop.set()
        t.join(30)
    m = result.manifest
    assert m["database"]["kind"] == "postgresql" and m["audit_head"]["count"] >= 50
    assert m["row_counts"]["audit_events"] == m["audit_head"]["count"]
    password = make_url(PG_URL).password
    assert calls and (password is None or all(password not in " ".join(args) for args, _ in calls))
    assert calls[0][1].get("PGPASSWORD") == password
    fresh = _settings(tmp_path / "fresh" / "var", PG_URL)
    _refused("BACKUP_TARGET_NOT_EMPTY", fresh, result.path)
    restored = restore_backup(fresh, result.path, env=ENV, force=True)
    assert restored.entries == m["audit_head"]["count"]
    facts = _facts(PG_URL)
    assert facts["row_counts"] == m["row_counts"] and facts["audit_head"] == m["audit_head"]
    assert facts["relay_cursors"] == m["relay_cursors"]
