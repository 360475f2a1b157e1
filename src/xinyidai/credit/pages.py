"""Pages of the credit products: an entity's credit (grade, score, reasons, trend), reports (view, PDF,
public verification), evaluation runs with progress, and the indicator systems."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from xinyidai.access import runtime, sharing
from xinyidai.access.pages import no_store
from xinyidai.credit import evaluation, reports
from xinyidai.credit.models import RUN_STATUSES, CreditReport
from xinyidai.entities.accounts import Principal
from xinyidai.entities.models import MarketEntity
from xinyidai.entities.people import names_of
from xinyidai.kit import audit, clock
from xinyidai.kit.errors import DomainError, Forbidden, InvalidInput, NotFound
from xinyidai.web.app import render
from xinyidai.web.deps import db_session, node, require

router = APIRouter(include_in_schema=False)
STAFF = ("operator", "regulator", "security")
MAX_PDF_UPLOAD = 20 * 1024 * 1024


def issuer_of(request: Request) -> tuple[str, str, str]:
    """The node's name and code, and the address its reports send people to for verification."""
    st = node(request).settings
    base = st.public_url or str(request.base_url)
    return st.node_name, st.node_code, base


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
    points = evaluation.trend(s, code)
    return no_store(render(request, "credit/entity_credit.html", e=e, result=stored or live, live=live is not None,
                           trend=points, trend_json=trend_option(points) if points else None, own=own,
                           reports=reports.list_for_entity(s, code, 20)))


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


# ── reports ─────────────────────────────────────────────────────────────────────────────────────────────

@router.post("/reports")
def create_public_report(request: Request, entity_code: str = Form(...),
                         p: Principal = Depends(require(*STAFF, "enterprise")),
                         s: Session = Depends(db_session, scope="function")) -> Response:
    code = entity_code.strip().upper()
    if p.role == "enterprise" and p.org_code != code:
        raise Forbidden("企业用户只能为本企业生成报告", code="NOT_OWN_ENTITY")
    issuer, node_code, base = issuer_of(request)
    with runtime._write_lock(s):  # noqa: SLF001 - the audit chain's head is taken in this thread
        rep = reports.public_report(s, node(request).catalog, runtime.policy(request), runtime.signer(request),
                                    code, issuer=issuer, node_code=node_code, actor=p.username, verify_base=base)
        s.commit()
    return RedirectResponse(f"/reports/{rep.report_no}", status_code=303)


@router.post("/bank/entities/{code}/report")
def create_authorized_report(code: str, request: Request, purpose: str = Form("贷前审查"),
                             authorization: str = Form(""), p: Principal = Depends(require("bank")),
                             s: Session = Depends(db_session, scope="function")) -> Response:
    actor = sharing.actor_of(p)
    issuer, node_code, base = issuer_of(request)
    code = code.strip().upper()
    rep = runtime.served(s, actor, code, "report", purpose, lambda: reports.authorized_report(
        s, node(request).catalog, runtime.policy(request), runtime.signer(request), actor, code, issuer=issuer,
        node_code=node_code, verify_base=base, purpose=purpose, number=authorization.strip() or None))
    return RedirectResponse(f"/reports/{rep.report_no}", status_code=303)


def visible_report(s: Session, p: Principal, report_no: str) -> CreditReport:
    """Deny by default: staff see public versions; an enterprise sees every report about itself (so it
    knows what a bank was given); a bank sees the authorized versions made for it."""
    rep = reports.get_report(s, report_no)
    ok = ((p.role in STAFF and rep.version == "public")
           or (p.role == "enterprise" and p.org_code == rep.entity_code)
           or (p.role == "bank" and rep.recipient is not None and rep.recipient == p.org_code)
           or (p.role == "bank" and rep.version == "public" and rep.generated_by == p.username))
    if not ok:
        raise NotFound("未找到该报告", code="REPORT_NOT_FOUND")  # not "forbidden": its existence is not told
    return rep


@router.get("/reports/verify", response_class=HTMLResponse)
def verify_page(request: Request, code: str = "", report_no: str = "") -> Response:
    result = None
    if code:
        with node(request).db.session() as s:
            result = _verify(s, request, code, report_no, None)
    return render(request, "credit/verify.html", code=code, report_no=report_no, result=result)


@router.post("/reports/verify", response_class=HTMLResponse)
async def verify_upload(request: Request, code: str = Form(""), report_no: str = Form(""),
                        pdf: UploadFile | None = File(None)) -> Response:
    data = None
    if pdf is not None and pdf.filename:
        data = await pdf.read(MAX_PDF_UPLOAD + 1)
        if len(data) > MAX_PDF_UPLOAD:
            return render(request, "credit/verify.html", status_code=413, code=code, report_no=report_no,
                          result={"valid": False, "code": "PDF_TOO_LARGE", "message": "PDF 文件超过 20 MB"})
    with node(request).db.session() as s:
        result = _verify(s, request, code, report_no, data)
    return render(request, "credit/verify.html", code=code, report_no=report_no, result=result)


def _verify(s: Session, request: Request, code: str, report_no: str, data: bytes | None) -> dict[str, Any]:
    try:
        return reports.verify(s, runtime.signer(request), code, report_no or None, data)
    except DomainError as exc:
        return {"valid": False, "code": exc.code, "message": exc.message}


@router.get("/reports/{report_no}", response_class=HTMLResponse)
def report_page(report_no: str, request: Request, p: Principal = Depends(require(*STAFF, "enterprise", "bank")),
                s: Session = Depends(db_session, scope="function")) -> Response:
    rep = visible_report(s, p, report_no)
    return no_store(render(request, "credit/report.html", doc=reports.document_of(rep), rep=rep))


@router.get("/reports/{report_no}/pdf")
def report_pdf(report_no: str, request: Request, p: Principal = Depends(require(*STAFF, "enterprise", "bank")),
               s: Session = Depends(db_session, scope="function")) -> Response:
    rep = visible_report(s, p, report_no)
    if rep.pdf is None:
        from xinyidai.credit.pdf import render_pdf

        with runtime._write_lock(s):  # noqa: SLF001
            reports.store_pdf(rep, render_pdf(reports.document_of(rep)))
            audit.record(s, p.username, "credit.report.pdf", f"report:{rep.report_no}", entity_code=rep.entity_code,
                         pdf_digest=rep.pdf_digest)
            s.commit()
    return no_store(Response(rep.pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{rep.report_no}.pdf"'}))


# ── evaluation runs and indicator systems (staff) ───────────────────────────────────────────────────────

@router.get("/credit", response_class=HTMLResponse)
def credit_home(request: Request, error: str = "", p: Principal = Depends(require(*STAFF)),
                s: Session = Depends(db_session, scope="function")) -> Response:
    return _home(request, s, error=error)


def _home(request: Request, s: Session, *, error: str = "", spec_error: DomainError | None = None,
          spec: str = "") -> Response:
    """The runs, the latest grade distribution and the indicator systems (with a refused file, if any)."""
    runs = evaluation.runs(s, 30)
    latest_done = next((r for r in runs if r.status == "done"), None)
    found = evaluation.grade_distribution(s, latest_done.id) if latest_done else {}
    # Best grade first, in the table as in the chart (the stored order is alphabetical: A, A+, B …).
    order = ["A+", "A", "B+", "B", "C", "D", "数据不足"]
    dist = {g: found[g] for g in [*order, *sorted(set(found) - set(order))] if g in found}
    chart = json.dumps({
        "tooltip": {}, "grid": {"left": 50, "right": 20, "top": 36, "bottom": 30},
        "xAxis": {"type": "category", "data": list(dist)},
        "yAxis": {"type": "value", "name": "户数"},
        "series": [{"type": "bar", "data": list(dist.values()), "label": {"show": True, "position": "top"}}],
    }, ensure_ascii=False) if dist else None
    systems = evaluation.list_systems(s)
    people = names_of(s, [x.created_by for x in systems])
    return no_store(render(request, "credit/home.html", status_code=spec_error.status if spec_error else 200,
                           runs=runs, statuses=RUN_STATUSES, latest=latest_done, dist=dist, chart=chart,
                           systems=systems, people=people, today=clock.today().isoformat(), error=error,
                           spec_error=spec_error, spec=spec, running=any(r.status == "running" for r in runs)))


@router.get("/credit/runs/{run_id}/progress", response_class=HTMLResponse)
def run_progress(run_id: int, request: Request, p: Principal = Depends(require(*STAFF)),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    from xinyidai.credit.models import EvaluationRun

    run = s.get(EvaluationRun, run_id)
    if run is None:
        raise NotFound("未找到该评价批次", code="RUN_NOT_FOUND")
    return no_store(render(request, "credit/_run_progress.html", run=run, statuses=RUN_STATUSES))


@router.post("/credit/runs")
def start_run(request: Request, as_of: str = Form(""), scope: str = Form("all"),
              p: Principal = Depends(require("operator")), s: Session = Depends(db_session, scope="function")
              ) -> Response:
    try:
        day = date.fromisoformat(as_of) if as_of else clock.today()
    except ValueError:
        raise InvalidInput("评价基准日格式应为 YYYY-MM-DD", code="BAD_AS_OF") from None
    if day > clock.today():
        raise InvalidInput("评价基准日不能晚于今天", code="AS_OF_IN_FUTURE")
    n = node(request)
    codes = None
    if scope == "changed":
        last = evaluation.last_done_run(s)
        if last is not None:
            codes = evaluation.changed_since(s, last.started_at)
            if not codes:
                return RedirectResponse("/credit?error=nothing_changed", status_code=303)
    s.close()
    run_id = evaluation.start_run(n.db, day, "changed" if codes is not None else "all", p.username, codes)
    n.executor.submit(_run_quietly, n.db, run_id, codes)
    return RedirectResponse("/credit", status_code=303)


def _run_quietly(db: Any, run_id: int, codes: list[str] | None) -> None:
    import logging

    try:
        evaluation.execute_run(db, run_id, codes)
    except Exception:  # the run row says it failed, with the message
        logging.getLogger(__name__).exception("evaluation run %s failed", run_id)


@router.post("/credit/indicators")
def load_indicators(request: Request, spec: str = Form(...), p: Principal = Depends(require("operator")),
                    s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        with runtime._write_lock(s):  # noqa: SLF001
            evaluation.load_system(s, spec, p.username)
            s.commit()
    except DomainError as exc:
        s.rollback()
        return _home(request, s, spec_error=exc, spec=spec)
    return RedirectResponse("/credit", status_code=303)
