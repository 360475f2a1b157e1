"""The demo province's market, made through the services: every role finds something to act on."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from xinyidai.catalog.schema import Catalog
from xinyidai.demo import build_demo
from xinyidai.demo import credit as credit_demo
from xinyidai.demo import market as market_demo
from xinyidai.kit import clock
from xinyidai.kit.db import Database
from xinyidai.market import flows
from xinyidai.market.models import Application, DefaultCase, Demand, Loan, ProductVersion, Quote


def test_the_demo_market_gives_every_role_its_path(db: Database, catalog: Catalog, tmp_path: Path) -> None:
    build_demo(db, catalog, entities=400, defects_dir=tmp_path / "files")
    credit_demo.seed(db, catalog, clock.today(), "CN-230000", tmp_path / "samples")
    before = clock.now()
    m = market_demo.seed(db, catalog, clock.today(), "CN-230000")
    assert clock.now() == before  # the demo's history moved the clock and gave it back
    with db.session() as s:
        bank = s.execute(select(func.min(Application.institution_code))
                         .where(Application.state == flows.SUBMITTED)).scalar()
        assert m.loans == s.execute(select(func.count()).select_from(Loan)).scalar_one() > 5
        assert s.execute(select(func.count(func.distinct(Loan.granted_month)))).scalar_one() >= 6  # a year of history
        assert s.execute(select(func.count()).select_from(ProductVersion)
                         .where(ProductVersion.state == flows.REVIEW)).scalar_one() == 1  # for the operator
        assert bank is not None  # the demo bank's queue
        assert s.execute(select(func.count()).select_from(Application)
                         .where(Application.state == flows.OFFERED)).scalar_one() >= 1  # for the enterprise
        assert flows.ESCALATED in {c for (c,) in s.execute(select(DefaultCase.state))}  # for the city office
        assert s.execute(select(func.count()).select_from(Demand)).scalar_one() == 1
        assert s.execute(select(func.count()).select_from(Quote)).scalar_one() == 1
        assert {r for (r,) in s.execute(select(Application.reason_code).where(Application.reason_code.is_not(None)))}
