"""The demo's policy money, made through the services: Harbin's three running programmes, enrolled loans of the
banks, claims in every state with a batch and a paid compensation, the guarantor's contract, and the
`enterprise` account's loan DEMO-POLICY-0001 with the demo bank — drawn 120 days before and enrolled nowhere."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from xinyidai.accounts.models import User
from xinyidai.catalog.schema import Catalog
from xinyidai.demo import build_demo
from xinyidai.demo import credit as credit_demo
from xinyidai.demo import market as market_demo
from xinyidai.demo import policy as policy_demo
from xinyidai.kit import clock
from xinyidai.kit.db import Database
from xinyidai.kit.principal import Principal
from xinyidai.market.models import Loan
from xinyidai.policy import figures, flows, ledger
from xinyidai.policy.models import Claim, Enrolment, GuaranteeContract, Programme


def test_the_demo_gives_every_policy_page_something_to_show(db: Database, catalog: Catalog, tmp_path: Path) -> None:
    build_demo(db, catalog, entities=400, defects_dir=tmp_path / "files")
    today = clock.today()
    credit_demo.seed(db, catalog, today, "CN-230000", tmp_path / "samples")
    market_demo.seed(db, catalog, today, "CN-230000")
    before = clock.now()
    made = policy_demo.seed(db, catalog, today, "CN-230000", tmp_path / "var")
    assert clock.now() == before  # the history moved the clock and gave it back
    with db.session() as s:
        progs = {p.kind: p for p in s.execute(select(Programme)).scalars()}
        assert set(progs) == {"interest", "pool", "guarantee"} and set(made.programmes) == set(progs)
        assert {p.region_code for p in progs.values()} == {"230100"} and {p.state for p in progs.values()} == {"ACTIVE"}
        assert {p.created_by for p in progs.values()} == {"policy"}
        pool = progs["pool"]
        assert ledger.totals(s, pool.id).contributed_fen > pool.budget_fen  # the bank's contribution
        assert made.enrolled >= 3
        states = dict(s.execute(select(Claim.state, func.count()).group_by(Claim.state)).all())
        for state in (flows.SUBMITTED, flows.REVIEWED, flows.APPROVED, flows.PAID, flows.REJECTED):
            assert states.get(state, 0) >= 1, (state, states)
        assert made.batch and s.execute(select(func.count()).select_from(Claim).where(Claim.batch == made.batch)).scalar_one()
        comp = s.execute(select(Claim).where(Claim.kind == "pool")).scalar_one()
        assert comp.state == flows.PAID and comp.returned_fen > 0 and comp.approved_by == "policy2"
        contract = s.execute(select(GuaranteeContract)).scalar_one()
        assert made.contract == contract.number
        assert s.execute(select(Claim.state).where(Claim.kind == "guarantee")).scalar_one() == flows.SUBMITTED
        assert not ledger.unbalanced_transactions(s)
        # The enterprise account's loan: the demo bank's, drawn 120 days ago, in no programme.
        enterprise, bank = (s.execute(select(User.org_code).where(User.username == u)).scalar_one()
                            for u in ("enterprise", "bank"))
        loan = s.execute(select(Loan).where(Loan.loan_ref == policy_demo.LOAN_REF)).scalar_one()
        assert (loan.entity_code, loan.institution_code, loan.status) == (enterprise, bank, "DISBURSED")
        assert loan.granted_on == loan.first_disbursed_on == today - timedelta(days=120)
        assert (loan.granted_on, loan.matures_on) == policy_demo.loan_dates(today)
        assert loan.disbursed_fen == loan.granted_fen and made.enterprise_loan == loan.loan_no
        assert s.execute(select(func.count()).select_from(Enrolment).where(Enrolment.loan_id == loan.id)).scalar_one() == 0
        # The figures page has numbers in every card.
        f = figures.compute(s, Principal(0, "policy", "周经办", "policy", "230100"))
        assert f.totals.paid_fen > 0 and f.totals.pending_fen > 0 and f.totals.loss_ratio and f.by_bank
