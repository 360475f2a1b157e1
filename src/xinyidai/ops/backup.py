"""Backing a node up and restoring it: the database, the sealed key folder, and a manifest that says what both
hold, so a restore can prove it brought back the same node in the same state.

A backup is a directory (or the same files in one `.tar`):

* `database.sqlite` — SQLite through its online backup API (`sqlite3.Connection.backup`, in one step: one
  read transaction, so a consistent snapshot while the node keeps writing), or `database.pgdump` —
  PostgreSQL through `pg_dump --format=custom`, run on a snapshot exported from the transaction in which the
  manifest's facts are read, so the dump and the manifest describe the same moment. The password goes to
  `pg_dump` through PGPASSWORD, never on its command line.
* `keys.sealed` — a tar of `var/keys` (the node key file, its passphrase file if any, the published keys and
  the checkpoint journal), encrypted with SM4-GCM under a key derived by scrypt from the passphrase in
  XINYIDAI_BACKUP_PASSPHRASE. The key folder is read *before* the database, so every checkpoint its journal
  holds is in the database copy (a journal short of the newest head is fine; one ahead of it is not).
* `manifest.json` — node code, role and suite, when, the schema revision, the audit head, the relay cursors,
  row counts of every table and the SM3 digest of each file above.

A restore checks the manifest against the target node (its code), every file against its digest, unseals the
keys, and only then touches the target: SQLite and the keys are staged beside their final place, verified
there (the audit chain with `verify_chain` against the restored keys' anchors, its head, the row counts, the
relay cursors, the revision) and moved into place by rename. PostgreSQL is restored by `pg_restore` in a single
transaction (all or nothing) into the target database itself, then checked; should that check fail, the keys are
left untouched and the error says the database was replaced. Everything it refuses is a `BackupError` with a
Chinese message and a code. Stop the node before restoring.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import io
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, func, inspect, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

from xinyidai.config import Settings
from xinyidai.kit import clock, migrate
from xinyidai.kit.audit import AuditCheckpoint, AuditHead, verify_chain
from xinyidai.kit.crypto import sm4
from xinyidai.kit.crypto.errors import DecryptionFailed
from xinyidai.kit.crypto.keystore import KEY_FILE, current_key_file, read_header
from xinyidai.kit.db import Database, make_engine
from xinyidai.kit.digest import sm3_stream
from xinyidai.kit.errors import DomainError
from xinyidai.kit.node_key import anchors_for
from xinyidai.models import metadata
from xinyidai.network.models import RelayCursor

ENV_PASSPHRASE = "XINYIDAI_BACKUP_PASSPHRASE"
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite"
PG_FILE = "database.pgdump"
KEYS_FILE = "keys.sealed"
FORMAT = "xinyidai-backup"
KEYS_FORMAT = "xinyidai-backup-keys"
MIN_PASSPHRASE = 8
SCRYPT_N = 2**15  # 32 MiB, ~0.1 s: paid once per backup and restore
_MAX_WORK = 2**23
_CHECK_LABEL = b"xinyidai backup passphrase check"


class BackupError(DomainError):
    code = "BACKUP_ERROR"
    status = 400
    message = "备份或恢复无法完成"


# ── small helpers ───────────────────────────────────────────────────────────────────────────────────────

def file_digest(path: Path) -> str:
    h = sm3_stream()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _canonical(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _passphrase(given: str | None, env: Mapping[str, str] | None) -> bytes:
    value = given if given is not None else (dict(os.environ) if env is None else env).get(ENV_PASSPHRASE, "")
    if not value:
        raise BackupError(f"备份密钥目录需要备份口令：请设置环境变量 {ENV_PASSPHRASE}（恢复时须提供同一口令）",
                          code="BACKUP_NO_PASSPHRASE")
    if len(value) < MIN_PASSPHRASE:
        raise BackupError(f"备份口令至少需要 {MIN_PASSPHRASE} 个字符", code="BACKUP_WEAK_PASSPHRASE")
    return unicodedata.normalize("NFC", value).encode("utf-8")


def _derive(passphrase: bytes, kdf: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """(SM4 key, check value) from one scrypt run; the check tells a wrong passphrase from a damaged file."""
    n, r, p = kdf["n"], kdf["r"], kdf["p"]
    dk = hashlib.scrypt(passphrase, salt=base64.b64decode(kdf["salt"]), n=n, r=r, p=p, dklen=48,
                        maxmem=129 * n * r * p + (1 << 20))
    return dk[:sm4.KEY_SIZE], hmac.digest(dk[16:], _CHECK_LABEL, "sm3")[:16]


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("内存中的 SQLite 数据库无法备份或恢复", code="BACKUP_UNSUPPORTED_DATABASE")
    return Path(database)


def _pg_env(url: str) -> dict[str, str]:
    """libpq's environment for `url`: the password travels here, never on a command line."""
    u: URL = make_url(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    pairs = {"PGHOST": u.host or u.query.get("host"), "PGPORT": str(u.port) if u.port else u.query.get("port"),
             "PGUSER": u.username, "PGPASSWORD": u.password, "PGDATABASE": u.database,
             "PGSSLMODE": u.query.get("sslmode")}
    env.update({k: str(v) for k, v in pairs.items() if v})
    return env


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"找不到 PostgreSQL 工具 {name}：请安装与数据库版本相符的 postgresql-client 并加入 PATH",
                          code="BACKUP_TOOL_MISSING")
    return path


def _run_pg(args: list[str], url: str, what: str) -> None:
    r = subprocess.run(args, env=_pg_env(url), capture_output=True, text=True)
    if r.returncode != 0:
        lines = [line for line in r.stderr.splitlines() if line.strip()][-20:]
        raise BackupError(f"{what}失败（退出码 {r.returncode}）", code="BACKUP_DATABASE_TOOL_FAILED", detail=lines)


# ── what a database holds, read in one transaction ──────────────────────────────────────────────────────

def database_facts(conn: Connection) -> dict[str, Any]:
    """Schema revision, audit head, last checkpoint, relay cursors and row counts, read through `conn`."""
    present = set(inspect(conn).get_table_names())
    revision = (conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
                if "alembic_version" in present else None)
    head = conn.execute(select(AuditHead.last_id, AuditHead.digest, AuditHead.count)
                        .where(AuditHead.id == 1)).first() if "audit_head" in present else None
    last_seq = (conn.execute(select(func.max(AuditCheckpoint.seq))).scalar_one_or_none()
                if "audit_checkpoints" in present else None)
    cursors = ([{"peer": p, "direction": d, "last_id": n} for p, d, n in conn.execute(
        select(RelayCursor.peer, RelayCursor.direction, RelayCursor.last_id)
        .order_by(RelayCursor.peer, RelayCursor.direction))] if "relay_cursors" in present else [])
    counts = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
              for t in metadata.sorted_tables if t.name in present}
    return {
        "schema_revision": revision,
        "audit_head": {"last_id": head.last_id if head else 0, "digest": head.digest if head else None,
                       "count": head.count if head else 0, "checkpoint_seq": last_seq or 0},
        "relay_cursors": cursors,
        "row_counts": dict(sorted(counts.items())),
    }


# ── sealing the key folder ──────────────────────────────────────────────────────────────────────────────

def _tar_bytes(folder: Path, arcname: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(folder, arcname=arcname)
    return buf.getvalue()


def seal_keys(keys_dir: Path, passphrase: bytes, node_code: str, *, scrypt_n: int = SCRYPT_N) -> bytes:
    """The sealed form of `keys_dir`: a canonical JSON header line, then base64(SM4-GCM(tar), AAD = header)."""
    kdf = {"name": "scrypt", "n": scrypt_n, "r": 8, "p": 1,
           "salt": base64.b64encode(secrets.token_bytes(16)).decode("ascii")}
    key, check = _derive(passphrase, kdf)
    header = _canonical({"format": KEYS_FORMAT, "version": 1, "cipher": "SM4-GCM", "kdf": kdf,
                         "check": check.hex(), "node_code": node_code})
    return header + b"\n" + base64.b64encode(sm4.seal(key, _tar_bytes(keys_dir, "keys"), header)) + b"\n"


def unseal_keys(data: bytes, passphrase: bytes) -> bytes:
    """The tar inside `seal_keys`' output; a wrong passphrase and a damaged file are told apart."""
    try:
        header_line, body_line = data.rstrip(b"\n").split(b"\n")
        header = json.loads(header_line)
        kdf = header["kdf"]
        body = base64.b64decode(body_line, validate=True)
        ok = (header.get("format") == KEYS_FORMAT and header.get("version") == 1
              and header.get("cipher") == "SM4-GCM" and kdf.get("name") == "scrypt"
              and all(type(kdf.get(f)) is int and kdf[f] > 0 for f in ("n", "r", "p"))
              and kdf["n"] & (kdf["n"] - 1) == 0 and kdf["n"] * kdf["r"] * kdf["p"] <= _MAX_WORK
              and isinstance(header.get("check"), str))
        base64.b64decode(kdf["salt"], validate=True)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        ok = False
    if not ok:
        raise BackupError("密钥备份文件格式无效或已损坏", code="BACKUP_CORRUPT")
    key, check = _derive(passphrase, kdf)
    if not hmac.compare_digest(check.hex(), header["check"]):
        raise BackupError("备份口令不正确：无法解封密钥备份（请使用备份时的 XINYIDAI_BACKUP_PASSPHRASE）",
                          code="BACKUP_WRONG_PASSPHRASE")
    try:
        return sm4.open_(key, body, header_line)
    except DecryptionFailed:
        raise BackupError("密钥备份已被篡改或损坏：SM4-GCM 校验失败", code="BACKUP_CORRUPT") from None


def _extract_keys(tar_data: bytes, into: Path) -> Path:
    """Unpack the sealed tar under `into` (regular files and folders under keys/ only); the keys folder."""
    try:
        with tarfile.open(fileobj=io.BytesIO(tar_data), mode="r") as tar:
            for m in tar.getmembers():
                parts = Path(m.name).parts
                if (Path(m.name).is_absolute() or ".." in parts or not parts or parts[0] != "keys"
                        or not (m.isfile() or m.isdir())):
                    raise BackupError(f"密钥备份中含有不允许的条目：{m.name}", code="BACKUP_CORRUPT")
                target = into.joinpath(*parts)
                if m.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    os.chmod(target, 0o700)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(m)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(src, out)  # type: ignore[misc] - a regular member always has a file
    except tarfile.TarError as exc:
        raise BackupError("密钥备份内容无法解开", code="BACKUP_CORRUPT") from exc
    return into / "keys"


# ── backup ──────────────────────────────────────────────────────────────────────────────────────────────

@dataclass
class BackupResult:
    path: Path
    manifest: dict[str, Any]
    manifest_digest: str


def _backup_sqlite(url: str, out: Path) -> dict[str, Any]:
    source = _sqlite_path(url)
    if not source.exists():
        raise BackupError(f"找不到数据库文件：{source}", code="BACKUP_NO_DATABASE")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(out)
    try:
        src.backup(dst, pages=-1)  # one step: one read transaction, a consistent snapshot while writers go on
        dst.execute("PRAGMA journal_mode=DELETE")  # the copy stands alone: no -wal beside it
    finally:
        dst.close()
        src.close()
    engine = create_engine(f"sqlite:///{out}")
    try:
        with engine.connect() as conn:
            return database_facts(conn)
    finally:
        engine.dispose()


def _backup_postgres(url: str, out: Path) -> dict[str, Any]:
    pg_dump = _pg_tool("pg_dump")
    db = Database(url)
    try:
        with db.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            facts = database_facts(conn)
            # The dump sees the exported snapshot: exactly what the facts above were read from.
            _run_pg([pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
                     f"--file={out}"], url, "pg_dump 导出数据库")
    finally:
        db.dispose()
    return facts


def _key_id(keys_dir: Path) -> str | None:
    try:
        return read_header(current_key_file(keys_dir)).get("key_id")  # the key in use, rotated or not
    except DomainError:
        return None


def create_backup(settings: Settings, dest: Path, *, include_keys: bool = True, passphrase: str | None = None,
                  env: Mapping[str, str] | None = None, scrypt_n: int = SCRYPT_N) -> BackupResult:
    """Back the node up into `dest` (a new or empty directory, or a file ending in .tar)."""
    dest = Path(dest)
    as_tar = dest.suffix == ".tar"
    if dest.exists() and (as_tar or not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"备份目标已存在且不为空，不会覆盖：{dest}", code="BACKUP_TARGET_EXISTS")
    secret = _passphrase(passphrase, env) if include_keys else None
    keys_dir = Path(settings.var_dir) / "keys"
    if include_keys and not (keys_dir / KEY_FILE).exists():
        raise BackupError(f"找不到节点密钥目录或密钥文件：{keys_dir / KEY_FILE}", code="BACKUP_NO_KEYS")
    url = settings.resolved_database_url
    if make_url(url).get_backend_name() not in ("sqlite", "postgresql"):
        raise BackupError("只能备份 SQLite 或 PostgreSQL 数据库", code="BACKUP_UNSUPPORTED_DATABASE")
    dest.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        files: dict[str, str] = {}
        key_id = None
        if include_keys:  # before the database: its journal must not name a checkpoint the copy lacks
            assert secret is not None
            key_id = _key_id(keys_dir)
            sealed = stage / KEYS_FILE
            fd = os.open(sealed, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(seal_keys(keys_dir, secret, settings.node_code, scrypt_n=scrypt_n))
            files[KEYS_FILE] = file_digest(sealed)
        if _is_sqlite(url):
            kind, name = "sqlite", SQLITE_FILE
            facts = _backup_sqlite(url, stage / name)
        else:
            kind, name = "postgresql", PG_FILE
            facts = _backup_postgres(url, stage / name)
        os.chmod(stage / name, 0o600)
        files[name] = file_digest(stage / name)
        manifest = {
            "format": FORMAT, "version": 1,
            "node_code": settings.node_code, "node_role": settings.node_role, "node_name": settings.node_name,
            "crypto_suite": settings.crypto_suite, "key_id": key_id,
            "created_at": clock.now().isoformat(),
            "database": {"kind": kind, "file": name},
            "keys": KEYS_FILE if include_keys else None,
            **facts,
            "files": files,
        }
        body = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8") + b"\n"
        (stage / MANIFEST).write_bytes(body)
        if as_tar:
            tmp_tar = stage / "backup.tar"
            with tarfile.open(tmp_tar, "w") as tar:
                for member in (MANIFEST, *files):
                    tar.add(stage / member, arcname=member)
            os.chmod(tmp_tar, 0o600)
            os.replace(tmp_tar, dest)
        else:
            with contextlib.suppress(FileNotFoundError):
                dest.rmdir()  # an empty directory given as the target
            os.replace(stage, dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return BackupResult(dest, manifest, hashlib.new("sm3", body).hexdigest())


# ── restore ─────────────────────────────────────────────────────────────────────────────────────────────

@dataclass
class RestoreResult:
    database: str  # where, fit to print (no password)
    kind: str
    keys: Path | None
    manifest: dict[str, Any]
    entries: int
    checkpoints: int
    notes: list[str] = field(default_factory=list)
    set_aside: list[Path] = field(default_factory=list)


@contextlib.contextmanager
def _opened(source: Path) -> Iterator[Path]:
    """The backup as a directory: itself, or a .tar unpacked (known regular files only) into a temp folder."""
    source = Path(source)
    if source.is_dir():
        yield source
        return
    if not source.is_file():
        raise BackupError(f"找不到备份：{source}", code="BACKUP_NOT_FOUND")
    with tempfile.TemporaryDirectory(prefix=".xinyidai-restore-") as tmp:
        try:
            with tarfile.open(source, "r") as tar:
                for m in tar.getmembers():
                    if m.name not in (MANIFEST, SQLITE_FILE, PG_FILE, KEYS_FILE) or not m.isfile():
                        raise BackupError(f"备份文件中含有不认识的条目：{m.name}", code="BACKUP_CORRUPT")
                    with tar.extractfile(m) as src, open(Path(tmp) / m.name, "wb") as out:  # type: ignore[union-attr]
                        shutil.copyfileobj(src, out)
        except tarfile.TarError as exc:
            raise BackupError(f"备份文件无法读取：{source}", code="BACKUP_CORRUPT") from exc
        yield Path(tmp)


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"备份中没有清单文件 {MANIFEST}", code="BACKUP_CORRUPT") from None
    except (ValueError, UnicodeDecodeError):
        raise BackupError(f"备份清单 {MANIFEST} 无法解析", code="BACKUP_CORRUPT") from None
    db = manifest.get("database") if isinstance(manifest, dict) else None
    if (not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("version") != 1
            or not isinstance(manifest.get("files"), dict) or not isinstance(db, dict)
            or db.get("kind") not in ("sqlite", "postgresql") or db.get("file") not in manifest["files"]
            or not set(manifest["files"]) <= {SQLITE_FILE, PG_FILE, KEYS_FILE}):
        raise BackupError(f"备份清单 {MANIFEST} 不是本系统的备份清单或已损坏", code="BACKUP_CORRUPT")
    return manifest


def check_files(folder: Path, manifest: Mapping[str, Any]) -> None:
    bad = []
    for name, digest in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            bad.append(f"{name}：文件缺失")
        elif file_digest(path) != digest:
            bad.append(f"{name}：SM3 摘要与清单不符")
    if bad:
        raise BackupError("备份文件与清单不符：备份已损坏或被篡改，不能用于恢复", code="BACKUP_CORRUPT", detail=bad)


def _holds_data(url: str) -> tuple[bool, bool]:
    """(has tables, holds data) of the target database. One just migrated (`xinyidai db upgrade`) and never
    used holds only the genesis head row: it counts as empty."""
    if _is_sqlite(url):
        path = _sqlite_path(url)
        if not path.exists() or path.stat().st_size == 0:
            return False, False
        engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")  # looking must not create or change it
    else:
        engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).get_table_names():
                return False, False
            facts = database_facts(conn)
    except DBAPIError:
        if _is_sqlite(url):  # a file that is not a database we can read: not ours to overwrite without --force
            return True, True
        raise BackupError("无法连接目标数据库：请检查 XINYIDAI_DATABASE_URL 与数据库服务",
                          code="BACKUP_TARGET_UNREACHABLE") from None
    finally:
        engine.dispose()
    rows = sum(n for t, n in facts["row_counts"].items() if t != "audit_head")
    return True, bool(rows or facts["audit_head"]["count"])


def _set_aside(path: Path, stamp: str) -> Path:
    target = path.with_name(f"{path.name}.before-restore-{stamp}")
    os.replace(path, target)
    return target


def _verify(url: str, var_dir: Path, manifest: Mapping[str, Any]) -> tuple[int, int, list[str]]:
    """The restored database against the manifest and the restored keys; (entries, checkpoints, notes)."""
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            facts = database_facts(conn)
        with db.session() as s:
            report = verify_chain(s, anchors_for(var_dir))
    finally:
        db.dispose()
    problems = [f"[{b.code}] {b.message}" for b in report.breaks]
    if facts["audit_head"] != manifest.get("audit_head"):
        problems.append(f"审计链头 {facts['audit_head']} 与清单记载的 {manifest.get('audit_head')} 不符")
    if facts["relay_cursors"] != manifest.get("relay_cursors"):
        problems.append("中继游标与清单记载的不符")
    if facts["schema_revision"] != manifest.get("schema_revision"):
        problems.append(f"数据库迁移版本 {facts['schema_revision']} 与清单记载的 {manifest.get('schema_revision')} 不符")
    expected = manifest.get("row_counts") or {}
    for table, n in sorted(expected.items()):
        if facts["row_counts"].get(table) != n:
            problems.append(f"表 {table} 有 {facts['row_counts'].get(table)} 行，清单记载 {n} 行")
    if problems:
        raise BackupError("恢复后的校验未通过：未启用恢复的数据", code="BACKUP_VERIFY_FAILED", detail=problems)
    notes = list(report.notes)
    head = _script_head(url)
    if head and facts["schema_revision"] != head:
        notes.append(f"备份的数据库迁移版本为 {facts['schema_revision']}，本程序为 {head}：启动前请运行 xinyidai db upgrade")
    return report.entries, report.checkpoints, notes


def _script_head(url: str) -> str | None:
    from alembic.script import ScriptDirectory
    try:
        return ScriptDirectory.from_config(migrate.alembic_config(url)).get_current_head()
    except Exception:  # noqa: BLE001 - only a note depends on it
        return None


def restore_backup(settings: Settings, source: Path, *, force: bool = False, passphrase: str | None = None,
                   env: Mapping[str, str] | None = None) -> RestoreResult:
    """Restore the backup at `source` into this node's var directory and database (module docstring)."""
    with _opened(Path(source)) as folder:
        manifest = read_manifest(folder)
        if manifest.get("node_code") != settings.node_code:
            raise BackupError(f"备份属于节点 {manifest.get('node_code')}，本节点配置为 {settings.node_code}："
                              "不能把其他节点的备份恢复到本节点", code="BACKUP_OTHER_NODE")
        check_files(folder, manifest)
        keys_tar = None
        if manifest.get("keys"):
            keys_tar = unseal_keys((folder / KEYS_FILE).read_bytes(), _passphrase(passphrase, env))
        return _restore(settings, folder, manifest, keys_tar, force)


def _restore(settings: Settings, folder: Path, manifest: dict[str, Any], keys_tar: bytes | None,
             force: bool) -> RestoreResult:
    url = settings.resolved_database_url
    kind = manifest["database"]["kind"]
    if (kind == "sqlite") != _is_sqlite(url):
        raise BackupError(f"备份的数据库为 {kind}，目标数据库不是同一种：请配置相同类型的数据库",
                          code="BACKUP_ENGINE_MISMATCH")
    var_dir = Path(settings.var_dir)
    keys_dir = var_dir / "keys"
    occupied = []
    if keys_tar is not None and keys_dir.exists() and any(keys_dir.iterdir()):
        occupied.append(f"密钥目录 {keys_dir} 不为空")
    db_path = _sqlite_path(url) if kind == "sqlite" else None
    has_tables, has_data = _holds_data(url)
    if has_data:
        occupied.append(f"数据库文件 {db_path} 已有数据" if db_path is not None else "目标 PostgreSQL 数据库已有数据")
    if occupied and not force:
        raise BackupError("恢复目标不是空的：确认要覆盖时加 --force（原有的 SQLite 文件和密钥目录会改名保留）",
                          code="BACKUP_TARGET_NOT_EMPTY", detail=occupied)

    var_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".restore-", dir=var_dir))  # beside var/keys: moved by rename
    stamp = clock.now().strftime("%Y%m%d%H%M%S")
    set_aside: list[Path] = []
    try:
        staged_keys = _extract_keys(keys_tar, stage) if keys_tar is not None else None
        if staged_keys is not None and manifest.get("key_id") and _key_id(staged_keys) != manifest["key_id"]:
            raise BackupError("密钥备份中的节点密钥与清单记载的不符", code="BACKUP_CORRUPT")
        # Anchors for the check: the restored keys (staged, same layout as var/), else the node's own.
        anchor_dir = stage if staged_keys is not None else var_dir
        if kind == "sqlite":
            assert db_path is not None
            db_path.parent.mkdir(parents=True, exist_ok=True)
            staged_db = db_path.with_name(f".{db_path.name}.restore-{secrets.token_hex(4)}")
            try:
                shutil.copyfile(folder / SQLITE_FILE, staged_db)
                os.chmod(staged_db, 0o600)
                entries, checkpoints, notes = _verify(f"sqlite:///{staged_db}", anchor_dir, manifest)
                for extra in ("-wal", "-shm"):  # what Database left beside the staged copy (nothing after close)
                    Path(f"{staged_db}{extra}").unlink(missing_ok=True)
                if db_path.exists():
                    set_aside.append(_set_aside(db_path, stamp))
                for extra in ("-wal", "-shm"):  # a stale WAL beside the new file would be replayed into it
                    Path(f"{db_path}{extra}").unlink(missing_ok=True)
                os.replace(staged_db, db_path)
            finally:
                for leftover in (staged_db, Path(f"{staged_db}-wal"), Path(f"{staged_db}-shm")):
                    leftover.unlink(missing_ok=True)
        else:
            pg_restore = _pg_tool("pg_restore")
            dbname = make_url(url).database or ""
            args = [pg_restore, "--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges",
                    f"--dbname={dbname}"]
            if has_tables:  # an empty schema (just migrated) or, with --force, one with data: replaced whole
                args += ["--clean", "--if-exists"]
            _run_pg([*args, str(folder / PG_FILE)], url, "pg_restore 恢复数据库")
            try:
                entries, checkpoints, notes = _verify(url, anchor_dir, manifest)
            except BackupError as exc:  # pg_restore has committed: say so, and leave the keys where they were
                exc.detail = [*(exc.detail or []), "PostgreSQL 数据库已由 pg_restore 整体恢复，但密钥目录未改动；"
                              "请勿启动服务，核对后重新恢复或改用其他备份"]
                raise
        keys_target = None
        if staged_keys is not None:
            if keys_dir.exists():
                set_aside.append(_set_aside(keys_dir, stamp))
            os.replace(staged_keys, keys_dir)
            keys_target = keys_dir
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    where = str(db_path) if db_path is not None else make_url(url).render_as_string(hide_password=True)
    return RestoreResult(where, kind, keys_target, manifest, entries, checkpoints, notes, set_aside)
