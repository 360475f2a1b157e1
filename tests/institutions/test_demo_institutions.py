"""The demo's institutions: valid codes fixed by their position (not by the run), and the demo bank account
belongs to the first of them as its administrator."""

from __future__ import annotations

from sqlalchemy import select

from tests.entities.helpers import OPERATOR
from xinyidai.accounts.models import User
from xinyidai.demo import build, generator
from xinyidai.entities.codes import MAX_DEMO_SERIAL, is_valid_uscc, make_uscc
from xinyidai.institutions import onboarding as institutions
from xinyidai.kit.db import Database


def test_demo_institutions_and_bank_account(db: Database) -> None:
    made = build._create_institutions(db)
    assert [m.name for m in made] == [name for name, _kind, _region in generator.DEMO_INSTITUTIONS]
    assert [m.code for m in made] == [make_uscc(region, MAX_DEMO_SERIAL - 1 - i)
                                      for i, (_n, _k, region) in enumerate(generator.DEMO_INSTITUTIONS)]
    assert all(is_valid_uscc(m.code) for m in made) and len({m.code for m in made}) == 3
    accounts = build._create_accounts(db, None, made[0].code)
    assert next(a for a in accounts if a.role == "bank").org_code == made[0].code
    with db.session() as s:
        found = institutions.search(s, OPERATOR).items
        assert [i.status for i in found] == ["active"] * 4  # the three lenders and the guarantor
        assert {i.code: i.kind for i in found}[build.guarantor_code()] == generator.DEMO_GUARANTOR[1] == "担保机构"
        guarantor = s.execute(select(User).where(User.username == "guarantor")).scalar_one()
        assert (guarantor.role, guarantor.org_code) == ("bank", build.guarantor_code())
        assert {u.username: u.org_code for u in s.execute(select(User).where(User.role == "policy")).scalars()} == \
            {"policy": "230100", "policy2": "230100"}
        user = s.execute(select(User).where(User.username == "bank")).scalar_one()
        assert user.org_admin and user.org_code == made[0].code
