"""The market beyond one node and one domain: products and loans travel up as their own envelope kinds and
are counted once at each level; loan outcomes feed the scorecards; the white lists hear of financing needs
and default cases."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import PG_URL
from tests.market.conftest import ENTERPRISE, ENTITY, NODE, Market
from tests.market.test_services import _disbursed_loan, _report
from xinyidai.credit.models import LoanOutcome
from xinyidai.credit.scorecards import import_outcomes
from xinyidai.kit import clock
from xinyidai.kit.crypto.suite import Identity, get_suite
from xinyidai.kit.db import Database
from xinyidai.lists import whitelists
from xinyidai.market import demands, envelopes, loans, signals
from xinyidai.market.models import Loan, Product, ProductVersion
from xinyidai.network import inbox
from xinyidai.network.exchange import ExchangeRefused
from xinyidai.network.models import OutboxEnvelope, Peer
from xinyidai.network.relay import NodeContext


def _identity() -> Identity:
    return get_suite("sm").generate_identity()


def _peer(code: str, relation: str, ident: Identity) -> Peer:
    return Peer(code=code, name=code, role="provincial", relation=relation, suite="sm",
                public_key=dict(ident.public_bundle()), key_id=ident.key_id, status="active", assessment={},
                applied_at=clock.now(), mode="push")


@pytest.fixture
def upper_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if PG_URL:
        pytest.skip("two databases side by side: SQLite only")
    target = tmp_path / "province.db"
    shutil.copy(request.getfixturevalue("_sqlite_template"), target)
    database = Database(f"sqlite:///{target}")
    yield database
    database.dispose()


def _wires(db: Database, kind: str) -> list[bytes]:
    with db.session() as s:
        return list(s.execute(select(OutboxEnvelope.wire).where(OutboxEnvelope.kind == kind)
                              .order_by(OutboxEnvelope.created_at)).scalars())


def test_products_and_loans_travel_up_once_and_default_data_stays(market: Market, upper_db: Database) -> None:
    city, province = _identity(), _identity()
    c_ctx, p_ctx = NodeContext(NODE, "municipal", city), NodeContext("CN-230000", "provincial", province)
    with market.db.session() as s:
        s.add(_peer("CN-230000", "parent", province))
        loan = _disbursed_loan(s, market)
        _report(s, loan, clock.today(), 10, overdue=100)  # an overdue loan: its default data must not travel
        assert envelopes.collect(s, c_ctx) == {"products": 1, "loans": 1}
        assert envelopes.collect(s, c_ctx) == {"products": 0, "loans": 0}  # sent once
        loan_no = loan.loan_no
    with upper_db.session() as s:
        s.add(_peer(NODE, "child", city))
    for kind in ("products", "loans"):
        (wire,) = _wires(market.db, kind)
        with upper_db.session() as s:
            receipt = inbox.receive(s, p_ctx, wire)
            assert receipt["receipt"]["result"]["stored"] == 1
        with upper_db.session() as s:  # the same envelope again is a duplicate; nothing is stored twice
            assert inbox.receive(s, p_ctx, wire).get("duplicate")
    with upper_db.session() as s:
        got = s.execute(select(Loan)).scalar_one()
        assert (got.loan_no, got.granted_fen, got.disbursed_fen, got.dpd, got.risk_class) == (
            loan_no, 40_000_000, 40_000_000, 0, None)
        assert s.execute(select(ProductVersion.state)).scalar_one() == "PUBLISHED"
        assert got.dirty == 1  # the province passes it on to the national platform
    with market.db.session() as s:  # a later drawdown or closure is a new revision, which replaces the old
        app = s.execute(select(Loan)).scalar_one()
        loans.close(s, app)
        envelopes.collect(s, c_ctx)
    wire = _wires(market.db, "loans")[-1]
    with upper_db.session() as s:
        assert inbox.receive(s, p_ctx, wire)["receipt"]["result"]["updated"] == 1
        assert s.execute(select(Loan.status)).scalar_one() == "CLOSED"
        older = envelopes.loan_doc(s.execute(select(Loan)).scalar_one()) | {"revision": 1, "status": "GRANTED"}
        assert envelopes.apply_loans(s, p_ctx, NODE, {"loans": [older]})["unchanged"] == 1  # never back
        twin = older | {"loan_no": "DK-CN-230200-20261115-OTHER", "revision": 1}
        assert envelopes.apply_loans(s, p_ctx, NODE, {"loans": [twin]})["conflicts"] == [twin["loan_no"]]
        assert s.execute(select(func.count()).select_from(Loan)).scalar_one() == 1
        for sender, payload, code in (("CN-999999", {"loans": []}, "NOT_A_CHILD"),
                                      (NODE, {"loans": [older | {"granted_fen": -1}]}, "PAYLOAD_INVALID"),
                                      (NODE, {"nope": 1}, "PAYLOAD_INVALID")):
            with pytest.raises(ExchangeRefused) as exc:
                envelopes.apply_loans(s, p_ctx, sender, payload)
            assert exc.value.code == code


def test_a_product_version_conflict_is_refused(market: Market) -> None:
    ctx = NodeContext("CN-230000", "provincial", _identity())
    with market.db.session() as s:
        s.add(_peer("CN-230100", "child", _identity()))
        v, product = s.execute(select(ProductVersion, Product).join(Product)).one()
        doc = envelopes.product_doc(v, product) | {"number": "CP-CN-230100-20261115-AAAA"}
        assert envelopes.apply_products(s, ctx, "CN-230100", {"products": [doc]})["stored"] == 1
        assert envelopes.apply_products(s, ctx, "CN-230100", {"products": [doc]})["unchanged"] == 1
        with pytest.raises(ExchangeRefused) as exc:
            envelopes.apply_products(s, ctx, "CN-230100", {"products": [doc | {"digest": "0" * 64}]})
        assert exc.value.code == "PRODUCT_CONFLICT"


def test_repayment_reports_label_outcomes_that_a_file_does_not_overrule(market: Market) -> None:
    with market.db.session() as s:
        loan = _disbursed_loan(s, market)
        key = (loan.institution_code, loan.loan_ref)
    later = clock.now() + timedelta(days=120)
    clock.set_clock(lambda: later)
    with market.db.session() as s:
        loan = s.execute(select(Loan)).scalar_one()
        _report(s, loan, clock.today(), 95, overdue=5_000_000)
        assert loans.sync_outcomes(s) == {"new": 1, "updated": 0, "unchanged": 0}
        assert loans.sync_outcomes(s) == {"new": 0, "updated": 0, "unchanged": 1}
        out = s.execute(select(LoanOutcome)).scalar_one()
        assert (out.institution_code, out.loan_ref, out.defaulted, out.source) == (*key, True, "market")
        csv = ("机构代码,贷款编号,统一社会信用代码,申请日期,观察日期,是否违约\n"
               f"{key[0]},{key[1]},{ENTITY},2026-11-15,2027-11-15,否\n").encode()
        assert import_outcomes(s, csv, "op")["unchanged"] == 1
        assert s.execute(select(LoanOutcome.defaulted)).scalar_one() is True


def test_white_lists_hear_of_needs_and_defaults(market: Market) -> None:
    assert "market.need" in whitelists.NEED_SIGNALS and signals.in_default  # registered at import
    with market.db.session() as s:
        now = clock.now()
        demands.publish(s, ENTERPRISE, amount="500000", term_months=12, purpose="周转", kinds=["纯信用"],
                        expires_on=str(clock.today() + timedelta(days=10)), node_code=NODE)
        assert set(s.execute(signals.financing_need(now)).scalars()) == {ENTITY}
        loan = _disbursed_loan(s, market)
        _report(s, loan, clock.today(), 7, overdue=1000)
        assert set(s.execute(signals.in_default(now)).scalars()) == {ENTITY}
