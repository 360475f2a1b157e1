"""The world the mark and publication-window tests share (no tests of its own): the sharing world of
tests/access (an enterprise with tax, social insurance, water, judicial records and a penalty decided on
2024-02-01, still published) plus

  * a penalty whose provider ended its publication on 2026-07-10 (公示截止期), received long before;
  * a penalty repaired on 2026-09-01: version 1 (not repaired) received 2025-03-05, superseded that day by
    version 2 (credit_repaired 是) — so an evaluation as of a day before the repair still sees version 1;
  * an objection mark (异议处理中) on the published penalty and a disputed mark (存在异议, both statements) on
    the tax record of 2025-03.

The clock stands at 2026-11-15 (tests/conftest.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from tests.access.conftest import BANK_A, ENTITY, populate
from xinyidai.access import authorizations
from xinyidai.access.authorizations import GrantRequest
from xinyidai.catalog.schema import Catalog
from xinyidai.kit import clock
from xinyidai.kit.db import Database
from xinyidai.kit.principal import Principal
from xinyidai.records import marks
from xinyidai.records.canonical import canonical_json, fingerprint, record_key
from xinyidai.records.models import CreditRecord

PUBLISHED = "哈市监罚〔2024〕8号"  # in populate(): decided 2024-02-01, published until 2027-02-01
ENDED = "哈市监罚〔2025〕3号"
REPAIRED = "哈市监罚〔2025〕9号"
ENDED_ON = date(2026, 7, 10)
REPAIRED_ON = date(2026, 9, 1)
OBJECTION_REF = "YY-2026-000001"
DISPUTE_REF = "YY-2026-000002"
ENTERPRISE_SAYS = "该月已按期申报，逾期记录有误"
PROVIDER_SAYS = "系统记录为逾期申报，无法核实纸质申报时间"
OBJECTION_NOTE = f"该记录正在异议处理中（异议编号 {OBJECTION_REF}）"
ENTERPRISE = Principal(1, "ent-admin", "王建国", "enterprise", ENTITY)


def _at(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 2, 0, tzinfo=UTC)


def penalty(decision_no: str, decided_on: date, **more: Any) -> dict[str, Any]:
    return {"decision_no": decision_no, "penalty_type": "罚款", "reason": "未按规定公示年度报告",
            "basis": "《企业信息公示暂行条例》第十八条", "fine_amount": "1.5", "decided_on": decided_on.isoformat(),
            "authority": "哈尔滨市市场监督管理局", **more}


def record(catalog: Catalog, category: str, content: dict[str, Any], received: date, *, version: int = 1,
           status: str = "current", superseded: date | None = None) -> CreditRecord:
    cat = catalog.category(category)
    body = canonical_json(content)
    day = date.fromisoformat(str(content[cat.period])[:10]) if cat.period else None
    return CreditRecord(entity_code=ENTITY, category=category, record_key=record_key(cat.key, content),
                        version=version, status=status, content=body, fingerprint=fingerprint(body),
                        period_start=day, period_end=day, provider="哈尔滨市市场监督管理局",
                        received_at=_at(received), superseded_at=_at(superseded) if superseded else None)


def build(db: Database, catalog: Catalog) -> None:
    populate(db, catalog)
    with db.session() as s:
        s.add(record(catalog, "penalty", penalty(ENDED, date(2025, 1, 10), publicity_until=ENDED_ON.isoformat()),
                     date(2025, 1, 20)))
        s.add(record(catalog, "penalty", penalty(REPAIRED, date(2025, 3, 1), credit_repaired=False),
                     date(2025, 3, 5), status="superseded", superseded=REPAIRED_ON))
        s.add(record(catalog, "penalty", penalty(REPAIRED, date(2025, 3, 1), credit_repaired=True), REPAIRED_ON,
                     version=2))
        place_marks(s)


def place_marks(s: Session) -> None:
    marks.place(s, entity_code=ENTITY, category="penalty", record_key=PUBLISHED, kind="objection",
                ref=OBJECTION_REF, statement="罚款已于决定当日缴纳，处罚事由与事实不符")
    marks.place(s, entity_code=ENTITY, category="tax", record_key="2025-03", kind="disputed", ref=DISPUTE_REF,
                statement=ENTERPRISE_SAYS, provider_statement=PROVIDER_SAYS)


def grant(db: Database, catalog: Catalog, mode: str, categories: list[str]) -> str:
    req = GrantRequest(BANK_A, "核验" if mode == "核验比对" else "贷前审查", mode, categories,
                       clock.now().date() + timedelta(days=30))
    with db.session() as s:
        _, digest = authorizations.preview(s, catalog, ENTERPRISE, req)
        return authorizations.grant(s, catalog, ENTERPRISE, req, digest).number
