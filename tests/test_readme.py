"""Every command the README shows is true: each one is listed below with how it is run, and run (issue 23,
item 13).

The commands are read from the README itself — the lines of its ```sh blocks (comments dropped, continued
lines joined) and its inline code that starts with `xinyidai`, `make` or `.venv/bin/` — and must match the
list exactly, so a README changed without this file fails here. Each runs as the README has it, in bash,
with `.venv/bin/xinyidai`, `xinyidai` and `.venv/bin/python` being this checkout, in order within its
section: the walkthrough on a fresh small demo in a temporary folder, the node commands against real local
nodes, production setup on a temporary database, the network demo until the national node holds records,
the benchmarks at small sizes. Where a command cannot run here as written, `subs` replaces what makes it
impossible (an outside host, a mount point, a production size) and `why` says so; a command that serves
until stopped is run until it answers; the `make` targets are dry-run (`make -n`), their recipes being the
commands run here.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import xinyidai
from tests.network.nodes import OFFICER, SECURITY, Node
from tests.records.helpers import REG_HEADER, codes, registration_rows, write_csv
from xinyidai.config import load_settings
from xinyidai.network import peers

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SRC = Path(xinyidai.__file__).resolve().parents[1]
DEMO_ENTITIES = "300"
TIMEOUT = 900
PG_URL = os.environ.get("XINYIDAI_TEST_POSTGRES_URL") or os.environ.get("XINYIDAI_TEST_DATABASE_URL", "")


@dataclass(frozen=True)
class Run:
    """How a README command is run here: in which test, with which replacements and why, expecting what."""

    test: str
    expect: tuple[str, ...] = ()  # in its output
    subs: tuple[tuple[str, str], ...] = ()  # (README text, what runs instead); {tmp}, {port} are filled in
    why: str = ""


SMALL = (("xinyidai demo --reset", f"xinyidai demo --reset --entities {DEMO_ENTITIES}"),)
COMMANDS: dict[str, Run] = {
    # Two commands
    "make demo": Run("make", ("xinyidai db upgrade", "xinyidai demo --entities 5000 --reset",
                              "xinyidai serve --host 127.0.0.1 --port 8000"),
                     why="serves until stopped: dry-run; its recipe's commands run in the demo test"),
    "make test": Run("make", ("lint-imports --no-cache", "pytest -q -n 2 --dist loadscope tests"),
                     why="runs this suite: dry-run"),
    "make demo ENTITIES=100000 PORT=8080": Run("make", ("--entities 100000", "--port 8080"), why="dry-run"),
    "make lint": Run("make", ("ruff check src tests bench", "lint-imports --no-cache"),
                     why="checks this tree: dry-run"),
    # A short walkthrough, on a fresh demo
    "xinyidai demo --reset": Run("demo", ("演示省份已生成", "样例文件"), SMALL, why="a small province"),
    ".venv/bin/xinyidai catalog --category 纳税": Run("demo", ("纳税信用等级", "明示授权后原始明细")),
    ".venv/bin/xinyidai ingest var/demo-deliveries/*纳税申报信息（GBK）.csv --provider 哈尔滨市税务局 --category tax "
    "--report issues.csv": Run("demo", ("部分接收", "问题清单已写入 issues.csv")),
    ".venv/bin/xinyidai audit verify": Run("demo", ("审计链完整",)),
    # Credit evaluation, reports and white lists
    "xinyidai credit evaluate": Run("demo", ("批评价完成",)),
    'xinyidai credit indicators "var/demo-samples/指标体系（演示调整版）.yaml"': Run("demo", ("* 2026.2-演示",)),
    'xinyidai credit outcomes "var/demo-samples/贷款结果（第二批）.csv" && xinyidai credit train':
        Run("demo", ("新增", "小微企业评分卡 v2（待启用）")),
    "xinyidai credit report 91230103XY0000004H -o report.pdf": Run("demo", ("已写出 report.pdf",)),
    # Oversight
    "xinyidai oversight run 2026-11": Run("demo", ("KH-202611-202611-",)),
    "xinyidai oversight indicators": Run("demo", ("* 2026.1",)),
    # Data governance
    # The enterprise's rights
    "xinyidai rights objection list --state all": Run("demo", ("共 0 件",)),
    "xinyidai rights objection calendar": Run("demo", ("2026\t放假",)),
    "xinyidai rights repair list --state all": Run("demo", ("共 0 件",)),
    'xinyidai rights migration import "var/demo-samples/黑龙江站迁移（演示）.json"':
        Run("demo", ("已导入（编号 1）：企业 导入 4、未导入 3",)),
    "xinyidai rights migration report 1 --refused": Run("demo", ("INVALID_USCC", "MIGRATION_ENTITY_NOT_REGISTERED",
                                                                 "USERNAME_TAKEN", "MIGRATION_AUTHORIZATION_EXPIRED")),
    "xinyidai quality run": Run("demo", ("次检查完成：207 条规则",)),
    "xinyidai quality findings": Run("demo", ("哈尔滨海关  timeliness.import_export",)),
    "xinyidai quality scores": Run("demo", ("哈尔滨海关  综合",)),
    "xinyidai quality source list": Run("demo", ("water-front\tdatabase\thlj-water",)),
    "xinyidai quality source pull water-front": Run("demo", ("无新数据", "共拉取 0 行")),
    "xinyidai quality rules default > rules.yaml": Run("demo"),
    "xinyidai quality ticket list": Run("demo", ("共 ",)),
    # The audit log and its checkpoints
    "xinyidai audit checkpoint": Run("demo", ("检查点",)),
    "xinyidai audit verify": Run("demo", ("审计链完整",)),
    "xinyidai audit verify --offline": Run("demo", ("审计链完整",)),
    # For banks: a key registered from the command line, and the first call with xinyidai.client
    "openssl genpkey -algorithm SM2 -out bank-sm2.pem": Run("banks"),
    "openssl pkey -in bank-sm2.pem -pubout -out bank-sm2.pub.pem": Run("banks"),
    "xinyidai institutions credentials add-key 91230103XYYYYYYYXG --kind sm2 --public-key bank-sm2.pub.pem "
    "--label 生产": Run("banks", ("已登记签名公钥，凭证编号",)),
    "xinyidai institutions credentials list 91230103XYYYYYYYXG": Run("banks", ("SM2 公钥签名  有效  生产",)),
    "xinyidai institutions credentials add-key": Run("banks", why="the inline mention; the full command above runs"),
    # Nodes
    "xinyidai node init --role provincial --code CN-230000 --name 黑龙江省融资信用服务平台 --parent "
    "https://national.example/ --public-url https://hlj.example/ --upload tax,social_insurance,registration":
        Run("nodes", ("身份已创建", "已登记上级节点 CN"), (("https://national.example/", "{national}/"),),
            why="the parent is a national node started here"),
    'xinyidai node apply --contact "张敏 0451-…" --assessment assessment.json --region 23':
        Run("nodes", ("接入申请已提交",)),
    "xinyidai network export --peer CN-230100 --dir /mnt/frontend/to-230100":
        Run("nodes", ("已导出",), (("/mnt/frontend", "{tmp}/frontend"),), why="no /mnt here"),
    "xinyidai network import /mnt/frontend/from-230100 --receipts /mnt/frontend/receipts":
        Run("nodes", ("已应用 1 个",), (("/mnt/frontend", "{tmp}/frontend"),), why="no /mnt here"),
    "xinyidai network reconcile --days 7": Run("nodes", ("CN：",)),
    'xinyidai node rotate-key --reason "年度密钥轮换" --overlap-hours 168':
        Run("nodes", ("密钥已轮换", "已通知 2 个节点")),
    "xinyidai node keys": Run("nodes", ("当前使用", "重叠期内")),
    'xinyidai node retire-key --reason "旧密钥提前停用"': Run("nodes", ("已停用旧密钥", "已通知 2 个节点")),
    # The node network demo
    "make demo-network": Run("make", ("xinyidai demo --network --base-port 8100 --city-entities 300",),
                             why="serves until stopped: dry-run; `xinyidai demo --network` runs"),
    "xinyidai demo --network": Run("network", subs=(("--network", "--network --base-port {port} --city-entities 40"),),
                                   why="free ports (8100… may be taken), small cities; run until records reach CN"),
    "xinyidai serve": Run("production", why="started by the production block's serve command"),
    "xinyidai config reference": Run("production", ("| `XINYIDAI_TRUSTED_PROXIES` |", "| `XINYIDAI_PDF_FONT` |")),
    "make demo-network BASE_PORT=8200 CITY_ENTITIES=1000": Run("make", ("--base-port 8200 --city-entities 1000",),
                                                               why="dry-run"),
    # Running a node on PostgreSQL in production
    "python3 -m venv .venv && .venv/bin/pip install -r requirements.lock && .venv/bin/pip install --no-deps .":
        Run("not run", why="installs from PyPI; `make setup` (run by `make test`, so by CI) installs the same lock"),
    "export XINYIDAI_DATABASE_URL=postgresql://xinyidai@db.internal:5432/xinyidai":
        Run("production", subs=(("postgresql://xinyidai@db.internal:5432/xinyidai", "{database}"),),
            why="the test's PostgreSQL when one is given, else a SQLite file"),
    "export XINYIDAI_VAR_DIR=/var/lib/xinyidai": Run("production", subs=(("/var/lib/xinyidai", "{tmp}/var"),),
                                                     why="a temporary folder"),
    ".venv/bin/xinyidai db upgrade": Run("production", ("数据库已迁移到",)),
    "XINYIDAI_NEW_PASSWORD=… .venv/bin/xinyidai user add alice --role operator --name 张三":
        Run("production", ("alice",), (("XINYIDAI_NEW_PASSWORD=…", "XINYIDAI_NEW_PASSWORD=readme-Pass-2026"),),
            why="a password in place of the ellipsis"),
    ".venv/bin/xinyidai serve --host 127.0.0.1 --port 8000 --workers 4":
        Run("production", subs=(("--port 8000", "--port {port}"),), why="a free port; runs until it answers"),
    # … behind nginx, with the worker, under systemd, in a container
    "sudo install -D -m 0644 deploy/nginx/xinyidai.conf /etc/nginx/conf.d/xinyidai.conf":
        Run("not run", why="root and the system's nginx; tests/ops/test_nginx.py runs this file in front of a node"),
    "sudo nginx -t && sudo systemctl reload nginx":
        Run("not run", why="the system's nginx; tests/ops/test_nginx.py checks the file with nginx -t and runs it"),
    "XINYIDAI_BACKGROUND=worker .venv/bin/xinyidai worker":
        Run("not run", why="runs until stopped; tests/ops/test_worker.py runs it beside a web process and stops it"),
    "sudo useradd --system --home-dir /var/lib/xinyidai --create-home --shell /usr/sbin/nologin xinyidai":
        Run("not run", why="adds a system user: root on a real host"),
    "sudo install -D -m 0640 -g xinyidai deploy/systemd/xinyidai.env.example /etc/xinyidai/xinyidai.env":
        Run("not run", why="root; tests/ops/test_configref.py loads the example's settings"),
    "sudo install -m 0644 deploy/systemd/xinyidai-web.service deploy/systemd/xinyidai-worker.service "
    "/etc/systemd/system/": Run("not run", why="root; tests/ops/test_worker.py checks the units with "
                                              "systemd-analyze verify where it exists"),
    "sudo systemctl daemon-reload && sudo systemctl enable --now xinyidai-web xinyidai-worker":
        Run("not run", why="needs systemd as the init system, which a test host or CI container has not"),
    "docker build -f deploy/Containerfile -t xinyidai .":
        Run("not run", why="no Docker here; tests/ops/test_configref.py checks the file's instructions and paths"),
    "docker run --rm -v xinyidai-var:/var/lib/xinyidai xinyidai xinyidai db upgrade":
        Run("not run", why="no Docker here; the same command runs in the production test"),
    "docker run -d --name xinyidai -p 127.0.0.1:8000:8000 -v xinyidai-var:/var/lib/xinyidai --env-file "
    "/etc/xinyidai/xinyidai.env xinyidai": Run("not run", why="no Docker here; the image's command is the "
                                                              "serve this section runs"),
    "XINYIDAI_BACKUP_PASSPHRASE=… .venv/bin/xinyidai backup /backups/hlj-20261207.tar":
        Run("not run", why="tests/ops/test_backup.py backs up a node with keys under load through this command"),
    "XINYIDAI_BACKUP_PASSPHRASE=… .venv/bin/xinyidai restore /backups/hlj-20261207.tar":
        Run("not run", why="tests/ops/test_backup.py restores through this command into a fresh directory"),
    # Benchmarks, at small sizes
    ".venv/bin/python bench/ingest.py --rows 1000000 --engine sqlite":
        Run("bench", ("RESULT ingest",), (("--rows 1000000", "--rows 2000"),), why="size"),
    ".venv/bin/python bench/ingest.py --rows 1000000 --engine postgresql --database-url postgresql://…":
        Run("bench", ("RESULT ingest",), (("--rows 1000000", "--rows 2000"), ("postgresql://…", "{pg}")),
            why="size; needs XINYIDAI_TEST_POSTGRES_URL"),
    ".venv/bin/python bench/query.py --rounds 3 --connections 64":
        Run("bench", ("RESULT query",), (("--rounds 3 --connections 64",
                                          "--rounds 1 --connections 4 --seconds 1 --entities 50"),), why="size"),
    ".venv/bin/python bench/relay.py --records 1000000":
        Run("bench", ("RESULT relay",), (("--records 1000000", "--records 500"),), why="size"),
    ".venv/bin/python bench/crypto.py": Run("bench", ("RESULT crypto suite=sm", "RESULT crypto suite=intl"),
                                            (("crypto.py", "crypto.py --seconds 0.05 --payload-mb 0.1"),),
                                            why="time per measurement"),
    ".venv/bin/python bench/evaluate.py --entities 1000000":
        Run("bench", ("RESULT evaluate", "RESULT reports"), (("--entities 1000000", "--entities 500 --reports 2"),),
            why="size"),
    ".venv/bin/python bench/scorecard.py": Run("bench", ("RESULT",), why="needs bench/requirements.txt (toad)"),
    ".venv/bin/python bench/market.py --loans 1000000":
        Run("bench", ("RESULT market",), (("--loans 1000000", "--loans 2000"),), why="size"),
    ".venv/bin/python bench/policy.py --loans 1000000":
        Run("bench", ("RESULT policy",), (("--loans 1000000", "--loans 2000"),), why="size"),
    ".venv/bin/python bench/oversight.py --entities 1000000":
        Run("bench", ("RESULT oversight",), (("--entities 1000000", "--entities 2000"),), why="size"),
    ".venv/bin/python bench/quality.py --entities 1000000":
        Run("bench", ("RESULT quality",), (("--entities 1000000", "--entities 2000"),), why="size"),
}


# ── reading the README ──────────────────────────────────────────────────────────────────────────────────

_COMMENT = re.compile(r"(^|\s+)#\s.*$")


def shell_commands(text: str) -> list[str]:
    """The commands of the ```sh blocks: comments dropped, lines ending in a backslash joined."""
    out: list[str] = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S):
        pending = ""
        for line in block.splitlines():
            line = _COMMENT.sub("", line).rstrip()
            if not line:
                continue
            if line.endswith("\\"):
                pending += line[:-1].strip() + " "
                continue
            out.append(re.sub(r"\s+", " ", pending + line.strip()))
            pending = ""
    return out


def inline_commands(text: str) -> list[str]:
    prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    return [c for c in re.findall(r"`([^`\n]+)`", prose) if re.match(r"(xinyidai|make|\.venv/bin/)( |$)", c)]


def readme_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    return list(dict.fromkeys([*shell_commands(text), *inline_commands(text)]))


def test_every_readme_command_is_listed_here() -> None:
    shown = readme_commands()
    assert [c for c in shown if c not in COMMANDS] == [], "README commands this file does not run"
    assert [c for c in COMMANDS if c not in shown] == [], "commands listed here that the README no longer has"


def _section(test: str) -> list[tuple[str, Run]]:
    """The section's commands in README order."""
    return [(c, COMMANDS[c]) for c in readme_commands() if COMMANDS[c].test == test]


# ── running them ────────────────────────────────────────────────────────────────────────────────────────

def _free_port(span: int = 1) -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + span < 65000 and all(_port_free(p) for p in range(port, port + span)):
            return port


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _workdir(path: Path) -> Path:
    """A folder where `.venv/bin/xinyidai`, `xinyidai` and `.venv/bin/python` are this checkout's."""
    bin_dir = path / ".venv" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, args in (("python", ""), ("xinyidai", " -m xinyidai")):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}"{args} "$@"\n', encoding="utf-8")
        script.chmod(0o755)
    (path / "bench").symlink_to(ROOT / "bench")
    return path


def _env(workdir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XINYIDAI_")}
    env.update(PATH=f"{workdir / '.venv' / 'bin'}:{env.get('PATH', '')}", PYTHONIOENCODING="utf-8",
               PYTHONPATH=os.pathsep.join([str(SRC), str(ROOT), env.get("PYTHONPATH", "")]), **extra)
    return env


def _as_run(command: str, run: Run, **values: str) -> str:
    for old, new in run.subs:
        assert old in command, f"{old!r} is not in {command!r}"
        command = command.replace(old, new.format(**values))
    return command


def _bash(command: str, cwd: Path, env: dict[str, str], expect: tuple[str, ...] = ()) -> str:
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"$ {command}\n(exit {done.returncode})\n{out[-4000:]}"
    for text in expect:
        assert text in out, f"$ {command}\n{text!r} not in the output:\n{out[-4000:]}"
    return out


def _wait_healthy(url: str, proc: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"exited with {proc.returncode}"
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer in {seconds:.0f} s")


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    return proc.returncode


@pytest.fixture(autouse=True)
def fixed_clock() -> Iterator[None]:
    """The commands run in other processes on the real clock (this overrides the suite's fixed one)."""
    yield None


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_targets_dry_run() -> None:
    for command, run in _section("make"):
        _bash(command.replace("make", f"make -n -C {ROOT}", 1), ROOT, _env(ROOT), run.expect)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_walkthrough_credit_and_audit_on_a_fresh_small_demo(tmp_path: Path) -> None:
    work = _workdir(tmp_path)
    env = _env(work)
    # A fresh demo as `make demo` builds it (its recipe's xinyidai commands, but serve), at a small size.
    recipe = _bash(f"make -n -C {ROOT} demo ENTITIES={DEMO_ENTITIES}", ROOT, env)
    for line in recipe.splitlines():
        if re.match(r"\.venv/bin/xinyidai (?!serve)", line):
            _bash(line, work, env)
    for command, run in _section("demo"):
        _bash(_as_run(command, run), work, env, run.expect)
    assert (work / "issues.csv").read_text(encoding="utf-8-sig").startswith("交付批次,文件,行号")
    assert (work / "report.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.slow
def test_node_commands_against_local_nodes(tmp_path: Path) -> None:
    work = _workdir(tmp_path / "province")
    province = Node("CN-230000", "provincial", "黑龙江省融资信用服务平台", work)
    national = Node("CN", "national", "全国中小企业融资综合信用服务平台", tmp_path / "national")
    harbin = Node("CN-230100", "municipal", "哈尔滨市融资信用服务平台", tmp_path / "harbin")
    env = _env(work, **{k: v for k, v in province.env.items() if k.startswith("XINYIDAI_")})
    json_blocks = re.findall(r"^```json\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)
    (work / "assessment.json").write_text(json_blocks[0], encoding="utf-8")  # the README's own example
    frontend = tmp_path / "frontend"
    try:
        national.init()
        national.start()
        for command, run in _section("nodes"):
            if "network export" in command:  # Harbin, in file mode, has applied and left an envelope for us
                province.start()
                harbin.init(parent=province, mode="file")
                harbin.apply_to(province, region="2301")
                rows = registration_rows(codes(3, "230102", 50))
                harbin.cli("ingest", str(write_csv(tmp_path / "reg.csv", REG_HEADER, rows)),
                           "--provider", "哈尔滨市市场监督管理局", "--category", "registration")
                harbin.cli("network", "export", "--peer", "CN-230000", "--dir", str(frontend / "from-230100"),
                           "--collect")
            _bash(_as_run(command, run, national=national.url, tmp=str(tmp_path)), work, env, run.expect)
            if "node apply" in command:  # the parent's registration officer checks, its security officer decides
                db = national.db()
                with db.session() as s:
                    peers.check(s, OFFICER, "CN-230000", "材料齐全")
                with db.session() as s:
                    peers.decide(s, SECURITY, "CN-230000", True, "自评估符合三级要求")
                db.dispose()
        assert province.count("SELECT count(*) FROM credit_records WHERE entity_code IN :c",
                              c=codes(3, "230102", 50)) == 3
    finally:
        for n in (harbin, province, national):
            n.kill()


@pytest.mark.slow
def test_production_setup_on_a_temporary_database(tmp_path: Path) -> None:
    work = _workdir(tmp_path)
    values = {"tmp": str(tmp_path), "port": str(_free_port()), "database": PG_URL or f"sqlite:///{tmp_path}/prod.db"}
    if PG_URL:
        from tests.network.nodes import reset_postgres
        reset_postgres(PG_URL)
    script: list[str] = []
    for command, run in _section("production"):
        if command == "xinyidai serve":
            continue  # the inline mention; the serve below is it
        line = _as_run(command, run, **values)
        if " serve " in line:
            proc = subprocess.Popen(["bash", "-c", " && ".join([*script, "exec " + line])], cwd=work,
                                    env=_env(work), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
            try:
                url = f"http://127.0.0.1:{values['port']}"
                _wait_healthy(url, proc)
                with httpx.Client(base_url=url) as c:  # alice, added above, logs in
                    page = c.get("/login").text
                    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
                    r = c.post("/login", data={"username": "alice", "password": "readme-Pass-2026", "next": "/",
                                               "csrf_token": token})
                    assert r.status_code in (200, 303) and "张三" in c.get("/").text
            finally:
                _stop(proc)
            continue
        script.append(line)
        if not line.startswith("export "):
            _bash(" && ".join(script), work, _env(work), run.expect)
            script = [x for x in script if x.startswith("export ")]


@pytest.mark.slow
def test_network_demo_until_records_reach_the_national_node(tmp_path: Path) -> None:
    work = _workdir(tmp_path)
    port = _free_port(4)
    [(command, run)] = _section("network")
    proc = subprocess.Popen(["bash", "-c", "exec " + _as_run(command, run, port=str(port))], cwd=work,
                            env=_env(work), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        national = load_settings(env={}, var_dir=work / "var" / "network" / "CN",
                                 database_url=f"sqlite:///{work / 'var' / 'network' / 'CN' / 'node.db'}")
        deadline = time.monotonic() + TIMEOUT
        held = 0
        while time.monotonic() < deadline and not held:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(2)
            db_file = Path(national.resolved_database_url.removeprefix("sqlite:///"))
            if db_file.exists():
                held = _count(db_file, "SELECT count(*) FROM credit_records WHERE origin_node = 'CN-230100'")
        assert held > 0, "no record of Harbin reached the national node"
    finally:
        code = _stop(proc, signal.SIGINT)  # Ctrl-C stops all four nodes
    assert code == 0 or code == -signal.SIGINT
    assert not [p for p in range(port, port + 4) if _listening(p)], "a node still serves after Ctrl-C"


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return False
    return True


def _count(db_file: Path, sql: str) -> int:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # not migrated yet, or busy
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("command", [c for c, r in COMMANDS.items() if r.test == "bench"])
def test_benchmark_at_a_small_size(command: str, tmp_path: Path) -> None:
    run = COMMANDS[command]
    if "{pg}" in str(run.subs) and not PG_URL:
        pytest.skip("needs a PostgreSQL database: XINYIDAI_TEST_POSTGRES_URL")
    if "scorecard.py" in command:
        pytest.importorskip("toad", reason="bench/requirements.txt is not installed")
    work = _workdir(tmp_path)
    _bash(_as_run(command, run, pg=PG_URL), work, _env(work), run.expect)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("openssl") is None and not os.environ.get("CI"), reason="openssl is not installed")
def test_a_banks_first_call_on_a_small_demo(tmp_path: Path) -> None:
    """The bank's key from the README's commands, then its Python snippet against a served demo node, with
    the node's address and the key id add-key printed put in."""
    work = _workdir(tmp_path)
    env = _env(work)
    _bash(f"xinyidai demo --entities {DEMO_ENTITIES}", work, env, ("演示省份已生成",))
    outputs = [_bash(_as_run(c, run), work, env, run.expect) for c, run in _section("banks")
               if c != "xinyidai institutions credentials add-key"]
    key_id = re.search(r"凭证编号（X-XYD-Key-Id）：([0-9a-f]{16})", "".join(outputs)).group(1)  # type: ignore[union-attr]
    [snippet] = [b for b in re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)
                 if "xinyidai.client" in b]
    port = _free_port()
    for old, new in (("http://127.0.0.1:8000", f"http://127.0.0.1:{port}"), ("3f9c0a5e1b2d4c6f", key_id)):
        assert old in snippet
        snippet = snippet.replace(old, new)
    (work / "first_call.py").write_text(snippet, encoding="utf-8")
    proc = subprocess.Popen(["xinyidai", "serve", "--port", str(port)], cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc)
        out = _bash(".venv/bin/python first_call.py", work, env, ("中国工商银行股份有限公司黑龙江省分行",))
        assert "'tax'" in out or "NO_AUTHORIZATION" in out, out
    finally:
        _stop(proc)


def test_readme_configuration_example_loads(tmp_path: Path) -> None:
    [toml] = re.findall(r"^```toml\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)
    path = tmp_path / "xinyidai.toml"
    path.write_text(toml, encoding="utf-8")
    s = load_settings(path, env={})
    assert (s.node_code, s.node_role, s.node_name) == ("CN-230100", "municipal", "哈尔滨市融资信用服务平台")


def test_every_departure_from_the_readme_says_why() -> None:
    assert [c for c, r in COMMANDS.items() if (r.test in ("not run", "make") or r.subs) and not r.why] == []
    assert {r.test for r in COMMANDS.values()} == {"banks", "bench", "demo", "make", "network", "nodes",
                                                  "not run", "production"}
