"""The demo province's data governance: every providing department registered, an account for the customs
office (`department`), a front database of the water companies the node pulls from, and the first full run of
the default rules with its findings, scores and the tickets it opens.

One defect is planted so the ticket loop has something to show: 哈尔滨海关 last delivered its monthly 进出口
data 75 days ago, so the timeliness rule finds it late. An operator opens a ticket from that finding; the customs
office answers with a new delivery; the re-check closes it (the browser journey does exactly this)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select, update

from xinyidai.catalog.schema import Catalog
from xinyidai.demo.generator import INITIAL_PROVIDERS
from xinyidai.entities.models import MarketEntity
from xinyidai.kit import clock
from xinyidai.kit.db import Database
from xinyidai.quality import departments, runs, sources
from xinyidai.quality.models import Department, Finding, QualityRun, Ticket
from xinyidai.records.models import Delivery

DEMO_PASSWORD = "xinyidai-demo"
CUSTOMS = "哈尔滨海关"
CUSTOMS_CODE = "hrb-customs"
LATE_DAYS = 75
# Department codes for the providers of the demo's initial deliveries (by category).
CODES = {"registration": "hlj-amr", "license": "hlj-licensing", "penalty": "hlj-enforcement",
         "judicial": "spc", "dishonesty": "nccic", "honor": "hlj-honors", "policy_support": "hlj-policy",
         "tax": "hlj-tax", "social_insurance": "hlj-hrss", "housing_fund": "hlj-hpf", "import_export": CUSTOMS_CODE,
         "water": "hlj-water", "electricity": "sgcc-hlj", "gas": "hlj-gas", "real_estate": "hlj-nr",
         "intellectual_property": "hlj-ip", "rnd": "hlj-st"}
HARBIN = "230100"
PROVINCE = "230000"
FRONT_ROWS = 40


@dataclass
class QualityDemo:
    departments: int = 0
    source: str | None = None
    pulled: int = 0
    run_id: int | None = None
    findings: int = 0
    tickets: int = 0
    late: list[str] = field(default_factory=list)


def _register_departments(db: Database) -> int:
    """Every provider that delivered something, under a department (Harbin's own bodies as Harbin's)."""
    with db.session() as s:
        providers = list(s.execute(select(Delivery.provider).distinct()).scalars())
        known = set(s.execute(select(Department.name)).scalars())
        by_name = {v: CODES[k] for k, v in INITIAL_PROVIDERS.items() if k in CODES}
        n = 0
        for i, name in enumerate(sorted(providers), 1):
            if name in known or len(name) < 2:
                continue
            code = by_name.get(name, f"dept-{i:03d}")
            region = HARBIN if name.startswith("哈尔滨") else PROVINCE
            departments.create(s, code=code, name=name[:100], region=region, contact=None, actor="demo")
            n += 1
        if s.get(Department, CUSTOMS_CODE) is not None:
            departments.add_account(s, CUSTOMS_CODE, "department", "哈尔滨海关 刘数据", DEMO_PASSWORD, "demo")
        return n


def _customs_late(db: Database) -> None:
    """哈尔滨海关's monthly deliveries stopped 75 days ago (the planted timeliness defect)."""
    with db.session() as s:
        s.execute(update(Delivery).where(Delivery.provider == CUSTOMS)
                  .values(received_at=clock.now() - timedelta(days=LATE_DAYS)))


def _front_database(db: Database, var_dir: Path, today: date) -> Path:
    """The water companies' front database (前置库): last month's bills of some entities, with a timestamp the
    node pulls above."""
    with db.session() as s:
        codes = list(s.execute(select(MarketEntity.code, MarketEntity.name).order_by(MarketEntity.code)
                               .limit(FRONT_ROWS)).all())
    month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    path = var_dir / "demo-front" / "water.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE water_bills (uscc TEXT, org_name TEXT, account_no TEXT, bill_month TEXT, "
                     "usage_m3 REAL, amount_due REAL, amount_paid REAL, updated_at TEXT)")
        conn.executemany("INSERT INTO water_bills VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
            (code, name, f"HRB-W{i:06d}", month, 120.0 + i, round((120.0 + i) * 4.1, 2),
             round((120.0 + i) * 4.1, 2) if i % 7 else 0.0, f"{today.isoformat()}T0{i % 9}:00:00")
            for i, (code, name) in enumerate(codes, 1)])
    return path


def seed(db: Database, catalog: Catalog, today: date, var_dir: Path) -> QualityDemo:
    out = QualityDemo()
    out.departments = _register_departments(db)
    _customs_late(db)
    water = CODES["water"]
    with db.session() as s:
        has_water = s.get(Department, water) is not None
    if has_water and "water" in catalog.codes:
        path = _front_database(db, var_dir, today)
        spec = sources.SourceSpec(
            name="water-front", kind="database", department=water, category="water", url=f"sqlite:///{path}",
            target="water_bills", watermark_column="updated_at", every_minutes=60,
            mapping={"uscc": "entity_code", "org_name": "entity_name", "account_no": "account_no",
                     "bill_month": "period", "usage_m3": "usage", "amount_due": "amount_due",
                     "amount_paid": "amount_paid"})
        with db.session() as s:
            sources.add_source(s, catalog, spec, "demo")
        result = sources.pull(db, catalog, var_dir, spec.name, "demo")
        out.source, out.pulled = spec.name, sum(p.rows for p in result.pulls)
    out.run_id = runs.run_rules(db, catalog, "demo")
    with db.session() as s:
        run = s.get(QualityRun, out.run_id)
        out.findings = run.findings if run else 0
        out.tickets = len(list(s.execute(select(Ticket.id)).scalars()))
        out.late = list(s.execute(select(Finding.provider).where(
            Finding.run_id == out.run_id, Finding.rule_id.like("timeliness.%"))).scalars())
    return out
