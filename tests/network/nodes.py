"""Real nodes for network tests: each a `xinyidai serve` process with its own var directory and database,
on a loopback port, initialised and onboarded through the same commands an operator runs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from xinyidai.kit import clock
from xinyidai.kit.crypto.suite import Identity
from xinyidai.kit.db import Database
from xinyidai.kit.principal import Principal
from xinyidai.network import peers
from xinyidai.network.models import Peer

ASSESSMENT = {"mlps_level": "3", "mlps_certificate": "23010099-2026-0012", "security_officer": "张敏 0451-8888",
              "encryption_at_rest": "SM4 全盘加密", "encryption_in_transit": "SM2/SM4 报文加密 + TLS",
              "access_control": "最小权限、双人审批", "logging": "审计日志留存 3 年", "incident_response": "已备案应急预案"}
OFFICER = Principal(0, "reg-officer", "登记审核员", "operator", None)
SECURITY = Principal(0, "sec-officer", "安全管理员", "security", None)


def peer_row(code: str, relation: str, ident: Identity, *, province: str = "CN-230000") -> Peer:
    """An active neighbour as a node's `peers` table holds it, with `ident`'s public key."""
    return Peer(code=code, name=code, role="provincial" if code == province else "municipal", relation=relation,
                suite=ident.suite, public_key=dict(ident.public_bundle()), key_id=ident.key_id, status="active",
                assessment={}, applied_at=clock.now(), mode="push")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Node:
    code: str
    role: str
    name: str
    root: Path
    database_url: str = ""
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("XINYIDAI_")}
        env.update(XINYIDAI_VAR_DIR=str(self.root / "var"), XINYIDAI_NETWORK_INTERVAL_S="0.3",
                   XINYIDAI_KEY_PASSPHRASE="test-passphrase-" + self.code,
                   XINYIDAI_DATABASE_URL=self.database_url or f"sqlite:///{self.root / 'var' / 'node.db'}")
        return env

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([sys.executable, "-m", "xinyidai", *args], env=self.env, cwd=self.root,
                           capture_output=True, text=True, timeout=300)
        if check and r.returncode != 0:
            raise AssertionError(f"xinyidai {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
        return r

    def db(self) -> Database:
        return Database(self.env["XINYIDAI_DATABASE_URL"])

    def init(self, parent: Node | None = None, mode: str = "push", upload: str = "") -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.cli("db", "upgrade")
        args = ["node", "init", "--role", self.role, "--code", self.code, "--name", self.name,
                "--public-url", self.url, "--mode", mode, "--upload", upload]
        if parent:
            args += ["--parent", parent.url]
        self.cli(*args)

    def start(self) -> None:
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - the process owns it
        self.proc = subprocess.Popen([sys.executable, "-m", "xinyidai", "serve", "--port", str(self.port)],
                                     env=self.env, cwd=self.root, stdout=log, stderr=log, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError(f"{self.code} did not start:\n{(self.root / 'server.log').read_text()[-3000:]}")

    def kill(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)
        self.proc = None

    def apply_to(self, parent: Node, region: str | None = None) -> None:
        path = self.root / "assessment.json"
        path.write_text(json.dumps(ASSESSMENT, ensure_ascii=False), encoding="utf-8")
        args = ["node", "apply", "--contact", f"{self.name} 运维 0451-12345", "--assessment", str(path)]
        if region:
            args += ["--region", region]
        self.cli(*args)
        db = parent.db()
        with db.session() as s:
            peers.check(s, OFFICER, self.code, "材料齐全")
        with db.session() as s:
            peers.decide(s, SECURITY, self.code, True, "自评估符合三级要求")
        db.dispose()

    def count(self, sql: str, **params: object) -> int:
        from sqlalchemy import bindparam, text

        db = self.db()
        stmt = text(sql)
        for k, v in params.items():
            if isinstance(v, list | tuple):
                stmt = stmt.bindparams(bindparam(k, expanding=True))
        try:
            with db.engine.connect() as conn:
                return int(conn.execute(stmt, params).scalar_one())
        finally:
            db.dispose()


def wait_for(predicate, timeout: float = 60, interval: float = 0.3) -> None:  # noqa: ANN001
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def execute(node: Node, sql: str, **params: object) -> int:
    """Change a node's database directly (a fault the network must notice); returns the rows affected."""
    from sqlalchemy import text

    db = node.db()
    try:
        with db.engine.begin() as conn:
            return conn.execute(text(sql), params).rowcount
    finally:
        db.dispose()


def latest_reconciliation(node: Node, peer: str) -> dict[str, int]:
    """Counts of match / mismatch in the most recent reconciliation a node stored for a peer."""
    q = ("SELECT count(*) FROM reconciliations WHERE peer = :p AND status = :st AND at = "
         "(SELECT max(at) FROM reconciliations WHERE peer = :p)")
    return {st: node.count(q, p=peer, st=st) for st in ("match", "mismatch")}


def reset_postgres(url: str) -> None:
    """A node's PostgreSQL database, emptied so the node starts as on a new machine."""
    from sqlalchemy import text

    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    db.dispose()
