"""Pages: log-in and log-out, real-name registration (public, no log-in) and an administrator's colleague
accounts.

The public forms have no session, so they carry a double-submit CSRF token (a cookie and the same value in
the form, as the log-in page does). The application in progress is named by a cookie holding its id and
an HMAC of it under the node's secret, so nobody can enter codes against someone else's application (and
use up its five tries) by guessing ids.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from xinyidai.accounts import colleagues, people, registration, users
from xinyidai.accounts.models import RealNameRegistration
from xinyidai.entities.models import MarketEntity
from xinyidai.kit import audit
from xinyidai.kit.crypto import sm3
from xinyidai.kit.errors import DomainError, Forbidden, InvalidInput
from xinyidai.kit.notify import make_notifier
from xinyidai.kit.principal import Principal
from xinyidai.kit.throttle import RefusalGuard, guards
from xinyidai.web.deps import LOGIN_CSRF_COOKIE, SESSION_COOKIE, db_session, node, require
from xinyidai.web.form_tokens import FormToken
from xinyidai.web.params import SmallRowId
from xinyidai.web.templating import render

router = APIRouter(include_in_schema=False)

FORM = FormToken("xyd_form_csrf")
REGISTRATION_COOKIE = "xyd_registration"


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


# ── log-in ─────────────────────────────────────────────────────────────────────────────────────────────

def _safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect after log-in is a phishing aid."""
    if not target:
        return "/"
    u = urlparse(target)
    if u.scheme or u.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:  # noqa: A002
    token = secrets.token_urlsafe(24)
    resp = render(request, "accounts/login.html", login_csrf=token, next=_safe_next(next), error=None)
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", max_age=1800)
    return resp


@router.post("/login")
def login(request: Request, username: str = Form(""), password: str = Form(""), csrf_token: str = Form(""),
          next: str = Form("/"), s: Session = Depends(db_session, scope="function")) -> Response:  # noqa: A002
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, csrf_token):
        raise Forbidden("登录页面已过期，请刷新后重试", code="CSRF_FAILED")
    n = node(request)
    try:
        token, ls, _user = users.authenticate(s, username, password, n.settings.session_ttl_minutes,
                                              request.headers.get("user-agent"), address=_client(request),
                                              guard=guards(request.app.state).get("login", users.login_guard))
    except DomainError as exc:
        s.commit()  # keep the refusal's audit entry
        fresh = secrets.token_urlsafe(24)
        resp = render(request, "accounts/login.html", status_code=exc.status, login_csrf=fresh,
                      next=_safe_next(next), error=exc.message, username=username)
        resp.set_cookie(LOGIN_CSRF_COOKIE, fresh, httponly=True, samesite="strict", max_age=1800)
        return resp
    resp = RedirectResponse(_safe_next(next), status_code=303)
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=request.url.scheme == "https",
                    max_age=n.settings.session_ttl_minutes * 60)
    resp.delete_cookie(LOGIN_CSRF_COOKIE)
    return resp


@router.post("/logout")
def logout(request: Request, _p: Principal = Depends(require()), s: Session = Depends(db_session, scope="function")) -> Response:
    users.logout(s, request.cookies.get(SESSION_COOKIE))
    audit.record(s, _p.username, "logout", f"user:{_p.username}")
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


# ── real-name registration ─────────────────────────────────────────────────────────────────────────────

def _registration_guard(request: Request) -> RefusalGuard:
    return guards(request.app.state).get("registration", registration.registration_guard)


def _secret(request: Request) -> str:
    return node(request).settings.ensure_secret_key()


def _ticket(secret: str, registration_id: int) -> str:
    mac = sm3.hmac_sm3(secret.encode(), f"registration:{registration_id}".encode()).hex()[:32]
    return f"{registration_id}.{mac}"


def _ticket_id(request: Request) -> int | None:
    raw = request.cookies.get(REGISTRATION_COOKIE, "")
    head, _, _mac = raw.partition(".")
    if not head.isdigit() or not hmac.compare_digest(_ticket(_secret(request), int(head)), raw):
        return None
    return int(head)


# ── real-name registration ──────────────────────────────────────────────────────────────────────────────

@router.get("/register", response_class=HTMLResponse)
def register_page(request: Request) -> Response:
    return FORM.render(request, "accounts/register.html", error=None, form={})


@router.post("/register")
def register(request: Request, entity_code: str = Form(""), entity_name: str = Form(""),
             person_name: str = Form(""), id_number: str = Form(""), phone: str = Form(""),
             username: str = Form(""), password: str = Form(""), password2: str = Form(""),
             csrf_token: str = Form(""), s: Session = Depends(db_session, scope="function")) -> Response:
    FORM.check(request, csrf_token)
    form = {"entity_code": entity_code, "entity_name": entity_name, "person_name": person_name, "phone": phone,
            "username": username}
    n = node(request)
    try:
        if password != password2:
            raise InvalidInput("两次输入的密码不一致", code="PASSWORD_MISMATCH")
        reg = registration.start(s, make_notifier(n.settings.notifier, n.settings.var_dir), _secret(request),
                                 entity_code=entity_code, entity_name=entity_name, person_name=person_name,
                                 id_number=id_number, phone=phone, username=username, password=password,
                                 client=_client(request), guard=_registration_guard(request))
    except DomainError as exc:
        # Returned, not raised: the session commits, so the refusal's audit entry (and the count of
        # failed applications that throttles probing) is kept.
        return FORM.render(request, "accounts/register.html", status_code=exc.status,
                                error=exc.message, form=form)
    resp = RedirectResponse("/register/confirm", status_code=303)
    resp.set_cookie(REGISTRATION_COOKIE, _ticket(_secret(request), reg.id), httponly=True, samesite="strict",
                    max_age=1800, secure=request.url.scheme == "https")
    return resp


def _confirm_page(request: Request, s: Session, reg_id: int, status_code: int = 200,
                  error: str | None = None, restart: bool = False) -> Response:
    reg = s.get(RealNameRegistration, reg_id)
    entity = s.get(MarketEntity, reg.entity_code) if reg else None
    return FORM.render(request, "accounts/confirm.html", status_code=status_code, error=error,
                            restart=restart or reg is None or reg.status != "pending",
                            phone=registration.mask_phone(reg.phone) if reg else "",
                            entity_name=entity.name if entity else "", minutes=registration.CODE_TTL.seconds // 60)


@router.get("/register/confirm", response_class=HTMLResponse)
def confirm_page(request: Request, s: Session = Depends(db_session, scope="function")) -> Response:
    reg_id = _ticket_id(request)
    if reg_id is None:
        return RedirectResponse("/register", status_code=303)
    return _confirm_page(request, s, reg_id)


@router.post("/register/confirm")
def confirm(request: Request, code: str = Form(""), csrf_token: str = Form(""),
            s: Session = Depends(db_session, scope="function")) -> Response:
    FORM.check(request, csrf_token)
    reg_id = _ticket_id(request)
    if reg_id is None:
        return RedirectResponse("/register", status_code=303)
    try:
        user = registration.confirm(s, _secret(request), reg_id, code, client=_client(request),
                                    guard=_registration_guard(request))
    except DomainError as exc:  # returned so that the counted attempt commits
        return _confirm_page(request, s, reg_id, status_code=exc.status, error=exc.message,
                             restart=exc.code not in ("CODE_INVALID", "REGISTRATION_THROTTLED"))
    entity = s.get(MarketEntity, user.org_code)
    resp = render(request, "accounts/done.html", username=user.username,
                  entity_name=entity.name if entity else user.org_code)
    resp.delete_cookie(REGISTRATION_COOKIE)
    resp.headers["Cache-Control"] = "no-store"
    return resp


# ── colleagues ──────────────────────────────────────────────────────────────────────────────────────────

DONE = {"added": "同事账户已添加，请将用户名和初始密码告知本人。", "disabled": "该账户已停用，其登录会话已结束。",
        "enabled": "该账户已启用。"}


def _colleagues(request: Request, s: Session, p: Principal, status_code: int = 200, error: str | None = None,
                done: str = "", form: dict | None = None) -> Response:
    users = colleagues.list_colleagues(s, p)
    org_name = people.org_name(s, p.role, p.org_code)
    return render(request, "accounts/colleagues.html", status_code=status_code, users=users, error=error,
                  done=DONE.get(done), form=form or {}, org_name=org_name or p.org_code)


@router.get("/my/colleagues", response_class=HTMLResponse)
def colleagues_page(request: Request, done: str = "", p: Principal = Depends(require("enterprise", "bank")),
                    s: Session = Depends(db_session, scope="function")) -> Response:
    return _colleagues(request, s, p, done=done)


@router.post("/my/colleagues")
def add_colleague(request: Request, username: str = Form(""), display_name: str = Form(""),
                  password: str = Form(""), p: Principal = Depends(require("enterprise", "bank")),
                  s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        colleagues.add_colleague(s, p, username=username, display_name=display_name, password=password)
    except DomainError as exc:
        if exc.code == "ORG_ADMIN_ONLY":
            raise
        s.rollback()
        return _colleagues(request, s, p, status_code=exc.status, error=exc.message,
                           form={"username": username, "display_name": display_name})
    return RedirectResponse("/my/colleagues?done=added", status_code=303)


@router.post("/my/colleagues/{user_id}/active")
def colleague_active(user_id: SmallRowId, request: Request, active: str = Form("0"), reason: str = Form(""),
                     p: Principal = Depends(require("enterprise", "bank")),
                     s: Session = Depends(db_session, scope="function")) -> Response:
    on = active == "1"
    try:
        colleagues.set_colleague_active(s, p, user_id, on, reason)
    except DomainError as exc:
        if exc.code == "ORG_ADMIN_ONLY":
            raise
        s.rollback()
        return _colleagues(request, s, p, status_code=exc.status, error=exc.message)
    return RedirectResponse(f"/my/colleagues?done={'enabled' if on else 'disabled'}", status_code=303)
