"""JSON interface of credit reports: reports for banks (authorized version, under the rules of authorized
sharing), fetching one and its PDF, and report verification (open to anyone holding a report)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Header, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from xinyidai.access import runtime, sharing
from xinyidai.kit.node_key import published_keys
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.reports import service as reports
from xinyidai.reports.schemas import ReportIn, VerifyIn
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.openapi import PDF, download

router = APIRouter(prefix="/api/v1/credit", tags=["信用评价与信用报告"])


def _report_json(rep: Any, request: Request) -> dict[str, Any]:
    return {"report_no": rep.report_no, "entity_code": rep.entity_code, "version": rep.version,
            "recipient": rep.recipient, "snapshot_date": rep.snapshot_date.isoformat(),
            "generated_at": rep.generated_at.isoformat(), "verification_code": rep.verification_code,
            "digest": rep.digest, "key_id": rep.key_id, "suite": rep.suite, "signature": rep.signature,
            "content": rep.content, "pdf_url": f"/api/v1/credit/reports/{rep.report_no}/pdf"}


@router.post("/entities/{code}/reports", summary="生成授权版信用报告（消耗一次授权使用次数，企业可见）")
def authorized_report(code: str, request: Request, body: ReportIn = Body(default_factory=ReportIn),
                      request_id: str | None = Header(None, alias="X-Request-Id"),
                      p: Principal = Depends(require("bank")),
                      s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    actor = sharing.actor_of(p, request_id)
    issuer, node_code, base = reports.issuer_of(node(request).settings, str(request.base_url))
    rep = runtime.served(s, actor, code.strip().upper(), "report", body.purpose, lambda: reports.authorized_report(
        s, node(request).catalog, runtime.policy(request), runtime.signer(request), actor, code.strip().upper(),
        issuer=issuer, node_code=node_code, verify_base=base, purpose=body.purpose, number=body.authorization))
    return _report_json(rep, request)


@router.get("/reports/{report_no}", summary="取回一份报告（授权版仅限其使用机构）")
def get_report(report_no: str, request: Request, p: Principal = Depends(require(*STAFF, "enterprise", "bank")),
               s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return _report_json(reports.visible_report(s, p, report_no), request)


@router.get("/reports/{report_no}/pdf", summary="报告 PDF（嵌入中文字体）", response_class=Response,
            responses=download(PDF, "签名的信用报告 PDF"))
def report_pdf(report_no: str, request: Request, p: Principal = Depends(require(*STAFF, "enterprise", "bank")),
               s: Session = Depends(db_session, scope="function")) -> Response:
    rep = reports.visible_report(s, p, report_no)
    return Response(reports.pdf_of(s, p, rep), media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{rep.report_no}.pdf"', "Cache-Control": "no-store"})


@router.post("/reports/verify", summary="核验报告（无需登录）")
def verify(request: Request, body: VerifyIn) -> dict[str, Any]:
    with node(request).db.session() as s:
        out = reports.verify(s, runtime.signer(request), body.code, body.report_no,
                             published=published_keys(node(request).settings.var_dir))
    if "generated_at" in out:
        out["generated_at"] = out["generated_at"].isoformat()
    return out
