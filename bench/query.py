"""Authorized profile query and verification under load, against the same server's trivial endpoint.

    python bench/query.py [--seconds S] [--rounds R] [--connections C] [--entities N] [--engine sqlite|postgresql]

Builds a demo province (N entities, 12 months of records) in a temporary directory, onboards an institution
with an API key, has every enterprise grant it a summary authorization and a verification authorization,
starts `xinyidai serve` (a separate uvicorn process), and drives it with `wrk` (Debian package) on
loopback: `/healthz` (the baseline: routing, a session and `SELECT 1`), the profile endpoint rotating over
the entities, and verification requests with fresh request ids, in alternating rounds whose medians are
reported. Each profile request runs the full path: API-key authentication, rate limit, the enforced
UPDATE … RETURNING and SELECT, masking, and an entry in the audit chain. Ends with one line:

    RESULT query rps=… baseline_rps=… ratio=… p99_ms=… verify_rps=…
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from xinyidai.access import authorizations  # noqa: E402
from xinyidai.access.authorizations import GrantRequest  # noqa: E402
from xinyidai.catalog.schema import load_catalog  # noqa: E402
from xinyidai.entities.codes import make_uscc  # noqa: E402
from xinyidai.entities.models import MarketEntity  # noqa: E402
from xinyidai.institutions import onboarding as institutions  # noqa: E402
from xinyidai.kit import clock, migrate  # noqa: E402
from xinyidai.kit.db import Database  # noqa: E402
from xinyidai.kit.principal import Principal  # noqa: E402

BANK = make_uscc("230100", 777, "1", "1")
OPERATOR = Principal(0, "bench", "基准测试", "operator", None)

PROFILE_LUA = """
local codes = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/api/v1/access/entities/" .. codes[(i %% #codes) + 1] .. "/profile")
end
"""

# Each wrk thread has its own Lua state with the same random seed: the request ids take the thread's number
# from setup() and the round's start time, so no two requests share one (a shared id is a replay).
VERIFY_LUA = """
local codes = {%s}
local i = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads .. "-" .. os.time())
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"claims":[{"category":"judicial","op":"not_exists","period_from":"2024-01"},' ..
           '{"category":"tax","op":"exists","period_from":"2025-01"}]}'
request = function()
  i = i + 1
  local code = codes[(i %% #codes) + 1]
  wrk.headers["X-Request-Id"] = "bench-" .. tid .. "-" .. i
  return wrk.format(nil, "/api/v1/access/entities/" .. code .. "/verifications")
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(var: Path, url: str, entities: int) -> tuple[str, list[str]]:
    env = {**os.environ, "XINYIDAI_VAR_DIR": str(var), "XINYIDAI_DATABASE_URL": url}
    xyd = [sys.executable, "-m", "xinyidai"]
    subprocess.run([*xyd, "db", "upgrade"], env=env, check=True, capture_output=True)
    reset = ["--reset"] if url.startswith("sqlite") else ["--reset", "--yes"]  # the demo asks before emptying a server
    subprocess.run([*xyd, "demo", "--entities", str(entities), "--months", "12", *reset], env=env, check=True,
                   capture_output=True)
    db = Database(url)
    migrate.upgrade(db.engine)
    catalog = load_catalog()
    until = clock.now().astimezone(clock.CHINA_TZ).date() + timedelta(days=300)
    with db.session() as s:
        institutions.onboard(s, OPERATOR, code=BANK, name="基准测试银行股份有限公司", kind="银行",
                             rate_per_minute=100_000)
        token = institutions.issue_api_key(s, OPERATOR, BANK, label="bench").token
        codes = list(s.execute(select(MarketEntity.code).order_by(MarketEntity.code)).scalars())
    for code in codes:
        ent = Principal(0, f"ent-{code[-6:]}", "企业", "enterprise", code)
        with db.session() as s:
            for req in (GrantRequest(BANK, "贷前审查", "汇总查询", ["tax", "social_insurance", "electricity"], until),
                        GrantRequest(BANK, "核验", "核验比对", ["tax", "judicial"], until)):
                _, digest = authorizations.preview(s, catalog, ent, req)
                authorizations.grant(s, catalog, ent, req, digest)
    db.dispose()
    return token, codes


def wrk(url: str, seconds: int, connections: int, headers: list[str], script: Path | None = None) -> tuple[float, float]:
    cmd = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", "--timeout", "10s"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)] if m else float("nan")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        print(f"  warning: {non2xx.group(1)} non-2xx responses", file=sys.stderr)
    return rps, p99


def _median(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """Median requests/s and median p99 of the rounds."""
    return statistics.median(r for r, _ in runs), statistics.median(p for _, p in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=6, help="seconds of each load in each round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--entities", type=int, default=300)
    ap.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--database-url", default=os.environ.get("XINYIDAI_BENCH_POSTGRES_URL", ""))
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="xyd-bench-query-"))
    var = tmp / "var"
    url = args.database_url if args.engine == "postgresql" else f"sqlite:///{var / 'xinyidai.db'}"
    if args.engine == "postgresql" and not url:
        sys.exit("--database-url (or XINYIDAI_BENCH_POSTGRES_URL) is needed for postgresql")
    t0 = time.time()
    token, codes = prepare(var, url, args.entities)
    print(f"prepared {len(codes)} entities with authorizations in {time.time() - t0:.0f}s", file=sys.stderr)
    port = free_port()
    env = {**os.environ, "XINYIDAI_VAR_DIR": str(var), "XINYIDAI_DATABASE_URL": url}
    errors = tmp / "server-errors.log"  # the server's error log (the access log goes nowhere)
    server = subprocess.Popen([sys.executable, "-m", "xinyidai", "serve", "--host", "127.0.0.1", "--port", str(port),
                               "--workers", str(args.workers)], env=env, stdout=subprocess.DEVNULL,
                              stderr=errors.open("wb"), start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        auth = [f"X-Api-Key: {token}"]
        check = urllib.request.Request(f"{base}/api/v1/access/entities/{codes[0]}/profile", headers={"X-Api-Key": token})
        body = urllib.request.urlopen(check, timeout=10).read().decode()
        assert '"tax"' in body, body[:300]
        lua_codes = ",".join(f'"{c}"' for c in codes)
        profile_lua, verify_lua = tmp / "profile.lua", tmp / "verify.lua"
        profile_lua.write_text(PROFILE_LUA % lua_codes)
        verify_lua.write_text(VERIFY_LUA % lua_codes)
        wrk(base + "/healthz", 3, args.connections, [])  # warm-up
        # Rounds alternate the three loads and the medians are reported: on a shared machine a burst of
        # someone else's work during one long run would otherwise land on one side of the ratio only.
        runs: dict[str, list[tuple[float, float]]] = {"healthz": [], "profile": [], "verify": []}
        for _ in range(args.rounds):
            runs["healthz"].append(wrk(base + "/healthz", args.seconds, args.connections, []))
            runs["profile"].append(wrk(base, args.seconds, args.connections, auth, profile_lua))
            runs["verify"].append(wrk(base, args.seconds, args.connections, auth, verify_lua))
        for name, got in runs.items():
            print(f"{name}: " + ", ".join(f"{r:,.0f} req/s (p99 {p:.0f} ms)" for r, p in got), file=sys.stderr)
        (base_rps, base_p99), (rps, p99), (vrps, vp99) = (_median(runs[k]) for k in ("healthz", "profile", "verify"))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        logged = errors.read_text(errors="replace") if errors.exists() else ""
        if "Traceback" in logged:  # a load test that provokes server errors must say so
            print("server errors:\n" + logged[logged.index("Traceback"):][:3000], file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"RESULT query rps={rps:.0f} baseline_rps={base_rps:.0f} ratio={rps / base_rps:.3f} p99_ms={p99:.1f} "
          f"verify_rps={vrps:.0f} verify_p99_ms={vp99:.1f}")


if __name__ == "__main__":
    main()
