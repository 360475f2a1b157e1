"""Policy benchmark: enrolling every bank's loans in a 贴息 programme and claiming a quarter, against one bare
read of the loans table.

    python bench/policy.py --loans 1000000
    python bench/policy.py --loans 1000000 --engine postgresql --database-url postgresql+psycopg://…

Builds N loans with `bench/market.py`'s `build` (36 months up to today, 30 head offices with two branches
each, about 90 % drawn), then, as the province's finance office, creates and starts a running 贴息 programme
for the province (230000) over those 36 months with realistic rules: 1 个百分点, 365 days, a cap of 1,000 万元
per enterprise, and only agriculture, manufacturing, information services and research (sections A, C, I, M:
about a fifth of the demo province's loans).

Measures, best of `--rounds`, each round with a programme of its own (stacking allowed, so each enrols the
same loans, into tables holding the rounds before it as a node holds earlier programmes and quarters), the
enrolment and the claims each one transaction, committed; between rounds the statistics are refreshed, untimed:
  claims_s   `enrolments.enrol_all` as each lending institution (head offices and branches: every
             `institution_code` of the loans), then `claims.claim_period` as each for the last complete
             quarter — the sum of both, commits included
  scan_s     SELECT count(*), sum(granted_fen) FROM market_loans, made to read the table itself (SQLite:
             NOT INDEXED; PostgreSQL: a sequential scan, index scans off, parallel workers as the planner
             likes): reading every loan row once is the least any job over them must do. On SQLite the
             planner would otherwise read the narrower covering index ix_market_loans_figures, which is not
             the rows the job reads; on PostgreSQL the planner already picks the (parallel) sequential scan.
The baseline and the job take turns, so a burst of load on this shared machine falls on both alike.

Between the enrolment and the claims the planner's statistics are refreshed (ANALYZE, untimed): a bank
claims a quarter weeks after it enrolled, when autovacuum (PostgreSQL) has long seen the new rows.

`--covering` adds, for information, an index on market_loans holding every column the rules read (not in the
schema): how much of the job is fetching each institution's rows from all over the table.

Checks (fails the run if wrong): enrolments and refusals against direct SQL written independently of the
service; on a sample of enterprises, the cap's running sum in Python; on a sample of claims, days and
amount from the `Decimal` arithmetic. Prints the query plans of the two heavy statements. Ends with:

    RESULT policy loans=N claims_s=… scan_s=… ratio=…
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.market import build, open_database  # noqa: E402

from xinyidai.entities.industries import DIVISIONS  # noqa: E402
from xinyidai.kit import clock, migrate  # noqa: E402
from xinyidai.kit.db import Database  # noqa: E402
from xinyidai.kit.principal import Principal  # noqa: E402
from xinyidai.market.models import Loan  # noqa: E402
from xinyidai.policy import arithmetic, claims, enrolments, programmes  # noqa: E402
from xinyidai.policy.evidence import Evidence  # noqa: E402
from xinyidai.policy.models import Claim, ClaimEvent, Enrolment, LedgerEntry, Programme, RuleVersion  # noqa: E402

OFFICER = Principal(0, "bench-fin", "黑龙江省财政厅（基准测试）", "policy", "230000")
SECTIONS = ("A", "C", "I", "M")
CAP_FEN = 1_000_000_000  # 1,000 万元
# Stacking allowed, so each round's programme enrols the same loans as the last one's.
RULES = {"industries": list(SECTIONS), "cap_fen": CAP_FEN, "rate_bp": 100, "max_days": 365, "day_basis": 360,
         "allow_stacking": True}
EVIDENCE = Evidence("季度付息清单.pdf", "b" * 64, "policy-evidence/bench.pdf", "application/pdf")
SCAN = {"sqlite": "SELECT count(*), sum(granted_fen) FROM market_loans NOT INDEXED",
        "postgresql": "SELECT count(*), sum(granted_fen) FROM market_loans"}


def last_quarter(today: date) -> tuple[date, date]:
    """The last calendar quarter that ended before `today`."""
    q0 = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    end = q0 - timedelta(days=1)
    return date(end.year, end.month - 2, 1), end


def bank(code: str) -> Principal:
    return Principal(0, f"bench-{code[-6:]}", "基准测试信贷员", "bank", code)


# ── the job ─────────────────────────────────────────────────────────────────────────────────────────────

def programme(db: Database, first_day: date, last_day: date, k: int) -> str:
    with db.session() as s:
        prog = programmes.create(s, OFFICER, kind="interest", name=f"黑龙江省中小微企业贷款贴息（基准测试第 {k} 轮）",
                                 region_code="230000", starts_on=first_day, ends_on=last_day,
                                 budget_fen=50_000_000_000_000, raw_rules=RULES)
        programmes.start(s, OFFICER, prog.number)
        return prog.number


def institutions(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.execute(select(Loan.institution_code).distinct().order_by(Loan.institution_code)).scalars())


def analyze(db: Database, *tables: str) -> None:
    """Refresh the planner's statistics (PostgreSQL: and clear dead rows), of `tables` or of everything."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"VACUUM ANALYZE {', '.join(tables)}")
    else:
        with db.engine.begin() as conn:
            for table in tables or ("",):
                conn.exec_driver_sql(f"ANALYZE {table}")


def enrol_and_claim(db: Database, number: str, codes: list[str], quarter: tuple[date, date]) -> dict[str, Any]:
    """The measured job: every institution's enrol_all, then every institution's claim_period."""
    t0 = time.perf_counter()
    enrolled, refused = 0, defaultdict(int)
    with db.session() as s:
        for code in codes:
            r = enrolments.enrol_all(s, bank(code), number)
            enrolled += r.enrolled
            for k, v in r.refused.items():
                refused[k] += v
    t1 = time.perf_counter()
    analyze(db, "policy_enrolments")
    t2 = time.perf_counter()
    n_claims = amount = 0
    with db.session() as s:
        for code in codes:
            b = claims.claim_period(s, bank(code), number, *quarter, ev=EVIDENCE)
            n_claims += b.claims
            amount += b.amount_fen
    t3 = time.perf_counter()
    return {"enrol_s": t1 - t0, "claim_s": t3 - t2, "seconds": (t1 - t0) + (t3 - t2), "enrolled": enrolled,
            "refused": dict(refused), "claims": n_claims, "amount_fen": amount}


COVERED = ("first_disbursed_on", "city_code", "industry_code", "entity_code", "granted_fen", "bank_code", "loan_no",
           "matures_on", "is_credit", "first_loan")


def covering(db: Database) -> None:
    """The experiment of `--covering`: each institution's loans with every column the rules read, side by side
    in one index, so the job reads a slice of it instead of rows scattered over the table."""
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX IF EXISTS ix_bench_loans_policy")
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("CREATE INDEX ix_bench_loans_policy ON market_loans (institution_code, granted_on) "
                                 f"INCLUDE ({', '.join(COVERED)})")
        else:
            conn.exec_driver_sql("CREATE INDEX ix_bench_loans_policy ON market_loans "
                                 f"(institution_code, granted_on, {', '.join(COVERED)})")
    analyze(db, "market_loans")
    print("experiment: covering index ix_bench_loans_policy on market_loans", flush=True)


def settle(db: Database) -> None:
    """Between rounds, untimed: the planner's statistics of the tables the round filled, as autovacuum would
    have left them in the weeks between two quarters' claims."""
    analyze(db, "policy_claim_events", "policy_claims", "policy_enrolments")


def scan(db: Database) -> float:
    """One bare read of the loans table, best of 3 after a warm-up."""
    sql = SCAN[db.engine.dialect.name]
    best = math.inf
    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            for knob in ("enable_indexscan", "enable_indexonlyscan", "enable_bitmapscan"):
                conn.exec_driver_sql(f"SET {knob} = off")
        conn.exec_driver_sql(sql).all()
        for _ in range(3):
            t = time.perf_counter()
            conn.exec_driver_sql(sql).all()
            best = min(best, time.perf_counter() - t)
        conn.rollback()
    return best


# ── checks ──────────────────────────────────────────────────────────────────────────────────────────────

def _eligible_sql(prog: Programme) -> str:
    """The qualifying loans as plain SQL, written from the rules, not from the service."""
    divisions = sorted(d for d, (_, sec) in DIVISIONS.items() if sec in SECTIONS)
    inds = ", ".join(f"'{d}'" for d in divisions)
    return (f"first_disbursed_on IS NOT NULL AND granted_on >= '{prog.starts_on}' AND granted_on <= '{prog.ends_on}' "
            f"AND substr(city_code, 1, 2) = '23' AND substr(industry_code, 1, 2) IN ({inds})")


def check(db: Database, number: str, got: dict[str, Any], quarter: tuple[date, date], n_loans: int,
          codes: list[str], sample: int = 400) -> list[str]:
    problems: list[str] = []
    rnd = random.Random(11)
    with db.session() as s:
        prog = s.execute(select(Programme).where(Programme.number == number)).scalar_one()
        cond = _eligible_sql(prog)
        qualifying = s.execute(text(f"SELECT count(*) FROM market_loans WHERE {cond}")).scalar_one()  # noqa: S608
        mine = Enrolment.programme_id == prog.id
        enrolled = s.execute(select(func.count()).select_from(Enrolment).where(mine)).scalar_one()
        capped = got["refused"].get("ENTERPRISE_CAP_REACHED", 0)
        if enrolled != got["enrolled"] or qualifying != enrolled + capped:
            problems.append(f"enrolments: service {got['enrolled']}, table {enrolled}, direct qualifying {qualifying} "
                            f"(= enrolled + {capped} over the cap?)")
        if got["enrolled"] + sum(got["refused"].values()) != n_loans:
            problems.append(f"enrolled + refused = {got['enrolled'] + sum(got['refused'].values())} != {n_loans} loans")
        undrawn = s.execute(text("SELECT count(*) FROM market_loans WHERE first_disbursed_on IS NULL")).scalar_one()
        if got["refused"].get("NOT_DISBURSED") != undrawn:
            problems.append(f"NOT_DISBURSED {got['refused'].get('NOT_DISBURSED')} != direct {undrawn}")
        # The cap, on a sample of enterprises: their qualifying loans by grant date, each taking what is left.
        # The institutions enrolled one after another, so an enterprise borrowing from several banks has its
        # room taken first by the loans of the institution that enrolled first.
        turn = {code: k for k, code in enumerate(codes)}
        ents = list(s.execute(select(Enrolment.entity_code).where(mine).distinct().order_by(Enrolment.entity_code))
                    .scalars())
        for ent in rnd.sample(ents, min(sample, len(ents))):
            rows = s.execute(text(f"SELECT id, granted_fen, institution_code, granted_on FROM market_loans "  # noqa: S608
                                  f"WHERE entity_code = :e AND {cond}"), {"e": ent}).all()
            rows.sort(key=lambda r: (turn[r[2]], str(r[3]), r[0]))
            want, used = {}, 0
            for loan_id, granted, _, _ in rows:
                take = min(granted, CAP_FEN - used)
                if take > 0:
                    want[loan_id] = take
                    used += take
            have = dict(s.execute(select(Enrolment.loan_id, Enrolment.eligible_fen)
                                  .where(mine, Enrolment.entity_code == ent)).all())
            if have != want:
                problems.append(f"enterprise {ent}: enrolled {have} != expected {want}")
        # Claims: the count against direct SQL, and a sample recomputed in Decimal.
        f, t = arithmetic.day(quarter[0]), arithmetic.day(quarter[1]) + 1
        n_claims = s.execute(select(func.count()).select_from(Enrolment)
                             .where(mine, Enrolment.starts_day < t, Enrolment.ends_day > f)).scalar_one()
        stored = s.execute(select(func.count(), func.coalesce(func.sum(Claim.amount_fen), 0))
                           .where(Claim.programme_id == prog.id)).one()
        if not n_claims == got["claims"] == stored[0] or int(stored[1]) != got["amount_fen"]:
            problems.append(f"claims: service {got['claims']} ({got['amount_fen']} 分), table {tuple(stored)}, "
                            f"direct {n_claims}")
        ids = list(s.execute(select(Claim.id).where(Claim.programme_id == prog.id).order_by(Claim.id)).scalars())
        r = programmes.rules_of(s, prog)
        for cid in rnd.sample(ids, min(sample, len(ids))):
            c, e, loan = s.execute(select(Claim, Enrolment, Loan).join(Enrolment, Enrolment.id == Claim.enrolment_id)
                                   .join(Loan, Loan.id == Enrolment.loan_id).where(Claim.id == cid)).one()
            days = arithmetic.overlap_days(f, t, e.starts_day, e.ends_day)
            basis = min(e.eligible_fen, loan.disbursed_fen,
                        loan.outstanding_fen if loan.outstanding_fen is not None else loan.disbursed_fen)
            w = arithmetic.interest(basis, min(r.rate_bp, loan.rate_bp), days, r.day_basis)
            if (c.days, c.basis_fen, c.amount_fen) != (days, basis, w.amount_fen):
                problems.append(f"claim {c.number}: ({c.days}, {c.basis_fen}, {c.amount_fen}) != "
                                f"({days}, {basis}, {w.amount_fen}) — {w.formula}")
    return problems[:20]


# ── plans ───────────────────────────────────────────────────────────────────────────────────────────────

class Captured:
    """The SQL of the heavy statements as the services run them, caught on the engine."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith(("INSERT INTO POLICY_ENROL_SCRATCH", "INSERT INTO POLICY_ENROLMENTS",
                                                  "INSERT INTO POLICY_CLAIMS", "INSERT INTO POLICY_CLAIM_EVENTS")):
            self.statements.append((statement, parameters))


def plans(db: Database, captured: Captured) -> str:
    out = []
    seen: set[str] = set()
    for statement, params in captured.statements:
        head = statement.lstrip()[:40]
        if head in seen:
            continue
        seen.add(head)
        with db.engine.connect() as conn:
            raw = conn.connection.driver_connection
            # enrol_all's working table, which its statements read, lives only during the call.
            conn.exec_driver_sql("CREATE TEMPORARY TABLE IF NOT EXISTS policy_enrol_scratch "
                                 "(loan_id BIGINT NOT NULL, reason VARCHAR(24))")
            if conn.dialect.name == "postgresql":
                with raw.cursor() as cur:
                    cur.execute("EXPLAIN " + statement, params)
                    lines = [r[0] for r in cur.fetchall()]
            else:
                lines = [" ".join(str(c) for c in r[1:]) for r in raw.execute("EXPLAIN QUERY PLAN " + statement, params)]
            conn.rollback()
        out.append(f"-- plan of {head.split('(')[0].strip()} …\n" + "\n".join("   " + ln for ln in lines))
    return "\n".join(out)


# ── main ────────────────────────────────────────────────────────────────────────────────────────────────

def _database(args: argparse.Namespace) -> Database:
    if args.engine == "postgresql" and not args.database_url:
        sys.exit("--engine postgresql needs --database-url postgresql+psycopg://… (a database this run may wipe)")
    return open_database(args.database_url if args.engine == "postgresql" else None, reuse=args.reuse,
                         workdir=args.workdir, name="policy")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loans", type=int, default=100_000)
    ap.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--database-url", default="", help="PostgreSQL: a database this run may wipe")
    ap.add_argument("--workdir", type=Path, default=None, help="where the SQLite database goes")
    ap.add_argument("--reuse", action="store_true", help="measure the loans an earlier run built there")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--covering", action="store_true", help="experiment: a covering index for the rules' columns")
    args = ap.parse_args()
    db = _database(args)
    today = clock.today()
    if args.reuse:
        with db.session() as s:
            args.loans = s.execute(select(func.count()).select_from(Loan)).scalar_one()
            s.execute(delete(ClaimEvent))
            s.execute(delete(Claim))
            s.execute(delete(Enrolment))
            s.execute(delete(LedgerEntry))
            s.execute(delete(RuleVersion))
            s.execute(delete(Programme))
        print(f"reusing {args.loans:,} loans", flush=True)
    else:
        migrate.upgrade(db.engine)
        t0 = time.perf_counter()
        built = build(db, args.loans, end=today,
                      progress=lambda m: print(f"  [{time.perf_counter() - t0:6.1f}s] {m}", flush=True))
        print(f"built {built.loans:,} loans of {built.entities:,} entities, {built.banks} banks in {built.seconds:.1f}s",
              flush=True)
    if args.covering:
        covering(db)
    with db.session() as s:
        first, last = s.execute(select(func.min(Loan.granted_on), func.max(Loan.granted_on))).one()
    codes = institutions(db)
    quarter = last_quarter(today)
    print(f"a programme per round: {first} to {max(last, today)}, sections {'、'.join(SECTIONS)}, cap 1,000 万元; "
          f"{len(codes)} lending institutions; claims for {quarter[0]} to {quarter[1]}", flush=True)

    captured = Captured()
    load = os.getloadavg()[0]
    best: dict[str, Any] | None = None
    scans: list[float] = []
    for k in range(max(1, args.rounds)):
        scans.append(scan(db))
        number = programme(db, first, max(last, today), k + 1)
        if k == 0:
            event.listen(db.engine, "before_cursor_execute", captured)
        got = enrol_and_claim(db, number, codes, quarter)
        if k == 0:
            event.remove(db.engine, "before_cursor_execute", captured)
        print(f"round {k + 1}: enrol_all {got['enrol_s']:.3f}s ({got['enrolled']:,} enrolled), claim_period "
              f"{got['claim_s']:.3f}s ({got['claims']:,} claims, {got['amount_fen'] / 100:,.2f} 元); scan "
              f"{scans[-1]:.3f}s", flush=True)
        if best is None or got["seconds"] < best["seconds"]:
            best = {**got}
        if k < args.rounds - 1:
            settle(db)
    assert best is not None
    scan_s = min(scans)
    problems = check(db, number, got, quarter, args.loans, codes)
    print(plans(db, captured), flush=True)
    db.dispose()
    print(f"refused: {got['refused']}")
    print(f"enrol_all best {best['enrol_s']:.3f}s + claim_period {best['claim_s']:.3f}s; load average (1 min) "
          f"{load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} cores")
    if problems:
        print("CHECK FAILED:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("checks: enrolments and refusals equal direct SQL; the cap's running sum and the claims' days and amounts "
          "(Decimal) agree on samples")
    print(f"RESULT policy loans={args.loans} claims_s={best['seconds']:.3f} scan_s={scan_s:.3f} "
          f"ratio={best['seconds'] / scan_s:.2f}")


if __name__ == "__main__":
    main()
