"""The demo province's credit products: a first evaluation run, loan applications (some well-graded
enterprises authorize the second and third demo banks to look — a financing need), the default white-list
rules saved, the demo bank subscribed, and a first white list generated and delivered to it.

The demo `bank` account's own institution is left without authorizations, so what a person grants in the
walkthrough is the only thing on its "授权企业" page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select

from xinyidai.access import authorizations
from xinyidai.access.authorizations import GrantRequest
from xinyidai.accounts.models import User
from xinyidai.catalog.schema import Catalog
from xinyidai.credit import evaluation
from xinyidai.credit.models import Evaluation
from xinyidai.entities.models import MarketEntity
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit.db import Database
from xinyidai.kit.principal import Principal
from xinyidai.lists import whitelists

APPLY_EVERY = 4  # one in four well-graded enterprises is applying for a loan
GRANT_BATCH = 1000


@dataclass
class CreditDemo:
    run_id: int
    grades: dict[str, int]
    applications: int
    whitelist: str
    whitelist_entries: int


def seed(db: Database, catalog: Catalog, as_of: date, node_code: str) -> CreditDemo:
    run = evaluation.evaluate_all(db, as_of, "demo")
    with db.session() as s:
        banks = list(s.execute(select(FinancialInstitution.code).order_by(FinancialInstitution.created_at,
                                                                          FinancialInstitution.code)).scalars())
        demo_bank = s.execute(select(User.org_code).where(User.username == "bank")).scalar_one_or_none()
        lenders = [c for c in banks if c != demo_bank] or banks
        demo_enterprise = s.execute(select(User.org_code).where(User.username == "enterprise")).scalar_one_or_none()
        good = s.execute(select(Evaluation.entity_code, MarketEntity.name)
                         .join(MarketEntity, MarketEntity.code == Evaluation.entity_code)
                         .where(Evaluation.run_id == run.id, Evaluation.method == "public",
                                Evaluation.grade.in_(("A+", "A", "B+")))
                         .order_by(Evaluation.entity_code)).all()
    applications = 0
    wanted = [(i, code, name) for i, (code, name) in enumerate(good)
              if not i % APPLY_EVERY and code != demo_enterprise and lenders]
    # Granted through the enterprise's own path (checked, worded, digested, audited), GRANT_BATCH to a
    # transaction: one each made the grants a quarter of a million-entity demo's time.
    for start in range(0, len(wanted), GRANT_BATCH):
        with db.session() as s:
            for i, code, name in wanted[start:start + GRANT_BATCH]:
                req = GrantRequest(lenders[i % len(lenders)], "贷前审查", "汇总查询", ["tax", "social_insurance"],
                                   as_of + timedelta(days=90), None, {})
                owner = Principal(0, f"demo-{code[-6:]}", name, "enterprise", code)
                _, digest = authorizations.preview(s, catalog, owner, req)
                authorizations.grant(s, catalog, owner, req, digest)
                applications += 1
    with db.session() as s:
        rule_set = whitelists.save_rule_set(s, whitelists.default_rules_text(), "demo")
        if demo_bank:
            whitelists.subscribe(s, "demo", "institution", demo_bank, "whitelist", None, node_code)
        wl = whitelists.generate(s, rule_set, as_of, "demo", node_code)
        number, entries = wl.number, wl.entries
    return CreditDemo(run.id, dict(run.grades), applications, number, entries)
