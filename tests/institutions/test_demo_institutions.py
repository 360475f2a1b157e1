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
        assert [i.status for i in institutions.search(s, OPERATOR).items] == ["active"] * 3
        user = s.execute(select(User).where(User.username == "bank")).scalar_one()
        assert user.org_admin and user.org_code == made[0].code
