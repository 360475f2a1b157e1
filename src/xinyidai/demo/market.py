"""The demo province's financing market, made through the market's own services as people would: the demo
banks' products (one waiting for the operator's review), a year of applications from well-graded
enterprises — accepted, offered, granted, disbursed, declined or rejected with their reasons — with monthly
repayment reports, two loans overdue (one escalated to the city office), a financing need with a quote, and
for the demo accounts something to act on at once: the `bank` account's queue holds new applications (one
past its deadline) and the `enterprise` account has an offer to answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from random import Random
from typing import Any

from sqlalchemy import select

from xinyidai.accounts.models import User
from xinyidai.catalog.schema import Catalog
from xinyidai.credit.models import Evaluation
from xinyidai.entities.models import MarketEntity
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import clock
from xinyidai.kit.db import Database
from xinyidai.kit.principal import Principal
from xinyidai.market import applications, demands, loans, products
from xinyidai.market.applications import Actor
from xinyidai.market.models import Application, Loan

OPERATOR = Principal(0, "demo", "演示数据", "operator", None)
PRODUCTS = (  # (name, kind, sectors, 万元 min–max, months min–max, % min–max, eligibility)
    ("龙江信用快贷", "纯信用", ["制造业", "科技"], (10, 300), (6, 36), ("3.45", "5.8"), {"min_grade": "B+", "min_years": 1}),
    ("科创知识产权贷", "知识产权质押", ["科技", "战略性新兴产业"], (50, 1000), (12, 36), ("3.2", "5.2"), {"min_years": 2}),
    ("惠农订单贷", "订单融资", ["三农"], (5, 200), (3, 12), ("3.8", "6.5"), {}),
    ("外贸应收账款贷", "应收账款融资", ["外贸"], (20, 800), (3, 24), ("3.6", "6.0"), {"no_serious_dishonesty": True}),
    ("绿色仓单贷", "仓单融资", ["生态环保"], (20, 500), (6, 24), ("3.9", "6.2"), {}),
    ("政银担保贷", "政府性融资担保", ["制造业", "三农"], (10, 500), (12, 36), ("3.5", "5.5"), {}),
)
MONTHS = 12


@dataclass
class MarketDemo:
    products: int
    applications: int
    loans: int
    granted_fen: int
    overdue: int


def _terms(i: int, spec: tuple) -> dict[str, Any]:
    name, kind, sectors, (amin, amax), (tmin, tmax), (rmin, rmax), elig = spec
    return {"name": name, "summary": f"{name}：面向黑龙江省中小微企业的{kind}类贷款产品。", "kind": kind, "sectors": sectors,
            "amount_min": amin * 10000, "amount_max": amax * 10000, "term_min_months": tmin, "term_max_months": tmax,
            "rate_min": rmin, "rate_max": rmax, "regions": ["230000"], "industries": [], "eligibility": elig,
            "auth_categories": ["tax", "social_insurance", "electricity"], "auth_mode": "汇总查询", "auth_days": 90}


def _products(db: Database, catalog: Catalog, banks: list[str], node_code: str) -> dict[str, list[str]]:
    """Two or three published products per bank, one more waiting for review at the demo bank."""
    out: dict[str, list[str]] = {}
    with db.session() as s:
        for i, spec in enumerate(PRODUCTS):
            bank = banks[i % len(banks)]
            p = Principal(0, "demo", "演示数据", "bank", bank)
            v = products.create(s, catalog, p, _terms(i, spec), node_code)
            number = s.get(products.Product, v.product_id).number
            products.act(s, p, number, 1, "submit")
            products.act(s, OPERATOR, number, 1, "publish")
            out.setdefault(bank, []).append(number)
        waiting = Principal(0, "demo", "演示数据", "bank", banks[0])
        v = products.create(s, catalog, waiting, _terms(0, ("小微流水贷", "纯信用", ["制造业"], (5, 100), (3, 12),
                                                            ("4.2", "7.5"), {"min_grade": "B"})), node_code)
        products.act(s, waiting, s.get(products.Product, v.product_id).number, 1, "submit")
    return out


def _apply(s: Any, catalog: Catalog, owner: Principal, number: str, amount: int, term: int,
           node_code: str) -> Application:
    pv = applications.preview(s, catalog, owner, number, amount, term, "补充流动资金")
    return applications.submit(s, catalog, owner, product_number=number, amount=amount, term_months=term,
                               purpose="补充流动资金", grant_digest=pv["grant_digest"], node_code=node_code)


def seed(db: Database, catalog: Catalog, as_of: date, node_code: str, seed: int = 20220516) -> MarketDemo:
    rnd = Random(seed)
    with db.session() as s:
        demo_bank = s.execute(select(User.org_code).where(User.username == "bank")).scalar_one_or_none()
        demo_enterprise = s.execute(select(User.org_code).where(User.username == "enterprise")).scalar_one_or_none()
        banks = list(s.execute(select(FinancialInstitution.code).where(FinancialInstitution.status == "active",
                                                                      FinancialInstitution.kind != "担保机构")
                               .order_by(FinancialInstitution.created_at, FinancialInstitution.code)).scalars())
        if demo_bank in banks:  # the demo bank first: its account sees its products and queue
            banks.remove(demo_bank)
            banks.insert(0, demo_bank)
        good = s.execute(select(Evaluation.entity_code, MarketEntity.name).distinct()
                         .join(MarketEntity, MarketEntity.code == Evaluation.entity_code)
                         .where(Evaluation.method == "public", Evaluation.grade.in_(("A+", "A", "B+")),
                                MarketEntity.registered_on <= as_of - timedelta(days=800))
                         .order_by(Evaluation.entity_code)).all()
    if not banks or not good:
        return MarketDemo(0, 0, 0, 0, 0)
    by_bank = _products(db, catalog, banks, node_code)
    numbers = [(bank, n) for bank, ns in by_bank.items() for n in ns]
    wanted = [g for g in good if g[0] != demo_enterprise][: max(12, min(len(good) // 20, 400))]
    made = granted = 0
    overdue = 0
    for i, (code, name) in enumerate(wanted):
        bank, number = numbers[i % len(numbers)]
        owner = Principal(0, f"demo-{code[-6:]}", name, "enterprise", code)
        teller = Actor(Principal(0, "demo", "演示数据", "bank", bank).username, applications.ActorKind.BANK, bank, "system",
                       Principal(0, "demo", "演示数据", "bank", bank))
        month = i % MONTHS
        day = as_of - timedelta(days=30 * (MONTHS - month) + rnd.randrange(0, 20))
        start = datetime.combine(day, time(9, rnd.randrange(0, 50)), tzinfo=clock.CHINA_TZ)
        amount = rnd.choice((30, 50, 80, 100, 150, 200)) * 10000
        fate = i % 10 if i >= 6 else 9
        with clock.frozen_at(start), db.session() as s:
            try:
                app = _apply(s, catalog, owner, number, amount, 12, node_code)
            except Exception:  # the product does not fit this enterprise: it would not have applied
                s.rollback()
                continue
            made += 1
            number_ = app.number
        steps: list[tuple[int, str, dict[str, Any]]] = []
        if fate == 0:
            steps = [(1, "decline", {"reason_code": rnd.choice(("D01", "D02", "D04"))})]
        elif fate == 1:
            steps = [(1, "accept", {}), (4, "reject", {"reason_code": rnd.choice(("R01", "R04", "R05", "R06"))})]
        else:
            rate = rnd.choice(("3.85", "4.20", "4.65", "5.10"))
            steps = [(1, "accept", {}), (3, "offer", {"amount": amount, "rate": rate, "term_months": 12}),
                     (4, "accept_offer", {}),
                     (6, "grant", {"amount": amount, "guarantee_type": "信用" if fate % 3 else "保证",
                                   "loan_ref": f"DEMO-{bank[-6:]}-{i:05d}", "first_loan": fate in (2, 5, 8),
                                   "matures_on": (day + timedelta(days=380)).isoformat()}),
                     (8, "disburse", {"amount": amount})]
        for offset, action, body in steps:
            who = Actor(owner.username, applications.ActorKind.ENTERPRISE, code, "system", owner) \
                if action == "accept_offer" else teller
            with clock.frozen_at(start + timedelta(days=offset)), db.session() as s:
                applications.decide(s, catalog, who, number_, action, body, node_code=node_code)
        if fate >= 2:
            granted += 1
            late = (42 if overdue == 0 else 12) if fate == 7 and overdue < 2 else 0
            overdue += _repayments(db, number_, start + timedelta(days=8), as_of, late_dpd=late)
    _for_the_demo_accounts(db, catalog, demo_bank, demo_enterprise, numbers, node_code, as_of)
    with db.session() as s:
        total = sum(s.execute(select(Loan.granted_fen)).scalars())
        n_loans = len(s.execute(select(Loan.id)).all())
    return MarketDemo(len(numbers) + 1, made, n_loans, total, overdue)


def _repayments(db: Database, number: str, first: datetime, as_of: date, *, late_dpd: int) -> int:
    """Monthly status reports from the first drawdown to `as_of`; a late loan's last one `late_dpd` overdue
    (the one before it overdue too, when the last is past a month)."""
    with db.session() as s:
        loan = s.get(Loan, s.execute(select(Application.loan_id).where(Application.number == number)).scalar_one())
        loan_id, granted = loan.id, loan.granted_fen
    day = first.astimezone(clock.CHINA_TZ).date() + timedelta(days=30)
    reports = []
    while day <= as_of:
        reports.append(day)
        day += timedelta(days=30)
    for k, when in enumerate(reports):
        dpd = 0
        if late_dpd and k == len(reports) - 1:
            dpd = late_dpd
        elif late_dpd > 30 and k == len(reports) - 2:
            dpd = late_dpd - 30
        with clock.frozen_at(datetime.combine(when, time(10), tzinfo=clock.CHINA_TZ)), db.session() as s:
            loan = s.get(Loan, loan_id)
            outstanding = max(granted - granted * (k + 1) // 12, 0)
            loans.report_status(s, loan, as_of=when, outstanding_fen=outstanding,
                                overdue_principal_fen=granted // 12 if dpd else 0, overdue_interest_fen=0,
                                interest_paid_fen=granted * 4 // 1200, dpd=dpd, risk_class="关注" if dpd else "正常",
                                source="demo", reported_by="demo")
    return int(bool(late_dpd) and len(reports) >= 2)


def _for_the_demo_accounts(db: Database, catalog: Catalog, demo_bank: str | None, demo_enterprise: str | None,
                           numbers: list[tuple[str, str]], node_code: str, as_of: date) -> None:
    """What the `bank` and `enterprise` accounts find waiting when they first log in."""
    own = [n for b, n in numbers if b == demo_bank]
    with db.session() as s:
        fresh = s.execute(select(Evaluation.entity_code, MarketEntity.name).distinct()
                          .join(MarketEntity, MarketEntity.code == Evaluation.entity_code)
                          .where(Evaluation.method == "public", Evaluation.grade.in_(("A", "B+", "B")),
                                 MarketEntity.registered_on <= as_of - timedelta(days=800))
                          .order_by(Evaluation.entity_code.desc()).limit(8)).all()
    if own:
        late = datetime.combine(as_of - timedelta(days=9), time(10), tzinfo=clock.CHINA_TZ)
        for k, (code, name) in enumerate(fresh[:3]):
            owner = Principal(0, f"demo-{code[-6:]}", name, "enterprise", code)
            with clock.frozen_at(late if k == 0 else clock.now() - timedelta(hours=k)), db.session() as s:
                try:
                    _apply(s, catalog, owner, own[0], 500000, 12, node_code)
                except Exception:  # noqa: BLE001 - a product that does not fit: the queue is shorter
                    s.rollback()
    if demo_enterprise and numbers:
        owner = Principal(0, "enterprise", "演示企业", "enterprise", demo_enterprise)
        bank, number = numbers[0]
        with db.session() as s:
            try:
                app = _apply(s, catalog, owner, number, 800000, 12, node_code)
            except Exception:  # noqa: BLE001
                s.rollback()
                app = None
            if app is not None:
                teller = Actor("demo", applications.ActorKind.BANK, bank, "system",
                               Principal(0, "demo", "演示数据", "bank", bank))
                applications.decide(s, catalog, teller, app.number, "accept")
                applications.decide(s, catalog, teller, app.number, "offer",
                                    {"amount": 600000, "rate": "4.15", "term_months": 12,
                                     "valid_until": (as_of + timedelta(days=10)).isoformat()})
        with db.session() as s:
            d = demands.publish(s, owner, amount=1500000, term_months=24, purpose="购置生产设备", kinds=["纯信用", "保证"],
                                expires_on=(as_of + timedelta(days=20)).isoformat(), node_code=node_code)
            for quoting_bank, other in numbers:
                v = products.published_version(s, other)
                if v.kind in d.kinds and v.amount_min_fen <= 150_000_000 <= v.amount_max_fen \
                        and v.term_min_months <= 24 <= v.term_max_months:
                    demands.quote(s, Principal(0, "demo", "演示数据", "bank", quoting_bank), d.number,
                                  product_number=other, amount=1500000, rate=v.rate_max_bp / 100, term_months=24,
                                  valid_until=(as_of + timedelta(days=10)).isoformat(), node_code=node_code)
                    break
