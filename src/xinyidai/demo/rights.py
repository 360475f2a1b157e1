"""The demo province's enterprise rights: the `enterprise` account's company has a penalty past its minimum
publication (so 申请信用修复 is open to it) and customs records it can object to (哈尔滨海关 is the `department`
account); and the old provincial site's export (黑龙江站迁移) lies in var/demo-samples for the operator to import,
with the mistakes such files have — a wrong check digit, a company not in the register, a row twice, a username
taken, an authorization already expired, an institution the province does not know."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import select

from xinyidai.accounts.models import User
from xinyidai.catalog.publication import add_months
from xinyidai.catalog.schema import Catalog
from xinyidai.demo.generator import INITIAL_PROVIDERS
from xinyidai.entities.codes import MAX_DEMO_SERIAL, make_uscc
from xinyidai.entities.models import MarketEntity
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit.db import Database
from xinyidai.records.loading import ingest_file

# Five months ago: past the three-month minimum (第十条), well inside the three-year maximum.
PENALTY_AGE_MONTHS = 5
PENALTY_NO = "哈南应急罚〔{year}〕7号"
MIGRATION_FILE = "黑龙江站迁移（演示）.json"
MIGRATED = 4  # companies of the register whose accounts and authorizations come over
# Valid codes the demo's register and institutions do not hold (serials far above the generated ones).
NOT_REGISTERED = make_uscc("230103", MAX_DEMO_SERIAL - 500)
UNKNOWN_BANK = make_uscc("230100", MAX_DEMO_SERIAL - 400)


@dataclass
class RightsDemo:
    enterprise: str | None = None
    penalty: str | None = None
    migration_file: Path | None = None
    notes: list[str] = field(default_factory=list)


def _penalty(db: Database, catalog: Catalog, today: date, var_dir: Path, code: str, name: str) -> str | None:
    decided = add_months(today, -PENALTY_AGE_MONTHS)
    number = PENALTY_NO.format(year=decided.year)
    row = {"统一社会信用代码": code, "主体名称": name, "决定书文号": number, "处罚类别": "罚款",
           "违法行为类型": "价格", "处罚事由": "当事人销售商品未按规定明码标价，经责令改正后仍未改正",
           "处罚依据": "《明码标价和禁止价格欺诈规定》第二十一条", "处罚内容": "罚款人民币20,000元",
           "罚款金额": "2", "处罚决定日期": decided.isoformat(), "处罚机关": "哈尔滨市南岗区市场监督管理局",
           "公示截止期": add_months(decided, 36).isoformat(), "是否已信用修复": "否"}
    path = var_dir / "demo-rights" / "penalty.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    d, outcome = ingest_file(db, catalog, path, provider=INITIAL_PROVIDERS["penalty"], category="penalty",
                             submitted_by="demo", source="cli", filename="行政处罚补报.jsonl")
    return number if outcome.status in ("accepted", "partial") else None


def _bad_check_digit(code: str) -> str:
    return code[:-1] + ("0" if code[-1] != "0" else "1")


def _migration_file(db: Database, today: date, var_dir: Path) -> Path | None:
    """The old site's export: companies of the register (their names as registered), an administrator and a
    colleague each, authorizations of the demo's banks still valid — and the usual mistakes."""
    with db.session() as s:
        firms = list(s.execute(select(MarketEntity.code, MarketEntity.name).where(MarketEntity.code.like("91%"))
                               .order_by(MarketEntity.code.desc()).limit(MIGRATED)).all())
        banks = list(s.execute(select(FinancialInstitution.code).where(FinancialInstitution.kind == "银行")
                               .order_by(FinancialInstitution.code)).scalars())
    if len(firms) < 2 or not banks:
        return None
    until = add_months(today, 6).isoformat()
    enterprises = [{"code": c, "name": n} for c, n in firms]
    enterprises += [{"code": _bad_check_digit(firms[0][0]), "name": "校验位错误的企业"},
                    {"code": firms[1][0], "name": firms[1][1]},  # the same company twice
                    {"code": NOT_REGISTERED, "name": "已迁出本省的企业"}]
    accounts, grants = [], []
    for i, (c, _) in enumerate(firms, 1):
        accounts.append({"username": f"hlj_admin{i}", "display_name": f"原站管理员{i}", "entity_code": c,
                         "mobile": f"1380000{i:04d}", "admin": "是"})
        accounts.append({"username": f"hlj_staff{i}", "display_name": f"原站经办{i}", "entity_code": c,
                         "mobile": f"1390000{i:04d}", "admin": "否"})
        grants.append({"old_number": f"HLJ-SQ-2025-{i:05d}", "entity_code": c, "institution_code": banks[i % len(banks)],
                       "purpose": "贷前审查", "mode": "汇总查询", "categories": ["纳税", "社会保险"],
                       "valid_until": until})
    accounts.append({"username": "operator", "display_name": "同名账户", "entity_code": firms[0][0],
                     "mobile": "13700000001", "admin": "否"})  # the username is taken here
    grants.append({"old_number": "HLJ-SQ-2024-00099", "entity_code": firms[0][0], "institution_code": banks[0],
                   "purpose": "贷后管理", "mode": "汇总查询", "categories": ["纳税"],
                   "valid_until": add_months(today, -2).isoformat()})  # expired on the old site
    grants.append({"old_number": "HLJ-SQ-2025-00100", "entity_code": firms[1][0],
                   "institution_code": UNKNOWN_BANK, "purpose": "贷前审查", "mode": "汇总查询",
                   "categories": ["纳税"], "valid_until": until})  # an institution not onboarded here
    path = var_dir / "demo-samples" / MIGRATION_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"enterprises": enterprises, "accounts": accounts, "authorizations": grants}
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def seed(db: Database, catalog: Catalog, today: date, var_dir: Path) -> RightsDemo:
    out = RightsDemo()
    with db.session() as s:
        code = s.execute(select(User.org_code).where(User.username == "enterprise")).scalar_one_or_none()
        entity = s.get(MarketEntity, code) if code else None
        name = entity.name if entity else None
    if not code or not name or "penalty" not in catalog.codes:
        return out
    out.enterprise = code
    out.penalty = _penalty(db, catalog, today, var_dir, code, name)
    out.migration_file = _migration_file(db, today, var_dir)
    return out
