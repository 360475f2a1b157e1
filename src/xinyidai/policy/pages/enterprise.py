"""The enterprise's 惠企政策 page: the running programmes of its region, each checked against what the platform
knows of it (✓/✗, those it meets first), with the terms and the conditions that depend on a loan in words;
then what it has received — per programme, its enrolled loans and the money claimed and paid — and the claims
on its loans (`claims.listing` shows an enterprise only its own)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.access.log import institution_names
from xinyidai.entities.regions import region_name
from xinyidai.kit.errors import NotFound
from xinyidai.kit.pagination import MAX_PAGE, PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.market.pages.common import page, query
from xinyidai.policy import arithmetic, claims, eligibility, flows
from xinyidai.policy.models import KINDS, Enrolment, Programme
from xinyidai.web.deps import db_session, require

router = APIRouter(include_in_schema=False)
ENTERPRISE = require("enterprise")
TONES = {flows.DRAFT: "end", flows.SUBMITTED: "wait", flows.REVIEWED: "wait", flows.APPROVED: "turn",
         flows.PAID: "good", flows.REJECTED: "bad", flows.WITHDRAWN: "end"}


def _claim_rows(s: Session, items: list[Any]) -> list[dict[str, Any]]:
    if not items:
        return []
    progs = {pr.id: pr for pr in s.execute(select(Programme).where(
        Programme.id.in_({c.programme_id for c in items}))).scalars()}
    loans = dict(s.execute(select(Enrolment.id, Enrolment.loan_no).where(
        Enrolment.id.in_({c.enrolment_id for c in items}))).all())
    insts = institution_names(s, {c.institution_code for c in items})
    rows = []
    for c in items:
        period = arithmetic.period_text(c.period_from_day, c.period_to_day) or ""
        rows.append({"c": c, "programme": progs[c.programme_id].name, "kind": KINDS[c.kind],
                     "loan_no": loans.get(c.enrolment_id, ""), "institution": insts.get(c.institution_code, ""),
                     "period": period, "state": flows.CLAIM.label(c.state), "tone": TONES.get(c.state, "end")})
    return rows


@router.get("/my/policies", response_class=HTMLResponse)
def my_policies(request: Request, page_no: int = Query(1, alias="page", ge=1, le=MAX_PAGE), sort: str | None = None,
                desc: bool = True, p: Principal = Depends(ENTERPRISE),
                s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        offers, received = eligibility.offers(s, p), eligibility.received(s, p)
        missing = None
    except NotFound as exc:  # not yet registered on the platform: nothing to check it against
        offers, received, missing = [], [], exc.message
    result = claims.listing(s, p, PageRequest(page_no, 20, sort, desc))
    offer_rows = [{"o": o, "region": region_name(o.programme.region_code) or o.programme.region_code}
                  for o in offers]
    return page(request, "policy/my_policies.html", offers=offer_rows, received=received, missing=missing,
                page=result, rows=_claim_rows(s, result.items), params=query(),
                qualifying=sum(1 for o in offers if o.qualifies))
