"""Loading benchmark: the whole pipeline (read, check, store) against a raw baseline in the same run.

    python bench/ingest.py --rows 1000000 --engine sqlite
    python bench/ingest.py --rows 1000000 --engine postgresql --database-url postgresql://…

The file is monthly tax data (12 months per entity) for entities already in the register. The baseline is
a bare `executemany` of the same CSV rows in one transaction into an unindexed table (SQLite), or a bare
`COPY` of the same file into an unindexed table (PostgreSQL). The pipeline runs in a child process so its
peak resident memory can be read on its own. Ends with one line:

    RESULT ingest engine=… rows=… pipeline_rps=… baseline_rps=… ratio=… peak_rss_mb=…
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, text

from xinyidai.catalog.schema import load_catalog
from xinyidai.entities.codes import make_uscc
from xinyidai.entities.models import MarketEntity
from xinyidai.kit import clock, migrate
from xinyidai.kit.db import Database

HEADER = ["统一社会信用代码", "主体名称", "所属期", "纳税人类型", "纳税信用等级", "申报销售额", "应纳税额", "实缴税额",
          "欠税金额", "是否欠税", "申报状态"]
MONTHS = 12


def make_file(path: Path, rows: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    n_entities = -(-rows // MONTHS)
    entities = [make_uscc("230100", i + 1) for i in range(n_entities)]
    months = clock.months_before(clock.today(), MONTHS)
    grades = "AABBBBMMCD"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        written = 0
        for i, code in enumerate(entities):
            small = i % 3 != 0
            for m in months:
                if written == rows:
                    break
                sales = round(rng.lognormvariate(12, 1.2), 2)
                payable = round(sales * 0.03, 2)
                arrears = round(payable * 0.5, 2) if rng.random() < 0.03 else 0
                w.writerow([code, f"哈尔滨基准测试企业{i}有限公司", m, "小规模纳税人" if small else "一般纳税人",
                            rng.choice(grades), f"{sales:.2f}", f"{payable:.2f}", f"{payable - arrears:.2f}",
                            f"{arrears:.2f}", "是" if arrears else "否", "正常申报"])
                written += 1
    return entities


def prepare(db: Database, entities: list[str]) -> None:
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(db.engine)
    now = clock.now()
    with db.engine.begin() as conn:
        for start in range(0, len(entities), 50_000):
            conn.execute(insert(MarketEntity), [
                {"code": c, "name": f"哈尔滨基准测试企业{start + i}有限公司", "kind": "企业", "region_code": "230100",
                 "status": "存续", "updated_at": now} for i, c in enumerate(entities[start:start + 50_000])])


def baseline(db: Database, path: Path) -> float:
    """Seconds for the bare load of the same rows into an unindexed table."""
    cols = ", ".join(f"c{i} TEXT" for i in range(len(HEADER)))
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_raw"))
        conn.execute(text(f"CREATE TABLE bench_raw ({cols})"))
    raw_conn = db.engine.raw_connection()
    try:
        driver = raw_conn.driver_connection
        started = time.perf_counter()
        if db.engine.dialect.name == "postgresql":
            with driver.cursor() as cur, open(path, "rb") as fh, \
                    cur.copy("COPY bench_raw FROM STDIN WITH (FORMAT csv, HEADER true)") as cp:
                while chunk := fh.read(1 << 20):
                    cp.write(chunk)
        else:
            marks = ", ".join("?" * len(HEADER))
            with open(path, encoding="utf-8", newline="") as fh:
                reader = csv.reader(fh)
                next(reader)
                driver.executemany(f"INSERT INTO bench_raw VALUES ({marks})", reader)  # noqa: S608
        driver.commit()
        elapsed = time.perf_counter() - started
    finally:
        raw_conn.close()
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_raw"))
    return elapsed


def child(url: str, path: Path) -> None:
    """Runs the real pipeline once and prints its figures as JSON (its own process, for peak RSS)."""
    from xinyidai.records import checking
    from xinyidai.records.loading import ingest_file
    db = Database(url)
    started = time.perf_counter()
    d, _ = ingest_file(db, load_catalog(), path, provider="哈尔滨市税务局", category="tax", submitted_by="bench",
                       source="cli")
    elapsed = time.perf_counter() - started
    own_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    worker_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest checking worker
    # Upper bound of what loading held at once: this process plus every worker at the largest one's peak.
    peak_mb = (own_kb + checking.WORKERS * worker_kb) / 1024
    print(json.dumps({"seconds": elapsed, "status": d.status, "rows": d.rows_total, "new": d.rows_new,
                      "rejected": d.rows_rejected, "peak_rss_mb": peak_mb, "own_rss_mb": own_kb / 1024,
                      "worker_rss_mb": worker_kb / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--database-url", default=os.environ.get("XINYIDAI_BENCH_DATABASE_URL", ""))
    ap.add_argument("--workdir", type=Path, default=None, help="where the file and SQLite database go")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.database_url, args.child)
        return
    work = args.workdir or Path(tempfile.mkdtemp(prefix="xyd-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.engine == "postgresql":
        if not args.database_url.startswith("postgresql"):
            sys.exit("--engine postgresql needs --database-url postgresql://… (a database this run may wipe)")
        url = args.database_url
    else:
        db_path = work / "bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{db_path}"
    path = work / f"tax-{args.rows}.csv"
    t0 = time.perf_counter()
    entities = make_file(path, args.rows)
    print(f"file: {path} ({path.stat().st_size / 1e6:.0f} MB, {args.rows:,} rows, {len(entities):,} entities) "
          f"in {time.perf_counter() - t0:.1f}s", flush=True)
    db = Database(url)
    prepare(db, entities)
    base_s = baseline(db, path)
    print(f"baseline: {base_s:.2f}s = {args.rows / base_s:,.0f} rows/s", flush=True)
    db.dispose()
    out = subprocess.run([sys.executable, __file__, "--child", str(path), "--database-url", url],
                         check=True, capture_output=True, text=True)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    if figures["status"] != "accepted" or figures["new"] != args.rows:
        sys.exit(f"pipeline did not load every row: {figures}")
    pipe_rps = args.rows / figures["seconds"]
    base_rps = args.rows / base_s
    print(f"pipeline: {figures['seconds']:.2f}s = {pipe_rps:,.0f} rows/s; peak RSS {figures['peak_rss_mb']:.0f} MB "
          f"(loader {figures['own_rss_mb']:.0f} MB + workers at most {figures['worker_rss_mb']:.0f} MB each)",
          flush=True)
    print(f"RESULT ingest engine={args.engine} rows={args.rows} pipeline_rps={pipe_rps:.0f} "
          f"baseline_rps={base_rps:.0f} ratio={pipe_rps / base_rps:.3f} peak_rss_mb={figures['peak_rss_mb']:.1f}")


if __name__ == "__main__":
    main()
