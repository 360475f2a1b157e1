"""Batch evaluation benchmark: evaluating every entity against one plain scan of their features, in one run.

    python bench/evaluate.py --entities 1000000
    python bench/evaluate.py --entities 1000000 --database-url postgresql://…

Features of N synthetic entities are stored as of one date (as a feature build would leave them). The
baseline is one plain scan of those features into a column table (`frames.feature_frame`); the measured
figure is a complete evaluation run over them (the same scan, the indicator system applied, every result
written, progress committed per chunk; the features are not rebuilt). Then report rendering: HTML and PDF
per second for a realistic report. Ends with:

    RESULT evaluate entities=… seconds=… scan_seconds=… ratio=…
    RESULT reports html_per_s=… pdf_per_s=…
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xinyidai.credit import evaluation, frames  # noqa: E402
from xinyidai.kit import bulk, clock, migrate  # noqa: E402
from xinyidai.kit.db import Database  # noqa: E402

AS_OF = date(2026, 10, 31)
GRADES = np.array(["A", "B", "M", "C", "D"])


def synthesize(db: Database, n: int, seed: int = 7) -> None:
    """N entities' features, drawn so every indicator's rules are exercised."""
    rng = np.random.default_rng(seed)
    cols = ("entity_code", "as_of", "feature_set", "data", "records", "unavailable", "computed_at")
    step = 100_000
    with db.session() as s:
        conn = s.connection()
        as_of, now = bulk.constant(conn, AS_OF), bulk.constant(conn, clock.now())
        for start in range(0, n, step):
            k = min(step, n - start)
            age = rng.gamma(2.0, 4.0, k).round(2)
            grade = GRADES[rng.choice(5, k, p=[0.3, 0.45, 0.1, 0.1, 0.05])]
            tax_paid = rng.lognormal(11, 1.5, k).round(2)
            si = rng.integers(0, 40, k)
            arrears = rng.poisson(0.2, k)
            pen = rng.poisson(0.3, k)
            enf = rng.poisson(0.05, k)
            dis = (rng.random(k) < 0.02).astype(int)
            util = np.where(rng.random(k) < 0.1, None, rng.random(k).round(3))
            rows = []
            for i in range(k):
                feats = {"age_years": float(age[i]), "registered_capital": 500.0, "status_abnormal": 0,
                         "industry": "13", "tax_grade": str(grade[i]), "tax_paid_12m": float(tax_paid[i]),
                         "sales_12m": float(tax_paid[i]) * 20, "sales_growth": 0.05, "tax_months_12m": 12,
                         "tax_late_12m": int(arrears[i]), "tax_arrears_months_12m": int(arrears[i]),
                         "si_headcount": int(si[i]), "si_headcount_change": 0.0, "si_continuity": int(si[i]),
                         "si_arrears_months_12m": int(arrears[i]), "hf_continuity": 12, "hf_arrears_months_12m": 0,
                         "utility_months_12m": 12, "utility_arrears_months_12m": 0,
                         "utility_on_time_ratio": util[i], "penalties_3y": int(pen[i]), "serious_penalties_3y": 0,
                         "penalty_fines_3y": 0.0, "enforcement_open": int(enf[i]), "enforcement_amount": 0.0,
                         "lawsuits_defendant_3y": 0, "dishonest_listed": int(dis[i]), "licenses_valid": 1,
                         "honors_valid": 0, "honor_level": 0, "policy_support_3y": 0, "invention_patents": 0,
                         "ip_valid": 0, "ip_pledged": 0, "high_tech": 0, "specialized": 0, "rnd_expense": 0.0,
                         "real_estate_count": 1, "real_estate_seized": 0, "trade_12m": None, "customs_grade": None,
                         "categories_present": 8}
                rows.append((f"9123B{start + i:013d}", as_of, "fs-2026.1", orjson.dumps(feats).decode(),
                             20, None, now))
            bulk.insert_rows(conn, "credit_features", cols, rows)


def bench_reports(repeat: int) -> tuple[float, float]:
    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from tests.reports.test_render import make_doc

    from xinyidai.reports.pdf import render_pdf
    from xinyidai.reports.render import TEMPLATE_FILTERS

    env = Environment(loader=FileSystemLoader(str(Path(evaluation.__file__).parent.parent / "web" / "templates")),
                      autoescape=select_autoescape())
    env.filters.update(TEMPLATE_FILTERS)
    tpl = env.get_template("reports/_report_body.html")
    doc = make_doc()
    render_pdf(doc)  # the font is loaded once per process
    t = time.perf_counter()
    for _ in range(repeat * 20):
        tpl.render(doc=doc)
    html = repeat * 20 / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(repeat):
        render_pdf(doc)
    return html, repeat / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entities", type=int, default=100_000)
    ap.add_argument("--database-url", default="")
    ap.add_argument("--reports", type=int, default=10)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="xyd-bench-eval-")
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    db = Database(url)
    migrate.upgrade(db.engine)
    t = time.perf_counter()
    synthesize(db, args.entities)
    print(f"features of {args.entities:,} entities stored in {time.perf_counter() - t:.1f} s", flush=True)

    t = time.perf_counter()
    with db.session() as s:
        frame = frames.feature_frame(s.connection(), AS_OF)
    scan = time.perf_counter() - t
    assert frame.height == args.entities
    del frame
    print(f"scan: {scan:.2f} s", flush=True)

    t = time.perf_counter()
    run_id = evaluation.start_run(db, AS_OF, "all", "bench")
    run = evaluation.execute_run(db, run_id, rebuild_features=False, scorers=[])
    seconds = time.perf_counter() - t
    assert run.status == "done" and run.done == args.entities, run.message
    print(f"evaluation: {seconds:.2f} s, grades {run.grades}", flush=True)
    print(f"RESULT evaluate entities={args.entities} seconds={seconds:.2f} scan_seconds={scan:.2f} "
          f"ratio={seconds / scan:.2f}")
    html, pdf = bench_reports(args.reports)
    print(f"RESULT reports html_per_s={html:.1f} pdf_per_s={pdf:.2f}")


if __name__ == "__main__":
    main()
