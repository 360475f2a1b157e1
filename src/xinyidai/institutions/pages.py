"""Pages for operators: the institutions list, onboarding, one institution with its users and credentials.

A new API key is rendered once, in the response to the form that issued it (never in a redirect target,
never cached): the page says so and the operator copies it there. Every status change asks for a reason.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from xinyidai.accounts.colleagues import is_administrator
from xinyidai.accounts.people import name_of
from xinyidai.entities.regions import HEILONGJIANG_PREFECTURES
from xinyidai.institutions import onboarding as svc
from xinyidai.institutions import processors as svc_processors
from xinyidai.institutions.models import (
    CREDENTIAL_KINDS,
    CREDENTIAL_STATUSES,
    INSTITUTION_KINDS,
    INSTITUTION_STATUSES,
    FinancialInstitution,
)
from xinyidai.kit import clock
from xinyidai.kit.errors import DomainError, InvalidInput, NotFound
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.params import PageNo, PageSize, SmallRowId
from xinyidai.web.templating import render

router = APIRouter(include_in_schema=False)
# The institution's connection security (reminders, sanction proposals) lives in the network domain above this
# one; it registers here the panel the detail page shows: (session, institution code) → template data.
CONNECTION: dict[str, Callable[[Session, str], dict[str, Any]]] = {}
READ = ("operator", "regulator", "security", "bank")

DONE = {
    "onboarded": "机构已接入。",
    "suspend": "机构已暂停。",
    "reactivate": "机构已恢复。",
    "rectify": "已要求整改，期限内机构仍可正常使用。",
    "restore": "整改已完成，机构恢复正常。",
    "revoke": "机构已撤销，其全部凭证已吊销。",
    "user_added": "用户已添加。",
    "user_disabled": "用户已停用，其登录会话已结束。",
    "user_enabled": "用户已启用。",
    "key_registered": "签名公钥已登记。",
    "cred_suspend": "凭证已暂停。",
    "cred_reactivate": "凭证已恢复。",
    "cred_revoke": "凭证已吊销。",
    "rotated": "签名公钥已轮换。",
}


def _no_store(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _expiry(days: str) -> datetime | None:
    days = (days or "").strip()
    if not days:
        return None
    if not days.isdigit() or not 1 <= int(days) <= 3650:
        raise InvalidInput("有效期应为 1–3650 天，或留空表示长期有效", code="BAD_EXPIRY")
    return clock.now() + timedelta(days=int(days))


def _detail(request: Request, s: Session, p: Principal, code: str, *, status_code: int = 200,
            error: str | None = None, done: str | None = None, issued: svc.IssuedKey | None = None,
            form: dict[str, Any] | None = None) -> Response:
    inst = svc.get(s, p, code)
    creds = svc.list_credentials(s, p, inst.code)
    parent = s.get(FinancialInstitution, inst.parent_code) if inst.parent_code else None
    resp = render(request, "institutions/detail.html", status_code=status_code, inst=inst,
                  info=svc.institution_dict(inst), users=svc.list_users(s, p, inst.code), creds=creds,
                  error=error, done=DONE.get(done or ""), issued=issued, form=form or {},
                  kinds=CREDENTIAL_KINDS, cred_statuses=CREDENTIAL_STATUSES, now=clock.now(),
                  grace=svc.DEFAULT_GRACE_HOURS, parent_name=parent.name if parent else None,
                  created_by_name=name_of(s, inst.created_by),
                  connection=CONNECTION["panel"](s, inst.code) if "panel" in CONNECTION and p.role != "bank" else None)
    return _no_store(resp)


def _failed(request: Request, s: Session, p: Principal, code: str, exc: DomainError,
            form: dict[str, Any] | None = None) -> Response:
    s.rollback()  # nothing of a refused change is kept
    return _detail(request, s, p, code, status_code=exc.status, error=exc.message, form=form)


@router.get("/institutions", response_class=HTMLResponse)
def institutions_page(request: Request, q: str = "", status: str = "", page: PageNo = 1,
                      size: PageSize = 20, sort: str | None = None, desc: bool = True,
                      p: Principal = Depends(require("operator", "regulator", "security")),
                      s: Session = Depends(db_session, scope="function")) -> Response:
    result = svc.search(s, p, q, status=status or None, req=PageRequest(page, size, sort, desc))
    return render(request, "institutions/list.html", page=result, q=q, status=status,
                  statuses=INSTITUTION_STATUSES)


@router.get("/institutions/new", response_class=HTMLResponse)
def new_page(request: Request, p: Principal = Depends(require("operator"))) -> Response:
    return render(request, "institutions/new.html", error=None, form={}, kinds=INSTITUTION_KINDS,
                  regions=HEILONGJIANG_PREFECTURES)


@router.post("/institutions/new")
def onboard(request: Request, code: str = Form(""), name: str = Form(""), kind: str = Form(""),
            parent_code: str = Form(""), region_code: str = Form(""), contact: str = Form(""),
            rate_per_minute: str = Form("600"), p: Principal = Depends(require("operator")),
            s: Session = Depends(db_session, scope="function")) -> Response:
    form = {"code": code, "name": name, "kind": kind, "parent_code": parent_code, "region_code": region_code,
            "contact": contact, "rate_per_minute": rate_per_minute}
    try:
        if not rate_per_minute.strip().isdigit():
            raise InvalidInput("每分钟请求上限应为正整数", code="BAD_RATE")
        inst = svc.onboard(s, p, code=code, name=name, kind=kind, parent_code=parent_code or None,
                           region_code=region_code or None, contact=contact or None,
                           rate_per_minute=int(rate_per_minute))
    except DomainError as exc:
        s.rollback()
        return render(request, "institutions/new.html", status_code=exc.status, error=exc.message, form=form,
                      kinds=INSTITUTION_KINDS, regions=HEILONGJIANG_PREFECTURES)
    return RedirectResponse(f"/institutions/{inst.code}?done=onboarded", status_code=303)


@router.get("/institutions/{code}", response_class=HTMLResponse)
def institution_page(code: str, request: Request, done: str = "", p: Principal = Depends(require(*READ)),
                     s: Session = Depends(db_session, scope="function")) -> Response:
    return _detail(request, s, p, code, done=done)


@router.post("/institutions/{code}/rectify")
def rectify(code: str, request: Request, deadline: str = Form(""), reason: str = Form(""),
            p: Principal = Depends(require("operator", "security")),
            s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        try:
            due = date.fromisoformat(deadline.strip())
        except ValueError:
            raise InvalidInput("请给出整改期限（日期）", code="BAD_DEADLINE") from None
        inst = svc.rectify(s, p, code, due, reason)
    except DomainError as exc:
        return _failed(request, s, p, code, exc, form={"deadline": deadline, "reason": reason})
    return RedirectResponse(f"/institutions/{inst.code}?done=rectify", status_code=303)


@router.post("/institutions/{code}/restore")
def restore(code: str, request: Request, reason: str = Form(""),
            p: Principal = Depends(require("operator", "security")),
            s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        inst = svc.restore(s, p, code, reason)
    except DomainError as exc:
        return _failed(request, s, p, code, exc)
    return RedirectResponse(f"/institutions/{inst.code}?done=restore", status_code=303)


@router.post("/institutions/{code}/status")
def change_status(code: str, request: Request, action: str = Form(""), reason: str = Form(""),
                  p: Principal = Depends(require("operator")),
                  s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        inst = svc.change_status(s, p, code, action, reason)
    except DomainError as exc:
        return _failed(request, s, p, code, exc)
    return RedirectResponse(f"/institutions/{inst.code}?done={action}", status_code=303)


@router.post("/institutions/{code}/users")
def add_user(code: str, request: Request, username: str = Form(""), display_name: str = Form(""),
             password: str = Form(""), org_admin: str = Form(""), p: Principal = Depends(require("operator")),
             s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        svc.add_user(s, p, code, username=username, display_name=display_name, password=password,
                     org_admin=org_admin in ("1", "on", "true"))
    except DomainError as exc:
        return _failed(request, s, p, code, exc, form={"username": username, "display_name": display_name})
    return RedirectResponse(f"/institutions/{code.upper()}?done=user_added", status_code=303)


@router.post("/institutions/{code}/users/{user_id}/active")
def user_active(code: str, user_id: SmallRowId, request: Request, active: str = Form("0"), reason: str = Form(""),
                p: Principal = Depends(require("operator")),
                s: Session = Depends(db_session, scope="function")) -> Response:
    on = active == "1"
    try:
        svc.set_user_active(s, p, code, user_id, on, reason)
    except DomainError as exc:
        return _failed(request, s, p, code, exc)
    return RedirectResponse(f"/institutions/{code.upper()}?done={'user_enabled' if on else 'user_disabled'}",
                            status_code=303)


@router.post("/institutions/{code}/credentials")
def add_credential(code: str, request: Request, kind: str = Form("api_key"), label: str = Form(""),
                   public_key: str = Form(""), expires_days: str = Form(""),
                   p: Principal = Depends(require("operator")),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        expires_at = _expiry(expires_days)
        if kind == "api_key":
            issued = svc.issue_api_key(s, p, code, label=label, expires_at=expires_at)
            return _detail(request, s, p, code, issued=issued)
        svc.register_public_key(s, p, code, kind=kind, public_key=public_key, label=label, expires_at=expires_at)
    except DomainError as exc:
        return _failed(request, s, p, code, exc, form={"label": label, "public_key": public_key, "kind": kind})
    return RedirectResponse(f"/institutions/{code.upper()}?done=key_registered", status_code=303)


@router.post("/institutions/{code}/credentials/{key_id}/rotate")
def rotate(code: str, key_id: str, request: Request, grace_hours: str = Form(str(svc.DEFAULT_GRACE_HOURS)),
           public_key: str = Form(""), p: Principal = Depends(require("operator")),
           s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        if not grace_hours.strip().isdigit():
            raise InvalidInput("过渡期应为 0 或正整数小时", code="BAD_GRACE")
        _new, issued = svc.rotate(s, p, code, key_id, grace_hours=int(grace_hours), public_key=public_key or None)
    except DomainError as exc:
        return _failed(request, s, p, code, exc)
    if issued is not None:
        return _detail(request, s, p, code, issued=issued)
    return RedirectResponse(f"/institutions/{code.upper()}?done=rotated", status_code=303)


@router.post("/institutions/{code}/credentials/{key_id}/status")
def credential_status(code: str, key_id: str, request: Request, action: str = Form(""), reason: str = Form(""),
                      p: Principal = Depends(require("operator")),
                      s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        svc.change_credential_status(s, p, code, key_id, action, reason)
    except DomainError as exc:
        return _failed(request, s, p, code, exc)
    return RedirectResponse(f"/institutions/{code.upper()}?done=cred_{action}", status_code=303)


# ── data processors (数据处理受托方, notice point 九) ─────────────────────────────────────────────────────────

PROCESSOR_DONE = {"declared": "受托方已申报。此后新签的授权书和导出文件都会列明该受托方。",
                  "withdrawn": "受托方已撤回。此后新签的授权书和导出文件不再列明该受托方。"}


def _processor_categories(request: Request) -> dict[str, str]:
    return {c.code: c.name for c in node(request).catalog.categories}


def _processors_page(request: Request, s: Session, p: Principal, inst: FinancialInstitution, *, readonly: bool,
                     done: str = "", error: DomainError | None = None, form: dict[str, Any] | None = None) -> Response:
    rows = svc_processors.listing(s, p, inst.code)
    names = _processor_categories(request)
    return _no_store(render(
        request, "institutions/processors.html", status_code=error.status if error else 200, inst=inst,
        rows=[{"x": x, "state": svc_processors.state(x),
               "categories": "、".join(names.get(c, c) for c in x.categories.split(",") if c),
               "declared_by": name_of(s, x.declared_by)} for x in rows],
        readonly=readonly, admin=not readonly and is_administrator(s, p), categories=names, done=PROCESSOR_DONE.get(done),
        error=error, form=form or {}, min_day=(svc_processors.today() + timedelta(days=1)).isoformat()))


def _own_institution(s: Session, p: Principal) -> FinancialInstitution:
    inst = s.get(FinancialInstitution, p.org_code) if p.org_code else None
    if inst is None:
        raise NotFound("您的账户尚未关联金融机构", code="NO_INSTITUTION")
    return inst


@router.get("/bank/processors", response_class=HTMLResponse)
def bank_processors(request: Request, done: str = "", p: Principal = Depends(require("bank")),
                    s: Session = Depends(db_session, scope="function")) -> Response:
    return _processors_page(request, s, p, _own_institution(s, p), readonly=False, done=done)


@router.post("/bank/processors", response_class=HTMLResponse)
def declare_processor(request: Request, name: str = Form(""), credit_code: str = Form(""), purpose: str = Form(""),
                      categories: list[str] = Form([]), contract_end: str = Form(""),
                      p: Principal = Depends(require("bank")),
                      s: Session = Depends(db_session, scope="function")) -> Response:
    form = {"name": name, "credit_code": credit_code, "purpose": purpose, "categories": categories,
            "contract_end": contract_end}
    try:
        svc_processors.declare(s, p, name=name, credit_code=credit_code, purpose=purpose, categories=categories,
                               contract_end=contract_end, known=_processor_categories(request))
    except DomainError as exc:
        s.rollback()
        return _processors_page(request, s, p, _own_institution(s, p), readonly=False, error=exc, form=form)
    return RedirectResponse("/bank/processors?done=declared", status_code=303)


@router.post("/bank/processors/{processor_id}/withdraw", response_class=HTMLResponse)
def withdraw_processor(processor_id: SmallRowId, request: Request, reason: str = Form(""),
                       p: Principal = Depends(require("bank")),
                       s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        svc_processors.withdraw(s, p, processor_id, reason)
    except DomainError as exc:
        s.rollback()
        return _processors_page(request, s, p, _own_institution(s, p), readonly=False, error=exc)
    return RedirectResponse("/bank/processors?done=withdrawn", status_code=303)


@router.get("/institutions/{code}/processors", response_class=HTMLResponse)
def institution_processors(code: str, request: Request, p: Principal = Depends(require(*STAFF)),
                           s: Session = Depends(db_session, scope="function")) -> Response:
    inst = s.get(FinancialInstitution, code.strip().upper())
    if inst is None:
        raise NotFound("未找到该机构", code="INSTITUTION_NOT_FOUND")
    return _processors_page(request, s, p, inst, readonly=True)
