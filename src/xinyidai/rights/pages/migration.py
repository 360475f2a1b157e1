"""Pages of the move from the old site (黑龙江站整体迁移): the operators' imports and their reports
(/rights/migrations), the public activation of a migrated account (/activate), and the enterprise's
authorizations carried over as drafts (/my/authorizations/migrated), confirmed through the normal grant path.

The activation forms have no session, so they carry a double-submit CSRF token (a cookie and the same value in
the form, as registration does); the code's holder is named by the ticket cookie the first step hands out."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from xinyidai.access import log
from xinyidai.kit.errors import DomainError, InvalidInput
from xinyidai.kit.notify import make_notifier
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.kit.spreadsheet import csv_cell
from xinyidai.kit.throttle import RefusalGuard, guards
from xinyidai.rights import activation, migration
from xinyidai.rights.models import MIGRATED_AUTH_STATES
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.form_tokens import FormToken
from xinyidai.web.params import PageNo, PageSize, SmallRowId
from xinyidai.web.templating import no_store, render

router = APIRouter(include_in_schema=False)
READ = require("operator", "regulator")
WRITE = require("operator")
ENTERPRISE = require("enterprise")
FORM = FormToken("xyd_activate_csrf")
TICKET_COOKIE = "xyd_activation"
DONE = {"imported": "文件已导入，下方为逐行报告。", "declined": "已拒绝该迁移授权，不会生成任何授权。"}


# ── operators: imports and their reports ──────────────────────────────────────────────────────────────

def _imports_page(request: Request, s: Session, p: Principal, *, page: int = 1, size: int = 20,
                  sort: str | None = None, desc: bool = True, error: DomainError | None = None) -> Response:
    result = migration.imports(s, p, PageRequest(page, size, sort, desc))
    return no_store(render(request, "rights/migration_list.html", status_code=error.status if error else 200,
                           page=result, params="", error=error, may_write=p.role == "operator",
                           kinds=migration.KINDS, sheets=migration.SHEETS, columns=migration.COLUMNS,
                           max_mb=migration.MAX_FILE_BYTES >> 20))


@router.get("/rights/migrations", response_class=HTMLResponse)
def imports_page(request: Request, page: PageNo = 1, size: PageSize = 20, sort: str | None = None,
                 desc: bool = True, p: Principal = Depends(READ),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    return _imports_page(request, s, p, page=page, size=size, sort=sort, desc=desc)


@router.post("/rights/migrations", response_class=HTMLResponse)
def upload(request: Request, file: UploadFile = File(...), p: Principal = Depends(WRITE),
           s: Session = Depends(db_session, scope="function")) -> Response:
    data = file.file.read(migration.MAX_FILE_BYTES + 1)
    try:
        imp = migration.import_file(s, node(request).catalog, data, file.filename or "", p.username)
        import_id = imp.id
    except DomainError as exc:
        s.rollback()
        return _imports_page(request, s, p, error=exc)
    return RedirectResponse(f"/rights/migrations/{import_id}?done=imported", status_code=303)


@router.get("/rights/migrations/{import_id}", response_class=HTMLResponse)
def import_page(request: Request, import_id: SmallRowId, outcome: str = "", kind: str = "", page: PageNo = 1,
                size: PageSize = 50, sort: str | None = None, desc: bool = False, done: str = "",
                p: Principal = Depends(READ), s: Session = Depends(db_session, scope="function")) -> Response:
    imp = migration.get_import(s, p, import_id)
    outcome = outcome if outcome in migration.OUTCOMES else ""
    kind = kind if kind in migration.KINDS else ""
    result = migration.rows(s, p, import_id, PageRequest(page, size, sort, desc), outcome=outcome or None,
                            kind=kind or None)
    params = urlencode({k: v for k, v in (("outcome", outcome), ("kind", kind)) if v})
    return no_store(render(request, "rights/migration_detail.html", imp=imp, page=result, params=params,
                           outcome=outcome, kind=kind, kinds=migration.KINDS, outcomes=migration.OUTCOMES,
                           done=DONE.get(done)))


@router.get("/rights/migrations/{import_id}/refused.csv")
def refused_csv(import_id: SmallRowId, p: Principal = Depends(READ),
                s: Session = Depends(db_session, scope="function")) -> Response:
    rows = migration.all_rows(s, p, import_id, outcome="refused")
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["类型", "行号", "标识", "原因代码", "原因"])
    for r in rows:
        w.writerow([csv_cell(migration.KINDS.get(r.kind, r.kind)), r.row_no, csv_cell(r.ref), csv_cell(r.code),
                    csv_cell(r.message)])
    return no_store(Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="migration-{import_id}-refused.csv"'}))


# ── public: activating a migrated account ─────────────────────────────────────────────────────────────

def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _guard(request: Request) -> RefusalGuard:
    return guards(request.app.state).get("activation", activation.activation_guard)


def _secret(request: Request) -> str:
    return node(request).settings.ensure_secret_key()


@router.get("/activate", response_class=HTMLResponse)
def activate_page(request: Request) -> Response:
    return FORM.render(request, "rights/activate.html", error=None, form={})


@router.post("/activate", response_class=HTMLResponse)
def activate_start(request: Request, username: str = Form(""), phone: str = Form(""), csrf_token: str = Form(""),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    FORM.check(request, csrf_token)
    n = node(request)
    try:
        message, ticket = activation.start(s, make_notifier(n.settings.notifier, n.settings.var_dir),
                                           _secret(request), username=username, phone=phone,
                                           client=_client(request), guard=_guard(request))
    except DomainError as exc:  # returned, not raised: the refusal's audit entry commits
        return FORM.render(request, "rights/activate.html", status_code=exc.status, error=exc,
                                form={"username": username, "phone": phone})
    resp = FORM.render(request, "rights/activate_code.html", sent=message, error=None,
                            username=activation.ticket_username(ticket))
    resp.set_cookie(TICKET_COOKIE, ticket, httponly=True, samesite="strict", max_age=1800,
                    secure=request.url.scheme == "https")
    return resp


@router.post("/activate/code", response_class=HTMLResponse)
def activate_confirm(request: Request, code: str = Form(""), password: str = Form(""), password2: str = Form(""),
                     csrf_token: str = Form(""), s: Session = Depends(db_session, scope="function")) -> Response:
    FORM.check(request, csrf_token)
    raw = request.cookies.get(TICKET_COOKIE, "")
    if not raw:
        return RedirectResponse("/activate", status_code=303)
    try:
        user = activation.confirm(s, _secret(request), raw, code, password, password2, client=_client(request),
                                  guard=_guard(request))
    except DomainError as exc:  # returned so that the counted try commits
        return FORM.render(request, "rights/activate_code.html", status_code=exc.status, error=exc,
                                sent=None, username=activation.ticket_username(raw),
                                restart=exc.code in ("CODE_EXPIRED", "CODE_ATTEMPTS_EXCEEDED"))
    resp = no_store(render(request, "rights/activate_done.html", username=user.username, admin=user.org_admin))
    resp.delete_cookie(TICKET_COOKIE)
    return resp


# ── the enterprise: authorizations carried over as drafts ─────────────────────────────────────────────

def _draft_row(request: Request, d: Any, names: dict[str, str]) -> dict[str, Any]:
    catalog = node(request).catalog
    cats = []
    for c in d.scopes:
        try:
            cats.append(catalog.category(c).name)
        except KeyError:
            cats.append(c)
    return {"id": d.id, "old_number": d.old_number, "institution_code": d.institution_code,
            "institution_name": names.get(d.institution_code, d.institution_code), "purpose": d.purpose,
            "mode": d.mode, "categories": cats, "valid_until": d.valid_until, "state": d.state,
            "state_label": MIGRATED_AUTH_STATES.get(d.state, d.state), "authorization_id": d.authorization_id,
            "decided_at": d.decided_at}


@router.get("/my/authorizations/migrated", response_class=HTMLResponse)
def drafts_page(request: Request, done: str = "", p: Principal = Depends(ENTERPRISE),
                s: Session = Depends(db_session, scope="function")) -> Response:
    migration.expire_drafts(s, p.org_code)
    items = migration.drafts(s, p)
    names = log.institution_names(s, {d.institution_code for d in items})
    return no_store(render(request, "rights/migration_drafts.html", rows=[_draft_row(request, d, names) for d in items],
                           may_decide=migration.is_admin(s, p), done=DONE.get(done)))


def _draft_page(request: Request, s: Session, p: Principal, draft_id: int,
                error: DomainError | None = None) -> Response:
    d = migration.get_draft(s, p, draft_id)
    names = log.institution_names(s, {d.institution_code})
    text = digest = None
    problem = None
    if d.state == "draft":
        try:
            text, digest = migration.preview_draft(s, node(request).catalog, p, d)
        except DomainError as exc:
            problem = exc
    capped = migration.grant_request(d).valid_until != d.valid_until
    return no_store(render(request, "rights/migration_draft.html", status_code=error.status if error else 200,
                           d=_draft_row(request, d, names), text=text, digest=digest, problem=problem, error=error,
                           capped=capped, until=migration.grant_request(d).valid_until,
                           may_decide=migration.is_admin(s, p)))


@router.get("/my/authorizations/migrated/{draft_id}", response_class=HTMLResponse)
def draft_page(request: Request, draft_id: SmallRowId, p: Principal = Depends(ENTERPRISE),
               s: Session = Depends(db_session, scope="function")) -> Response:
    migration.expire_drafts(s, p.org_code)
    return _draft_page(request, s, p, draft_id)


@router.post("/my/authorizations/migrated/{draft_id}/confirm", response_class=HTMLResponse)
def confirm_draft(request: Request, draft_id: SmallRowId, text_digest: str = Form(""),
                  p: Principal = Depends(ENTERPRISE), s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        a = migration.confirm_draft(s, node(request).catalog, p, draft_id, text_digest)
        number = a.number
    except DomainError as exc:
        s.rollback()
        if exc.code == "MIGRATED_AUTHORIZATION_NOT_FOUND":
            raise
        migration.expire_drafts(s, p.org_code)
        return _draft_page(request, s, p, draft_id, error=exc)
    return RedirectResponse(f"/my/authorizations/{number}?done=granted", status_code=303)


@router.post("/my/authorizations/migrated/{draft_id}/decline", response_class=HTMLResponse)
def decline_draft(request: Request, draft_id: SmallRowId, confirm: str = Form(""), p: Principal = Depends(ENTERPRISE),
                  s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        if confirm != "yes":
            raise InvalidInput("请勾选确认后再拒绝；该授权未作变更。", code="DECLINE_NOT_CONFIRMED")
        migration.decline_draft(s, p, draft_id)
    except DomainError as exc:
        s.rollback()
        if exc.code == "MIGRATED_AUTHORIZATION_NOT_FOUND":
            raise
        return _draft_page(request, s, p, draft_id, error=exc)
    return RedirectResponse("/my/authorizations/migrated?done=declined", status_code=303)
