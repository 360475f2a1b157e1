"""Hand-made evaluations, feature snapshots, entities and authorizations for the white-list tests."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from xinyidai.access.models import Authorization
from xinyidai.credit.models import Evaluation, FeatureSnapshot
from xinyidai.entities.codes import make_uscc
from xinyidai.entities.models import MarketEntity
from xinyidai.kit import clock
from xinyidai.kit.principal import Principal
from xinyidai.lists import whitelists as wls
from xinyidai.lists.models import WhiteListRuleSet

OPERATOR = Principal(1, "op", "测试运营", "operator", None)
TODAY = date(2026, 11, 15)  # the fixed clock's Beijing date
BANK = make_uscc("230103", 900_001)
BANK2 = make_uscc("230103", 900_002)
CLEAN = {"dishonest_listed": 0, "enforcement_open": 0, "status_abnormal": 0, "serious_penalties_3y": 0}


def code(n: int) -> str:
    return make_uscc("230103", 5000 + n)


def add_entity(s: Session, n: int, name: str, industry: str | None = "1310", region: str = "230103") -> str:
    c = code(n)
    s.add(MarketEntity(code=c, name=name, kind="企业", region_code=region, industry_code=industry, status="存续",
                       updated_at=clock.now()))
    return c


def evaluate(s: Session, c: str, grade: str, score: float, as_of: date = TODAY, status: str = "ok",
             features: dict | None = None, run: int = 1) -> None:
    s.add(Evaluation(run_id=run, entity_code=c, as_of=as_of, method="public", model_ref="ind-2026.1",
                     status=status, score=score, grade=grade, computed_at=clock.now()))
    if features is not None and s.get(FeatureSnapshot, (c, as_of)) is None:
        s.add(FeatureSnapshot(entity_code=c, as_of=as_of, feature_set="fs-2026.1", data=json.dumps(features),
                              records=10, computed_at=clock.now()))


_auth_seq = iter(range(1, 1_000_000))


def authorize(s: Session, c: str, institution: str = BANK, *, status: str = "active",
              until: datetime | None = None) -> Authorization:
    a = Authorization(number=f"SQ{next(_auth_seq):012d}", entity_code=c, institution_code=institution,
                      purpose="贷前审查", mode="汇总信息", valid_from=clock.now() - timedelta(days=10),
                      valid_until=until or clock.now() + timedelta(days=80), status=status,
                      origin="enterprise", text="授权书", text_digest="0" * 64, confirmed_by="ent",
                      confirmed_at=clock.now())
    s.add(a)
    return a


def good(s: Session, n: int, name: str, **kw) -> str:  # noqa: ANN003
    """An entity that passes every default rule."""
    c = add_entity(s, n, name, **kw)
    evaluate(s, c, "A", 812.0, features=CLEAN)
    authorize(s, c)
    return c


def rules(s: Session, **changes) -> WhiteListRuleSet:  # noqa: ANN003
    """The default rules, changed as asked, saved as the next version."""
    doc = {**wls.parse_rules(wls.default_rules_text()).document(), **changes}
    return wls.save_rule_set(s, doc, OPERATOR)
