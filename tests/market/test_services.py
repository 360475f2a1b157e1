"""The market's services on a real database: products through review, an application from the enterprise's
confirmed authorization to a disbursed loan, needs and quotes, repayment reports opening default cases,
post-loan alerts that stop when the authorization is revoked, the service-level clock — and each refusal."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.market.conftest import (
    BANK,
    BANK_A,
    BANK_B,
    ENTERPRISE,
    ENTERPRISE_B,
    ENTERPRISE_DQ,
    ENTITY,
    NODE,
    OPERATOR,
    OTHER_BANK,
    Market,
    publish,
    terms,
)
from xinyidai.access import authorizations
from xinyidai.access.models import Authorization
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.errors import DomainError
from xinyidai.kit.notify import FileNotifier
from xinyidai.market import alerts, applications, cases, demands, flows, loans, products
from xinyidai.market.applications import Actor
from xinyidai.market.models import Alert, Application, DefaultCase, Loan, ProductVersion
from xinyidai.records.canonical import canonical_json, fingerprint, record_key
from xinyidai.records.models import CreditRecord


def _refused(code: str, call, *args, **kwargs) -> DomainError:  # noqa: ANN001
    with pytest.raises(DomainError) as info:
        call(*args, **kwargs)
    assert info.value.code == code, (info.value.code, info.value.message)
    return info.value


def _apply(s, m: Market, amount: str = "500000", who=ENTERPRISE, product: str | None = None) -> Application:  # noqa: ANN001
    pv = applications.preview(s, m.catalog, who, product or m.product, amount, 12, "采购原材料")
    return applications.submit(s, m.catalog, who, product_number=product or m.product, amount=amount, term_months=12,
                               purpose="采购原材料", grant_digest=pv["grant_digest"], node_code=NODE)


def _bank(source: str = "api") -> Actor:
    return Actor.of(BANK, source)


def _to_grant(s, m: Market, app: Application, **grant) -> Application:  # noqa: ANN001
    applications.decide(s, m.catalog, _bank(), app.number, "accept")
    applications.decide(s, m.catalog, _bank(), app.number, "offer", {"amount": "400000", "rate": "4.2",
                                                                      "term_months": 12})
    applications.decide(s, m.catalog, Actor.of(ENTERPRISE, "page"), app.number, "accept_offer")
    body = {"amount": "400000", "guarantee_type": "信用", "loan_ref": "HRB-2026-0001", "first_loan": True,
            "matures_on": "2027-11-15", **grant}
    return applications.decide(s, m.catalog, _bank(), app.number, "grant", body, node_code=NODE)


# ── products ────────────────────────────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize(("over", "code"), [
    ({"amount_min": "5000000", "amount_max": "3000000"}, "PRODUCT_RANGE_INVERTED"),
    ({"term_min_months": 40, "term_max_months": 12}, "PRODUCT_RANGE_INVERTED"),
    ({"rate_min": "8", "rate_max": "5"}, "PRODUCT_RANGE_INVERTED"),
    ({"rate_max": "36"}, "PRODUCT_RANGE_INVALID"),
    ({"amount_min": "-5"}, "NEGATIVE_AMOUNT"),
    ({"amount_max": "12,3x"}, "AMOUNT_FORMAT"),
    ({"regions": ["239900"]}, "UNKNOWN_REGION"),
    ({"regions": ["230100", "230102"]}, "REGION_OVERLAP"),
    ({"industries": ["9Z"]}, "UNKNOWN_INDUSTRY"),
    ({"kind": "信用卡"}, "UNKNOWN_COLLATERAL"),
    ({"sectors": ["房地产"]}, "UNKNOWN_SECTOR"),
    ({"eligibility": {"min_grade": "AAA"}}, "BAD_GRADE"),
    ({"eligibility": {"max_age": 3}}, "BAD_ELIGIBILITY"),
    ({"auth_categories": ["nope"]}, "UNKNOWN_CATEGORY"),
    ({"auth_days": 400}, "BAD_VALIDITY"),
])
def test_bad_product_terms_are_refused_and_nothing_is_stored(market: Market, over, code) -> None:  # noqa: ANN001
    with market.db.session() as s:
        before = s.execute(select(func.count()).select_from(ProductVersion)).scalar_one()
        _refused(code, products.create, s, market.catalog, BANK, terms(**over), NODE)
        s.rollback()
        assert s.execute(select(func.count()).select_from(ProductVersion)).scalar_one() == before


def test_review_return_publish_suspend_and_a_new_version(market: Market) -> None:
    with market.db.session() as s:
        v = products.create(s, market.catalog, BANK, terms(name="订单贷"), NODE)
        number = s.get(products.Product, v.product_id).number
        _refused("ACTOR_NOT_ALLOWED", products.act, s, BANK, number, 1, "publish")  # a bank cannot publish its own
        products.act(s, BANK, number, 1, "submit")
        _refused("REASON_REQUIRED", products.act, s, OPERATOR, number, 1, "return")
        products.act(s, OPERATOR, number, 1, "return", "请补充适用行业")
        products.edit(s, market.catalog, BANK, number, 1, terms(name="订单贷", industries=["C"]))
        products.act(s, BANK, number, 1, "submit")
        _refused("PRODUCT_EDIT_LOCKED", products.edit, s, market.catalog, BANK, number, 1, terms())
        products.act(s, OPERATOR, number, 1, "publish")
        products.act(s, OPERATOR, number, 1, "suspend", "核查投诉")
        _refused("RESUME_NOT_ALLOWED", products.act, s, BANK, number, 1, "resume")
        _refused("PRODUCT_UNAVAILABLE", products.published_version, s, number)
        products.act(s, OPERATOR, number, 1, "resume")
        v2 = products.new_version(s, market.catalog, BANK, number, terms(name="订单贷", rate_min="3.2"))
        _refused("PRODUCT_VERSION_PENDING", products.new_version, s, market.catalog, BANK, number, terms())
        products.act(s, BANK, number, 2, "submit")
        products.act(s, OPERATOR, number, 2, "publish")
        assert s.get(ProductVersion, v.id).state == flows.SUPERSEDED
        assert products.published_version(s, number).id == v2.id
        # Another bank neither sees the draft-free history as its own nor may act on it.
        _refused("PRODUCT_NOT_FOUND", products.act, s, OTHER_BANK, number, 2, "suspend")


def test_fit_says_why_a_product_fits_or_not(market: Market) -> None:
    with market.db.session() as s:
        v = products.published_version(s, market.product)
        entity = s.get(products.MarketEntity, ENTITY)
        checks = {c.rule: c for c in products.fit(s, v, entity, amount_fen=500_000_000, term_months=12)}
        assert checks["region"].ok and "哈尔滨市" in checks["region"].text
        assert checks["min_years"].ok and "要求不少于 2 年" in checks["min_years"].text
        assert not checks["amount"].ok and "不在额度" in checks["amount"].text


# ── applications ────────────────────────────────────────────────────────────────────────────────────────

def test_an_application_from_authorization_to_disbursed_loan(market: Market) -> None:
    with market.db.session() as s:
        app = _apply(s, market)
        grant = s.execute(select(Authorization).where(Authorization.number == app.authorization_number)).scalar_one()
        assert (grant.purpose, grant.institution_code, grant.entity_code) == ("贷前审查", BANK_A, ENTITY)
        assert app.state == flows.SUBMITTED and app.due_at is not None and app.city_code == "230100"
        app = _to_grant(s, market, app)
        loan = s.get(Loan, app.loan_id)
        assert (app.state, loan.granted_fen, loan.is_credit, loan.first_loan, loan.first_on_platform) == (
            flows.GRANTED, 40_000_000, 1, 1, 1)
        _refused("DISBURSE_ABOVE_GRANT", applications.decide, s, market.catalog, _bank(), app.number, "disburse",
                 {"amount": "400000.01"})
        applications.decide(s, market.catalog, _bank(), app.number, "disburse", {"amount": "250000"})
        applications.decide(s, market.catalog, _bank(), app.number, "disburse", {"amount": "150000"})
        assert (s.get(Loan, app.loan_id).disbursed_fen, app.state) == (40_000_000, flows.DISBURSED)
        _refused("OUT_OF_ORDER", applications.decide, s, market.catalog, Actor.of(ENTERPRISE, "page"), app.number,
                 "withdraw")
        steps = [e.action for e in applications.timeline(s, app)]
        assert steps == ["submit", "accept", "offer", "accept_offer", "grant", "disburse", "disburse"]
        assert s.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action.like("market.application.%"))).scalar_one() == 7


def test_refusals_of_applications(market: Market) -> None:
    with market.db.session() as s:
        _refused("OUT_OF_REGION", _apply, s, market, who=ENTERPRISE_DQ)
        _refused("AMOUNT_OUT_OF_RANGE", _apply, s, market, amount="5000000")
        app = _apply(s, market)
        _refused("APPLICATION_EXISTS", _apply, s, market)
        # Another bank does not learn that the application exists.
        _refused("APPLICATION_NOT_FOUND", applications.decide, s, market.catalog, Actor.of(OTHER_BANK, "api"),
                 app.number, "accept")
        _refused("ACTOR_NOT_ALLOWED", applications.decide, s, market.catalog, Actor.of(ENTERPRISE, "page"),
                 app.number, "grant")
        _refused("OUT_OF_ORDER", applications.decide, s, market.catalog, _bank(), app.number, "disburse",
                 {"amount": "1"})
        _refused("REASON_REQUIRED", applications.decide, s, market.catalog, _bank(), app.number, "decline")
        _refused("REASON_NOTE_REQUIRED", applications.decide, s, market.catalog, _bank(), app.number, "decline",
                 {"reason_code": "D99"})
        applications.decide(s, market.catalog, Actor.of(ENTERPRISE, "page"), app.number, "withdraw",
                            {"reason_code": "W03"})
        _refused("ALREADY_FINAL", applications.decide, s, market.catalog, _bank(), app.number, "accept")
        # A suspended product takes no new application.
        products.act(s, OPERATOR, market.product, 1, "suspend", "暂停")
        _refused("PRODUCT_UNAVAILABLE", _apply, s, market, who=ENTERPRISE_B)


def test_a_request_id_answers_once_and_refuses_another_body(market: Market) -> None:
    with market.db.session() as s:
        app = _apply(s, market)
        first = applications.decide(s, market.catalog, _bank(), app.number, "accept", request_id="req-1")
        again = applications.decide(s, market.catalog, _bank(), app.number, "accept", request_id="req-1")
        assert first.id == again.id and len(applications.timeline(s, app)) == 2
        _refused("REQUEST_ID_REUSED", applications.decide, s, market.catalog, _bank(), app.number, "offer",
                 {"amount": "1000"}, request_id="req-1")
        _refused("ALREADY_DONE", applications.decide, s, market.catalog, _bank(), app.number, "accept")


def test_grant_checks_the_offer_and_the_loan_number(market: Market) -> None:
    with market.db.session() as s:
        app = _apply(s, market)
        _refused("GRANT_ABOVE_OFFER", _to_grant, s, market, app, amount="400001")
        app = s.get(Application, app.id)
        body = {"amount": "400000", "guarantee_type": "信用", "loan_ref": "HRB-2026-0001", "first_loan": False}
        applications.decide(s, market.catalog, _bank(), app.number, "grant", body, node_code=NODE)
        other = _apply(s, market, who=ENTERPRISE_B)
        _refused("LOAN_REF_TAKEN", _to_grant_as, s, market, other)


def _to_grant_as(s, m: Market, app: Application) -> None:  # noqa: ANN001
    applications.decide(s, m.catalog, _bank(), app.number, "accept")
    applications.decide(s, m.catalog, _bank(), app.number, "offer", {"amount": "400000", "rate": "4.2"})
    applications.decide(s, m.catalog, Actor.of(ENTERPRISE_B, "page"), app.number, "accept_offer")
    applications.decide(s, m.catalog, _bank(), app.number, "grant",
                        {"amount": "400000", "guarantee_type": "保证", "loan_ref": "HRB-2026-0001", "first_loan": True},
                        node_code=NODE)


def test_first_loan_declaration_is_cross_checked(market: Market) -> None:
    with market.db.session() as s:
        first = _to_grant(s, market, _apply(s, market))
        second_product = publish(s, market.catalog, terms(name="第二个产品"))
        app = _apply(s, market, product=second_product)
        applications.decide(s, market.catalog, _bank(), app.number, "accept")
        applications.decide(s, market.catalog, _bank(), app.number, "offer", {"amount": "200000", "rate": "5"})
        applications.decide(s, market.catalog, Actor.of(ENTERPRISE, "page"), app.number, "accept_offer")
        app = applications.decide(s, market.catalog, _bank(), app.number, "grant",
                                  {"amount": "200000", "guarantee_type": "抵押", "loan_ref": "HRB-2", "first_loan": True},
                                  node_code=NODE)
        loan = s.get(Loan, app.loan_id)
        assert (loan.first_declared, loan.first_on_platform, loan.is_credit) == (1, 0, 0)  # declared, contradicted
        assert [x.id for x in loans.earlier_loans(s, loan)] == [first.loan_id]


def test_the_service_clock_flags_breaches_and_expires(market: Market) -> None:
    with market.db.session() as s:
        app = _apply(s, market)
        due = app.due_at
    clock.set_clock(lambda: due + timedelta(minutes=1))
    with market.db.session() as s:
        assert applications.sla_scan(s, market.catalog) == {"breached": 1, "expired": 0}
        assert applications.sla_scan(s, market.catalog) == {"breached": 0, "expired": 0}  # flagged once
        app = s.execute(select(Application)).scalar_one()
        assert app.breaches == 1 and app.state == flows.SUBMITTED  # a breach never ends an application
        expire = app.expire_at
    clock.set_clock(lambda: expire + timedelta(minutes=1))
    with market.db.session() as s:
        assert applications.sla_scan(s, market.catalog)["expired"] == 1
        assert s.execute(select(Application.state)).scalar_one() == flows.EXPIRED


# ── needs and quotes ────────────────────────────────────────────────────────────────────────────────────

def test_a_need_quoted_and_picked_starts_an_accepted_application(market: Market) -> None:
    with market.db.session() as s:
        d = demands.publish(s, ENTERPRISE, amount="800000", term_months=24, purpose="扩大产能", kinds=["纯信用", "保证"],
                            expires_on=(clock.today() + timedelta(days=20)).isoformat(), node_code=NODE)
        _refused("QUOTE_PRODUCT_MISMATCH", demands.quote, s, BANK, d.number, product_number=market.product,
                 amount="800000", rate="9.9", term_months=24, valid_until=str(clock.today()), node_code=NODE)
        q = demands.quote(s, BANK, d.number, product_number=market.product, amount="800000", rate="4.5",
                          term_months=24, valid_until=str(clock.today() + timedelta(days=5)), node_code=NODE)
        assert demands.quotes(s, OTHER_BANK, d) == []  # a bank sees its own quotes only
        pv = demands.pick_preview(s, market.catalog, ENTERPRISE, d.number, q.number)
        app = demands.pick(s, market.catalog, ENTERPRISE, d.number, q.number, pv["grant_digest"], NODE)
        assert (app.state, app.amount_fen, s.get(type(d), d.id).state) == (flows.ACCEPTED, 80_000_000, flows.MATCHED)
        _refused("ALREADY_FINAL", demands.close, s, ENTERPRISE, d.number)


def test_needs_refuse_bad_input(market: Market) -> None:
    with market.db.session() as s:
        later = (clock.today() + timedelta(days=31)).isoformat()
        _refused("DEMAND_INVALID", demands.publish, s, ENTERPRISE, amount="1000", term_months=12, purpose="周转",
                 kinds=["纯信用"], expires_on=later, node_code=NODE)
        _refused("UNKNOWN_COLLATERAL", demands.publish, s, ENTERPRISE, amount="1000", term_months=12, purpose="周转",
                 kinds=["黄金"], expires_on=str(clock.today() + timedelta(days=3)), node_code=NODE)
        _refused("ROLE_FORBIDDEN", demands.publish, s, BANK, amount="1000", term_months=12, purpose="周转",
                 kinds=["纯信用"], expires_on=str(clock.today() + timedelta(days=3)), node_code=NODE)


# ── repayment and default response ──────────────────────────────────────────────────────────────────────

def _disbursed_loan(s, m: Market) -> Loan:  # noqa: ANN001
    app = _to_grant(s, m, _apply(s, m))
    applications.decide(s, m.catalog, _bank(), app.number, "disburse", {"amount": "400000"})
    return s.get(Loan, app.loan_id)


def _report(s, loan: Loan, day: date, dpd: int, overdue: int = 0) -> None:  # noqa: ANN001
    loans.report_status(s, loan, as_of=day, outstanding_fen=30_000_000, overdue_principal_fen=overdue,
                        overdue_interest_fen=0, interest_paid_fen=0, dpd=dpd, risk_class=None, source="api",
                        reported_by="teller-a")


def test_an_overdue_report_opens_a_case_that_escalates_and_turns_npl(market: Market, tmp_path) -> None:  # noqa: ANN001
    cases.NOTIFIER["node"] = FileNotifier(tmp_path / "notifications.log")
    try:
        with market.db.session() as s:
            loan = _disbursed_loan(s, market)
            today = clock.today()
            _refused("OVERDUE_INCONSISTENT", _report, s, loan, today, 5)
            _report(s, loan, today, 5, overdue=1_000_000)
            case = s.execute(select(DefaultCase)).scalar_one()
            assert case.state == flows.REMINDED and [e.action for e in cases.timeline(s, case)] == ["open", "remind"]
            assert [r.step for r in cases.reminders(s, case)] == ["d1"]  # no phone: the portal only
            _refused("THRESHOLD_NOT_REACHED", cases.act, s, OPERATOR, case.number, "escalate",
                     {"held_on": "2026-11-15", "attendees": "张三", "agreed": "两周内还款"})
    finally:
        cases.NOTIFIER.clear()
    clock.set_clock(lambda: datetime(2026, 12, 20, 2, tzinfo=clock.UTC))
    with market.db.session() as s:
        loan = s.execute(select(Loan)).scalar_one()
        _refused("DATE_OUT_OF_ORDER", _report, s, loan, date(2026, 11, 1), 40, 1)
        _report(s, loan, date(2026, 12, 20), 40, overdue=1_000_000)
        case = s.execute(select(DefaultCase)).scalar_one()
        assert case.state == flows.ESCALATED and case.escalated_at is not None
        assert sorted(r.step for r in cases.reminders(s, case)) == ["d1", "d15", "d7"]
        _report(s, loan, date(2026, 12, 20), 95, overdue=2_000_000)  # a correction of that date's report
        assert s.execute(select(DefaultCase.state)).scalar_one() == flows.NPL
        # Default data stays with the bank, the enterprise and staff: another bank sees no case.
        assert cases.search(s, OTHER_BANK, __import__("xinyidai.kit.pagination", fromlist=["PageRequest"])
                            .PageRequest()).total == 0


def test_a_clean_report_cures_an_open_case(market: Market) -> None:
    with market.db.session() as s:
        loan = _disbursed_loan(s, market)
        _report(s, loan, clock.today(), 3, overdue=100)
        _report(s, loan, clock.today(), 0)
        assert s.execute(select(DefaultCase.state)).scalar_one() == flows.CURED


# ── post-loan alerts ────────────────────────────────────────────────────────────────────────────────────

def _penalty(s, entity: str, n: int) -> CreditRecord:  # noqa: ANN001
    content = {"decision_no": f"哈市监罚〔2026〕{n}号", "penalty_type": "罚款", "reason": "虚假宣传", "decided_on": "2026-11-10"}
    body = canonical_json(content)
    r = CreditRecord(entity_code=entity, category="penalty", record_key=record_key(("decision_no",), content),
                     version=1, status="current", content=body, fingerprint=fingerprint(body),
                     period_start=date(2026, 11, 10), period_end=date(2026, 11, 10), provider="测试",
                     received_at=clock.now())
    s.add(r)
    s.flush()
    return r


def test_alerts_follow_the_post_loan_authorization_and_stop_when_revoked(market: Market) -> None:
    from xinyidai.kit.pagination import PageRequest

    with market.db.session() as s:
        app = _to_grant(s, market, _apply(s, market))
        _refused("NO_POST_LOAN_AUTHORIZATION", alerts.subscribe_as, s, BANK, ENTITY, None)
        alerts.scan(s)  # the first scan only places the cursor: history is not alerted
        loan = s.get(Loan, app.loan_id)
        req = applications.post_loan_request(s, market.catalog, app, loan)
        _, digest = authorizations.preview(s, market.catalog, ENTERPRISE, req)
        number = applications.confirm_post_loan(s, market.catalog, ENTERPRISE, app.number, digest)
        _penalty(s, ENTITY, 1)
        assert alerts.scan(s) == 1 and alerts.scan(s) == 0
        page = alerts.feed(s, BANK, PageRequest())
        assert [a.kind for a in page.items] == ["penalty"]
        assert alerts.feed(s, OTHER_BANK, PageRequest()).total == 0
        assert s.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "access.alert", AuditEvent.entity_code == ENTITY)).scalar_one() == 1
        authorizations.revoke(s, ENTERPRISE, number, "不再合作")
        assert alerts.feed(s, BANK, PageRequest()).total == 0  # served no more, though the alert was made
        _penalty(s, ENTITY, 2)
        assert alerts.scan(s) == 0 and s.execute(select(func.count()).select_from(Alert)).scalar_one() == 1


def test_other_banks_see_no_application_and_the_register_of_moves_is_chained(market: Market) -> None:
    from xinyidai.kit.pagination import PageRequest

    with market.db.session() as s:
        _apply(s, market)
        assert applications.search(s, OTHER_BANK, PageRequest()).total == 0
        assert applications.search(s, BANK, PageRequest()).total == 1
        assert applications.search(s, ENTERPRISE_B, PageRequest()).total == 0
        assert BANK_B != BANK_A
