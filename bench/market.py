"""Market figures benchmark: the figures page's whole computation against one bare GROUP BY over the same loans.

    python bench/market.py --loans 1000000
    python bench/market.py --loans 1000000 --engine postgresql --database-url postgresql://…

Builds N loans over a synthetic register of the demo province's regions (the demo's prefecture weights and
county codes, N/4 entities by default so that about a quarter of the loans are first loans), the demo banks
plus synthetic head offices with branches, 3–8 published products each (every kind and sector), 36 months,
amounts log-uniform from 10万 to 500万元, about 30 % 信用 and 25 % 首贷; written in bulk (`kit.bulk`: COPY or
executemany), never through the services; then ANALYZE (SQLite) or VACUUM ANALYZE (PostgreSQL), as
autovacuum would leave an insert-mostly table.

Measures, best of 3 after a warm-up, on one connection, the two taking turns:
  scan_s     SELECT institution_code, count(*), sum(granted_fen) FROM market_loans GROUP BY institution_code
             (on SQLite the faster of its planner's index walk and a plain table scan: the machine's limit)
  figures_s  market.figures.compute(...): the grouped pass, the roll-ups by city, bank, kind, sector and month,
             the cumulative series, the shares and the target — everything the page needs but rendering
checks the figures against direct SQL (fails the run if wrong) and prints the query plans. For information
it also prints the grouped pass alone, an index-served GROUP BY, the page's separate small queries, the
baseline as each engine could also run it (SQLite: a table scan instead of its walk of
ix_market_loans_institution; PostgreSQL: without parallel workers), JIT on against off, and the machine's
load. `--reuse` measures a database an earlier run built. Ends with:

    RESULT market loans=N engine=E figures_s=… scan_s=… ratio=… groups=…
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, func, insert, select, text, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from xinyidai.demo.distributions import PREFECTURES  # noqa: E402
from xinyidai.demo.generator import DEMO_INSTITUTIONS  # noqa: E402
from xinyidai.entities.codes import MAX_DEMO_SERIAL, make_uscc  # noqa: E402
from xinyidai.entities.industries import DEMO_INDUSTRY_WEIGHTS  # noqa: E402
from xinyidai.institutions.models import FinancialInstitution  # noqa: E402
from xinyidai.kit import bulk, clock, migrate  # noqa: E402
from xinyidai.kit.db import Database  # noqa: E402
from xinyidai.market import figures  # noqa: E402
from xinyidai.market.models import PRODUCT_KINDS, SECTORS, Loan, Product, ProductVersion  # noqa: E402

NODE = "CN-230000"
MONTHS = 36
ENTITY_SERIAL0 = 3_000_000  # far from the demo's entity serials (0 up) and its institutions (the top)
GUARANTEES = ("保证", "抵押", "质押")
LOAN_COLUMNS = ("loan_no", "origin_node", "revision", "institution_code", "bank_code", "loan_ref", "entity_code",
                "city_code", "industry_code", "product_number", "product_kind", "sector_mask", "guarantee_type",
                "is_credit", "first_declared", "first_on_platform", "first_loan", "granted_fen", "credit_fen",
                "first_fen", "disbursed_fen", "granted_on", "granted_month", "first_disbursed_on", "matures_on",
                "rate_bp", "term_months", "policy_tags", "status", "dpd", "created_at", "updated_at")
ENTITY_COLUMNS = ("code", "name", "kind", "region_code", "industry_code", "registered_on", "status", "updated_at")
CHUNK = 100_000


@dataclass(frozen=True)
class Built:
    entities: int
    banks: int
    products: int
    loans: int
    seconds: float


@dataclass(frozen=True)
class _Bank:
    code: str  # head office
    offices: tuple[str, ...]  # where its loans are booked: the head office and its branches
    credit_products: tuple[tuple[str, str, int], ...]  # (number, kind, sector_mask)
    other_products: tuple[tuple[str, str, int], ...]


def _months_back(end: date, n: int) -> date:
    """The first day of the month n-1 months before `end`'s month."""
    y, m = divmod(end.year * 12 + end.month - 1 - (n - 1), 12)
    return date(y, m + 1, 1)


def _entities(conn: Connection, rng: np.random.Generator, n: int, now: Any) -> tuple[list[str], list[str], list[str]]:
    """A synthetic register over the demo's prefectures and counties: (codes, city codes, industry codes)."""
    prefs = list(PREFECTURES.values())
    weights = np.array([p.weight for p in prefs])
    pick = rng.choice(len(prefs), n, p=weights / weights.sum())
    regions = np.empty(n, dtype=object)
    for i, p in enumerate(prefs):
        where = np.flatnonzero(pick == i)
        cw = np.array([w for _, _, w in p.counties])
        regions[where] = np.array([c for c, _, _ in p.counties], dtype=object)[
            rng.choice(len(p.counties), len(where), p=cw / cw.sum())]
    inds = [c for c, _ in DEMO_INDUSTRY_WEIGHTS]
    iw = np.array([w for _, w in DEMO_INDUSTRY_WEIGHTS])
    industries = np.array(inds, dtype=object)[rng.choice(len(inds), n, p=iw / iw.sum())]
    codes = [make_uscc(r, ENTITY_SERIAL0 + i) for i, r in enumerate(regions)]
    registered = bulk.constant(conn, date(2015, 6, 1))
    rows = ((c, f"基准测试企业{i:07d}有限公司", "企业", r, ind, registered, "存续", now)
            for i, (c, r, ind) in enumerate(zip(codes, regions, industries, strict=True)))
    bulk.insert_rows(conn, "entities", ENTITY_COLUMNS, rows)
    return codes, [r[:4] + "00" for r in regions], list(industries)


def make_banks(conn: Connection, rng: np.random.Generator, heads: int) -> list[_Bank]:
    """The demo's three institutions plus synthetic head offices with two branches each, and their products."""
    prefs = list(PREFECTURES)
    have = set(conn.execute(select(FinancialInstitution.code)).scalars())
    rows: list[dict[str, Any]] = []
    banks: list[tuple[str, tuple[str, ...]]] = []
    for i, (name, kind, region) in enumerate(DEMO_INSTITUTIONS):
        code = make_uscc(region, MAX_DEMO_SERIAL - 1 - i)
        rows.append({"code": code, "name": name, "kind": kind, "region_code": region})
        banks.append((code, (code,)))
    for i in range(max(0, heads - len(DEMO_INSTITUTIONS))):
        region = prefs[i % len(prefs)]
        code = make_uscc(region, MAX_DEMO_SERIAL - 1000 - 3 * i, "1", "1")
        branches = tuple(make_uscc(prefs[(i + k) % len(prefs)], MAX_DEMO_SERIAL - 1001 - 3 * i - k, "1", "1")
                         for k in range(2))
        rows.append({"code": code, "name": f"基准测试银行{i + 1:02d}股份有限公司", "kind": "银行", "region_code": region})
        rows += [{"code": b, "name": f"基准测试银行{i + 1:02d}股份有限公司第{k + 1}支行", "kind": "银行分支机构",
                  "region_code": region, "parent_code": code} for k, b in enumerate(branches)]
        banks.append((code, (code, *branches)))
    new = [{"parent_code": None, "status": "active", "created_at": clock.now(), "created_by": "bench", **r}
           for r in rows if r["code"] not in have]
    if new:
        conn.execute(insert(FinancialInstitution), new)
    out = []
    for b, (code, offices) in enumerate(banks):
        products = []
        for k in range(int(rng.integers(3, 9))):
            kind = "纯信用" if k == 0 else PRODUCT_KINDS[1 + int(rng.integers(0, len(PRODUCT_KINDS) - 1))]
            bits = rng.choice(list(SECTORS.values()), int(rng.choice(3, p=[0.2, 0.5, 0.3])), replace=False)
            products.append((f"CP-{NODE}-BENCH-{b:02d}{k}", kind, int(sum(int(x) for x in bits))))
        _products(conn, code, products)
        out.append(_Bank(code, offices, tuple(p for p in products if p[1] == "纯信用"),
                         tuple(p for p in products if p[1] != "纯信用")))
    return out


def _products(conn: Connection, institution: str, products: list[tuple[str, str, int]]) -> None:
    now = clock.now()
    for number, kind, mask in products:
        pid = conn.execute(insert(Product).values(number=number, institution_code=institution, origin_node=NODE,
                                                  status="PUBLISHED", created_by="bench", created_at=now,
                                                  updated_at=now).returning(Product.id)).scalar_one()
        vid = conn.execute(insert(ProductVersion).values(
            product_id=pid, version=1, state="PUBLISHED", last_action="publish", name=f"{kind}贷（基准测试）",
            summary="", kind=kind, sector_mask=mask, amount_min_fen=10_000_000, amount_max_fen=500_000_000,
            term_min_months=6, term_max_months=36, rate_min_bp=300, rate_max_bp=650, regions=["230000"],
            industries=[], eligibility={}, auth_categories=["tax"], auth_mode="汇总查询", auth_days=90,
            digest="0" * 64, created_by="bench", created_at=now, published_at=now).returning(ProductVersion.id)
        ).scalar_one()
        conn.execute(update(Product).where(Product.id == pid).values(live_version_id=vid))


def build(db: Database, loans: int, *, entities: int | None = None, heads: int = 30, seed: int = 7,
          end: date | None = None, analyze: bool = True, progress: Callable[[str], None] = lambda _: None) -> Built:
    """Write the synthetic market into a migrated database, in one transaction (loans granted in the 36 months
    up to `end`, default today), then refresh the planner's statistics."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    end = end or clock.today()
    first_day = _months_back(end, MONTHS)
    n_ent = entities or max(20, loans // 4)
    with db.engine.begin() as conn:
        now = bulk.constant(conn, clock.now())
        codes, cities, industries = _entities(conn, rng, n_ent, now)
        progress(f"{n_ent:,} entities")
        banks = make_banks(conn, rng, heads)
        n_products = sum(len(b.credit_products) + len(b.other_products) for b in banks)
        progress(f"{len(banks)} banks, {n_products} products")
        write_loans(conn, rng, loans, banks, codes, cities, industries, first_day, end, now, progress)
    if analyze:
        analyze_tables(db)
    return Built(n_ent, len(banks), n_products, loans, time.perf_counter() - t0)


def write_loans(conn: Connection, rng: np.random.Generator, n: int, banks: list[_Bank], codes: list[str],
           cities: list[str], industries: list[str], first_day: date, end: date, now: Any,
           progress: Callable[[str], None]) -> None:
    # Who lends: a few big banks and a long tail; the loan is booked at the head office or a branch.
    weights = 1 / np.arange(1, len(banks) + 1) ** 0.8
    bank = rng.choice(len(banks), n, p=weights / weights.sum())
    office_pick = rng.random(n)
    credit = rng.random(n) < 0.30
    product_pick = rng.random(n)
    borrower = rng.integers(0, len(codes), n)
    day0, span = first_day.toordinal(), end.toordinal() - first_day.toordinal() + 1
    day = day0 + rng.integers(0, span, n)
    # log-uniform from 10万 to 500万元, to the 100 元; in 分
    amount = (np.exp(rng.uniform(math.log(1e5), math.log(5e6), n)) // 100 * 100 * 100).astype(np.int64)
    status_pick = rng.random(n)
    rate = rng.integers(300, 651, n)
    term = rng.choice(np.array([6, 12, 24, 36]), n)
    guarantee = rng.integers(0, len(GUARANTEES), n)
    # 首贷 on the platform: an entity's earliest loan (ties: the one written first), as loans.create decides.
    order = np.lexsort((np.arange(n), day, borrower))
    first_platform = np.zeros(n, dtype=np.int8)
    lead = np.ones(n, dtype=bool)
    lead[1:] = borrower[order][1:] != borrower[order][:-1]
    first_platform[order[lead]] = 1
    # The bank's declaration: mostly the platform's own view; a few declare a first loan the platform
    # contradicts, and a few first loans are not declared.
    noise = rng.random(n)
    declared = np.where(first_platform == 1, noise >= 0.02, noise < 0.03).astype(np.int8)
    days: dict[int, Any] = {}

    def d(ordinal: int) -> Any:
        v = days.get(ordinal)
        if v is None:
            v = days[ordinal] = bulk.constant(conn, date.fromordinal(ordinal))
        return v

    empty_tags = "[]"
    for start in range(0, n, CHUNK):
        rows = []
        for i in range(start, min(n, start + CHUNK)):
            b = banks[bank[i]]
            office = b.offices[int(office_pick[i] * len(b.offices))]
            is_credit = bool(credit[i])
            pool = b.credit_products if is_credit else b.other_products
            number, kind, mask = pool[int(product_pick[i] * len(pool))]
            on = int(day[i])
            g = int(amount[i])
            st = status_pick[i]
            status, disbursed = ("GRANTED", 0) if st < 0.10 else (("CLOSED" if st < 0.15 else "DISBURSED"), g)
            first = int(declared[i])
            ent = int(borrower[i])
            granted_on = date.fromordinal(on)
            rows.append((
                f"DK-{NODE}-{granted_on:%Y%m%d}-B{i:09X}", NODE, 1, office, b.code, f"BR{i:010d}", codes[ent],
                cities[ent], industries[ent], number, kind, mask, "信用" if is_credit else GUARANTEES[guarantee[i]],
                int(is_credit), first, int(first_platform[i]), first, g, g if is_credit else 0, g if first else 0,
                disbursed, d(on), granted_on.year * 100 + granted_on.month, d(on) if disbursed else None,
                d(on + 30 * int(term[i])), int(rate[i]), int(term[i]), empty_tags, status, 0, now, now))
        bulk.insert_rows(conn, "market_loans", LOAN_COLUMNS, rows)
        progress(f"{min(n, start + CHUNK):,} loans")


def analyze_tables(db: Database) -> None:
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


# ── checks ──────────────────────────────────────────────────────────────────────────────────────────────

def check(conn: Connection, f: figures.Figures) -> list[str]:
    """Compare the figures (of all months) with direct SQL; returns what disagrees (empty when all agree)."""
    t = Loan.__table__

    def direct(*where: Any) -> figures.Metrics:
        row = conn.execute(select(func.count(), func.sum(t.c.granted_fen), func.sum(t.c.disbursed_fen),
                                  func.sum(t.c.is_credit), func.sum(t.c.credit_fen), func.sum(t.c.first_loan),
                                  func.sum(t.c.first_fen)).where(*where)).one()
        return figures.Metrics(*(int(v or 0) for v in row))

    problems = []
    total = direct()
    if f.totals != total:
        problems.append(f"totals {f.totals} != direct {total}")
    for name, lines in (("city", f.by_city), ("bank", f.by_bank), ("kind", f.by_kind)):
        summed = sum(ln.m.granted_fen for ln in lines)
        if summed != total.granted_fen:
            problems.append(f"by {name}: {summed} != total {total.granted_fen}")
    if sum(ml.m.granted_fen for ml in f.by_month) != total.granted_fen:
        problems.append("by month does not add up to the total")
    if f.by_month and f.by_month[-1].cumulative_fen != total.granted_fen:
        problems.append("the cumulative series does not end at the total")
    credit, first = direct(t.c.is_credit == 1), direct(t.c.first_loan == 1)
    if (f.totals.credit_loans, f.totals.credit_fen) != (credit.loans, credit.granted_fen):
        problems.append(f"credit share: {f.totals.credit_loans}/{f.totals.credit_fen} != {credit.loans}/"
                        f"{credit.granted_fen}")
    if (f.totals.first_loans, f.totals.first_fen) != (first.loans, first.granted_fen):
        problems.append(f"first share: {f.totals.first_loans}/{f.totals.first_fen} != {first.loans}/"
                        f"{first.granted_fen}")
    for ln in f.by_sector:
        bit = int(ln.key)
        want = direct(t.c.sector_mask.op("&")(bit) != 0) if bit else direct(t.c.sector_mask == 0)
        if ln.m != want:
            problems.append(f"sector {ln.label}: {ln.m} != {want}")
    return problems


# ── measuring ───────────────────────────────────────────────────────────────────────────────────────────

BASELINE = "SELECT institution_code, count(*), sum(granted_fen) FROM market_loans GROUP BY institution_code"
INDEXED = "SELECT city_code, count(*), sum(granted_fen) FROM market_loans GROUP BY city_code"


def best_of(conn: Connection, works: dict[str, Callable[[], Any]], rounds: int = 3) -> dict[str, tuple[float, Any]]:
    """The fastest of `rounds` runs of each work after a warm-up, each run in a transaction of its own. The
    works take turns within a round, so a burst of load on this shared machine falls on all of them alike
    rather than on whichever happened to be measured then."""
    out: dict[str, tuple[float, Any]] = {}
    for name, work in works.items():
        out[name] = (math.inf, work())
        conn.rollback()
    for _ in range(rounds):
        for name, work in works.items():
            t = time.perf_counter()
            result = work()
            out[name] = (min(out[name][0], time.perf_counter() - t), result)
            conn.rollback()
    return out


def plans(conn: Connection) -> str:
    stmt = figures.grouped_statement(conn.dialect.name)
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    out = []
    for title, q in (("baseline", BASELINE), ("figures", sql)):
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL jit = off")
            lines = [r[0] for r in conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {q}")]
        else:
            lines = [" ".join(str(c) for c in r[1:]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {q}")]
        conn.rollback()
        out.append(f"-- plan of the {title} query\n" + "\n".join("   " + ln for ln in lines))
    return "\n".join(out)


@dataclass
class Timings:
    scan_s: float
    figures_s: float
    pass_s: float
    indexed_s: float
    extras_s: float
    context: dict[str, float]  # for information: other baselines and settings
    figures: figures.Figures


def measure(conn: Connection) -> Timings:
    """Best of 3 of each, on one connection; the baseline and the figures take turns."""
    everything = figures.Period()
    main = best_of(conn, {"scan": lambda: conn.exec_driver_sql(BASELINE).all(),
                          "figures": lambda: figures.compute(conn)})
    works: dict[str, Callable[[], Any]] = {
        "pass": lambda: figures.grouped_pass(conn),
        "indexed": lambda: conn.exec_driver_sql(INDEXED).all(),
        "extras": lambda: (figures.response_times(conn, everything), figures.reasons(conn, everything),
                           figures.conversion(conn, everything), figures.contradicted_first_loans(conn, everything))}
    labels = {}
    if conn.dialect.name == "postgresql":
        def serial() -> Any:
            conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
            return conn.exec_driver_sql(BASELINE).all()

        def statement(jit: str) -> Callable[[], Any]:
            def run() -> Any:
                conn.exec_driver_sql(f"SET LOCAL jit = {jit}")
                return conn.execute(figures.grouped_statement("postgresql")).all()
            return run

        works["serial"] = serial
        # JIT on is the server's default (above its cost threshold); the pass turns it off.
        works["jit_off"], works["jit_on"] = statement("off"), statement("on")
        labels = {"serial": "baseline without parallel workers",
                  "jit_off": "grouped statement fetched as rows, JIT off",
                  "jit_on": "grouped statement fetched as rows, JIT on"}
    else:
        works["table"] = lambda: conn.exec_driver_sql(BASELINE.replace("market_loans", "market_loans NOT INDEXED")).all()
        labels = {"table": "baseline as a table scan (NOT INDEXED)"}
    rest = best_of(conn, works)
    return Timings(main["scan"][0], main["figures"][0], rest["pass"][0], rest["indexed"][0], rest["extras"][0],
                   {label: rest[key][0] for key, label in labels.items()}, main["figures"][1])


def open_database(url: str | None, *, reuse: bool, workdir: Path | None, name: str) -> Database:
    """The benchmark's database: PostgreSQL at `url` (its public schema wiped unless `reuse`), else a SQLite
    file `name`.db in `workdir` (a new temporary folder by default). The benchmarks of the market, policy and
    oversight all open theirs here."""
    if url:
        if not url.startswith("postgresql"):
            sys.exit("--database-url: a PostgreSQL database this run may wipe (postgresql+psycopg://…)")
        db = Database(url)
        if not reuse:
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        return db
    work = workdir or Path(tempfile.mkdtemp(prefix=f"xyd-bench-{name}-"))
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"{name}.db"
    if not reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    print(f"SQLite database {path}", flush=True)
    return Database(f"sqlite:///{path}")


def _database(args: argparse.Namespace) -> Database:
    if args.engine == "postgresql" and not args.database_url:
        sys.exit("--engine postgresql needs --database-url postgresql://… (a database this run may wipe)")
    return open_database(args.database_url if args.engine == "postgresql" else None, reuse=args.reuse,
                         workdir=args.workdir, name="market")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loans", type=int, default=100_000)
    ap.add_argument("--entities", type=int, default=None, help="default: a quarter of the loans")
    ap.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--database-url", default="", help="PostgreSQL: a database this run may wipe")
    ap.add_argument("--workdir", type=Path, default=None, help="where the SQLite database goes")
    ap.add_argument("--reuse", action="store_true", help="measure the database a previous run built there")
    args = ap.parse_args()
    db = _database(args)
    if args.reuse:
        with db.engine.connect() as conn:
            args.loans = conn.execute(select(func.count()).select_from(Loan.__table__)).scalar_one()
        print(f"reusing {args.loans:,} loans", flush=True)
    else:
        migrate.upgrade(db.engine)
        t0 = time.perf_counter()
        built = build(db, args.loans, entities=args.entities,
                      progress=lambda m: print(f"  [{time.perf_counter() - t0:6.1f}s] {m}", flush=True))
        print(f"built {built.loans:,} loans of {built.entities:,} entities, {built.banks} banks, {built.products} "
              f"products in {built.seconds:.1f}s (analyze included)", flush=True)
    load = os.getloadavg()[0]
    with db.engine.connect() as conn:
        m = measure(conn)
        problems = check(conn, m.figures)
        conn.rollback()
        print(plans(conn), flush=True)
    db.dispose()
    fig, t = m.figures, m.figures.totals
    print(f"totals: {t.loans:,} loans, 授信 {figures.wan(t.granted_fen):,} 万元, 信用 {figures.pct(t.credit_share_amount)}% "
          f"(by amount) {figures.pct(t.credit_share_count)}% (by count), 首贷 {figures.pct(t.first_share_amount)}% / "
          f"{figures.pct(t.first_share_count)}%, {len(fig.by_city)} cities, {len(fig.by_bank)} banks, "
          f"{len(fig.by_month)} months, {fig.groups:,} groups")
    print(f"grouped pass alone {m.pass_s:.3f}s (roll-ups and names the rest); index-served GROUP BY city_code "
          f"{m.indexed_s:.3f}s (figures/indexed {m.figures_s / m.indexed_s:.2f}); the page's separate small "
          f"queries {m.extras_s:.3f}s")
    for label, seconds in m.context.items():
        print(f"for information: {label} {seconds:.3f}s (figures/that {m.figures_s / seconds:.2f})")
    print(f"load average (1 min) {load:.1f} at the start of the measurements, {os.getloadavg()[0]:.1f} at the end, "
          f"on {os.cpu_count()} cores")
    if problems:
        print("CHECK FAILED:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("checks: totals, sums by city, bank, kind and month, cumulative series, credit, first and sector shares "
          "equal direct SQL")
    # The baseline is the machine's limit for a bare GROUP BY: the faster of the planner's own plan and, on
    # SQLite, a plain table scan (its planner walks an index with random reads, which is slower).
    scan = min(m.scan_s, m.context.get("baseline as a table scan (NOT INDEXED)", m.scan_s))
    print(f"RESULT market loans={args.loans} engine={args.engine} figures_s={m.figures_s:.3f} scan_s={scan:.3f} "
          f"ratio={m.figures_s / scan:.2f} groups={fig.groups}")


if __name__ == "__main__":
    main()
