"""What the market tells the white lists (registered in `lists.whitelists`, which knows no market): an
enterprise with an open financing need or an application in progress needs finance; one with an open or
non-performing default case is left off a good-credit list."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select, union

from xinyidai.lists import whitelists
from xinyidai.market import flows
from xinyidai.market.models import Application, DefaultCase, Demand


def financing_need(now: datetime) -> Select:
    return union(select(Demand.entity_code).where(Demand.state == flows.OPEN, Demand.expires_at > now),
                 select(Application.entity_code).where(Application.state.in_(flows.PRE_GRANT))).subquery() \
        .select()


def in_default(now: datetime) -> Select:
    return select(DefaultCase.entity_code).where(DefaultCase.state.in_((*flows.CASE_OPEN, flows.NPL))).distinct()


whitelists.NEED_SIGNALS["market.need"] = whitelists.Signal("market.need", "有在办融资申请或融资需求", financing_need)
whitelists.EXCLUDE_SIGNALS["market.default"] = whitelists.Signal("market.default", "逾期未结或不良贷款", in_default)
