"""`xinyidai demo --network`: four real nodes on this machine — national, provincial, and the Harbin and
Qiqihar city nodes — each a `xinyidai serve` process with its own var directory and SQLite database.

Everything goes through the same commands and services an operator would use: `db upgrade`, `node init`,
`node apply`, then the registration officer's check and the security officer's decision at the parent (as
the demo accounts `operator` and `security`, so the parent's audit trail and the peer's file show who
approved). Each city holds a small demo province of its own prefecture; when a city starts, its relay
pushes those records to the province, which passes them on to the national node. The nodes are started
one after another, the second city a little later, so a user who opens the topology page sees records
arrive rather than a finished state.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from xinyidai.demo import DEMO_PASSWORD

# The security self-assessment each demo platform files with its application.
ASSESSMENT = {"mlps_level": "3", "mlps_certificate": "演示-2026-0001", "security_officer": "演示 数据安全负责人 0451-0000",
              "encryption_at_rest": "SM4 存储加密", "encryption_in_transit": "SM2/SM4 报文加密 + TLS",
              "access_control": "最小权限、双人审批", "logging": "审计日志留存 3 年", "incident_response": "已备案应急预案"}
STAFF_ACCOUNTS = (("operator", "operator", "平台运营 张运营"), ("security", "security", "安全管理员 孙安全"),
                  ("regulator", "regulator", "监督管理 赵监管"))
INTERVAL_S = "1.0"


@dataclass
class DemoNode:
    code: str
    role: str
    name: str
    parent: str | None = None  # the parent's code
    region: str | None = None  # the region prefix it applies for (routing of downloads)
    prefecture: str | None = None  # a city: build its own demo data in this prefecture
    port: int = 0
    root: Path = Path()
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.root / 'node.db'}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("XINYIDAI_")}
        env.update(XINYIDAI_VAR_DIR=str(self.root), XINYIDAI_DATABASE_URL=self.database_url,
                   XINYIDAI_NETWORK_INTERVAL_S=INTERVAL_S, PYTHONUNBUFFERED="1")
        return env


def network_nodes() -> list[DemoNode]:
    return [
        DemoNode("CN", "national", "全国中小企业融资综合信用服务平台（演示）"),
        DemoNode("CN-230000", "provincial", "黑龙江省融资信用服务平台（演示）", parent="CN", region="23"),
        DemoNode("CN-230100", "municipal", "哈尔滨市融资信用服务平台（演示）", parent="CN-230000", region="2301",
                 prefecture="230100"),
        DemoNode("CN-230200", "municipal", "齐齐哈尔市融资信用服务平台（演示）", parent="CN-230000", region="2302",
                 prefecture="230200"),
    ]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class NetworkDemo:
    """Builds, onboards and runs the four nodes; `stop()` ends exactly the processes it started."""

    def __init__(self, var_dir: Path, base_port: int = 8100, city_entities: int = 300, seed: int = 20220516,
                 say: Callable[[str], None] = print) -> None:
        self.nodes = network_nodes()
        self.by_code = {n.code: n for n in self.nodes}
        self.city_entities, self.seed, self.say = city_entities, seed, say
        for i, n in enumerate(self.nodes):
            n.port = base_port + i
            n.root = (var_dir / "network" / n.code).resolve()

    # ── steps ───────────────────────────────────────────────────────────────────────────────────────────

    def _cli(self, n: DemoNode, *args: str) -> str:
        r = subprocess.run([sys.executable, "-m", "xinyidai", *args], env=n.env, cwd=n.root, capture_output=True,
                           text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"{n.code}: xinyidai {' '.join(args)} 失败：\n{r.stdout}\n{r.stderr}")
        return r.stdout

    def prepare(self, n: DemoNode) -> None:
        """A fresh var directory, the schema, the demo accounts and — for a city — its own demo data."""
        from xinyidai.catalog.schema import load_catalog
        from xinyidai.kit.db import Database

        shutil.rmtree(n.root, ignore_errors=True)
        n.root.mkdir(parents=True)
        self._cli(n, "db", "upgrade")
        db = Database(n.database_url)
        try:
            if n.prefecture:
                from xinyidai.demo import build_demo

                summary = build_demo(db, load_catalog(), entities=self.city_entities, seed=self.seed,
                                     defects_dir=n.root / "demo-deliveries", prefecture=n.prefecture)
                self.say(f"  {n.name}：{summary.entities:,} 户市场主体，"
                         f"{sum(summary.records.values()):,} 条信用记录（用时 {summary.elapsed_seconds:.0f} 秒）")
            else:
                from xinyidai.accounts.users import create_user

                with db.session() as s:
                    for username, role, display in STAFF_ACCOUNTS:
                        create_user(s, username=username, display_name=display, role=role, password=DEMO_PASSWORD,
                                    actor="demo")
        finally:
            db.dispose()

    def init(self, n: DemoNode) -> None:
        args = ["node", "init", "--role", n.role, "--code", n.code, "--name", n.name, "--public-url", n.url]
        if n.parent:
            args += ["--parent", self.by_code[n.parent].url]
        self._cli(n, *args)

    def onboard(self, n: DemoNode) -> None:
        """Apply to the parent, then the parent's officers check and decide (two people, both audited)."""
        from xinyidai.kit.db import Database
        from xinyidai.kit.principal import Principal
        from xinyidai.network import peers

        path = n.root / "assessment.json"
        path.write_text(json.dumps(ASSESSMENT, ensure_ascii=False), encoding="utf-8")
        self._cli(n, "node", "apply", "--contact", f"{n.name} 运维值班 0451-12345", "--assessment", str(path),
                  "--region", n.region or "")
        parent = self.by_code[n.parent or ""]
        db = Database(parent.database_url)
        try:
            with db.session() as s:
                peers.check(s, Principal(0, "operator", "平台运营（演示）", "operator", None), n.code,
                            "演示：申请材料齐全，自评估属实")
            with db.session() as s:
                peers.decide(s, Principal(0, "security", "安全管理员（演示）", "security", None), n.code, True,
                             "演示：自评估符合等保三级要求，批准接入")
        finally:
            db.dispose()

    def start(self, n: DemoNode) -> None:
        log = open(n.root / "server.log", "ab")  # noqa: SIM115 - the child process owns it
        n.proc = subprocess.Popen([sys.executable, "-m", "xinyidai", "serve", "--port", str(n.port)], env=n.env,
                                  cwd=n.root, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                  start_new_session=True)  # Ctrl-C reaches us only; we stop them in order
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if n.proc.poll() is not None:
                raise RuntimeError(f"{n.code} 启动失败，日志：{n.root / 'server.log'}")
            try:
                if httpx.get(n.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{n.code} 未能在 60 秒内就绪，日志：{n.root / 'server.log'}")

    def stop(self) -> None:
        for n in reversed(self.nodes):
            if n.proc is not None and n.proc.poll() is None:
                n.proc.send_signal(signal.SIGTERM)
        for n in reversed(self.nodes):
            if n.proc is not None:
                try:
                    n.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    n.proc.kill()
                    n.proc.wait(timeout=5)
                n.proc = None

    # ── the whole run ───────────────────────────────────────────────────────────────────────────────────

    def build(self, stagger_s: float = 10.0) -> None:
        busy = [n.port for n in self.nodes if not _port_free(n.port)]
        if busy:
            raise RuntimeError(f"端口已被占用：{', '.join(map(str, busy))}（用 --base-port 换一组端口）")
        self.say("准备四个节点的数据库与演示数据……")
        for n in self.nodes:
            self.prepare(n)
        national, province, *cities = self.nodes
        self.init(national)
        self.start(national)
        self.say(f"已启动 {national.name}：{national.url}")
        for n in (province, *cities):
            if n is cities[-1] and stagger_s:
                self.say(f"{stagger_s:.0f} 秒后接入 {n.name}（先看数据从哈尔滨流上来）……")
                time.sleep(stagger_s)
            self.init(n)
            self.onboard(n)
            self.start(n)
            self.say(f"已接入并启动 {n.name}：{n.url}")

    def banner(self) -> str:
        lines = ["", "节点网络演示已启动（按 Ctrl-C 停止全部节点）：", ""]
        for n in self.nodes:
            lines.append(f"  {n.code:<10} {n.name}")
            lines.append(f"             {n.url}/network    数据目录 {n.root}")
        lines += ["", f"各节点的演示账户（密码均为 {DEMO_PASSWORD}）：",
                  "  operator   平台运营人员（接入审核中的登记审核）",
                  "  security   安全管理员（批准接入、整改、撤销）",
                  "  regulator  监督管理人员（只读）",
                  "  城市节点另有 bank、enterprise 账户（与 make demo 相同）", "",
                  "打开省级或国家节点的「节点网络」页面，可看到哈尔滨、齐齐哈尔的记录逐级到达。"]
        return "\n".join(lines)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops the demo like Ctrl-C does: through the `finally` that ends the four nodes."""
    raise KeyboardInterrupt


def run(var_dir: Path, base_port: int = 8100, city_entities: int = 300, seed: int = 20220516,
        say: Callable[[str], None] = print) -> None:
    """Build and run the demo network in the foreground until Ctrl-C (or SIGTERM)."""
    demo = NetworkDemo(var_dir, base_port, city_entities, seed, say)
    failed = ""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        demo.build()
        say(demo.banner())
        while all(n.proc is not None and n.proc.poll() is None for n in demo.nodes):
            time.sleep(1)
        dead = [n.code for n in demo.nodes if n.proc is None or n.proc.poll() is not None]
        say(f"节点意外退出：{', '.join(dead)}（日志见各自数据目录的 server.log）")
    except KeyboardInterrupt:
        say("\n正在停止全部节点……")
    except RuntimeError as exc:
        failed = str(exc)
        say(f"演示未能启动：{failed}")
    finally:
        demo.stop()
        signal.signal(signal.SIGTERM, previous)
    say("已停止。")
    if failed:
        raise SystemExit(1)
