"""Loan applications in the demo province, so that the bank, the enterprise and the security officer each
find their pages in use: well-graded enterprises authorize the demo banks (the `bank` account's own
institution among them), the demo enterprise has authorized one bank that has looked at it, and one bank has
looked too widely and been refused too often, which the anomaly rules flag.

Every authorization goes through the enterprise's own path (checked, worded, digested, audited). The demo's
enterprises other than the `enterprise` account have no accounts, so theirs are confirmed by the demo actor
`demo` (系统（演示数据）on every page), and the banks' demo look-ups are made by it too: nobody is named as
having done what the demo did."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from xinyidai.access import anomalies, authorizations, sharing
from xinyidai.access.authorizations import GrantRequest
from xinyidai.access.policy import default_policy
from xinyidai.accounts.models import User
from xinyidai.catalog.schema import Catalog
from xinyidai.credit.models import Evaluation
from xinyidai.entities.models import MarketEntity
from xinyidai.kit.db import Database
from xinyidai.kit.errors import DomainError
from xinyidai.kit.principal import Principal
from xinyidai.records.models import CreditRecord

DEMO_ACTOR = "demo"  # named 系统（演示数据） by accounts.people
APPLY_EVERY = 4  # one in four well-graded enterprises is applying for a loan
GRANT_BATCH = 1000
LOOKED_AT = 3  # the demo bank has already opened this many of its enterprises' profiles
DEMO_BANK_MAX = 40  # its 授权企业 page lists every live authorization at once: a page a person can read
CATEGORIES = ["tax", "social_insurance"]
VALID_DAYS = 90


@dataclass
class Applications:
    granted: int  # authorizations made by the demo's enterprises
    to_demo_bank: int  # of which to the `bank` account's institution
    enterprise_authorization: str | None  # the `enterprise` account's own, to another bank
    alerts: int  # raised by the anomaly rules over the demo's accesses


def seed(db: Database, catalog: Catalog, run_id: int, as_of: date, banks: list[str]) -> Applications:
    """`banks`: the demo institutions, the `bank` account's first."""
    demo_bank = banks[0]
    with db.session() as s:
        enterprise = s.execute(select(User).where(User.username == "enterprise")).scalar_one_or_none()
        # Applicants that pay taxes: what they authorize (纳税, 社会保险) is then there for the bank to see.
        taxed = exists().where(CreditRecord.entity_code == Evaluation.entity_code, CreditRecord.category == "tax",
                               CreditRecord.status == "current")
        good = s.execute(select(Evaluation.entity_code, MarketEntity.name)
                         .join(MarketEntity, MarketEntity.code == Evaluation.entity_code)
                         .where(Evaluation.run_id == run_id, Evaluation.method == "public",
                                Evaluation.grade.in_(("A+", "A", "B+")), taxed)
                         .order_by(Evaluation.entity_code)).all()
    own = enterprise.org_code if enterprise else None
    applicants = [code for i, (code, _) in enumerate(good) if not i % APPLY_EVERY and code != own]
    wanted = _lenders(applicants, banks)
    req = _request(as_of)
    # GRANT_BATCH to a transaction: one each made the grants a quarter of a million-entity demo's time.
    for start in range(0, len(wanted), GRANT_BATCH):
        with db.session() as s:
            for code, bank in wanted[start:start + GRANT_BATCH]:
                _grant(s, catalog, Principal(0, DEMO_ACTOR, "演示数据", "enterprise", code), req(bank))
    to_demo_bank = [code for code, bank in wanted if bank == demo_bank]
    policy = default_policy()
    with db.session() as s:
        for code in to_demo_bank[:LOOKED_AT]:
            sharing.profile(s, catalog, policy, sharing.Actor(demo_bank, DEMO_ACTOR), code)
        number = None
        if enterprise is not None and own and len(banks) > 1:
            me = Principal(enterprise.id, enterprise.username, enterprise.display_name, "enterprise", own)
            number = _grant(s, catalog, me, req(banks[1], max_uses=10))
            sharing.profile(s, catalog, policy, sharing.Actor(banks[1], DEMO_ACTOR), own)
    alerts = _too_wide(db, catalog, banks[-1], {code for code, _ in wanted} | {own})
    return Applications(len(wanted), len(to_demo_bank), number, alerts)


def _lenders(applicants: list[str], banks: list[str]) -> list[tuple[str, str]]:
    """(enterprise, bank) in turn over the banks, the demo bank's turns ending after DEMO_BANK_MAX."""
    out, turn, mine = [], 0, 0
    for code in applicants:
        bank = banks[turn % len(banks)]
        if bank == banks[0] and mine >= DEMO_BANK_MAX and len(banks) > 1:
            turn += 1
            bank = banks[turn % len(banks)]
        mine += bank == banks[0]
        out.append((code, bank))
        turn += 1
    return out


def _request(as_of: date):  # noqa: ANN202 - a factory of GrantRequests
    def make(bank: str, max_uses: int | None = None) -> GrantRequest:
        return GrantRequest(bank, "贷前审查", "汇总查询", list(CATEGORIES), as_of + timedelta(days=VALID_DAYS),
                            max_uses, {})
    return make


def _grant(s: Session, catalog: Catalog, owner: Principal, req: GrantRequest) -> str:
    _, digest = authorizations.preview(s, catalog, owner, req)
    return authorizations.grant(s, catalog, owner, req, digest).number


def _too_wide(db: Database, catalog: Catalog, bank: str, authorized: set[str | None]) -> int:
    """One bank opens more enterprises' public profiles within the hour than the enumeration rule allows
    (when the province has that many) and asks for details it was never authorized to see more often than
    the refusal rule allows; the rules then raise their alerts, as the server's scan would a minute later."""
    policy = default_policy()
    rules = policy.rules
    actor = sharing.Actor(bank, DEMO_ACTOR)
    with db.session() as s:
        codes = list(s.execute(select(MarketEntity.code).order_by(MarketEntity.code)).scalars())
        enumeration = rules.get("enumeration")
        if enumeration and len(codes) > enumeration["threshold"]:
            for code in codes[:enumeration["threshold"] + 1]:
                sharing.profile(s, catalog, policy, actor, code)
        refusals = rules.get("refusals")
        others = [c for c in codes if c not in authorized] or codes
        for i in range(refusals["threshold"] + 1 if refusals else 0):
            code = others[i % len(others)]
            try:
                sharing.detail(s, catalog, policy, actor, code, "tax")
            except DomainError as exc:  # refused before anything was written, as intended
                sharing.log_refusal(s, actor, code, "detail", exc)
        return anomalies.scan(s, policy)
