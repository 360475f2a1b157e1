"""Oversight benchmark (issue 17): one month's full indicator run over a province, against one bare read of its
credit records.

    python bench/oversight.py --entities 1000000
    python bench/oversight.py --entities 200000 --database-url postgresql+psycopg://postgres@host:port/bench_ov

Builds, straight into the tables of a migrated database (`kit.bulk`: one transaction, COPY on PostgreSQL,
executemany on SQLite; never through the services), a province of N market entities over Heilongjiang's 13
prefectures by population share (`HEILONGJIANG_PREFECTURES`, each entity in one of its counties), with:
  credit_records           3–7 per entity (about 5) over the 17 categories of the sharing list, received
                           uniformly over the 12 Beijing months 2025-12 … 2026-11, status current
  market_loans             about 5 % of N over the same 12 months (`bench/market.py`'s generator: 30 head
                           offices with two branches each, about 80 institutions, their published products)
  market_applications      about 7 % of N, 85 % with a first response a few hours to days later
  realname_registrations   about 3 % of N (90 % completed, over 2025-01 … 2026-11)
  peers / reconciliations  13 child peers (11 active), one reconciliation per peer, category and day for the
                           last 6 months (about 2 % mismatches)
  whitelists               4 published white lists (as of 2026-08-01 … 2026-11-01), 1 % of N each
then ANALYZE (SQLite) or VACUUM ANALYZE (PostgreSQL). `--database-url` names a PostgreSQL database this run
may wipe; without it a fresh SQLite file in a temporary directory.

Measures, best of 3 after a warm-up, on one connection, the two taking turns (`bench/market.py`'s `best_of`):
  run_s    oversight.runs.compute(conn, indicators.default(), period_of("2026-11", None)): every measure of
           every city, scored and ranked (it writes nothing)
  scan_s   SELECT count(*), max(received_at) FROM credit_records — reads every row of the records table
           once, and on it the column the run must test on each row. Made to read the table itself (SQLite:
           NOT INDEXED, a plain table scan; PostgreSQL: index scans off, so a sequential scan with parallel
           workers as the planner likes), so the baseline stays the table's cost should an index on
           received_at appear. Today the schema has none: the run reads the whole table too, the records
           being by far the biggest table it touches, so this is the machine's limit for that job.
Then, for the profile, each measure alone (a fresh `Facts` each, so the shared grouped queries are counted in
every measure that uses them), each shared query alone, and the plan of the records query. Checks that the
run's records evidence equals a direct count. Ends with:

    RESULT oversight entities=N run_s=… scan_s=… ratio=…          (target: ratio ≤ 3)
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, func, insert, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.market import ENTITY_COLUMNS, analyze_tables, best_of, make_banks, open_database, write_loans  # noqa: E402

from xinyidai.entities.codes import make_uscc  # noqa: E402
from xinyidai.entities.industries import DEMO_INDUSTRY_WEIGHTS  # noqa: E402
from xinyidai.entities.regions import HEILONGJIANG_COUNTIES, HEILONGJIANG_PREFECTURES  # noqa: E402
from xinyidai.kit import bulk, migrate  # noqa: E402
from xinyidai.kit.db import Database  # noqa: E402
from xinyidai.lists.models import WhiteList  # noqa: E402
from xinyidai.market.models import Product, ProductVersion  # noqa: E402
from xinyidai.network.models import Peer  # noqa: E402
from xinyidai.oversight import indicators, runs  # noqa: E402
from xinyidai.oversight.measures import MEASURES, Facts, Scope  # noqa: E402
from xinyidai.records.models import CreditRecord  # noqa: E402

NODE = "CN-230000"
MONTH = "2026-11"
FIRST_DAY, LAST_DAY = date(2025, 12, 1), date(2026, 11, 30)  # the 12 months the data spans
BEIJING = timedelta(hours=8)
ENTITY_SERIAL0 = 5_000_000  # far from the demo's serials and from bench/market.py's
CATEGORIES = ("registration", "license", "penalty", "judicial", "dishonesty", "honor", "policy_support", "tax",
              "social_insurance", "housing_fund", "import_export", "water", "electricity", "gas", "real_estate",
              "intellectual_property", "rnd")
# Relative volumes: registrations, taxes and utilities arrive often, honours and judgments rarely.
CATEGORY_WEIGHTS = (6, 5, 2, 1, 0.5, 0.5, 1, 10, 8, 6, 1, 5, 6, 3, 1, 1, 1)
RECORD_COLUMNS = ("entity_code", "category", "record_key", "version", "status", "content", "fingerprint",
                  "provider", "received_at")
LOAN_SHARE, APPLICATION_SHARE, REGISTRATION_SHARE, WHITELIST_SHARE = 0.05, 0.07, 0.03, 0.01
SCAN = {"sqlite": "SELECT count(*), max(received_at) FROM credit_records NOT INDEXED",
        "postgresql": "SELECT count(*), max(received_at) FROM credit_records"}
NO_INDEX = ("enable_indexscan", "enable_indexonlyscan", "enable_bitmapscan")  # PostgreSQL: read the table
TABLES = ("entities", "credit_records", "market_loans", "market_applications", "realname_registrations",
          "institutions", "market_products", "market_product_versions", "peers", "reconciliations", "whitelists",
          "whitelist_entries")
CHUNK = 200_000


def _moments(conn: Connection, seconds: np.ndarray) -> list[str]:
    """UTC epoch seconds as the text each engine stores or reads (SQLite: SQLAlchemy's own format)."""
    iso = np.datetime_as_string(seconds.astype("datetime64[s]").astype("datetime64[us]"), unit="us")
    out = np.char.replace(iso, "T", " ")
    if conn.dialect.name == "postgresql":
        out = np.char.add(out, "+00")
    return out.tolist()


def _epoch(day: date) -> int:
    """The first moment of a Beijing day, in UTC epoch seconds."""
    return int((datetime(day.year, day.month, day.day, tzinfo=UTC) - BEIJING).timestamp())


def _value(conn: Connection) -> Callable[[Any], Any]:
    return (lambda v: v) if conn.dialect.name == "postgresql" else bulk.sqlite_value


# ── the province ────────────────────────────────────────────────────────────────────────────────────────

def _entities(conn: Connection, rng: np.random.Generator, n: int, now: Any) -> tuple[list[str], list[str], list[str]]:
    """N entities over the prefectures by population share, each in one of its counties; written in code order
    (so the indexes on the code are appended to). Returns (codes, prefecture codes, industries), in that order."""
    prefs = list(HEILONGJIANG_PREFECTURES)
    shares = np.array([s for _, s in HEILONGJIANG_PREFECTURES.values()])
    pick = rng.choice(len(prefs), n, p=shares / shares.sum())
    regions = np.empty(n, dtype=object)
    for i, p in enumerate(prefs):
        where = np.flatnonzero(pick == i)
        counties = np.array(list(HEILONGJIANG_COUNTIES[p]), dtype=object)
        regions[where] = counties[rng.integers(0, len(counties), len(where))]
    inds = [c for c, _ in DEMO_INDUSTRY_WEIGHTS]
    iw = np.array([w for _, w in DEMO_INDUSTRY_WEIGHTS])
    industries = np.array(inds, dtype=object)[rng.choice(len(inds), n, p=iw / iw.sum())]
    codes = np.array([make_uscc(r, ENTITY_SERIAL0 + i) for i, r in enumerate(regions)], dtype=object)
    order = np.argsort(codes, kind="stable")
    codes, regions, industries = codes[order].tolist(), regions[order].tolist(), industries[order].tolist()
    registered = bulk.constant(conn, date(2015, 6, 1))
    for start in range(0, n, CHUNK):
        bulk.insert_rows(conn, "entities", ENTITY_COLUMNS,
                         ((codes[i], f"基准测试企业{i:07d}有限公司", "企业", regions[i], industries[i], registered,
                           "存续", now) for i in range(start, min(n, start + CHUNK))))
    return codes, [r[:4] + "00" for r in regions], industries


def _records(conn: Connection, rng: np.random.Generator, codes: list[str], progress: Callable[[str], None]) -> int:
    """3–7 records per entity (in entity order, as a loader appends them), categories by volume, received
    uniformly over the 12 months."""
    n = len(codes)
    per = rng.integers(3, 8, n)
    total = int(per.sum())
    owner = np.repeat(np.arange(n), per)
    cw = np.array(CATEGORY_WEIGHTS)
    category = rng.choice(len(CATEGORIES), total, p=cw / cw.sum())
    t0, t1 = _epoch(FIRST_DAY), _epoch(LAST_DAY + timedelta(days=1))
    received = rng.integers(t0, t1, total)
    amount = rng.integers(1, 1_000_000, total)
    providers = [f"黑龙江省{c}数据报送单位" for c in CATEGORIES]
    done = 0
    for start in range(0, total, CHUNK):
        stop = min(total, start + CHUNK)
        at = _moments(conn, received[start:stop])
        rows = ((codes[owner[i]], CATEGORIES[category[i]], f"K{i:010d}", 1, "current",
                 f'{{"amount":{amount[i]},"period":"{at[i - start][:7]}","note":"基准测试"}}', f"{i:064x}",
                 providers[category[i]], at[i - start]) for i in range(start, stop))
        bulk.insert_rows(conn, "credit_records", RECORD_COLUMNS, rows)
        done = stop
        progress(f"{done:,} / {total:,} records")
    return total


def _publish_early(conn: Connection) -> None:
    """bench/market.py publishes its products now; here they were published before the data began."""
    conn.execute(update(ProductVersion).values(published_at=datetime(2025, 6, 1, tzinfo=UTC)))


def _applications(conn: Connection, rng: np.random.Generator, n: int, codes: list[str], cities: list[str],
                  now: Any) -> None:
    products = conn.execute(select(Product.id, Product.live_version_id, Product.institution_code)).all()
    who = rng.integers(0, len(codes), n)
    prod = rng.integers(0, len(products), n)
    submitted = rng.integers(_epoch(FIRST_DAY), _epoch(LAST_DAY + timedelta(days=1)), n)
    answered = rng.random(n) < 0.85
    # first responses: a few hours to several days (log-normal, median about 20 hours)
    lag = np.exp(rng.normal(math.log(20 * 3600), 1.0, n)).astype(np.int64)
    sub = _moments(conn, submitted)
    resp = _moments(conn, submitted + lag)
    amount = (np.exp(rng.uniform(math.log(1e5), math.log(5e6), n)) // 100 * 100 * 100).astype(np.int64)
    term = rng.choice(np.array([6, 12, 24, 36]), n)
    cols = ("number", "entity_code", "institution_code", "bank_code", "city_code", "product_id",
            "product_version_id", "state", "last_action", "state_since", "amount_fen", "term_months", "purpose",
            "authorization_number", "submitted_at", "first_response_at", "breaches", "created_at", "updated_at")
    rows = []
    for i in range(n):
        pid, vid, inst = products[prod[i]]
        ok = bool(answered[i])
        rows.append((f"SQ-{NODE}-B{i:010d}", codes[who[i]], inst, inst, cities[who[i]], pid, vid,
                     "ACCEPTED" if ok else "SUBMITTED", "accept" if ok else "submit", resp[i] if ok else sub[i],
                     int(amount[i]), int(term[i]), "流动资金周转", f"SQ{i:012d}", sub[i], resp[i] if ok else None, 0,
                     sub[i], now))
    bulk.insert_rows(conn, "market_applications", cols, rows)


def _registrations(conn: Connection, rng: np.random.Generator, n: int, codes: list[str]) -> None:
    who = rng.choice(len(codes), n, replace=False)
    done = rng.random(n) < 0.9
    created = rng.integers(_epoch(date(2025, 1, 1)), _epoch(LAST_DAY + timedelta(days=1)), n)
    at = _moments(conn, created)
    completed = _moments(conn, created + rng.integers(30, 600, n))
    expires = _moments(conn, created + 600)
    cols = ("entity_code", "person_name", "id_digest", "phone", "username", "password_hash", "code_hash",
            "code_expires_at", "attempts", "status", "created_at", "completed_at")
    rows = ((codes[who[i]], "基准测试", f"{i:064x}", f"139{i:08d}", f"bench{i:08d}", "x" * 60, f"{i:064x}",
             expires[i], 0, "completed" if done[i] else "pending", at[i], completed[i] if done[i] else None)
            for i in range(n))
    bulk.insert_rows(conn, "realname_registrations", cols, rows)


def _network(conn: Connection, rng: np.random.Generator) -> int:
    """13 child peers (two still pending), and their daily reconciliations of the last 6 months."""
    now = datetime(2026, 12, 1, 2, tzinfo=UTC)
    peers = []
    for k, (code, (name, _)) in enumerate(HEILONGJIANG_PREFECTURES.items()):
        active = k < 11
        peers.append({"code": f"CN-{code}", "name": f"{name}融资信用服务平台", "role": "city", "relation": "child",
                      "endpoint": f"https://xyd-{code}.example.cn", "mode": "push", "suite": "sm",
                      "public_key": {}, "key_id": f"{k:064x}", "region_prefix": code[:4],
                      "status": "active" if active else "pending", "assessment": {}, "legacy_path": False,
                      "applied_at": datetime(2025, 3, 1, tzinfo=UTC),
                      "decided_at": datetime(2025, 4, 1, tzinfo=UTC) if active else None,
                      "last_contact_at": now - timedelta(hours=float(rng.uniform(0.1, 40))) if active else None})
    conn.execute(insert(Peer), peers)
    v = _value(conn)
    rows = []
    day = date(2026, 6, 1)
    while day <= LAST_DAY:
        at = v(datetime(day.year, day.month, day.day, 20, tzinfo=UTC))
        for p in peers[:11]:
            for c in CATEGORIES:
                n = int(rng.integers(0, 500))
                bad = rng.random() < 0.02
                rows.append((p["code"], c, v(day), n, "a" * 64, n + (1 if bad else 0), "b" * 64 if bad else "a" * 64,
                             "mismatch" if bad else "match", "{}", 0, at))
        day += timedelta(days=1)
    bulk.insert_rows(conn, "reconciliations", ("peer", "category", "day", "local_count", "local_digest",
                                               "remote_count", "remote_digest", "status", "difference", "resent",
                                               "at"), rows)
    return len(rows)


def _whitelists(conn: Connection, rng: np.random.Generator, codes: list[str], per_list: int) -> None:
    for month in (8, 9, 10, 11):
        as_of = date(2026, month, 1)
        lid = conn.execute(insert(WhiteList).values(
            number=f"BMD-{NODE}-{as_of:%Y%m}-BENCH", kind="whitelist", name=f"{as_of:%Y年%m月}中小微企业白名单（基准测试）",
            as_of=as_of, origin_node=NODE, entries=per_list, digest="c" * 64, status="published",
            created_at=datetime(2026, month, 1, 2, tzinfo=UTC), created_by="bench").returning(WhiteList.id)
        ).scalar_one()
        who = np.sort(rng.choice(len(codes), per_list, replace=False))
        bulk.insert_rows(conn, "whitelist_entries", ("list_id", "entity_code", "entity_name", "grade", "score",
                                                     "reasons", "detail"),
                         ((lid, codes[w], f"基准测试企业{w:07d}有限公司", "A", 80.0, "[]", "{}") for w in who))


def build(db: Database, n: int, *, seed: int = 17, progress: Callable[[str], None] = lambda _: None) -> float:
    """Write the province in one transaction, then refresh the planner's statistics; returns the seconds."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    with db.engine.begin() as conn:
        now = bulk.constant(conn, datetime(2026, 12, 1, 2, tzinfo=UTC))
        codes, cities, industries = _entities(conn, rng, n, now)
        progress(f"{n:,} entities")
        _records(conn, rng, codes, progress)
        banks = make_banks(conn, rng, 30)
        _publish_early(conn)
        progress(f"{len(banks)} banks and their products")
        write_loans(conn, rng, max(1, int(n * LOAN_SHARE)), banks, codes, cities, industries, FIRST_DAY, LAST_DAY, now,
               progress)
        _applications(conn, rng, max(1, int(n * APPLICATION_SHARE)), codes, cities, now)
        progress("applications")
        _registrations(conn, rng, max(1, int(n * REGISTRATION_SHARE)), codes)
        progress("registrations")
        _network(conn, rng)
        _whitelists(conn, rng, codes, max(1, int(n * WHITELIST_SHARE)))
        progress("peers, reconciliations, white lists")
    analyze_tables(db)
    progress("analyzed")
    return time.perf_counter() - t0


def counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {t: int(conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one()) for t in TABLES}  # noqa: S608


# ── measuring ───────────────────────────────────────────────────────────────────────────────────────────

def profile(conn: Connection, system: indicators.System, period: Any) -> list[tuple[str, float]]:
    """Each measure alone (its own Facts, so shared queries count in every measure using them) and each shared
    grouped query alone: best of 3."""
    scope = Scope(period, runs.cities(), datetime(2026, 12, 1, 2, tzinfo=UTC))
    works: dict[str, Callable[[], Any]] = {}
    for ind in system.indicators:
        works[f"measure {ind.measure}"] = lambda m=ind.measure: MEASURES[m].compute(Facts(conn, scope))
    for q in ("records", "entities", "loans", "applications"):
        works[f"Facts.{q}()"] = lambda q=q: getattr(Facts(conn, scope), q)()
    return [(k, v[0]) for k, v in best_of(conn, works).items()]


def records_plan(conn: Connection, period: Any) -> str:
    scope = Scope(period, runs.cities(), datetime(2026, 12, 1, 2, tzinfo=UTC))
    r = CreditRecord.__table__
    stmt = (select(func.substr(r.c.entity_code, 3, 4).label("p"), func.count(), func.count(r.c.category.distinct()))
            .where(*scope.period.moments(r.c.received_at)).group_by("p"))
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL jit = off")
        lines = [row[0] for row in conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")]
    else:
        lines = [" ".join(str(c) for c in row[1:]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
    conn.rollback()
    return "\n".join("   " + ln for ln in lines)


def direct_records(conn: Connection, period: Any) -> int:
    r = CreditRecord.__table__
    return int(conn.execute(select(func.count()).select_from(r).where(*period.moments(r.c.received_at))).scalar_one())


def _database(args: argparse.Namespace) -> Database:
    return open_database(args.database_url, reuse=args.reuse, workdir=args.workdir, name="oversight")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entities", type=int, default=1_000_000)
    ap.add_argument("--database-url", default="", help="PostgreSQL: a database this run may wipe (default: SQLite)")
    ap.add_argument("--workdir", type=Path, default=None, help="where the SQLite database goes (default: a temp dir)")
    ap.add_argument("--reuse", action="store_true", help="measure the database a previous run built there")
    ap.add_argument("--no-profile", action="store_true", help="skip the per-measure profile")
    args = ap.parse_args()
    db = _database(args)
    if not args.reuse:
        migrate.upgrade(db.engine)
        t0 = time.perf_counter()
        seconds = build(db, args.entities,
                        progress=lambda m: print(f"  [{time.perf_counter() - t0:7.1f}s] {m}", flush=True))
        print(f"generated {args.entities:,} entities in {seconds:.1f}s (analyze included)", flush=True)
    rows = counts(db)
    args.entities = rows["entities"]
    print("rows: " + ", ".join(f"{t} {n:,}" for t, n in rows.items()), flush=True)
    system, period = indicators.default(), runs.period_of(MONTH, None)
    load = os.getloadavg()[0]
    with db.engine.connect() as conn:
        def scan() -> Any:
            if conn.dialect.name == "postgresql":
                for knob in NO_INDEX:
                    conn.exec_driver_sql(f"SET LOCAL {knob} = off")
            return conn.exec_driver_sql(SCAN[conn.dialect.name]).all()

        got = best_of(conn, {"scan": scan,
                             "run": lambda: runs.compute(conn, system, period)})
        scan_s, run_s = got["scan"][0], got["run"][0]
        comp = got["run"][1]
        want = direct_records(conn, period)
        conn.rollback()
        print(f"run of {MONTH}: {len(comp.results)} cities, {len(system.indicators)} indicators, evidence "
              f"{comp.evidence:,} rows; first place {comp.results[0].name} {comp.results[0].total:.2f}, last "
              f"{comp.results[-1].name} {comp.results[-1].total:.2f}", flush=True)
        if not args.no_profile:
            print("profile (best of 3, each alone):")
            for name, s in profile(conn, system, period):
                print(f"  {name:42s} {s:8.3f}s  ({s / scan_s:5.2f} × scan)")
            print("-- plan of the records query\n" + records_plan(conn, period))
        facts = Facts(conn, Scope(period, runs.cities(), datetime(2026, 12, 1, 2, tzinfo=UTC)))
        evidence_records = sum(n for n, _ in facts.records().values())
        conn.rollback()
    db.dispose()
    print(f"load average (1 min) {load:.1f} at the start of the measurements, {os.getloadavg()[0]:.1f} at the end, "
          f"on {os.cpu_count()} cores")
    if evidence_records != want:
        print(f"CHECK FAILED: the run's records of {MONTH} {evidence_records:,} != direct count {want:,}")
        sys.exit(1)
    print(f"check: the run's records of {MONTH} ({want:,}) equal a direct count")
    print(f"best of 3 each (after a warm-up, taking turns): run_s={run_s:.3f} scan_s={scan_s:.3f} "
          f"({SCAN[db.engine.dialect.name]})")
    print(f"RESULT oversight entities={args.entities} run_s={run_s:.3f} scan_s={scan_s:.3f} "
          f"ratio={run_s / scan_s:.2f}")


if __name__ == "__main__":
    main()
