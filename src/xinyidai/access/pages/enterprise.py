"""Enterprise portal: the authorizations it gave (grant with preview → confirm, revoke) and "who looked at my
data". Granting is two steps on purpose: the enterprise confirms the exact text it was shown, and the confirm
form carries that text's digest, which the service checks against the text it rebuilds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyidai.access import authorizations, log
from xinyidai.access.authorizations import MAX_DAYS, GrantRequest
from xinyidai.access.models import AUTH_STATUSES, MODES, PURPOSES
from xinyidai.access.pages.common import authorization_row, for_page
from xinyidai.accounts.people import name_of
from xinyidai.institutions import processors
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.errors import DomainError, InvalidInput
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.params import PageNo, PageSize
from xinyidai.web.templating import no_store, render

router = APIRouter(include_in_schema=False)
DONE = {"granted": "授权已生效。被授权机构的每一次查询都会记录在“谁查看了我的数据”中。",
        "revoked": "授权已撤销，立即生效：该机构此后的任何请求都不能再依据本授权查询或核验。"}
# Notices about the enterprise's data from domains above this one (security incidents, …), shown on "who looked
# at my data": each provider appends itself at import and returns dicts with title, what, when, done, state.
# A provider must return only items that name `p.org_code`.
NOTICES: list[Callable[[Session, Principal], list[dict[str, Any]]]] = []
# One sentence for what revoking does, on the letter's page and in the confirmation (the letter's own text,
# authorizations.authorization_text, says the same).
REVOKE_EFFECT = "撤销立即生效：该机构此后的任何请求都不能再依据本授权查询或核验；已发生的查询记录仍保留。"


@dataclass
class GrantForm:
    """What the grant form posts, kept as text so a refused form is shown again exactly as typed."""

    institution_code: str = ""
    purpose: str = "贷前审查"
    mode: str = "汇总查询"
    categories: list[str] = field(default_factory=list)
    valid_until: str = ""
    max_uses: str = ""

    def to_request(self) -> GrantRequest:
        try:
            until = date.fromisoformat(self.valid_until.strip())
        except ValueError:
            raise InvalidInput("请填写有效期截止日期（YYYY-MM-DD）", code="BAD_VALIDITY") from None
        uses = self.max_uses.strip()
        if uses and not uses.isdigit():
            raise InvalidInput("使用次数上限须为 1 到 100000 之间的整数", code="BAD_MAX_USES")
        return GrantRequest(self.institution_code, self.purpose, self.mode, list(self.categories), until,
                            int(uses) if uses else None)


def grant_form(institution_code: str = Form(""), purpose: str = Form(""), mode: str = Form(""),
               categories: list[str] = Form([]), valid_until: str = Form(""), max_uses: str = Form("")) -> GrantForm:
    return GrantForm(institution_code.strip().upper(), purpose, mode, categories, valid_until, max_uses)


def _today() -> date:
    return clock.now().astimezone(clock.CHINA_TZ).date()


def _institutions(s: Session) -> list[FinancialInstitution]:
    return list(s.execute(select(FinancialInstitution).where(FinancialInstitution.status == "active")
                          .order_by(FinancialInstitution.name)).scalars())


def _form_page(request: Request, s: Session, form: GrantForm, error: DomainError | None = None) -> Response:
    today = _today()
    return no_store(render(request, "access/grant_new.html", status_code=error.status if error else 200, form=form,
                           institutions=_institutions(s), purposes=PURPOSES, modes=MODES,
                           error=for_page(error) if error else None,
                           today=today.isoformat(), max_day=(today + timedelta(days=MAX_DAYS)).isoformat()))


@router.get("/my/authorizations", response_class=HTMLResponse)
def my_authorizations(request: Request, status: str = "", page: PageNo = 1, size: PageSize = 20,
                      sort: str | None = None, desc: bool = True, done: str = "",
                      p: Principal = Depends(require("enterprise")),
                      s: Session = Depends(db_session, scope="function")) -> Response:
    result = authorizations.list_visible(s, p, PageRequest(page, size, sort, desc), status=status or None)
    names = log.institution_names(s, {a.institution_code for a in result.items})
    rows = [authorization_row(a, node(request).catalog, names) for a in result.items]
    return no_store(render(request, "access/my_authorizations.html", page=result, rows=rows, status=status,
                           statuses=AUTH_STATUSES, done=DONE.get(done)))


@router.get("/my/authorizations/new", response_class=HTMLResponse)
def new_authorization(request: Request, institution: str = "", p: Principal = Depends(require("enterprise")),
                      s: Session = Depends(db_session, scope="function")) -> Response:
    until = (_today() + timedelta(days=90)).isoformat()
    return _form_page(request, s, GrantForm(institution_code=institution.strip().upper(), valid_until=until))


@router.post("/my/authorizations/new", response_class=HTMLResponse)
def edit_authorization(request: Request, form: GrantForm = Depends(grant_form),
                       p: Principal = Depends(require("enterprise")),
                       s: Session = Depends(db_session, scope="function")) -> Response:
    """'返回修改' on the preview page: the form again, filled in as it was."""
    return _form_page(request, s, form)


@router.post("/my/authorizations/preview", response_class=HTMLResponse)
def preview_authorization(request: Request, form: GrantForm = Depends(grant_form),
                          p: Principal = Depends(require("enterprise")),
                          s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        text, digest = authorizations.preview(s, node(request).catalog, p, form.to_request())
    except DomainError as exc:
        return _form_page(request, s, form, exc)
    return no_store(render(request, "access/grant_preview.html", form=form, text=text, digest=digest))


@router.post("/my/authorizations", response_class=HTMLResponse)
def confirm_authorization(request: Request, form: GrantForm = Depends(grant_form), text_digest: str = Form(""),
                          p: Principal = Depends(require("enterprise")),
                          s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        a = authorizations.grant(s, node(request).catalog, p, form.to_request(), text_digest)
    except DomainError as exc:
        s.rollback()
        return _form_page(request, s, form, exc)
    return RedirectResponse(f"/my/authorizations/{a.number}?done=granted", status_code=303)


@router.get("/my/authorizations/{number}", response_class=HTMLResponse)
def authorization_page(number: str, request: Request, done: str = "", p: Principal = Depends(require("enterprise")),
                       s: Session = Depends(db_session, scope="function")) -> Response:
    a = authorizations.get_own(s, p, number)
    return _authorization_page(request, s, a, done=DONE.get(done))


def _authorization_page(request: Request, s: Session, a: Any, *, done: str | None = None,
                        error: DomainError | None = None, reason: str = "") -> Response:
    row = authorization_row(a, node(request).catalog, log.institution_names(s, {a.institution_code}))
    return no_store(render(request, "access/authorization.html", status_code=error.status if error else 200,
                           a=row, done=done, error=error, reason=reason, revoke_effect=REVOKE_EFFECT,
                           confirmed_by=name_of(s, a.confirmed_by), revoked_by=name_of(s, a.revoked_by),
                           processors=processors.live(s, a.institution_code)))


@router.post("/my/authorizations/{number}/revoke")
def revoke_authorization(request: Request, number: str, reason: str = Form(""), confirm: str = Form(""),
                         p: Principal = Depends(require("enterprise")),
                         s: Session = Depends(db_session, scope="function")) -> Response:
    """Revoking cannot be undone, so the form carries a confirmation box; without it the page comes back
    with the reason kept and nothing changed (the browser already insists, this is for one that does not)."""
    if confirm != "yes":
        a = authorizations.get_own(s, p, number)
        return _authorization_page(request, s, a, reason=reason, error=InvalidInput(
            "请勾选“我已知悉”确认撤销；授权未撤销。", code="REVOKE_NOT_CONFIRMED"))
    a = authorizations.revoke(s, p, number, reason)
    return RedirectResponse(f"/my/authorizations/{a.number}?done=revoked", status_code=303)


def _per_institution(s: Session, entity: str) -> list[dict[str, Any]]:
    """Accesses (served and refused) per institution, for the small chart above the log."""
    rows = s.execute(select(AuditEvent.institution_code, AuditEvent.action, func.count())
                     .where(AuditEvent.entity_code == entity, AuditEvent.institution_code.is_not(None),
                            AuditEvent.action.like("access.%"))
                     .group_by(AuditEvent.institution_code, AuditEvent.action)).all()
    served: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for inst, action, n in rows:
        (refused if action == "access.refused" else served)[inst] += int(n)
    names = log.institution_names(s, set(served) | set(refused))
    return [{"code": c, "name": names.get(c, c), "served": served[c], "refused": refused[c]}
            for c in sorted(set(served) | set(refused), key=lambda c: -(served[c] + refused[c]))][:12]


def _categories_shown(cats: Any) -> tuple[list[tuple[str, str]], int]:
    """(category, tier) pairs worth naming, and how many public categories came along (shown as a count:
    every profile view carries the whole public tier)."""
    if isinstance(cats, dict):
        named = [(c, tier) for c, tier in cats.items() if tier != "公开"]
        return named, sum(1 for tier in cats.values() if tier == "公开")
    if isinstance(cats, list):
        return [(c, "") for c in cats], 0
    return [], 0


@router.get("/my/accesses", response_class=HTMLResponse)
def my_accesses(request: Request, page: PageNo = 1, size: PageSize = 20, action: str = "",
                institution: str = "", p: Principal = Depends(require("enterprise")),
                s: Session = Depends(db_session, scope="function")) -> Response:
    institution = institution.strip().upper()[:18]
    result = log.my_accesses(s, p, PageRequest(page, size, "id", True), action=action or None,
                             institution=institution or None)
    rows = log.access_dicts(s, result.items)
    for r, e in zip(rows, result.items, strict=True):
        r["at"] = e.at
        r["category_list"], r["public_count"] = _categories_shown(r["categories"])
    chart = _per_institution(s, p.org_code or "")
    institution_name = log.institution_names(s, {institution}).get(institution) if institution else None
    notices = [n for provider in NOTICES for n in provider(s, p)]
    return no_store(render(request, "access/my_accesses.html", page=result, rows=rows, action=action,
                           actions=log.ACTION_LABELS, chart=chart, institution=institution,
                           institution_name=institution_name, notices=notices,
                           params=urlencode({k: v for k, v in (("action", action), ("institution", institution))
                                             if v})))
