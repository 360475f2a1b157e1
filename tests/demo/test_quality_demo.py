"""The demo's data governance (issue 18): every provider registered as a department, the customs office with an
account and the planted lateness the rules find, the water companies' front database pulled into an ordinary
delivery, and the first full run stored with its scores."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from xinyidai.accounts.models import User
from xinyidai.catalog.schema import Catalog
from xinyidai.demo import build_demo
from xinyidai.demo import quality as quality_demo
from xinyidai.kit import clock
from xinyidai.kit.db import Database
from xinyidai.quality.models import Department, Finding, ProviderScore, QualityRun
from xinyidai.records.models import CreditRecord, Delivery


def test_the_demo_governs_its_data(db: Database, catalog: Catalog, tmp_path: Path) -> None:
    build_demo(db, catalog, entities=300, seed=7, defects_dir=tmp_path / "demo-deliveries")
    made = quality_demo.seed(db, catalog, clock.today(), tmp_path)
    with db.session() as s:
        providers = set(s.execute(select(Delivery.provider).distinct()).scalars())
        assert providers <= set(s.execute(select(Department.name)).scalars())  # every provider is a department
        user = s.execute(select(User).where(User.username == "department")).scalar_one()
        assert (user.role, user.org_code) == ("department", quality_demo.CUSTOMS_CODE)
        run = s.get(QualityRun, made.run_id)
        assert run is not None and run.status == "done" and run.findings == made.findings > 0
        late = s.execute(select(Finding).where(Finding.run_id == run.id,
                                               Finding.rule_id == "timeliness.import_export")).scalar_one()
        assert late.provider == quality_demo.CUSTOMS and late.measure and late.measure > 30
        assert made.late == [quality_demo.CUSTOMS]
        # The front database's rows arrived as an ordinary delivery of the water companies.
        pulled = s.execute(select(Delivery).where(Delivery.source == "connector")).scalar_one()
        assert pulled.status in ("accepted", "partial") and pulled.rows_total == made.pulled == 40
        assert s.scalar(select(func.count()).select_from(CreditRecord)
                        .where(CreditRecord.delivery_id == pulled.id)) == pulled.rows_new
        assert s.scalar(select(func.count()).select_from(ProviderScore).where(ProviderScore.run_id == run.id)) > 0
