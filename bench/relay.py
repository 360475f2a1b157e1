"""Relay throughput: records loaded at a city flow to the province and on to the national node.

    python bench/relay.py [--records N]

Three `xinyidai serve` processes on loopback, each with its own SQLite database, initialised and onboarded
as an operator would. The city loads N tax records (N/12 entities × 12 months, after their registrations)
with `xinyidai ingest` while its server is down — that load's rate is the baseline (`local_rps`). Then the
city's server starts, and the clock runs until the national node holds all N records: `relay_rps` =
N / that time (collect, seal, sign, send, verify, open, apply — twice). Signing and verification costs per
envelope (header and receipt) and per record are measured in the same run with the node's suite. Ends with
one line:

    RESULT relay records=… relay_rps=… local_rps=… ratio=…
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from xinyidai.entities.codes import make_uscc  # noqa: E402
from xinyidai.kit.crypto.suite import get_suite  # noqa: E402
from xinyidai.kit.db import Database  # noqa: E402
from xinyidai.kit.principal import Principal  # noqa: E402
from xinyidai.network import peers  # noqa: E402
from xinyidai.network.relay import BATCH  # noqa: E402

ASSESSMENT = {k: "已落实" for k in peers.ASSESSMENT} | {"mlps_level": "3"}
OFFICER = Principal(0, "reg-officer", "登记审核员", "operator", None)
SECURITY = Principal(0, "sec-officer", "安全管理员", "security", None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, root: Path, code: str, role: str, name: str) -> None:
        self.root, self.code, self.role, self.name = root, code, role, name
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        root.mkdir(parents=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.root / "var" / "node.db"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("XINYIDAI_")}
        return env | {"XINYIDAI_VAR_DIR": str(self.root / "var"), "XINYIDAI_DATABASE_URL": f"sqlite:///{self.db_path}",
                      "XINYIDAI_KEY_PASSPHRASE": "bench-" + self.code, "XINYIDAI_NETWORK_INTERVAL_S": "0.2"}

    def cli(self, *args: str) -> str:
        r = subprocess.run([sys.executable, "-m", "xinyidai", *args], env=self.env, cwd=self.root, text=True,
                           capture_output=True)
        if r.returncode:
            sys.exit(f"xinyidai {' '.join(args)} failed: {r.stderr[-2000:]}")
        return r.stdout

    def start(self) -> None:
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - the process owns it
        self.proc = subprocess.Popen([sys.executable, "-m", "xinyidai", "serve", "--port", str(self.port)],
                                     env=self.env, cwd=self.root, stdout=log, stderr=log, start_new_session=True)
        for _ in range(300):
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        sys.exit(f"{self.code} did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=60)

    def count(self) -> int:
        with sqlite3.connect(self.db_path, timeout=30) as conn:
            return conn.execute("SELECT count(*) FROM credit_records WHERE category='tax'").fetchone()[0]


def onboard(child: Node, parent: Node, region: str) -> None:
    (child.root / "assessment.json").write_text(json.dumps(ASSESSMENT, ensure_ascii=False))
    child.cli("node", "apply", "--contact", "基准测试", "--assessment", str(child.root / "assessment.json"),
              "--region", region)
    db = Database(f"sqlite:///{parent.db_path}")
    with db.session() as s:
        peers.check(s, OFFICER, child.code, "基准测试")
    with db.session() as s:
        peers.decide(s, SECURITY, child.code, True, "基准测试")
    db.dispose()


def write_files(tmp: Path, records: int) -> tuple[Path, Path]:
    entities = max(1, records // 12)
    codes = [make_uscc("230102", 10_000 + i) for i in range(entities)]
    reg, tax = tmp / "reg.csv", tmp / "tax.csv"
    with open(reg, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["统一社会信用代码", "主体名称", "主体类型", "成立日期", "登记机关", "所属行政区划", "登记状态"])
        for i, c in enumerate(codes):
            w.writerow([c, f"哈尔滨基准{i}有限公司", "企业", "2015-03-01", "哈尔滨市市场监督管理局", "230102", "存续"])
    with open(tax, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["统一社会信用代码", "主体名称", "所属期", "纳税信用等级", "应纳税额", "实缴税额"])
        n = 0
        for m in range(1, 13):
            for i, c in enumerate(codes):
                if n >= records:
                    break
                w.writerow([c, f"哈尔滨基准{i}有限公司", f"2025-{m:02d}", "A", f"{1000 + i % 997}.00",
                            f"{1000 + i % 997}.00"])
                n += 1
    return reg, tax


# Each envelope is signed twice on one hop, and each signature verified once: the sender signs the
# header and verifies the receipt, the receiver verifies the header and signs the receipt.
SIGNATURES_PER_ENVELOPE = 2


def crypto_costs(suite_name: str) -> tuple[float, float]:
    """Milliseconds to sign and to verify one signature over a header-sized message."""
    suite = get_suite(suite_name)
    ident = suite.generate_identity()
    msg = b"x" * 400
    t = time.perf_counter()
    sigs = [suite.sign(ident, msg) for _ in range(200)]
    sign_ms = (time.perf_counter() - t) / 200 * 1000
    bundle = ident.public_bundle()
    t = time.perf_counter()
    for sig in sigs:
        suite.verify(bundle, msg, sig)
    return sign_ms, (time.perf_counter() - t) / 200 * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--suite", choices=("sm", "intl"), default="sm")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="xyd-bench-relay-"))
    nodes = [Node(tmp / "national", "CN", "national", "国家节点"),
             Node(tmp / "province", "CN-230000", "provincial", "省节点"),
             Node(tmp / "city", "CN-230100", "municipal", "市节点")]
    national, province, city = nodes
    try:
        parent = None
        for n in nodes:
            n.cli("db", "upgrade")
            extra = ["--parent", parent.url] if parent else []
            n.cli("node", "init", "--role", n.role, "--code", n.code, "--name", n.name, "--public-url", n.url,
                  "--suite", args.suite, *extra)
            n.start()
            parent = n
        onboard(province, national, "23")
        onboard(city, province, "2301")
        city.stop()  # the city loads offline first: that is the local baseline
        reg, tax = write_files(tmp, args.records)
        city.cli("ingest", str(reg), "--provider", "哈尔滨市市场监督管理局", "--category", "registration")
        t = time.perf_counter()
        city.cli("ingest", str(tax), "--provider", "国家税务总局哈尔滨市税务局", "--category", "tax")
        local_s = time.perf_counter() - t
        total = city.count()
        print(f"local load: {total:,} records in {local_s:.1f}s", file=sys.stderr)
        t = time.perf_counter()
        city.start()
        last = -1
        while True:
            got = national.count()
            if got >= total:
                break
            if got != last:
                print(f"  national holds {got:,} / {total:,} after {time.perf_counter() - t:.0f}s", file=sys.stderr)
                last = got
            time.sleep(1)
        relay_s = time.perf_counter() - t
    finally:
        for n in nodes:
            n.stop()
    sign_ms, verify_ms = crypto_costs(args.suite)
    sign_env, verify_env = sign_ms * SIGNATURES_PER_ENVELOPE, verify_ms * SIGNATURES_PER_ENVELOPE
    print(f"per hop, {BATCH} records per envelope, header and receipt signed ({args.suite}): "
          f"signing {sign_env:.2f} ms per envelope = {sign_env / BATCH * 1000:.3f} µs per record; "
          f"verification {verify_env:.2f} ms per envelope = {verify_env / BATCH * 1000:.3f} µs per record",
          file=sys.stderr)
    if not os.environ.get("XYD_BENCH_KEEP"):
        shutil.rmtree(tmp, ignore_errors=True)
    relay_rps, local_rps = total / relay_s, total / local_s
    print(f"RESULT relay records={total} relay_rps={relay_rps:.0f} local_rps={local_rps:.0f} "
          f"ratio={relay_rps / local_rps:.3f} sign_ms_per_envelope={sign_env:.2f} "
          f"verify_ms_per_envelope={verify_env:.2f} sign_us_per_record={sign_env / BATCH * 1000:.3f} "
          f"verify_us_per_record={verify_env / BATCH * 1000:.3f}")


if __name__ == "__main__":
    main()
