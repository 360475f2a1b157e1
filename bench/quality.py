"""Quality benchmark (issue 18): the whole default rule set over a generated province, against one bare full
scan of the credit records in the same run.

    python bench/quality.py --entities 100000
    python bench/quality.py --entities 100000 --database-url postgresql+psycopg://postgres@host:port/bench_q
    python bench/quality.py --entities 100000 --workdir /tmp/bq --reuse --profile   # measure a built database again

--profile prints seconds per rule kind and the slowest statements (a SQLAlchemy event timer; for PostgreSQL
the fill-rate samples' streamed reads fall between statements and show only in the kind's seconds).

Writes straight into the tables of a migrated database (`bench/market.py`'s `open_database`: a fresh SQLite
file, or a PostgreSQL database this run may wipe): per entity about 30 current records — 1 registration
(2 % 注销 with a closed_on), 12 months of tax (3 % of entities miss a month), 6 of social insurance and 6 of
housing fund (1 % differ beyond a factor 3), 4 of water, 1 penalty — plus a few deliveries per provider and
category; a small share of records in a second version from another provider (key conflicts). Then ANALYZE.

Measures once each (the run writes its findings and scores; a second run would be the same work):
  run_s    quality.runs.run_rules over the default rule set generated from the catalogue
  scan_s   SELECT count(*), sum(length(content)) FROM credit_records (best of 3)
Ends with  RESULT quality entities=N rules=R run_s=… scan_s=… ratio=…      (target: ratio ≤ 5 at 1M)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.market import analyze_tables, open_database  # noqa: E402

from xinyidai.catalog.schema import load_catalog  # noqa: E402
from xinyidai.kit import clock, migrate  # noqa: E402
from xinyidai.quality import runs  # noqa: E402
from xinyidai.quality.models import QualityRun  # noqa: E402
from xinyidai.records.canonical import canonical_json  # noqa: E402
from xinyidai.records.models import CreditRecord, Delivery  # noqa: E402

NOW = datetime(2026, 11, 15, 2, 0, tzinfo=UTC)
MONTHS = [date(2025 + (10 + i) // 12, (10 + i) % 12 + 1, 1) for i in range(12)]  # 2025-11 … 2026-10


def _rows(n: int, seed: int = 18):  # noqa: ANN202 - a generator of row dicts
    rnd = random.Random(seed)
    for e in range(n):
        code = f"91230100{e:010d}"
        closed = rnd.random() < 0.02
        reg = {"status": "注销" if closed else "存续", "entity_type": "企业", "established_on": "2010-01-01"}
        if closed:
            reg["closed_on"] = "2026-03-31"
        yield code, "registration", code, reg, "市场监督管理局", date(2010, 1, 1)
        skip = rnd.randrange(1, 11) if rnd.random() < 0.03 else -1
        for i, m in enumerate(MONTHS):
            if i != skip:
                p = m.strftime("%Y-%m")
                yield code, "tax", p, {"period": p, "tax_paid": rnd.randrange(1000, 99999)}, "税务局", m
        for m in MONTHS[6:]:
            p = m.strftime("%Y-%m")
            si = rnd.randrange(5, 200)
            hf = si * (5 if rnd.random() < 0.01 else 1)
            yield code, "social_insurance", p, {"period": p, "insured_count": si}, "人力资源和社会保障局", m
            yield code, "housing_fund", p, {"period": p, "depositor_count": hf}, "住房公积金管理中心", m
        for m in MONTHS[8:]:
            p = m.strftime("%Y-%m")
            yield code, "water", f"A{e}|{p}", {"account_no": f"A{e}", "period": p, "amount": 12.5}, "供水企业", m
        yield code, "penalty", f"P{e}", {"decision_no": f"P{e}", "decided_on": "2026-05-01"}, "各行政执法机关", \
            date(2026, 5, 1)


def generate(db, n: int) -> int:  # noqa: ANN001
    total = 0
    batch: list[dict] = []
    with db.engine.begin() as conn:
        for code, cat, key, content, provider, period in _rows(n):
            body = canonical_json(content)
            batch.append({"entity_code": code, "category": cat, "record_key": key, "version": 1,
                          "status": "current", "content": body, "fingerprint": f"{hash(body) & (2**63 - 1):064x}",
                          "period_start": period, "period_end": period, "provider": provider,
                          "received_at": NOW - timedelta(days=3)})
            if len(batch) >= 50_000:
                conn.execute(insert(CreditRecord), batch)
                total += len(batch)
                batch.clear()
        if batch:
            conn.execute(insert(CreditRecord), batch)
            total += len(batch)
        # 0.1 % of penalties superseded by a second provider with another content: key conflicts
        conn.execute(text("UPDATE credit_records SET status = 'superseded' WHERE category = 'penalty' "
                          "AND entity_code LIKE '%000'"))
        conn.execute(text("INSERT INTO credit_records (entity_code, category, record_key, version, status, content, "
                          "fingerprint, period_start, period_end, provider, received_at) SELECT entity_code, category, "
                          "record_key, 2, 'current', content || ' ', 'x', period_start, period_end, '其他执法机关', "
                          "received_at FROM credit_records WHERE category = 'penalty' AND status = 'superseded'"))
        rows = []
        for prov, cat in (("税务局", "tax"), ("人力资源和社会保障局", "social_insurance"),
                          ("住房公积金管理中心", "housing_fund"), ("供水企业", "water"),
                          ("各行政执法机关", "penalty"), ("市场监督管理局", "registration")):
            for i in range(6):
                rows.append({"provider": prov, "category": cat, "filename": "f.csv", "file_digest": "0" * 64,
                             "format": "demo", "submitted_by": "bench", "status": "accepted", "threshold": 0.5,
                             "rows_total": 1000, "rows_rejected": 10 if i else 300, "rows_new": 990,
                             "received_at": NOW - timedelta(days=1 + 20 * i)})
        conn.execute(insert(Delivery), rows)
    return total


def _time_statements(db, out: list[tuple[float, str]]) -> None:  # noqa: ANN001
    """Record each statement's seconds (for --profile; the scan above runs before this is attached)."""
    from sqlalchemy import event

    @event.listens_for(db.engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ANN202
        conn.info["q4_t"] = time.perf_counter()

    @event.listens_for(db.engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ANN202
        out.append((time.perf_counter() - conn.info.pop("q4_t", time.perf_counter()), statement))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entities", type=int, default=20_000)
    ap.add_argument("--database-url")
    ap.add_argument("--workdir", type=Path, default=None, help="where the SQLite database goes")
    ap.add_argument("--reuse", action="store_true", help="measure the database a previous run built (same N)")
    ap.add_argument("--profile", action="store_true", help="print seconds per rule kind and the slowest statements")
    a = ap.parse_args()
    db = open_database(a.database_url, reuse=a.reuse, workdir=a.workdir, name="bench_quality")
    if a.reuse:
        with db.engine.connect() as conn:
            records = int(conn.execute(text("SELECT count(*) FROM credit_records")).scalar_one())
    else:
        migrate.upgrade(db.engine)
        t = time.perf_counter()
        records = generate(db, a.entities)
        analyze_tables(db)
        print(f"generated {records:,} records in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    statements: list[tuple[float, str]] = []  # the scan's are cleared below
    if a.profile:
        _time_statements(db, statements)
    clock.set_clock(lambda: NOW)
    catalog = load_catalog()
    scan = float("inf")
    with db.engine.connect() as conn:
        for _ in range(4):
            t = time.perf_counter()
            conn.execute(text("SELECT count(*), sum(length(content)) FROM credit_records")).one()
            scan = min(scan, time.perf_counter() - t)
    statements.clear()
    timings: list[tuple[str, float]] = []
    last = [time.perf_counter(), ""]

    def progress(done: int, total: int, current: str) -> None:
        now = time.perf_counter()
        if last[1]:
            timings.append((str(last[1]), now - float(last[0])))
        last[:] = [now, current]

    t = time.perf_counter()
    run_id = runs.run_rules(db, catalog, "bench", progress=progress)
    run_s = time.perf_counter() - t
    with db.session() as s:
        run = s.get(QualityRun, run_id)
        assert run is not None and run.status == "done", run and run.message
        rules_n, findings = run.total, run.findings
    for name, secs in sorted(timings, key=lambda x: -x[1])[:8]:
        print(f"  {secs:8.2f} s  {name}", file=sys.stderr)
    if a.profile:
        print(f"statements: {len(statements)}, {sum(x for x, _ in statements):.2f} s; slowest:", file=sys.stderr)
        for secs, sql in sorted(statements, reverse=True)[:12]:
            print(f"  {secs:8.3f} s  {' '.join(sql.split())[:150]}", file=sys.stderr)
    print(f"findings={findings}", file=sys.stderr)
    print(json.dumps({"records": records}), file=sys.stderr)
    print(f"RESULT quality entities={a.entities} rules={rules_n} run_s={run_s:.2f} scan_s={scan:.2f} "
          f"ratio={run_s / scan:.2f}")


if __name__ == "__main__":
    main()
