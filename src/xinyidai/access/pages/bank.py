"""Bank portal: the enterprises that authorized my institution, one entity's profile (public tier plus what
the live authorizations cover), detail and CSV export per category, and verification (核验比对).

Each handler goes through `runtime.served`, like the JSON API: a refusal is rolled back, logged in the audit
chain and committed before the page shows the Chinese message and its code. Viewing a profile is itself an
access: it spends one use of each authorization it is served under and the enterprise sees it.

So the profile, detail and export are read only when the browser says a page of this site asked
(`runtime.from_own_pages`); otherwise — another site's link, a mail, a bookmark — the page asks the officer
to confirm, and the confirmation is a POST to the same address carrying the session's CSRF token.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from xinyidai.access import authorizations, log, runtime, sharing, verification
from xinyidai.access.pages.common import authorization_row, for_page, total_label
from xinyidai.catalog.values import item_text
from xinyidai.entities.models import MarketEntity
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit.errors import DomainError, InvalidInput
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.templating import no_store, render

router = APIRouter(include_in_schema=False)
QUERY_PURPOSES = ("贷前审查", "贷中管理", "贷后管理")
CLAIM_ROWS = 3
OPS = {"ge": "不低于（≥）", "gt": "高于（>）", "le": "不高于（≤）", "lt": "低于（<）", "eq": "等于", "ne": "不等于",
       "exists": "存在记录", "not_exists": "不存在记录"}
AGGREGATES = {"latest": "最近一期", "sum": "期间合计", "max": "期间最大值", "min": "期间最小值", "count": "记录条数",
              "any": "任一条记录"}


def _purpose(purpose: str) -> str:
    return purpose if purpose in QUERY_PURPOSES else "贷前审查"


def _code(code: str) -> str:
    return (code or "").strip().upper()


def _entity_name(s: Session, code: str) -> str | None:
    """The entity's name for titles and breadcrumbs (None for a code the register does not know)."""
    e = s.get(MarketEntity, code) if len(code) == 18 else None
    return e.name if e is not None else None


def _my_authorizations(s: Session, request: Request, p: Principal, entity: str) -> list[dict[str, Any]]:
    """This institution's authorizations from the entity, every status (so a revoked one shows as such)."""
    if len(entity) != 18:
        return []
    result = authorizations.list_visible(s, p, PageRequest(1, 50, "confirmed_at", True), entity_code=entity)
    names = log.institution_names(s, {a.institution_code for a in result.items})
    return [authorization_row(a, node(request).catalog, names) for a in result.items]


@router.get("/bank", response_class=HTMLResponse)
def bank_home(request: Request, code: str = "", p: Principal = Depends(require("bank")),
              s: Session = Depends(db_session, scope="function")) -> Response:
    if code.strip():
        return RedirectResponse(f"/bank/entities/{_code(code)}", status_code=303)
    inst = s.get(FinancialInstitution, p.org_code) if p.org_code else None
    rows = []
    if inst is not None:
        for e, auths in sharing.authorized_entities(s, inst.code):
            rows.append({"entity": e, "authorizations": [authorization_row(a, node(request).catalog, {})
                                                         for a in auths]})
    return no_store(render(request, "access/bank_home.html", inst=inst, rows=rows))


def _asked_here(request: Request) -> bool:
    """A page of this site asked (a link on it), or the officer confirmed (a POST, its CSRF token checked by
    `require`): only then may a read spend a use of the enterprise's authorization."""
    return request.method == "POST" or runtime.from_own_pages(request)


def _confirm(request: Request, s: Session, code: str, what: str) -> Response:
    """Nothing read, nothing spent: the officer is asked to confirm, by a form posting to this address."""
    action = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return no_store(render(request, "access/bank_confirm.html", code=code, name=_entity_name(s, code), what=what,
                           action=action))


def _category_name(request: Request, category: str) -> str:
    try:
        return node(request).catalog.category(category).name
    except KeyError:
        return "该类信息"


@router.api_route("/bank/entities/{code}", methods=["GET", "POST"], response_class=HTMLResponse)
def bank_entity(code: str, request: Request, purpose: str = "贷前审查",
                number: str | None = Query(None, alias="authorization"), p: Principal = Depends(require("bank")),
                s: Session = Depends(db_session, scope="function")) -> Response:
    code, purpose, number = _code(code), _purpose(purpose), (number or "").strip() or None
    if not _asked_here(request):
        return _confirm(request, s, code, "查询该企业的信用概况")
    actor = sharing.actor_of(p)
    pol, catalog = runtime.policy(request), node(request).catalog
    data, error = None, None
    try:
        data = runtime.served(s, actor, code, "profile", purpose, lambda: sharing.profile(
            s, catalog, pol, actor, code, purpose=purpose, number=number))
    except DomainError as exc:
        error = for_page(exc)
    sections = []
    if data:
        for cat_code, summary in sorted(data["categories"].items(),
                                        key=lambda kv: (kv[1]["tier"] == "公开", catalog.position(kv[0]))):
            sections.append({"code": cat_code, "cat": catalog.category(cat_code), **summary})
    return no_store(render(request, "access/bank_entity.html", status_code=error.status if error else 200,
                           code=code, data=data, sections=sections, error=error, purpose=purpose, number=number,
                           purposes=QUERY_PURPOSES, auths=_my_authorizations(s, request, p, code),
                           total_label=total_label))


@router.api_route("/bank/entities/{code}/records/{category}", methods=["GET", "POST"], response_class=HTMLResponse)
def bank_detail(code: str, category: str, request: Request, purpose: str = "贷前审查",
                number: str | None = Query(None, alias="authorization"), p: Principal = Depends(require("bank")),
                s: Session = Depends(db_session, scope="function")) -> Response:
    code, purpose, number = _code(code), _purpose(purpose), (number or "").strip() or None
    if not _asked_here(request):
        return _confirm(request, s, code, f"查看该企业的{_category_name(request, category)}明细")
    actor = sharing.actor_of(p)
    pol, catalog = runtime.policy(request), node(request).catalog
    data, error = None, None
    try:
        data = runtime.served(s, actor, code, "detail", purpose, lambda: sharing.detail(
            s, catalog, pol, actor, code, category, purpose=purpose, number=number))
    except DomainError as exc:
        error = for_page(exc)
    try:
        cat = catalog.category(category)
    except KeyError:
        cat = None
    items = [i for i in cat.items if data and any(i.code in r["fields"] for r in data["rows"])] if cat else []
    # The record's own period item (所属期, 处罚决定日期 …) already dates each row; a second 所属期 column only
    # where that item is not among the columns shown.
    period_column = not (cat and cat.period and any(i.code == cat.period for i in items))
    return no_store(render(request, "access/bank_detail.html", status_code=error.status if error else 200,
                           code=code, name=_entity_name(s, code), cat=cat, items=items, data=data, error=error,
                           purpose=purpose, period_column=period_column))


@router.api_route("/bank/entities/{code}/records/{category}/export", methods=["GET", "POST"])
def bank_export(code: str, category: str, request: Request, purpose: str = "贷前审查",
                number: str | None = Query(None, alias="authorization"), p: Principal = Depends(require("bank")),
                s: Session = Depends(db_session, scope="function")) -> Response:
    """The CSV with its traceable marks; a refusal goes to the error page (the download never starts)."""
    code, purpose, number = _code(code), _purpose(purpose), (number or "").strip() or None
    if not _asked_here(request):
        return _confirm(request, s, code, f"导出该企业的{_category_name(request, category)}明细（CSV）")
    actor = sharing.actor_of(p)
    n = node(request)
    pol, secret = runtime.policy(request), n.settings.ensure_secret_key()
    export_id, text = runtime.served(s, actor, code, "export", purpose, lambda: sharing.export_csv(
        s, n.catalog, pol, actor, code, category, purpose=purpose, secret=secret, number=number))
    return no_store(Response("\ufeff" + text, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{export_id}.csv"', "X-Export-Id": export_id}))


# ── verification ─────────────────────────────────────────────────────────────────────────────────────────

async def posted_form(request: Request) -> dict[str, str]:
    """The verification form's fields (their names are numbered per claim row)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _rows(form: dict[str, str]) -> list[dict[str, str]]:
    """Every claim row as typed (to show the form again)."""
    keys = ("target", "aggregate", "op", "value", "from", "to")
    return [{k: form.get(f"{k}_{i}", "").strip() for k in keys} for i in range(CLAIM_ROWS)]


def _claims(rows: list[dict[str, str]]) -> list[verification.Claim]:
    """The filled-in rows as claims; a row without a target is left out."""
    claims = []
    for i, row in enumerate(rows):
        if not row["target"]:
            continue
        cat, _, item = row["target"].partition(":")
        try:
            claims.append(verification.Claim(
                category=cat, item=item or None, op=row["op"] or "exists", value=row["value"] or None,
                aggregate=row["aggregate"] or "latest", period_from=row["from"] or None, period_to=row["to"] or None))
        except ValidationError:
            raise InvalidInput(f"第 {i + 1} 项声明填写不完整或有误", code="BAD_CLAIMS") from None
    if not claims:
        raise InvalidInput("请至少填写一项声明", code="BAD_CLAIMS")
    return claims


def _describe(catalog: Any, c: verification.Claim) -> str:
    """A claim in words, for the results table."""
    cat = catalog.category(c.category)
    if c.op in ("exists", "not_exists"):
        what = f"{cat.name}：{OPS[c.op]}"
    else:
        item = cat.item(c.item) if c.item else None
        # The amount as the bank typed it, written as amounts are everywhere (5,245,295.17 元); a count is a count.
        value = c.value if item is None or c.aggregate == "count" else item_text(item, c.value)
        what = f"{cat.name} · {item.name if item else ''} · {AGGREGATES[c.aggregate]} {OPS[c.op]} {value}"
    if c.period_from or c.period_to:
        what += f"（{c.period_from or '…'} 至 {c.period_to or '…'}）"
    return what


def _verify_page(request: Request, s: Session, p: Principal, code: str, *, rows: list[dict[str, str]] | None = None,
                 result: dict[str, Any] | None = None, claims: list[verification.Claim] | None = None,
                 error: DomainError | None = None, request_id: str | None = None, logged: bool = True) -> Response:
    """`logged` says whether a refusal shown went through `runtime.served` (and so into the audit chain): a
    form refused before it became a request did not, and the page must not claim it did."""
    catalog = node(request).catalog
    outcomes = []
    if result and claims:
        for r in result["results"]:
            outcomes.append({"claim": _describe(catalog, claims[r["index"]]), "outcome": r["outcome"],
                             "label": verification.OUTCOME_LABELS.get(r["outcome"], r["outcome"]), "reason": r["reason"],
                             "disputed": r.get("disputed")})
    blank = {"target": "", "aggregate": "latest", "op": "ge", "value": "", "from": "", "to": ""}
    rows = rows or [dict(blank) for _ in range(CLAIM_ROWS)]
    auths = [a for a in _my_authorizations(s, request, p, code) if a["mode"] == "核验比对"]
    return no_store(render(request, "access/bank_verify.html", status_code=error.status if error else 200,
                           code=code, name=_entity_name(s, code), rows=rows, result=result, outcomes=outcomes,
                           auths=auths,
                           request_id=request_id or uuid.uuid4().hex, ops=OPS, aggregates=AGGREGATES,
                           refusal_logged=logged, error=for_page(error) if error else None,
                           receipt_at=datetime.fromisoformat(result["receipt"]["statement"]["at"]) if result else None))


@router.get("/bank/entities/{code}/verify", response_class=HTMLResponse)
def verify_form(code: str, request: Request, p: Principal = Depends(require("bank")),
                s: Session = Depends(db_session, scope="function")) -> Response:
    return _verify_page(request, s, p, _code(code))


@router.post("/bank/entities/{code}/verify", response_class=HTMLResponse)
def verify_submit(code: str, request: Request, form: dict[str, str] = Depends(posted_form),
                  p: Principal = Depends(require("bank")), s: Session = Depends(db_session, scope="function")
                  ) -> Response:
    """The request id comes from the form (made when the form was rendered), so submitting the same form
    twice returns the stored answer and spends nothing."""
    code = _code(code)
    request_id = (form.get("request_id") or "").strip()[:64] or None
    rows = _rows(form)
    try:
        claims = _claims(rows)
    except DomainError as exc:
        return _verify_page(request, s, p, code, rows=rows, error=exc, request_id=request_id, logged=False)
    actor = sharing.actor_of(p, request_id)
    n = node(request)
    pol, sig = runtime.policy(request), runtime.signer(request)
    try:
        result = runtime.served(s, actor, code, "verify", "核验", lambda: verification.verify(
            s, n.catalog, pol, sig, n.settings.node_code, actor, code, claims), keep=(verification.ProbingLimited,))
    except DomainError as exc:
        return _verify_page(request, s, p, code, rows=rows, error=exc, request_id=request_id)
    # A fresh request id for the next question; the rows stay filled in.
    return _verify_page(request, s, p, code, rows=rows, result=result, claims=claims)
