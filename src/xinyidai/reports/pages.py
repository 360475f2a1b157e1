"""Pages of credit reports: an entity's credit page (its evaluation, trend and the reports made about it),
making reports (public, or authorized for a bank), viewing one, its PDF, and public verification."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from xinyidai.access import runtime, sharing
from xinyidai.credit import evaluation
from xinyidai.entities.models import MarketEntity
from xinyidai.kit import clock
from xinyidai.kit.db import write_lock
from xinyidai.kit.errors import DomainError, Forbidden, NotFound
from xinyidai.kit.node_key import published_keys
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.reports import service as reports
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.templating import no_store, render

router = APIRouter(include_in_schema=False)
MAX_PDF_UPLOAD = 20 * 1024 * 1024


def trend_option(points: list[dict[str, Any]]) -> str:
    """ECharts option for the score over time (grade in the tooltip)."""
    return json.dumps({
        "tooltip": {"trigger": "axis"}, "grid": {"left": 50, "right": 20, "top": 30, "bottom": 30},
        "xAxis": {"type": "category", "data": [p["as_of"] for p in points]},
        "yAxis": {"type": "value", "min": 0, "max": 1000, "name": "得分"},
        "series": [{"type": "line", "name": "公共信用综合评价得分", "data": [p["score"] for p in points],
                    "label": {"show": True, "formatter": "{c}"}, "connectNulls": False}],
    }, ensure_ascii=False)


def _credit_page(request: Request, s: Session, p: Principal, code: str, *, own: bool) -> Response:
    e = s.get(MarketEntity, code)
    if e is None:
        raise NotFound("未找到该市场主体", code="ENTITY_NOT_FOUND")
    stored = evaluation.result_for(s, code)
    live = evaluation.evaluate_one(s, code, clock.today()) if stored is None else None
    result = stored or live
    points = evaluation.trend(s, code)
    return no_store(render(request, "reports/entity_credit.html", e=e, result=result, live=live is not None,
                           trend=points, trend_json=trend_option(points) if points else None, own=own,
                           reports=reports.list_for_entity(s, code, 20), sums=score_sum(s, result)))


def score_sum(s: Session, result: dict[str, Any]) -> dict[str, float] | None:
    """How the score adds up under a base-and-points system: the base, the points the reasons list, their
    total and the scale it is held to (None for a weighted system, or no score)."""
    system = evaluation.system_version(s, result["indicator_version"])
    if system.method != "base" or result.get("score") is None:
        return None
    total = system.base + sum(x["points"] for x in result["explained"])
    return {"base": system.base, "points": total - system.base, "total": total, "lo": system.lo, "hi": system.hi,
            "clipped": not system.lo <= total <= system.hi}


@router.get("/entities/{code}/credit", response_class=HTMLResponse)
def entity_credit(code: str, request: Request, p: Principal = Depends(require(*STAFF)),
                  s: Session = Depends(db_session, scope="function")) -> Response:
    return _credit_page(request, s, p, code.strip().upper(), own=False)


@router.get("/my/credit", response_class=HTMLResponse)
def my_credit(request: Request, p: Principal = Depends(require("enterprise")),
              s: Session = Depends(db_session, scope="function")) -> Response:
    if not p.org_code:
        raise Forbidden("账户未关联市场主体", code="NO_ENTITY")
    return _credit_page(request, s, p, p.org_code, own=True)


@router.post("/reports")
def create_public_report(request: Request, entity_code: str = Form(...),
                         p: Principal = Depends(require(*STAFF, "enterprise")),
                         s: Session = Depends(db_session, scope="function")) -> Response:
    code = entity_code.strip().upper()
    if p.role == "enterprise" and p.org_code != code:
        raise Forbidden("企业用户只能为本企业生成报告", code="NOT_OWN_ENTITY")
    issuer, node_code, base = reports.issuer_of(node(request).settings, str(request.base_url))
    with write_lock(s):  # the audit chain's head is taken in this thread
        rep = reports.public_report(s, node(request).catalog, runtime.policy(request), runtime.signer(request),
                                    code, issuer=issuer, node_code=node_code, actor=p.username, verify_base=base)
        s.commit()
    return RedirectResponse(f"/reports/{rep.report_no}", status_code=303)


@router.post("/bank/entities/{code}/report")
def create_authorized_report(code: str, request: Request, purpose: str = Form("贷前审查"),
                             authorization: str = Form(""), p: Principal = Depends(require("bank")),
                             s: Session = Depends(db_session, scope="function")) -> Response:
    actor = sharing.actor_of(p)
    issuer, node_code, base = reports.issuer_of(node(request).settings, str(request.base_url))
    code = code.strip().upper()
    rep = runtime.served(s, actor, code, "report", purpose, lambda: reports.authorized_report(
        s, node(request).catalog, runtime.policy(request), runtime.signer(request), actor, code, issuer=issuer,
        node_code=node_code, verify_base=base, purpose=purpose, number=authorization.strip() or None))
    return RedirectResponse(f"/reports/{rep.report_no}", status_code=303)


@router.get("/reports/verify", response_class=HTMLResponse)
def verify_page(request: Request, code: str = "", report_no: str = "") -> Response:
    result = None
    if code:
        with node(request).db.session() as s:
            result = _verify(s, request, code, report_no, None)
    return render(request, "reports/verify.html", code=code, report_no=report_no, result=result)


@router.post("/reports/verify", response_class=HTMLResponse)
async def verify_upload(request: Request, code: str = Form(""), report_no: str = Form(""),
                        pdf: UploadFile | None = File(None)) -> Response:
    data = None
    if pdf is not None and pdf.filename:
        data = await pdf.read(MAX_PDF_UPLOAD + 1)
        if len(data) > MAX_PDF_UPLOAD:
            return render(request, "reports/verify.html", status_code=413, code=code, report_no=report_no,
                          result={"valid": False, "code": "PDF_TOO_LARGE", "message": "PDF 文件超过 20 MB"})
    with node(request).db.session() as s:
        result = _verify(s, request, code, report_no, data)
    return render(request, "reports/verify.html", code=code, report_no=report_no, result=result)


def _verify(s: Session, request: Request, code: str, report_no: str, data: bytes | None) -> dict[str, Any]:
    try:
        return reports.verify(s, runtime.signer(request), code, report_no or None, data,
                              published=published_keys(node(request).settings.var_dir))
    except DomainError as exc:
        return {"valid": False, "code": exc.code, "message": exc.message}


@router.get("/reports/{report_no}", response_class=HTMLResponse)
def report_page(report_no: str, request: Request, p: Principal = Depends(require(*STAFF, "enterprise", "bank")),
                s: Session = Depends(db_session, scope="function")) -> Response:
    rep = reports.visible_report(s, p, report_no)
    return no_store(render(request, "reports/report.html", doc=reports.document_of(rep), rep=rep))


@router.get("/reports/{report_no}/pdf")
def report_pdf(report_no: str, request: Request, p: Principal = Depends(require(*STAFF, "enterprise", "bank")),
               s: Session = Depends(db_session, scope="function")) -> Response:
    rep = reports.visible_report(s, p, report_no)
    return no_store(Response(reports.pdf_of(s, p, rep), media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{rep.report_no}.pdf"'}))
